"""Queued and scheduled turns: `record.enqueue`, `record.schedule`, and worker processes that run them.

The API is engine-neutral (`Job`, `Schedule`, `Worker`); the shipped engine is DBOS Transact (the
`jobs` extra), on the application's own database: a SQLite file on one machine, PostgreSQL across
many. `install(engine)` creates its tables once.

An extension of the runtime: importing it registers its hooks (`agentrecord.hooks`) and the DBOS
backend; the core never imports it (it asks the hook registry, which imports this by name).
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if importlib.util.find_spec("dbos") is None:  # found without importing it: DBOS loads when jobs are first used
    raise ModuleNotFoundError(
        "agentrecord.jobs needs the DBOS engine: pip install 'agentrecord[jobs]' (it installs dbos>=3.4).",
        name="dbos",
    )

from sqlalchemy import Engine

from .. import hooks
from ..errors import JobFailed, JobsNotConfigured, JobTimeout, ScheduleError, TurnStopped, UnknownJob
from . import agent_jobs
from . import dbos as _dbos  # registers the DBOS backend
from .backend import JobStatus, agent_ref, backend_names, register_backend
from .events import JobEvent
from .job import Job, Schedule, job, jobs_of, schedule
from .timing import next_tick, register_calendar

if TYPE_CHECKING:
    from .dbos.worker import Task, Worker

__all__ = [
    "Job",
    "JobEvent",
    "JobFailed",
    "JobStatus",
    "JobTimeout",
    "JobsNotConfigured",
    "Schedule",
    "ScheduleError",
    "Task",
    "TurnStopped",
    "UnknownJob",
    "Worker",
    "agent_ref",
    "backend_names",
    "install",
    "job",
    "jobs_of",
    "next_tick",
    "register_backend",
    "register_calendar",
    "schedule",
]


hooks.register_jobs(agent_jobs)
del _dbos


def install(target: str | Engine) -> None:
    """Create or migrate the job tables in the database (DBOS's, and the workers' heartbeats). Idempotent."""
    from .. import create_engine
    from .backend import APP, QUEUE, TURN_WORKFLOW
    from .dbos import fleet, index
    from .dbos.client import _import_dbos, system_url

    dbos = _import_dbos()
    engine = create_engine(target) if isinstance(target, str) else target
    try:
        dbos.DBOS.migrate(system_url(engine))
        fleet.metadata.create_all(engine)
        client = dbos.DBOSClient(system_database_url=system_url(engine), application_name=APP)
        try:
            turns = client.list_workflows(name=TURN_WORKFLOW, load_input=False, load_output=False)
            index.backfill(engine, [(t.workflow_id, _created(t.created_at)) for t in turns])
            if client.retrieve_queue(QUEUE) is None:
                client.register_queue(QUEUE, partition_concurrency=1, worker_concurrency=100, polling_interval_sec=0.2)
        finally:
            client.destroy()
    finally:
        if isinstance(target, str):
            engine.dispose()


def _created(ms: int | None) -> datetime:
    return datetime.now(UTC) if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def __getattr__(name: str) -> Any:
    if name in ("Worker", "Task"):
        from .dbos import worker

        return getattr(worker, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names and the ones `__getattr__` imports on first use (for `dir()` and completion)."""
    return sorted({*globals(), *__all__})
