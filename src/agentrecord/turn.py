"""One turn of an agent record: take the lease, run the tool loop, save each step, release.

Runs on the runtime loop. Messages are saved at step boundaries in short transactions: a response
that asks for tools is saved before the tools run, the rest with the lease release at the end. No
transaction stays open while the model thinks.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic_ai import Agent as _PydanticAgent
from pydantic_ai import DeferredToolRequests, DeferredToolResults
from pydantic_ai.exceptions import ModelAPIError, UsageLimitExceeded
from pydantic_ai.messages import (
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    repair_messages,
)
from pydantic_ai.models import Model
from pydantic_ai.toolsets import AbstractToolset
from pydantic_ai.usage import UsageLimits
from pydantic_core import to_jsonable_python
from sqlalchemy import Engine
from sqlalchemy.orm.attributes import set_committed_value

from . import _journal, approvals, budgets, compaction, faults, hooks, ledger, mcp_servers, tracing
from .compaction import Summary
from .errors import ApprovalPending, BudgetExceeded, InvalidPrompt, RequestLimitExceeded, TurnLimitExceeded, TurnStopped
from .mcp_servers import MCP
from .reply import Reply, Usage, cost_of, output_text
from .store import Lease, Store, Totals, window

if TYPE_CHECKING:
    from .declaration import AgentSpec
    from .record import AgentRecord

OnEvent = Callable[[dict[str, Any]], None]
"""Receives what a running turn produces, as JSON-able dicts, in order: `{"kind": "text", "text"}` for each
text delta, `{"kind": "tool_call", "tool", "args", "call_id"}` when a tool call is about to run (or is
held), `{"kind": "tool_result", "tool", "call_id", "result", "skill"}` when it returns."""


@dataclass
class TurnDeps:
    """The dependencies every tool call of a turn receives (as `ctx.deps`)."""

    record: AgentRecord
    engine: Engine
    calls: Counter[str] = field(default_factory=Counter)
    """(tool, arguments) call counts of this turn, for the loop guard."""
    model: Model | None = None
    """The turn's model, unwrapped (skills run their sub-agents on it)."""
    earlier: list[ModelMessage] = field(default_factory=list)
    """The latest finished messages the model sees besides `ctx.messages` (sent pre-encoded)."""
    journal: _journal.Journal | None = None
    """Where a job's turn saves each tool result as it returns (None outside jobs)."""
    turn: int | None = None
    """The agent's turn number (as in the usage ledger): what `ToolContext.turn` says."""
    seqs: dict[str, int] = field(default_factory=dict)
    """Tool call id -> sequence number of the stored response that asked for it (`ToolContext.seq`)."""
    approved: dict[str, approvals.Approval] = field(default_factory=dict)
    """The approvals this turn resumes on, by call id (`ToolContext.approval`)."""


@dataclass
class _Target:
    """Everything a turn needs about its record, captured on the caller's thread."""

    record: AgentRecord
    spec: AgentSpec
    store: Store
    engine: Engine
    agent_id: Any
    model: Model
    label: str
    summarizer: Model | None = None
    """The model that writes compaction summaries (default: `model`)."""
    trace_parent: Any = None
    """The caller's trace context (the turn runs on the runtime loop, in a context of its own)."""
    mcp: list[MCP] = field(default_factory=list)
    """The record's MCP servers (its class's, with per-record factories applied on the caller's thread)."""


