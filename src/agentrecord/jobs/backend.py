"""What a job engine must do for agentrecord, and how jobs are named; DBOS (`jobs.dbos`) is the shipped one.

Job ids carry their agent (`<table>.<agent id>.<suffix>`), so one agent's jobs are a prefix query
and, within an agent, unkeyed ids sort in the order they were enqueued (the engine breaks ties of
equal enqueue times by id).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import Engine

from ..errors import JobsNotConfigured

if TYPE_CHECKING:
    from ..sqlalchemy.record import AgentRecord

JobStatus = Literal["queued", "running", "waiting_approval", "done", "failed", "cancelled"]
SETTLED: frozenset[str] = frozenset({"done", "failed", "cancelled", "waiting_approval"})
QUEUE = "agentrecord_turns"
APP = "agentrecord"
TURN_WORKFLOW = "agentrecord.turn"
TICK_WORKFLOW = "agentrecord.tick"
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_lock = threading.Lock()
_last = (0, 0)


@dataclass(frozen=True)
class JobInfo:
    """A job as the engine stores it."""

    id: str
    engine_status: str
    request: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    executor: str | None
    schedule: str | None = None


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule as the engine stores it."""

    id: str
    cron: str
    tz: str
    active: bool
    context: dict[str, Any]
    last_fired_at: datetime | None


@dataclass(frozen=True)
class WorkerInfo:
    """A worker process that heartbeats into the database."""

    id: str
    host: str
    pid: int
    started_at: datetime
    beat_at: datetime
    stopped_at: datetime | None = None
    concurrency: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventPage:
    """Batches of a job's events read from one offset, and the job's engine status (None: no such job)."""

    engine_status: str | None
    batches: list[list[dict[str, Any]]]
    closed: bool
    """The stream ended (the job settled for good)."""
    more: bool = False
    """More batches were written than one page holds: read again from the next offset."""


class Backend(Protocol):
    """The operations agentrecord's `Job` and `Schedule` need from an engine, from any process."""

    def enqueue(self, job_id: str, partition: str, request: dict[str, Any]) -> None: ...

    def get(self, job_id: str) -> JobInfo | None: ...

    def find(self, prefixes: list[str], limit: int) -> list[JobInfo]: ...

    def cancel(self, job_id: str) -> None: ...

    def write_events(self, job_id: str, batch: list[dict[str, Any]], *, close: bool = False) -> None: ...

    def read_events(self, job_id: str, offset: int) -> EventPage: ...

    def live_workers(self) -> list[WorkerInfo]: ...

    def create_schedule(self, schedule_id: str, cron: str, tz: str, context: dict[str, Any]) -> None: ...

    def schedules(self, prefix: str) -> list[ScheduleInfo]: ...

    def set_schedule_active(self, schedule_id: str, active: bool) -> None: ...

    def remove_schedule(self, schedule_id: str) -> None: ...


def agent_ref(record: AgentRecord) -> str:
    """`<table>.<id>`: the prefix of the agent's job and schedule ids."""
    table = type(record).__table__.name  # type: ignore[attr-defined]
    engine, agent_id = record._bound()
    del engine
    return f"{table}.{agent_id}"


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def request_of(record: AgentRecord, prompt: str) -> dict[str, Any]:
    """What a worker needs to run a turn: the agent's class (importable), its id, the prompt."""
    _, agent_id = record._bound()
    return {"agent": class_path(type(record)), "id": agent_id, "prompt": prompt}


def new_job_id(ref: str, key: str | None) -> str:
    """A keyed id (the same key gives the same job) or a fresh one that sorts after every earlier one."""
    if key is not None:
        return f"{ref}.k.{hashlib.sha256(key.encode()).hexdigest()[:24]}"
    global _last
    with _lock:
        ms = time.time_ns() // 1_000_000
        counter = _last[1] + 1 if ms <= _last[0] else 0
        ms = max(ms, _last[0])
        _last = (ms, counter)
    return f"{ref}.{_base36(ms, 9)}{_base36(counter, 3)}{os.urandom(4).hex()}"


def _base36(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


BackendFactory = Callable[[Engine], Backend]
"""Makes the backend for one database."""

DEFAULT_BACKEND = "dbos"
"""The backend jobs use unless told otherwise (registered by `agentrecord.jobs.dbos`)."""

_factories: dict[str, BackendFactory] = {}
_backends: dict[tuple[str, str], Backend] = {}
_backends_lock = threading.Lock()


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make the job engine `name` available: `factory(engine)` builds it for one database."""
    with _backends_lock:
        _factories[name] = factory


def backend_names() -> list[str]:
    """The registered job engines' names."""
    return sorted(_factories)


def backend_for(engine: Engine, name: str = DEFAULT_BACKEND) -> Backend:
    """The job engine `name` on `engine`'s database (one per database and process)."""
    key = (name, engine.url.render_as_string(hide_password=False))
    with _backends_lock:
        found = _backends.get(key)
        if found is None:
            factory = _factories.get(name)
            if factory is None:
                known = ", ".join(sorted(_factories)) or "none"
                raise JobsNotConfigured(f"No job engine named {name!r} is registered (registered: {known}).")
            found = _backends[key] = factory(engine)
        return found


def live(engine: Engine, job_id: str) -> bool:
    """True while the job is queued or running (not done, failed or cancelled)."""
    found = backend_for(engine).get(job_id)
    return found is not None and found.engine_status in ("ENQUEUED", "DELAYED", "PENDING")
