"""Running one job's turn on a worker, whatever the engine: wait for the agent, continue, hold, resume.

A job's turn is marked with the job's id in the agent's state, so the job (re-run after its worker
died) continues its own saved steps rather than starting its prompt over; a turn it finished is
not run again. Calls held for approval keep the job waiting (polling the agent's state) until every
one is decided, from any process; then the job resumes the turn itself.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from .. import _loop, approvals, tracing
from ..errors import AgentBusy, AgentRecordError, ApprovalPending, TurnStopped
from ..reply import Reply, Usage, cost_of
from ..sqlalchemy.record import AgentRecord
from ..state import State
from ..turn import resume_turn, run_turn
from .continuation import JobTurn

if TYPE_CHECKING:
    from .emitter import Emitter

_POLL = (0.05, 1.0)
"""First and longest wait between two looks at a busy agent or undecided approvals (seconds)."""


class UnknownAgent(AgentRecordError, LookupError):
    """A job names an agent class or row that does not exist (deleted, or a worker missing the app's models)."""


def resolve(path: str) -> type[AgentRecord]:
    """The agent class named `module:QualName`, imported if needed.

    A job or schedule outlives the code that stored it: when the named module no longer has the class (the
    application moved it), the one loaded agent class of that name in the same top-level package is taken.
    """
    module_name, _, qualname = path.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        moved = _moved(module_name, qualname)
        if moved is not None:
            return moved
        raise UnknownAgent(
            f"This worker cannot import the agent class {path} ({exc}); run it where the application's models import."
        ) from exc
    if not (isinstance(found, type) and issubclass(found, AgentRecord)):
        raise UnknownAgent(f"{path} is not an AgentRecord class.")
    return found


def _moved(module_name: str, qualname: str) -> type[AgentRecord] | None:
    """The single loaded agent class called `qualname` in `module_name`'s top-level package, if exactly one."""
    package = module_name.partition(".")[0]
    found: list[type[AgentRecord]] = []
    pending: list[type] = [AgentRecord]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__qualname__ == qualname and cls.__module__.partition(".")[0] == package and hasattr(cls, "__table__"):
            found.append(cls)
    return found[0] if len(set(found)) == 1 else None


async def run(
    engine: Engine,
    request: dict[str, Any],
    job_id: str,
    stop: Callable[[], str | None],
    dead: Callable[[str], bool] = lambda owner: False,
    events: Emitter | None = None,
) -> dict[str, Any]:
    """Run the job to its end and return its result (text, usage, cost, the range of its messages).

    `dead(owner)` says whether a lease holder is a worker known to be gone (its lease is then freed
    rather than waited out). `events` gets what the turn produces, and a `waiting_approval` status
    each time the turn stops on calls held for approval. Traced as one `agentrecord.job` span, its turns inside.
    """
    attributes = {
        "agentrecord.job.id": job_id,
        "agentrecord.agent.class": str(request.get("agent")),
        "agentrecord.agent.id": str(request.get("id")),
    }
    with tracing.span("agentrecord.job", attributes, tracing.extract(request.get("trace"))) as span:
        result = await _run(engine, request, job_id, stop, dead, events)
        span.set_attribute("agentrecord.requests", int(result.get("requests") or 0))
        return result


async def _run(
    engine: Engine,
    request: dict[str, Any],
    job_id: str,
    stop: Callable[[], str | None],
    dead: Callable[[str], bool],
    events: Emitter | None,
) -> dict[str, Any]:
    cls = resolve(str(request["agent"]))
    job = JobTurn(job_id, stop, stream=bool(request.get("stream")))
    with Session(engine, expire_on_commit=False) as session:
        record = session.get(cls, request["id"])
        if record is None:
            raise UnknownAgent(f"{cls.__name__} id={request['id']} no longer exists; the job has nothing to run.")
        session.commit()
        target = record._target()
        delay = _POLL[0]
        on_event = None if events is None else events.emit
        first, held = True, False
        while True:
            if reason := stop():
                raise TurnStopped(target.label, reason)
            state = await asyncio.to_thread(target.store.load_state, engine, target.agent_id)
            mark = job.mark(state.extra)
            if first and mark is not None and events is not None:
                await asyncio.to_thread(events.resumed)  # an earlier run of this job wrote events already
            first = False
            if mark is not None and mark.get("done"):
                return _result(target.store, engine, target.agent_id, mark)
            try:
                if mark is not None and approvals.pending(state):
                    if approvals.undecided(state):
                        if on_event is not None and not held:
                            on_event({"kind": "status", "status": "waiting_approval"})
                        held = True
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, _POLL[1])
                        continue
                    held = False
                    await _loop.run_async(resume_turn(target, {}, wait=0, job=job, on_event=on_event))
                else:
                    turn = run_turn(target, str(request["prompt"]), wait=0, job=job, on_event=on_event)
                    if (finished := _finished_by(await _loop.run_async(turn), record.data, job)) is not None:
                        return finished
                delay = _POLL[0]
            except (AgentBusy, ApprovalPending):  # another turn runs, or another job's calls await a decision
                holder = await asyncio.to_thread(target.store.holder, engine, target.agent_id)
                if holder is not None and await asyncio.to_thread(dead, holder):
                    target.store.break_lease(engine, target.agent_id, holder)
                    continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, _POLL[1])


def _result(store: Any, engine: Engine, agent_id: Any, mark: dict[str, Any]) -> dict[str, Any]:
    start, end = int(mark["start"]), int(mark.get("end", mark["start"]))
    return _result_of(store.load_range(engine, agent_id, start, end), start, end)


def _finished_by(reply: Reply[Any], data: str | None, job: JobTurn) -> dict[str, Any] | None:
    """The result of a job whose whole turn just ran here, from the turn itself (no second read of its messages)."""
    mark = job.mark(State.parse(data, "").extra)
    if mark is None or not mark.get("done"):
        return None
    start, end = int(mark["start"]), int(mark.get("end", mark["start"]))
    return _result_of(reply.messages, start, end) if len(reply.messages) == end - start else None


def _result_of(messages: list[Any], start: int, end: int) -> dict[str, Any]:
    usage = Usage.of(messages)
    cost = cost_of(messages)
    return {
        "text": final_text(messages),
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "requests": usage.requests,
        "cost": None if cost is None else str(cost),
        "start": start,
        "end": end,
    }


def describe(exc: BaseException) -> str:
    """What a failed job says: the error's class and its message on one line."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def final_text(messages: list[Any]) -> str:
    """The answer of a finished turn: its last response's text, or the arguments of its output call."""
    for message in reversed(messages):
        if not isinstance(message, ModelResponse):
            continue
        text = "".join(p.content for p in message.parts if isinstance(p, TextPart))
        if text:
            return text
        calls = [p for p in message.parts if isinstance(p, ToolCallPart)]
        return calls[-1].args_as_json_str() if calls else ""
    return ""
