"""`JobEvent` and following a job's events from any process: replay what its turn wrote, then follow it live.

The worker writes what the turn produces to the job's stream (`Emitter`); a reader polls the stream
(one query returns the new events and the job's status) with backoff while nothing comes. The last
event is always the job's settled status: written by the worker, or read from the job itself when
no worker wrote one (a job cancelled while queued, or out of recovery attempts).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..errors import JobTimeout, UnknownJob
from .backend import JobStatus, backend_for

if TYPE_CHECKING:
    from sqlalchemy import Engine

_QUEUED = frozenset({"ENQUEUED", "DELAYED"})
_ENDED = frozenset({"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})
_POLL = (0.02, 0.25)
"""First and longest wait between two reads of a stream with nothing new (seconds)."""


@dataclass(frozen=True)
class JobEvent:
    """One thing a job's turn produced: a text delta, a tool call, a tool result, or the job's settled status."""

    kind: Literal["text", "tool_call", "tool_result", "status"]
    text: str = ""
    """kind "text": the delta, as the model streamed it."""
    tool: str | None = None
    """kind "tool_call" / "tool_result": the tool's name."""
    args: dict[str, Any] | None = None
    """kind "tool_call": the arguments the model gave."""
    call_id: str | None = None
    """kind "tool_call" / "tool_result": the call's id (its result has the same one)."""
    result: Any = None
    """kind "tool_result": what the tool returned, as JSON-able values."""
    skill: str | None = None
    """kind "tool_result": the skill's name when the call ran a skill."""
    status: JobStatus | None = None
    """kind "status": done, failed, cancelled or waiting_approval."""
    error: str | None = None
    """kind "status", status "failed": what went wrong."""

    @classmethod
    def of(cls, doc: dict[str, Any]) -> JobEvent:
        args = doc.get("args")
        return cls(
            kind=doc.get("kind", "text"),
            text=str(doc.get("text") or ""),
            tool=doc.get("tool"),
            args=args if isinstance(args, dict) else None,
            call_id=doc.get("call_id"),
            result=doc.get("result"),
            skill=doc.get("skill"),
            status=doc.get("status"),
            error=doc.get("error"),
        )


@dataclass
class _Follower:
    """Reads a job's stream step by step, so the sync and async iterators share one loop body."""

    engine: Engine
    job_id: str
    timeout: float | None
    current: Callable[[], Any]
    """The job as it stands now (a `Job`: its status and error)."""
    overdue: Callable[[float], str]
    """What a `JobTimeout` says when the job is still queued after the timeout."""
    offset: int = 0
    delay: float = _POLL[0]
    queued_since: float = field(default_factory=time.monotonic)
    held: JobEvent | None = None
    """A waiting_approval status not yet known to be the last event."""
    final: JobEvent | None = None
    """The settled status read from the stream, given out once the job has completed too."""
    ended: bool = False

    def step(self) -> tuple[list[JobEvent], float]:
        """The next events, and how long to sleep before the next step; sets `ended` after the last one."""
        backend = backend_for(self.engine)
        if self.final is not None:  # the worker writes the status just before the job completes: wait for that
            info = backend.get(self.job_id)
            if info is None or info.engine_status in _ENDED:
                self.ended = True
                return [self.final], 0.0
            self._check_queued(info.engine_status)
            return [], 0.02
        page = backend.read_events(self.job_id, self.offset)
        if page.engine_status is None:
            raise UnknownJob(f"No job {self.job_id} in this database: list jobs with record.jobs().")
        self.offset += len(page.batches)
        out: list[JobEvent] = []
        for event in (JobEvent.of(e) for batch in page.batches for e in batch):
            if event.kind == "status" and event.status == "waiting_approval":
                self.held = event
                continue
            self.held = None  # anything after a hold means the job went on: that hold is over
            if event.kind == "status":
                self.final = event
                return out, 0.0
            out.append(event)
        if self.held is not None and not page.more:
            if self._job().status == "waiting_approval":
                self.ended = True
                return [*out, self.held], 0.0
            self.held = None  # decided already: the resumed turn's events follow
        if page.batches:
            self.delay = _POLL[0]
            self._check_queued(page.engine_status)
            return out, 0.0
        if page.engine_status in _ENDED or page.closed:  # nothing more will be written
            settled = self._job()
            self.ended = True
            return [*out, JobEvent("status", status=settled.status, error=settled.error)], 0.0
        self._check_queued(page.engine_status)
        wait, self.delay = self.delay, min(self.delay * 1.5, _POLL[1])
        return out, wait

    def _check_queued(self, engine_status: str) -> None:
        if engine_status not in _QUEUED:
            self.queued_since = time.monotonic()
        elif self.timeout is not None and time.monotonic() - self.queued_since >= self.timeout:
            raise JobTimeout(self.overdue(self.timeout))

    def _job(self) -> Any:
        return self.current()


def follow(
    engine: Engine,
    job_id: str,
    timeout: float | None,
    current: Callable[[], Any],
    overdue: Callable[[float], str],
) -> Iterator[JobEvent]:
    """The job's events from its beginning, then live, ending with its settled status.

    `current()` reads the job now; `overdue(timeout)` words the error for a job still queued after `timeout`.
    """
    reader = _Follower(engine, job_id, timeout, current, overdue)
    while not reader.ended:
        events, wait = reader.step()
        yield from events
        if wait:
            time.sleep(wait)


async def afollow(
    engine: Engine,
    job_id: str,
    timeout: float | None,
    current: Callable[[], Any],
    overdue: Callable[[float], str],
) -> AsyncIterator[JobEvent]:
    """Async `follow`: reads in a thread, sleeps on the event loop."""
    reader = _Follower(engine, job_id, timeout, current, overdue)
    while not reader.ended:
        events, wait = await asyncio.to_thread(reader.step)
        for event in events:
            yield event
        if wait:
            await asyncio.sleep(wait)