class _StepWriter:
    """Saves a turn's new messages as steps complete, holding back a final answer for the last write."""

    def __init__(
        self, target: _Target, lease: Lease, carried: list[ModelMessage], job: hooks.RunningJob | None
    ) -> None:
        self.target = target
        self.lease = lease
        self.carried = carried
        self.job = job
        self.saved = 0
        self.totals: Totals | None = None
        self.attempts = ledger.Attempts()
        self.latencies: list[int | None] = []
        """The latency of each answered model request whose response is not written yet, in order."""
        self.inflight: float | None = None
        """When the model request in flight started (None between requests)."""
        self.ending: ledger.Status | None = None
        """How the request in flight ends if the turn does not finish: failed, or cancelled."""
        self.seqs: dict[str, int] = _call_seqs(lease)
        """Tool call id -> sequence number of the saved response asking for it (grows as responses are saved)."""

    def requesting(self) -> None:
        """A model request is about to be sent."""
        self.inflight = time.monotonic()

    def answered(self) -> None:
        """The request in flight (if any) has its response."""
        if self.inflight is not None:
            self.latencies.append(int((time.monotonic() - self.inflight) * 1000))
            self.inflight = None

    def _usage(self, batch: list[ModelMessage], *, ending: bool) -> list[ledger.Entry]:
        model = self.target.model.model_name
        answered = sum(isinstance(m, ModelResponse) for m in batch)
        latencies, self.latencies = self.latencies[:answered], self.latencies[answered:]
        tried = ledger.of_attempts(
            self.attempts.take(), model, ending=(self.ending or "cancelled") if ending else None, inflight=self.inflight
        )
        return [*tried, *ledger.of_messages(batch, model, iter(latencies))]

    def _write(self, new: list[ModelMessage], *, release: bool, turn_done: bool = False, ending: bool = False) -> None:
        batch = [*self.carried, *new]
        self.carried = []
        if not batch and not release:
            return
        t = self.target
        extra = self.lease.state.extra
        if any(isinstance(m, ModelRequest) for m in batch):
            _journal.clear(extra)  # the results it held are in this batch now
        first = self.lease.state.messages
        for offset, message in enumerate(batch):
            if isinstance(message, ModelResponse):
                self.seqs.update((call.tool_call_id, first + offset) for call in message.tool_calls)
        if self.job is not None and turn_done:
            self.job.finish(self.lease.state, self.lease.state.messages + len(batch))
        self.totals = t.store.append(
            t.engine,
            t.agent_id,
            self.lease,
            batch,
            usage=self._usage(batch, ending=ending),
            release=release,
            ttl=t.spec.lease_ttl,
            turn_done=turn_done,
        )
        self.saved += len(new)

    def progress(self, messages: list[ModelMessage]) -> None:
        """Save what is new if the last new message is a response whose tool calls are about to run."""
        new = messages[self.saved :]
        if new and isinstance(new[-1], ModelResponse) and new[-1].tool_calls:
            self._write(new, release=False)

    def finish(self, messages: list[ModelMessage], *, turn_done: bool, ending: bool = False) -> None:
        """Save the rest and release; with `ending`, the turn stopped and a request in flight is recorded too."""
        self._write(messages[self.saved :], release=True, turn_done=turn_done, ending=ending)


def _call_seqs(lease: Lease) -> dict[str, int]:
    """Tool call id -> sequence number, for the stored responses of the history a turn starts from."""
    start, _ = window(lease.state)
    seqs: dict[str, int] = {}
    for back, message in enumerate(reversed(lease.history), start=1):
        seq = lease.state.messages - back
        if seq < start:
            break  # the summary standing for older messages
        if isinstance(message, ModelResponse):
            seqs.update((call.tool_call_id, seq) for call in message.tool_calls)
    return seqs


async def _report(
    node: Any, run: Any, on_text: Callable[[str], None] | None, on_event: OnEvent | None, *, deltas: bool = True
) -> None:
    """Stream `node` for the listeners: the model's text as it arrives, tool calls and results as they happen.

    Without `deltas` (and `on_text`) the request is not streamed: `on_event` gets each response's text whole.
    """
    streamed: Any = node  # the node's event types depend on the agent's generic parameters
    if _PydanticAgent.is_model_request_node(node):
        if on_text is None and not deltas:
            return
        async with streamed.stream(run.ctx) as events:
            async for event in events:
                if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                    text = event.part.content
                elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                    text = event.delta.content_delta
                else:
                    continue
                if text and on_text is not None:
                    on_text(text)
                if text and on_event is not None and deltas:
                    on_event({"kind": "text", "text": text})
    elif on_event is not None and _PydanticAgent.is_call_tools_node(node):
        if not deltas and (text := "".join(p.content for p in node.model_response.parts if isinstance(p, TextPart))):
            on_event({"kind": "text", "text": text})
        async with streamed.stream(run.ctx) as events:
            async for event in events:
                if isinstance(event, FunctionToolCallEvent):
                    call = event.part
                    on_event(
                        {
                            "kind": "tool_call",
                            "tool": call.tool_name,
                            "args": call.args_as_dict(),
                            "call_id": call.tool_call_id,
                        }
                    )
                elif isinstance(event, FunctionToolResultEvent):
                    part = event.part
                    meta = part.metadata if isinstance(part.metadata, dict) else {}
                    on_event(
                        {
                            "kind": "tool_result",
                            "tool": part.tool_name,
                            "call_id": part.tool_call_id,
                            "result": to_jsonable_python(part.content, fallback=str),
                            "skill": meta.get("skill") if "sha256" in meta else None,
                        }
                    )


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


