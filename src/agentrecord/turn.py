"""One turn of an agent record: take the lease, run the tool loop, save each step, release.

Runs on the runtime loop. Messages are saved at step boundaries in short transactions: a response
that asks for tools is saved before the tools run, the rest with the lease release at the end. No
transaction stays open while the model thinks.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic_ai import Agent as _PydanticAgent
from pydantic_ai import DeferredToolRequests, DeferredToolResults
from pydantic_ai.exceptions import ModelAPIError, UsageLimitExceeded
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    repair_messages,
)
from pydantic_ai.models import Model
from pydantic_ai.toolsets import AbstractToolset
from pydantic_ai.usage import UsageLimits

from . import _journal, approvals, budgets, faults, hooks, ledger, mcp_servers, steps, stops, tracing
from .admission import admit, held_elsewhere, trace_approvals
from .compaction import Summary
from .errors import BudgetExceeded, InvalidPrompt, TurnStopped
from .reply import Reply, Usage, cost_of, output_text
from .reporting import report
from .state import Lease
from .steps import StepWriter, compact
from .stops import check_cost, limit_error
from .target import OnEvent, Target, TurnDeps


def _prepare_history(history: list[ModelMessage]) -> tuple[list[ModelMessage], list[ModelMessage]]:
    """Repair a history a crashed turn left with unanswered tool calls: (history to run, repairs to save)."""
    last = history[-1] if history else None
    if not (isinstance(last, ModelResponse) and last.tool_calls):
        return history, []  # pydantic-ai repairs anything else before each request itself
    # Repair the last response alone: repairing the whole history also merges adjacent requests elsewhere (an
    # earlier repair followed by a prompt), and the synthesized results would then never be saved (found by the
    # crash soak: a killed turn's calls stayed unanswered in the stored conversation).
    tail = repair_messages([last])
    if len(tail) > 1 and tail[0] == last:
        return [*history, *tail[1:]], tail[1:]
    return repair_messages(history), []


def check_prompt(label: str, prompt: str) -> None:
    """Refuse, before anything is written, a prompt that is not text or not valid UTF-8."""
    if not isinstance(prompt, str):
        raise InvalidPrompt(f"{label}: a prompt is text (str), got {type(prompt).__name__}.")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidPrompt(
            f"{label}: the prompt is not valid UTF-8 text (character {exc.start} cannot be encoded); "
            "decode the input as UTF-8 first."
        ) from None


async def run_turn(
    target: Target,
    prompt: str,
    *,
    wait: float | None,
    on_text: Callable[[str], None] | None = None,
    job: hooks.RunningJob | None = None,
    on_event: OnEvent | None = None,
) -> Reply[Any]:
    """Run one turn for `target` and return its reply; see the module docstring for the write protocol.

    As `job`, a turn that job had begun (its worker died) continues from its saved steps instead.
    `on_text` gets each text delta, `on_event` everything the turn produces (see `OnEvent`).
    """
    check_prompt(target.label, prompt)
    reply = await _turn(target, prompt, wait=wait, on_text=on_text, job=job, on_event=on_event)
    assert reply is not None
    return reply


async def resume_turn(
    target: Target,
    decisions: dict[str, bool | str],
    *,
    wait: float | None,
    job: hooks.RunningJob | None = None,
    on_event: OnEvent | None = None,
    by: str | None = None,
) -> Reply[Any] | None:
    """Record `decisions` (call id -> True, or a denial reason) made `by` someone, for pending approvals; once
    every pending call is decided, resume the held turn and return its reply (None while others still wait).

    Calls held by a job's turn are only recorded here: that job resumes the turn on its worker.
    """
    return await _turn(target, None, wait=wait, decisions=decisions, job=job, on_event=on_event, by=by)


async def _turn(
    target: Target,
    prompt: str | None,
    *,
    wait: float | None,
    on_text: Callable[[str], None] | None = None,
    decisions: dict[str, bool | str] | None = None,
    job: hooks.RunningJob | None = None,
    on_event: OnEvent | None = None,
    by: str | None = None,
) -> Reply[Any] | None:
    """`_run` inside the turn's span: who, on what model, and (once it ends) its tokens, cost and outcome."""
    kind = type(target.record).__name__
    attributes = {
        "agentrecord.agent.class": kind,
        "agentrecord.agent.id": str(target.agent_id),
        "gen_ai.provider.name": target.record.provider,
        "gen_ai.request.model": target.model.model_name,
        "agentrecord.job.id": job.id if job is not None else None,
        "agentrecord.resumed": decisions is not None,
    }
    with tracing.span(f"agentrecord.turn {kind}", attributes, target.trace_parent) as span:
        try:
            async with mcp_servers.connected(target.spec, target.mcp, target.label) as extra:
                reply = await _run(
                    target,
                    prompt,
                    wait=wait,
                    on_text=on_text,
                    decisions=decisions,
                    job=job,
                    on_event=on_event,
                    toolsets=extra,
                    by=by,
                )
        except BaseException as exc:
            stopped = isinstance(exc, asyncio.CancelledError | TurnStopped)
            span.set_attribute("agentrecord.outcome", "cancelled" if stopped else "failed")
            span.set_attribute("agentrecord.error", type(exc).__name__)
            raise
        if reply is None:
            span.set_attribute("agentrecord.outcome", "decisions_recorded")
            return None
        span.set_attribute("agentrecord.outcome", "held_for_approval" if reply.pending else "answered")
        span.set_attribute("gen_ai.usage.input_tokens", reply.usage.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", reply.usage.output_tokens)
        span.set_attribute("agentrecord.requests", reply.usage.requests)
        if reply.cost is not None:
            span.set_attribute("agentrecord.cost_usd", str(reply.cost))
        if prompt is not None:
            tracing.content(span, "agentrecord.prompt", prompt)
        tracing.content(span, "agentrecord.reply", reply.text)
        return reply


async def _run(
    target: Target,
    prompt: str | None,
    *,
    wait: float | None,
    on_text: Callable[[str], None] | None = None,
    decisions: dict[str, bool | str] | None = None,
    job: hooks.RunningJob | None = None,
    on_event: OnEvent | None = None,
    toolsets: list[AbstractToolset[Any]] | None = None,
    by: str | None = None,
) -> Reply[Any] | None:
    """Take the lease, plan the turn, run the tool loop saving each step, and release (see the module docstring)."""
    spec = target.spec
    agent = spec.pydantic_agent()  # before the lease: a bad tool schema must not leave the agent locked
    agent.instrument = tracing.instrumentation()  # model requests and tool calls as spans under the turn's
    lease = await target.store.acquire(
        target.engine,
        target.agent_id,
        wait=spec.busy_timeout if wait is None else wait,
        ttl=spec.lease_ttl,
    )
    try:
        plan = await _plan(target, lease, prompt, decisions=decisions, job=job, by=by)
    except BaseException:
        target.store.release(target.engine, target.agent_id, lease)
        raise
    prompt, deferred, history = plan.prompt, plan.deferred, plan.history
    writer = StepWriter(target, lease, plan.carried, job)
    if decisions is not None and deferred is None:
        writer.finish([], turn_done=False)  # decisions recorded; other calls (or the holding job) still wait
        target.reflect(writer.totals)
        return None
    last = history[-1] if history else None
    if plan.continuing and isinstance(last, ModelResponse) and not last.tool_calls:  # it had answered already
        writer.finish([], turn_done=True)
        target.reflect(writer.totals)
        return Reply(text=last.text or "", output=last.text or "", usage=Usage(), cost=None, messages=[])
    deps = _deps(target, lease, writer, plan, job)
    heartbeat = asyncio.ensure_future(steps.heartbeat(target, lease))
    run = None
    done = False
    unsent: list[ModelMessage] = []
    collecting = ledger.CURRENT.set(writer.attempts)
    # "call" runs one response's tool calls one after another; the other modes run them concurrently.
    mode: Literal["sequential", "parallel"] = "sequential" if spec.concurrency == "call" else "parallel"
    try:
        plan.meter.start()  # a spent budget stops the turn here, before its first request
        with _PydanticAgent.parallel_tool_call_execution_mode(mode):
            async with (
                asyncio.timeout(spec.turn_timeout),
                agent.iter(
                    prompt,
                    message_history=plan.run_history,
                    model=plan.model,
                    deps=deps,
                    model_settings=faults.model_settings(
                        spec, in_process=getattr(target.model, "system", "") == "local"
                    ),
                    usage_limits=UsageLimits(
                        request_limit=spec.max_requests, total_tokens_limit=spec.max_tokens_per_turn
                    ),
                    deferred_tool_results=deferred,
                    toolsets=toolsets or None,
                ) as run,
            ):
                async for node in run:
                    writer.answered()
                    writer.progress(run.new_messages())
                    try:
                        plan.meter.step(node, run.new_messages())
                    except BudgetExceeded:  # stopped before this request: keep the tool results it would send
                        pending = getattr(node, "request", None)
                        unsent = [pending] if isinstance(pending, ModelRequest) else []
                        raise
                    check_cost(spec, target.label, run.new_messages())
                    if job is not None and (reason := job.stop()):
                        raise TurnStopped(target.label, reason)
                    if _PydanticAgent.is_model_request_node(node):
                        writer.requesting()
                    if on_text is not None or on_event is not None:
                        await report(node, run, on_text, on_event, deltas=job is None or job.stream)
        result = run.result
        assert result is not None
        new = result.new_messages()
        holding = approvals.hold(lease.state, result.output) if isinstance(result.output, DeferredToolRequests) else []
        trace_approvals("held", holding, {})
        writer.finish(new, turn_done=not holding)
        done = True
    except UsageLimitExceeded as exc:
        writer.inflight = None  # the limit stopped the request before it was sent
        raise limit_error(exc, spec, target.label) from exc
    except Exception as exc:
        fault = stops.fault(exc, target, run)
        if fault is None:
            raise
        if not (isinstance(exc, TimeoutError) and not isinstance(exc, ModelAPIError) and spec.turn_timeout):
            writer.ending = "failed"  # the provider failed it (a turn that ran out of time cancels it)
        raise fault from None  # its message says it all, redacted; the cause may quote a key
    finally:
        ledger.CURRENT.reset(collecting)
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await heartbeat
        plan.meter.close(faults.complete(run.new_messages()) if run is not None else [])
        if not done:
            try:
                saved = faults.complete(run.new_messages()) if run is not None else []
                writer.finish([*saved, *unsent], turn_done=False, ending=True)
            finally:
                target.store.release(target.engine, target.agent_id, lease)
        target.reflect(writer.totals)
    return _reply(result, [*history[len(lease.history) :], *new], new, plan.summary, holding)


@dataclass
class _Plan:
    """What a turn runs with, decided under its lease before the model is asked anything."""

    prompt: str | None
    continuing: bool
    """A job continuing the turn it had begun (its prompt is in the saved steps)."""
    deferred: DeferredToolResults | None
    """The decisions the turn resumes on (None: a new prompt, or decisions only recorded)."""
    summary: Summary | None
    """The compaction done for this turn, if any (the reply counts its usage)."""
    history: list[ModelMessage]
    carried: list[ModelMessage]
    """Repairs of a crashed turn's history, saved with the first step."""
    model: Model
    run_history: list[ModelMessage]
    finished: list[ModelMessage]
    meter: budgets.Meter


async def _plan(
    target: Target,
    lease: Lease,
    prompt: str | None,
    *,
    decisions: dict[str, bool | str] | None,
    job: hooks.RunningJob | None,
    by: str | None,
) -> _Plan:
    """Admit the turn (approvals, a job's continuation), compact, repair and encode the history, meter it."""
    held = bool(approvals.pending(lease.state))  # held calls are unanswered on purpose: no repair
    continuing = decisions is None and not held and job is not None and job.continues(lease.state)
    if continuing:
        prompt = None
    elif job is not None and decisions is None:
        job.begin(lease.state)
    elsewhere = decisions is not None and held_elsewhere(job, lease, target.engine)
    if decisions is not None and tracing.enabled():
        trace_approvals("resumed", approvals.pending(lease.state), decisions)
    deferred = admit(target, lease, decisions, record_only=elsewhere, continuing=continuing, by=by)
    fresh = decisions is None and not held and not continuing
    summary = await compact(target, lease) if fresh else None
    history, carried = _prepare_history(lease.history) if fresh else (lease.history, [])
    # Encodings are reused for OpenAI chat models only, and one exists only once its module is loaded:
    # a turn on another model (the embedded one, Anthropic...) does not import the OpenAI SDK.
    if "pydantic_ai.models.openai" in sys.modules:
        from . import _encoding

        model, run_history, finished = await _encoding.plan(target.model, history, prompt)
    else:
        model, run_history, finished = target.model, history, []
    meter = budgets.Meter.of(target.record, lambda: target.store.reservations(target.engine), target.label)
    return _Plan(prompt, continuing, deferred, summary, history, carried, model, run_history, finished, meter)


def _deps(target: Target, lease: Lease, writer: StepWriter, plan: _Plan, job: hooks.RunningJob | None) -> TurnDeps:
    """What the turn's tool calls receive: the record, the turn's numbers, the approvals resumed on, the journal."""
    deps = TurnDeps(
        record=target.record,
        engine=target.engine,
        agent_id=target.agent_id,
        binding=target.binding,
        model=target.model,
        earlier=plan.finished[-32:],
    )
    deps.turn, deps.seqs = lease.state.turns + 1, writer.seqs
    if plan.deferred is not None:
        approved = (c for c, verdict in plan.deferred.approvals.items() if verdict is True)
        deps.approved = {c: a for c in approved if (a := approvals.approval_of(lease.state, c)) is not None}
    if job is not None:
        deps.journal = _journal.Journal(target, lease)
    return deps


def _reply(
    result: Any,
    messages: list[ModelMessage],
    new: list[ModelMessage],
    summary: Summary | None,
    holding: list[approvals.PendingApproval],
) -> Reply[Any]:
    """The finished turn's reply: its output, the messages it added, and its usage and cost with its compaction's."""
    usage = Usage.of(new)
    cost: Decimal | None = cost_of(new)
    if summary is not None:  # the turn paid for its compaction too
        usage = usage + summary.usage
        cost = cost if summary.cost is None else (cost or Decimal(0)) + summary.cost
    return Reply(
        text=output_text(result.output, result.response),
        output=result.output,
        usage=usage,
        cost=cost,
        messages=messages,
        pending=holding,
    )
