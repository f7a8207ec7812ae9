"""The usage ledger: one row per provider request in `<agent table>_usage`, beside the agent's counters.

A turn's rows are inserted by the same transaction that adds their tokens and cost to the agent row (the counters
are computed from the rows), so the record's counters are always the sum of its ledger. A row is:

- `ok`: a model request that answered (its tokens, cache tokens, exact cost and latency);
- `retried`: an attempt the provider failed (a 429, a 5xx, a connection error) that the SDK then retried;
- `failed`: the last attempt of a request that failed the turn;
- `cancelled`: a request in flight when the turn was cancelled or ran out of time.

A skill's sub-agent is one row (`source` "skill:<name>", `requests` its request count) as its usage rides on the
skill's tool result; a compaction summary is one row (`source` "compaction"). Attempts are seen by a transport
wrapped around the pooled HTTP client of each provider, which reports to the turn through a context variable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic_ai.messages import ModelMessage, ModelResponse

from .reply import response_cost, skill_calls

Status = Literal["ok", "retried", "failed", "cancelled"]


@dataclass(frozen=True)
class Entry:
    """One ledger row before it is written (the agent, turn and time are the writer's)."""

    status: Status
    model: str | None
    source: str = "model"
    requests: int = 1
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: Decimal | None = None
    latency_ms: int | None = None

    def row(self, agent_id: Any, turn: int, now: datetime) -> dict[str, Any]:
        return {
            "agent_id": agent_id,
            "turn": turn,
            "created_at": now,
            **{k: getattr(self, k) for k in _ENTRY_COLUMNS},
        }


_ENTRY_COLUMNS = (
    "status",
    "model",
    "source",
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
    "latency_ms",
)


def totals(entries: list[Entry]) -> tuple[int, int, Decimal | None]:
    """(input tokens, output tokens, cost) of `entries`: what they add to the agent's counters."""
    cost: Decimal | None = None
    for e in entries:
        if e.cost is not None:
            cost = (cost or Decimal(0)) + e.cost
    return sum(e.input_tokens for e in entries), sum(e.output_tokens for e in entries), cost


# -- attempts seen on the wire ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt of a model request: when it started, how long it took, whether the provider failed it."""

    started: float
    latency_ms: int
    failed: bool


@dataclass
class Attempts:
    """The attempts of one turn's model requests, as the transport saw them (sub-agents' included)."""

    seen: list[Attempt] = field(default_factory=list)

    def take(self) -> list[Attempt]:
        taken, self.seen = self.seen, []
        return taken


CURRENT: ContextVar[Attempts | None] = ContextVar("agentrecord_attempts", default=None)
"""Where the running turn collects its attempts (None outside a turn)."""


def _record(started: float, failed: bool) -> None:
    sink = CURRENT.get()
    if sink is not None:
        sink.seen.append(Attempt(started, int((time.monotonic() - started) * 1000), failed))


def counting_transport(module: Any, inner: Any) -> Any:
    """`inner` (an httpx or httpx2 async transport) wrapped to report each attempt to the running turn."""

    class CountingTransport(module.AsyncBaseTransport):  # type: ignore[misc]
        async def handle_async_request(self, request: Any) -> Any:
            started = time.monotonic()
            try:
                response = await inner.handle_async_request(request)
            except Exception:
                _record(started, True)
                raise
            _record(started, response.status_code == 429 or response.status_code >= 500)
            return response

        async def aclose(self) -> None:
            await inner.aclose()

    return CountingTransport()


# -- a turn's rows --------------------------------------------------------------------------------------------


def of_messages(batch: list[ModelMessage], model: str | None, latencies: Iterator[int | None]) -> list[Entry]:
    """The `ok` rows of the responses (one each, taking its latency in order) and skill calls among `batch`."""
    found: list[Entry] = []
    for m in batch:
        if isinstance(m, ModelResponse):
            u = m.usage
            found.append(
                Entry(
                    status="ok",
                    model=m.model_name or model,
                    input_tokens=u.input_tokens,
                    output_tokens=u.output_tokens,
                    cache_read_tokens=u.cache_read_tokens,
                    cache_write_tokens=u.cache_write_tokens,
                    cost=response_cost(m),
                    latency_ms=next(latencies, None),
                )
            )
    for call in skill_calls(batch):
        cost = call.get("cost")
        found.append(
            Entry(
                status="ok",
                model=model,
                source=f"skill:{call['skill']}",
                requests=int(call.get("requests") or 0),
                input_tokens=int(call.get("input_tokens") or 0),
                output_tokens=int(call.get("output_tokens") or 0),
                cost=None if cost is None else Decimal(str(cost)),
            )
        )
    return found


def of_attempts(
    attempts: list[Attempt],
    model: str | None,
    *,
    ending: Status | None = None,
    inflight: float | None = None,
) -> list[Entry]:
    """`retried` rows for the failed attempts; with `ending`, the request in flight since `inflight` ends so."""
    last = None
    if ending is not None and inflight is not None:
        mine = [a for a in attempts if a.started >= inflight]
        last = mine[-1] if mine else None
    rows = [
        Entry(status="retried", model=model, latency_ms=a.latency_ms) for a in attempts if a.failed and a is not last
    ]
    if ending is not None and inflight is not None:
        latency = last.latency_ms if last is not None else int((time.monotonic() - inflight) * 1000)
        rows.append(Entry(status=ending, model=model, latency_ms=latency))
    return rows


# -- reading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayUsage:
    """One UTC day of an agent's ledger."""

    day: date
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost: Decimal | None
    failed: int
    """Attempts that did not answer: retried, failed or cancelled."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: DayUsage) -> DayUsage:
        """Two agents' totals of the same day, together."""
        cost = self.cost if other.cost is None else (self.cost or Decimal(0)) + other.cost
        return DayUsage(
            day=self.day,
            requests=self.requests + other.requests,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cost=cost,
            failed=self.failed + other.failed,
        )