async def _compact(target: _Target, lease: Lease) -> Summary | None:
    """Summarize the older part of the history the model would see, if it passed the class's threshold."""
    config = target.spec.compaction
    visible = lease.history
    if config is None or not compaction.due(config, visible):
        return None
    summarized = 1 if visible and compaction.is_summary(visible[0]) else 0
    body = visible[summarized:]
    cut = compaction.boundary(body, config.keep)
    if cut is None:
        return None
    summarizer = target.summarizer or target.model
    started = time.monotonic()
    summary = await compaction.summarize(config, summarizer, visible[: summarized + cut])
    spent = [
        ledger.Entry(
            status="ok",
            model=summarizer.model_name,
            source="compaction",
            requests=summary.usage.requests,
            input_tokens=summary.usage.input_tokens,
            output_tokens=summary.usage.output_tokens,
            cost=summary.cost,
            latency_ms=int((time.monotonic() - started) * 1000),
        )
    ]
    if not summary.text:  # nothing to stand in for the older messages: keep them, but the call was paid for
        target.store.append(
            target.engine,
            target.agent_id,
            lease,
            [],
            usage=spent,
            release=False,
            ttl=target.spec.lease_ttl,
        )
        return summary
    start, _ = window(lease.state)
    target.store.compact(
        target.engine,
        target.agent_id,
        lease,
        start=start + cut,
        summary=summary.text,
        visible=[compaction.summary_message(summary.text), *body[cut:]],
        usage=spent,
        ttl=target.spec.lease_ttl,
    )
    return summary


def _apply_totals(record: AgentRecord, totals: Totals | None) -> None:
    """Reflect the saved counters on the caller's instance without marking it dirty."""
    if totals is None:
        return
    for key in ("input_tokens", "output_tokens", "total_tokens", "cost", "data", "updated_at"):
        set_committed_value(record, key, getattr(totals, key))


async def _heartbeat(target: _Target, lease: Lease) -> None:
    interval = max(target.spec.lease_ttl / 3, 0.05)
    while True:
        await asyncio.sleep(interval)
        target.store.renew(target.engine, target.agent_id, lease, target.spec.lease_ttl)


def _admit(
    target: _Target,
    lease: Lease,
    decisions: dict[str, bool | str] | None,
    *,
    record_only: bool = False,
    continuing: bool = False,
    by: str | None = None,
) -> DeferredToolResults | None:
    """Check a turn may start: a new prompt needs no pending approvals; decisions must match pending calls.

    With `record_only` the decisions are stored without resuming (the job holding the calls resumes).
    """
    if decisions is None:
        waiting = approvals.pending(lease.state)
        if waiting and not continuing:
            raise ApprovalPending(target.label, [p.call_id for p in waiting])
        return None
    return approvals.decide(lease.state, decisions, target.label, resume=not record_only, by=by)


def _check_cost(spec: AgentSpec, label: str, messages: list[ModelMessage]) -> None:
    if spec.max_cost_per_turn is None:
        return
    spent = cost_of(messages)
    if spent is not None and spent > spec.max_cost_per_turn:
        raise TurnLimitExceeded(
            f"{label} stopped: this turn cost ${spent} so far, over its max_cost_per_turn of "
            f"${spec.max_cost_per_turn}. Everything up to that point is saved."
        )


def _limit_error(exc: UsageLimitExceeded, spec: AgentSpec, label: str) -> Exception:
    if "request" in str(exc).lower():
        return RequestLimitExceeded(label, spec.max_requests)
    return TurnLimitExceeded(
        f"{label} stopped: this turn went over its max_tokens_per_turn of {spec.max_tokens_per_turn} ({exc}). "
        "Everything up to that point is saved."
    )


def _fault(error: Exception, target: _Target, run: Any) -> Exception | None:
    """The ProviderError/ProviderTimeout standing for a failure from the model's side (None: not one)."""
    spec, model = target.spec, target.model
    provider = str(getattr(model, "system", None) or target.record.provider)
    if isinstance(error, TimeoutError) and not isinstance(error, ModelAPIError) and spec.turn_timeout is not None:
        return faults.turn_timeout_error(spec, target.label, provider)
    timeout, tries = faults.request_timeout(spec), faults.retries(spec) + 1
    cut = faults.cut_off(run.new_messages() if run is not None else [])
    return faults.translate(error, provider, model.model_name, timeout=timeout, tries=tries, cut=cut)


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
    target: _Target,
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
    target: _Target,
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


def _held_elsewhere(job: hooks.RunningJob | None, lease: Lease, engine: Engine) -> bool:
    """True when the pending approvals belong to a live job's turn other than `job` (that job resumes it)."""
    holder = hooks.holding_job(lease.state, engine)
    return holder is not None and (job is None or holder != job.id)


