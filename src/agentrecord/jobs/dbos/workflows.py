"""The DBOS workflows a worker registers: a queued turn, a schedule's tick, and clock-driven tasks.

A turn's durable steps are agentrecord's own (messages saved at step boundaries, the tool-result
journal, the job mark in the agent's state), so the workflow calls no DBOS steps: re-run after a
crash, it continues from what the database holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dbos import DBOS, SetWorkflowID

from ...errors import JobFailed
from ..backend import TICK_WORKFLOW, TURN_WORKFLOW, backend_for
from ..runner import describe
from ..timing import calendar, previous_tick

if TYPE_CHECKING:
    from .worker import Worker

log = logging.getLogger("agentrecord.jobs")
TASK_PREFIX = "agentrecord.task."
_worker: Worker | None = None


def bind(worker: Worker) -> None:
    """The process's worker, which the workflows run on."""
    global _worker
    _worker = worker


def _bound() -> Worker:
    if _worker is None:
        raise RuntimeError("No agentrecord worker is running in this process.")
    return _worker


@DBOS.workflow(name=TURN_WORKFLOW)
async def turn(request: dict[str, Any]) -> dict[str, Any]:
    """One queued turn (see `runner.run`)."""
    job_id = DBOS.workflow_id
    assert job_id is not None
    try:
        return await _bound().run_job(request, job_id)
    except Exception as exc:  # stored by the engine: one plain, picklable error saying what went wrong
        raise JobFailed(describe(exc)) from None


def tick_job_id(context: dict[str, Any], scheduled_at: datetime) -> str:
    return f"{context['ref']}.s{context['key']}-{int(scheduled_at.timestamp())}"


@DBOS.workflow(name=TICK_WORKFLOW)
async def tick(scheduled_at: datetime, context: dict[str, Any]) -> str:
    """A schedule's tick: enqueue its turn on the agent's queue (once: the job id is the tick's), or skip it."""
    name = context.get("calendar")
    if name and not calendar(str(name))(scheduled_at):
        return "skipped"
    job_id = tick_job_id(context, scheduled_at)
    worker = _bound()
    await asyncio.to_thread(backend_for(worker.engine).enqueue, job_id, str(context["ref"]), context["request"])
    return job_id


def catch_up(engine: Any) -> None:
    """At most one catch-up run per schedule for ticks missed while no worker ran (never a burst)."""
    now = datetime.now(UTC)
    for row in DBOS.list_schedules(workflow_name=TICK_WORKFLOW, status="ACTIVE"):
        last = row.get("last_fired_at")
        if not last:
            continue
        due = previous_tick(row["schedule"], row.get("cron_timezone") or "UTC", now)
        if datetime.fromisoformat(last) >= due:
            continue
        context = row.get("context")
        try:
            with SetWorkflowID(f"sched-{row['schedule_name']}-{due.isoformat()}"):  # the scheduler's own id
                DBOS.start_workflow(tick, due, context)
        except Exception:
            log.exception("catch-up run of schedule %s failed", row["schedule_name"])


def register_task(name: str, fn: Callable[[datetime], object]) -> None:
    def task(scheduled_at: datetime, context: Any) -> None:
        fn(scheduled_at)

    task.__name__ = task.__qualname__ = f"task_{name.replace('.', '_')}"
    DBOS.workflow(name=TASK_PREFIX + name)(task)
    _tasks[name] = task


_tasks: dict[str, Callable[..., Any]] = {}


def schedule_task(name: str, cron: str) -> None:
    """Create (or update) the task's schedule in the database; ticks run once across all workers."""
    schedule_name = TASK_PREFIX + name
    existing = DBOS.get_schedule(schedule_name)
    if existing is not None and existing["schedule"] == cron:
        return
    if existing is not None:
        DBOS.delete_schedule(schedule_name)
    try:
        DBOS.create_schedule(schedule_name=schedule_name, workflow_fn=_tasks[name], schedule=cron)
    except Exception:
        if DBOS.get_schedule(schedule_name) is None:  # not a race with another worker creating it
            raise
