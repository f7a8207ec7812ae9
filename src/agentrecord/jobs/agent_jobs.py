"""What `record.enqueue`, `record.schedule`, `record.schedules` and `record.jobs` do: the jobs extension's hooks.

`agentrecord.jobs` registers this module with the runtime (`hooks.register_jobs`) when it is imported.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .. import tracing
from ..errors import AgentRecordError
from . import continuation
from .backend import agent_ref, backend_for, live, new_job_id, request_of
from .job import Job, Schedule, job, jobs_of
from .timing import calendar, cron_of, zone

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ..sqlalchemy.record import AgentRecord
    from ..state import State


def _prompt(prompt: object) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise AgentRecordError(f"A job needs a non-empty prompt string (got {prompt!r}).")
    return prompt


def enqueue(record: AgentRecord, prompt: str, key: str | None = None, *, stream: bool = False) -> Job:
    """Queue one turn of `record`; the same `key` twice makes one job. `stream` asks for text events as
    the model writes (a live chat); without it the request is not streamed and each response's text is one event."""
    engine, _ = record._bound()
    ref = agent_ref(record)
    job_id = new_job_id(ref, key)
    request = request_of(record, _prompt(prompt)) | ({"stream": True} if stream else {})
    if trace := tracing.carrier():  # the job's span continues the enqueuing request's trace
        request["trace"] = trace
    backend_for(engine).enqueue(job_id, ref, request)
    return job(engine, job_id)


def schedule(
    record: AgentRecord,
    prompt: str,
    *,
    every: str | None = None,
    cron: str | None = None,
    tz: str | None = None,
    calendar_name: str | None = None,
) -> Schedule:
    """Store a schedule that enqueues `prompt` for `record` on every tick."""
    expression = cron_of(every, cron)
    zone_name = zone(tz)
    if calendar_name is not None:
        calendar(calendar_name)  # registered here too, so a typo fails now rather than on every tick
    engine, _ = record._bound()
    ref = agent_ref(record)
    key = os.urandom(4).hex()
    schedule_id = f"{ref}.schedule.{key}"
    request = request_of(record, _prompt(prompt)) | {"schedule": schedule_id}
    context = {"ref": ref, "key": key, "request": request, "calendar": calendar_name}
    backend_for(engine).create_schedule(schedule_id, expression, zone_name, context)
    from .job import schedule as load

    return load(engine, schedule_id)


def schedules(record: AgentRecord) -> list[Schedule]:
    """`record`'s schedules."""
    engine, _ = record._bound()
    infos = backend_for(engine).schedules(f"{agent_ref(record)}.schedule.")
    return [Schedule.of(i, engine) for i in infos]


def jobs(record: AgentRecord, limit: int = 50) -> list[Job]:
    """`record`'s latest jobs, newest first."""
    engine, _ = record._bound()
    return jobs_of(engine, [record], limit)


def holding_job(state: State, bind: Engine) -> str | None:
    """The id of the queued or running job whose turn holds the agent's pending approvals, if any."""
    return continuation.holding_job(state, lambda job_id: live(bind, job_id))