async def _turn(
    target: _Target,
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


def _trace_approvals(kind: str, calls: list[approvals.PendingApproval], decisions: dict[str, bool | str]) -> None:
    """One short span per call held for approval (`held`), or per decided call a turn resumes on (`resumed`)."""
    for call in calls:
        attributes: dict[str, Any] = {"gen_ai.tool.name": call.tool, "gen_ai.tool.call.id": call.call_id}
        if kind == "resumed":
            if call.call_id not in decisions:
                continue
            attributes["agentrecord.approved"] = decisions[call.call_id] is True
        with tracing.span(f"agentrecord.approval.{kind} {call.tool}", attributes):
            pass


async def _run(
    target: _Target,
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
        held = bool(approvals.pending(lease.state))  # held calls are unanswered on purpose: no repair
        continuing = decisions is None and not held and job is not None and job.continues(lease.state)
        if continuing:
            prompt = None
        elif job is not None and decisions is None:
            job.begin(lease.state)
        elsewhere = decisions is not None and _held_elsewhere(job, lease, target.engine)
        if decisions is not None and tracing.enabled():
            _trace_approvals("resumed", approvals.pending(lease.state), decisions)
        deferred = _admit(target, lease, decisions, record_only=elsewhere, continuing=continuing, by=by)
        fresh = decisions is None and not held and not continuing
        summary = await _compact(target, lease) if fresh else None
        history, carried = _prepare_history(lease.history) if fresh else (lease.history, [])
        # Encodings are reused for OpenAI chat models only, and one exists only once its module is loaded:
        # a turn on another model (the embedded one, Anthropic...) does not import the OpenAI SDK.
        if "pydantic_ai.models.openai" in sys.modules:
            from . import _encoding

            model, run_history, finished = await _encoding.plan(target.model, history, prompt)
        else:
            model, run_history, finished = target.model, history, []
        meter = budgets.Meter.of(target.record, target.engine, target.store.agents.metadata, target.label)
    except BaseException:
        target.store.release(target.engine, target.agent_id, lease)
        raise
    writer = _StepWriter(target, lease, carried, job)
    if decisions is not None and deferred is None:
        writer.finish([], turn_done=False)  # decisions recorded; other calls (or the holding job) still wait
        _apply_totals(target.record, writer.totals)
        return None
    last = history[-1] if history else None
    if continuing and isinstance(last, ModelResponse) and not last.tool_calls:  # it had answered already
        writer.finish([], turn_done=True)
        _apply_totals(target.record, writer.totals)
        return Reply(text=last.text or "", output=last.text or "", usage=Usage(), cost=None, messages=[])
    deps = TurnDeps(record=target.record, engine=target.engine, model=target.model, earlier=finished[-32:])
    deps.turn, deps.seqs = lease.state.turns + 1, writer.seqs
    if deferred is not None:
        approved = (c for c, verdict in deferred.approvals.items() if verdict is True)
        deps.approved = {c: a for c in approved if (a := approvals.approval_of(lease.state, c)) is not None}
    if job is not None:
        deps.journal = _journal.Journal(target, lease)
    heartbeat = asyncio.ensure_future(_heartbeat(target, lease))
    run = None
    done = False
    unsent: list[ModelMessage] = []
    collecting = ledger.CURRENT.set(writer.attempts)
    # "call" runs one response's tool calls one after another; the other modes run them concurrently.
    mode: Literal["sequential", "parallel"] = "sequential" if spec.concurrency == "call" else "parallel"
    try:
        meter.start()  # a spent budget stops the turn here, before its first request
        with _PydanticAgent.parallel_tool_call_execution_mode(mode):
            async with (
                asyncio.timeout(spec.turn_timeout),
                agent.iter(
                    prompt,
                    message_history=run_history,
                    model=model,
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
                        meter.step(node, run.new_messages())
                    except BudgetExceeded:  # stopped before this request: keep the tool results it would send
                        pending = getattr(node, "request", None)
                        unsent = [pending] if isinstance(pending, ModelRequest) else []
                        raise
                    _check_cost(spec, target.label, run.new_messages())
                    if job is not None and (reason := job.stop()):
                        raise TurnStopped(target.label, reason)
                    if _PydanticAgent.is_model_request_node(node):
                        writer.requesting()
                    if on_text is not None or on_event is not None:
                        await _report(node, run, on_text, on_event, deltas=job is None or job.stream)
        result = run.result
        assert result is not None
        new = result.new_messages()
        holding = approvals.hold(lease.state, result.output) if isinstance(result.output, DeferredToolRequests) else []
        _trace_approvals("held", holding, {})
        writer.finish(new, turn_done=not holding)
        done = True
    except UsageLimitExceeded as exc:
        writer.inflight = None  # the limit stopped the request before it was sent
        raise _limit_error(exc, spec, target.label) from exc
    except Exception as exc:
        fault = _fault(exc, target, run)
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
        meter.close(faults.complete(run.new_messages()) if run is not None else [])
        if not done:
            try:
                saved = faults.complete(run.new_messages()) if run is not None else []
                writer.finish([*saved, *unsent], turn_done=False, ending=True)
            finally:
                target.store.release(target.engine, target.agent_id, lease)
        _apply_totals(target.record, writer.totals)
    turn_messages = [*history[len(lease.history) :], *new]
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
        messages=turn_messages,
        pending=holding,
    )
