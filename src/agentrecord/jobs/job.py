"""`Job` and `Schedule`: handles on queued and scheduled turns, usable from any process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from .. import approvals
from ..errors import JobTimeout, UnknownJob
from ..reply import Reply, Usage
from .backend import SETTLED, Backend, JobInfo, JobStatus, ScheduleInfo, backend_for
from .events import JobEvent, afollow, follow

_WAIT_CAP = 0.1
"""Longest pause between two looks at a job being waited for: a settled job is seen within 0.1 s."""

if TYPE_CHECKING:
    from ..sqlalchemy.record import AgentRecord

_ENGINE_STATUS: dict[str, JobStatus] = {
    "ENQUEUED": "queued",
    "DELAYED": "queued",
    "PENDING": "running",
    "SUCCESS": "done",
    "ERROR": "failed",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "failed",
    "CANCELLED": "cancelled",
}


@dataclass
class Job:
    """One queued turn: its status, and its reply once done. Refresh with `refresh()` or `wait()`."""

    id: str
    status: JobStatus
    agent: str
    """The agent it runs on, as `ClassName id=N`."""
    prompt: str | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    """Why it failed (status "failed")."""
    schedule: str | None
    """The schedule whose tick enqueued it, if any."""
    worker: str
    """The worker running it, or that ran it last ("" while it was never started)."""
    _info: JobInfo = field(repr=False)
    _engine: Engine = field(repr=False)

    @classmethod
    def of(cls, info: JobInfo, engine: Engine) -> Job:
        status = _ENGINE_STATUS.get(info.engine_status, "running")
        request = info.request
        agent_cls = _agent_class(request)
        if status == "running" and agent_cls is not None and _held(agent_cls, engine, request.get("id"), info.id):
            status = "waiting_approval"
        label = f"{agent_cls.__name__ if agent_cls else request.get('agent', '?')} id={request.get('id')}"
        return cls(
            info.id,
            status,
            label,
            request.get("prompt"),
            info.created_at,
            info.started_at,
            info.finished_at,
            info.error,
            request.get("schedule") or info.schedule,
            info.executor or "",
            info,
            engine,
        )

    @property
    def result(self) -> dict[str, Any] | None:
        """The raw result of a done job: text, input/output tokens, requests, cost, message range."""
        return self._info.result if self.status == "done" else None

    @property
    def reply(self) -> Reply[Any] | None:
        """The turn's reply once the job is done (its messages read from the agent's table), else None."""
        result = self.result
        if result is None:
            return None
        agent_cls = _agent_class(self._info.request)
        messages = []
        if agent_cls is not None:
            start, end = int(result.get("start", 0)), int(result.get("end", 0))
            messages = agent_cls._store().load_range(self._engine, self._info.request.get("id"), start, end)
        usage = Usage(
            int(result.get("input_tokens", 0)), int(result.get("output_tokens", 0)), int(result.get("requests", 0))
        )
        cost = result.get("cost")
        text = str(result.get("text", ""))
        return Reply(
            text=text, output=text, usage=usage, cost=None if cost is None else Decimal(cost), messages=messages
        )

    def refresh(self) -> Job:
        """This job as stored now."""
        return job(self._engine, self.id)

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job is done, failed, cancelled or waiting for approval; returns it refreshed.

        Raises JobTimeout after `timeout` seconds, saying whether any worker is running at all.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.02
        current = self.refresh()  # this handle may be stale (held, then decided)
        while current.status not in SETTLED:
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeout(_timeout_message(current, timeout or 0.0, _backend(self._engine)))
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 1.5, _WAIT_CAP)
            current = current.refresh()
        return current

    async def wait_async(self, timeout: float | None = None) -> Job:
        """Async `wait`: sleeps on the event loop between looks, so many waits hold no thread."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.02
        current = await asyncio.to_thread(self.refresh)
        while current.status not in SETTLED:
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeout(_timeout_message(current, timeout or 0.0, _backend(self._engine)))
            await asyncio.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 1.5, _WAIT_CAP)
            current = await asyncio.to_thread(current.refresh)
        return current

    def events(self, timeout: float | None = None) -> Iterator[JobEvent]:
        """What the job's turn produces, from its beginning and then live, from any process: text deltas,
        tool calls, tool results, and last the job's settled status (done, failed, cancelled,
        waiting_approval), after which the iteration ends.

        Raises JobTimeout when the job waits in the queue for `timeout` seconds (no worker picked it up).
        """
        return follow(self._engine, self.id, timeout, self.refresh, self._overdue)

    def aevents(self, timeout: float | None = None) -> AsyncIterator[JobEvent]:
        """Async `events`."""
        return afollow(self._engine, self.id, timeout, self.refresh, self._overdue)

    def _overdue(self, timeout: float) -> str:
        """What a JobTimeout says when this job is still queued after `timeout` seconds."""
        return _timeout_message(self.refresh(), timeout, _backend(self._engine))

    def cancel(self) -> Job:
        """Cancel from any process: a queued job never starts; a running turn stops at its next step."""
        _backend(self._engine).cancel(self.id)
        return self.refresh()

    def to_json(self) -> dict[str, Any]:
        result = self.result or {}
        return {
            "id": self.id,
            "status": self.status,
            "agent": self.agent,
            "prompt": self.prompt,
            "schedule": self.schedule,
            "worker": self.worker or None,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "input_tokens": result.get("input_tokens"),
            "output_tokens": result.get("output_tokens"),
            "cost": result.get("cost"),
            "text": result.get("text"),
            "error": self.error,
        }


