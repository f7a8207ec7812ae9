"""A turn's writes under its lease: each step's messages with their ledger rows, the compaction summary, and
the heartbeat that keeps the lease while the model thinks."""

from __future__ import annotations

import asyncio
import time

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse

from . import _journal, compaction, hooks, ledger
from .compaction import Summary
from .state import Lease, Totals, window
from .target import Target


class StepWriter:
    """Saves a turn's new messages as steps complete, holding back a final answer for the last write."""

    def __init__(self, target: Target, lease: Lease, carried: list[ModelMessage], job: hooks.RunningJob | None) -> None:
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
        self.seqs: dict[str, int] = call_seqs(lease)
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


def call_seqs(lease: Lease) -> dict[str, int]:
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


async def compact(target: Target, lease: Lease) -> Summary | None:
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


async def heartbeat(target: Target, lease: Lease) -> None:
    """Renew the lease every third of its time to live, until cancelled."""
    interval = max(target.spec.lease_ttl / 3, 0.05)
    while True:
        await asyncio.sleep(interval)
        target.store.renew(target.engine, target.agent_id, lease, target.spec.lease_ttl)
