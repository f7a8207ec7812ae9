"""The DBOS backend as seen from any process: enqueue, look up, cancel, schedule — no DBOS launch needed.

It talks to DBOS's tables in the application's own database through `DBOSClient`, so a CLI or a
web process can queue work that worker processes run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, inspect

from ...errors import JobsNotConfigured, ScheduleError, UnknownJob
from ..backend import APP, QUEUE, TICK_WORKFLOW, TURN_WORKFLOW, EventPage, JobInfo, ScheduleInfo, WorkerInfo
from . import fleet, index, streams

SCHEMA = "dbos"


def system_url(engine: Engine) -> str:
    """The URL DBOS connects with: the application's own database."""
    return engine.url.render_as_string(hide_password=False)


def installed(engine: Engine) -> bool:
    """True when DBOS's tables and ours exist in `engine`'s database."""
    schema = None if engine.dialect.name == "sqlite" else SCHEMA
    found = inspect(engine)
    return all(
        (found.has_table("workflow_status", schema=schema), found.has_table(fleet.TABLE), found.has_table(index.TABLE))
    )


def _import_dbos() -> Any:
    try:
        import dbos
    except ModuleNotFoundError:
        raise JobsNotConfigured(
            "Jobs need the DBOS engine: pip install 'agentrecord[jobs]' (it installs dbos>=3.4)."
        ) from None
    return dbos


def _ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


class DBOSBackend:
    """Jobs and schedules stored in DBOS's tables, reached through a DBOSClient."""

    def __init__(self, engine: Engine) -> None:
        dbos = _import_dbos()
        if not installed(engine):
            raise JobsNotConfigured(
                f"The database {engine.url.render_as_string(hide_password=True)} has no job tables: run "
                "agentrecord.jobs.install(engine) once (tradedesk: `tradedesk init`)."
            )
        self.engine = engine
        self._client = dbos.DBOSClient(system_database_url=system_url(engine), application_name=APP)

    # -- jobs ------------------------------------------------------------------------------------
    def enqueue(self, job_id: str, partition: str, request: dict[str, Any]) -> None:
        options: dict[str, Any] = {
            "queue_name": QUEUE,
            "workflow_name": TURN_WORKFLOW,
            "workflow_id": job_id,
            "queue_partition_key": partition,
            "application_name": APP,
        }
        index.add(self.engine, job_id)  # first: a job is never in the queue without being findable by its agent
        self._client.enqueue(options, request)

    def get(self, job_id: str) -> JobInfo | None:
        found = self._client.list_workflows(workflow_ids=[job_id])
        return _info(found[0]) if found else None

    def find(self, prefixes: list[str], limit: int) -> list[JobInfo]:
        if not prefixes:
            return []
        ids = index.latest(self.engine, [p.rstrip(".") for p in prefixes], limit)
        if not ids:
            return []
        order = {job_id: n for n, job_id in enumerate(ids)}
        found = self._client.list_workflows(workflow_ids=ids)  # an indexed job never enqueued is left out
        return sorted((_info(s) for s in found), key=lambda info: order[info.id])

    def cancel(self, job_id: str) -> None:
        if self.get(job_id) is None:
            raise UnknownJob(f"No job {job_id} in this database: list jobs with record.jobs() or `tradedesk jobs`.")
        self._client.cancel_workflow(job_id)

    def write_events(self, job_id: str, batch: list[dict[str, Any]], *, close: bool = False) -> None:
        streams.append(self._client._sys_db, job_id, batch, close=close)

    def read_events(self, job_id: str, offset: int) -> EventPage:
        return streams.read(self._client._sys_db, job_id, offset)

    def live_workers(self) -> list[WorkerInfo]:
        return fleet.live(self.engine)

    # -- schedules -------------------------------------------------------------------------------
    def create_schedule(self, schedule_id: str, cron: str, tz: str, context: dict[str, Any]) -> None:
        self._client.create_schedule(
            schedule_name=schedule_id,
            workflow_name=TICK_WORKFLOW,
            schedule=cron,
            context=context,
            cron_timezone=tz,
            application_name=APP,
        )

    def schedules(self, prefix: str) -> list[ScheduleInfo]:
        return [_schedule(s) for s in self._client.list_schedules(schedule_name_prefix=prefix)]

    def _existing(self, schedule_id: str) -> None:
        if self._client.get_schedule(schedule_id) is None:
            raise ScheduleError(
                f"No schedule {schedule_id}: list them with record.schedules() or `tradedesk schedule list`."
            )

    def set_schedule_active(self, schedule_id: str, active: bool) -> None:
        self._existing(schedule_id)
        if active:
            self._client.resume_schedule(schedule_id)
        else:
            self._client.pause_schedule(schedule_id)

    def remove_schedule(self, schedule_id: str) -> None:
        self._existing(schedule_id)
        self._client.delete_schedule(schedule_id)


def _info(status: Any) -> JobInfo:
    inputs = status.input or {}
    args = inputs.get("args") if isinstance(inputs, dict) else getattr(inputs, "args", None)
    request = args[0] if args and isinstance(args[0], dict) else {}
    output = status.output if isinstance(status.output, dict) else None
    error = None if status.error is None else _message(status.error)
    return JobInfo(
        id=status.workflow_id,
        engine_status=str(status.status),
        request=request,
        result=output,
        error=error,
        created_at=_ms(status.created_at),
        started_at=_ms(status.dequeued_at),
        finished_at=_ms(status.completed_at),
        executor=status.executor_id,
        schedule=status.schedule_name,
    )


def _schedule(row: Any) -> ScheduleInfo:
    context = row.get("context")  # the client deserializes it
    last = row.get("last_fired_at")
    return ScheduleInfo(
        id=row["schedule_name"],
        cron=row["schedule"],
        tz=row.get("cron_timezone") or "UTC",
        active=row.get("status", "ACTIVE") == "ACTIVE",
        context=context if isinstance(context, dict) else {},
        last_fired_at=datetime.fromisoformat(last) if last else None,
    )


def _message(error: object) -> str:
    """The error's message (without the class prefix the engine's string form may carry)."""
    text = str(error)
    return text.removeprefix("JobFailed: ")