@dataclass
class Schedule:
    """A prompt an agent runs on a clock, stored in the database; any process may pause, resume or remove it."""

    id: str
    agent: str
    prompt: str
    cron: str
    """Six-field cron (seconds first) it fires on."""
    tz: str
    calendar: str | None
    active: bool
    last_fired_at: datetime | None
    _engine: Engine = field(repr=False)

    @classmethod
    def of(cls, info: ScheduleInfo, engine: Engine) -> Schedule:
        ctx = info.context
        request = ctx.get("request", {})
        agent_cls = _agent_class(request)
        label = f"{agent_cls.__name__ if agent_cls else request.get('agent', '?')} id={request.get('id')}"
        return cls(
            info.id,
            label,
            str(request.get("prompt", "")),
            info.cron,
            info.tz,
            ctx.get("calendar"),
            info.active,
            info.last_fired_at,
            engine,
        )

    def pause(self) -> Schedule:
        _backend(self._engine).set_schedule_active(self.id, False)
        return schedule(self._engine, self.id)

    def resume(self) -> Schedule:
        _backend(self._engine).set_schedule_active(self.id, True)
        return schedule(self._engine, self.id)

    def remove(self) -> None:
        _backend(self._engine).remove_schedule(self.id)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agent": self.agent,
            "prompt": self.prompt,
            "cron": self.cron,
            "tz": self.tz,
            "calendar": self.calendar,
            "status": "active" if self.active else "paused",
            "last_fired_at": _iso(self.last_fired_at),
        }


def job(engine: Engine, job_id: str) -> Job:
    """The job `job_id` in `engine`'s database (UnknownJob if there is none)."""
    info = _backend(engine).get(job_id)
    if info is None:
        raise UnknownJob(f"No job {job_id} in this database: list jobs with record.jobs() or `tradedesk jobs EMAIL`.")
    return Job.of(info, engine)


def jobs_of(engine: Engine, records: list[AgentRecord], limit: int = 50) -> list[Job]:
    """The latest jobs of these agents, newest first."""
    from .backend import agent_ref

    infos = _backend(engine).find([agent_ref(r) + "." for r in records], limit)
    return [Job.of(i, engine) for i in infos]


def schedule(engine: Engine, schedule_id: str) -> Schedule:
    from ..errors import ScheduleError

    found = [s for s in _backend(engine).schedules(schedule_id) if s.id == schedule_id]
    if not found:
        raise ScheduleError(
            f"No schedule {schedule_id}: list them with record.schedules() or `tradedesk schedule list`."
        )
    return Schedule.of(found[0], engine)


def _backend(engine: Engine) -> Backend:
    return backend_for(engine)


def _agent_class(request: dict[str, Any]) -> type[AgentRecord] | None:
    from .runner import UnknownAgent, resolve

    try:
        return resolve(str(request.get("agent", "")))
    except UnknownAgent:
        return None


def _held(cls: type[AgentRecord], engine: Engine, agent_id: Any, job_id: str) -> bool:
    state = cls._store().load_state(engine, agent_id)
    mark = state.extra.get("job")
    return isinstance(mark, dict) and mark.get("id") == job_id and bool(approvals.undecided(state))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def _timeout_message(current: Job, timeout: float, backend: Backend) -> str:
    workers = backend.live_workers()
    if not workers:
        return (
            f"Job {current.id} is still {current.status} after {timeout:g}s and no worker is running: start one "
            "with `tradedesk worker` (or agentrecord.jobs.Worker(url).run())."
        )
    return (
        f"Job {current.id} is still {current.status} after {timeout:g}s ({len(workers)} worker(s) running on "
        f"{', '.join(sorted({w.host for w in workers}))}); wait longer, or check the workers' logs."
    )
