"""An in-memory implementation of the runtime's ports: agents, their messages, ledger and spend in dicts.

For tests of code written against the ports, and as the second implementation that keeps them honest
(`tests/agentrecord/test_store_contract.py` runs the same contract on it and on the SQLAlchemy store).
One process only: the lease excludes threads and tasks, not other processes.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic_ai.messages import ModelMessage

from ..budgets import Budget
from ..codec import dump_message, load_message
from ..compaction import summary_message
from ..errors import LeaseLost, RecordNotSaved
from ..leases import LEASE_ADVICE, take
from ..ledger import DayUsage, Entry, totals
from ..micros import micros
from ..ports import Bind, Refusal
from ..state import Lease, State, Totals, advance, compacted, window


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class _Agent:
    """One agent's row, messages (as stored JSON) and ledger entries."""

    data: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal | None = None
    owner: str | None = None
    expires: float = 0.0
    """When the lease ends (time.monotonic())."""
    bodies: list[str] = field(default_factory=list)
    ledger: list[tuple[int, datetime, Entry]] = field(default_factory=list)
    updated_at: datetime = field(default_factory=_now)


class MemoryStore:
    """`ports.AgentStore` and `ports.UsageLedger` for one agent class, in this process's memory."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._agents: dict[tuple[Bind, Any], _Agent] = {}
        self._spend: dict[Bind, MemorySpend] = {}
        self._lock = threading.Lock()

    def create(self, bind: Bind, agent_id: Any) -> None:
        """Add an agent (what inserting its row is for the SQLAlchemy store)."""
        with self._lock:
            self._agents.setdefault((bind, agent_id), _Agent())

    def _row(self, bind: Bind, agent_id: Any) -> _Agent:
        found = self._agents.get((bind, agent_id))
        if found is None:
            raise RecordNotSaved(f"{self.label} id={agent_id} is not in the store (yet): create it first.")
        return found

    def _held(self, bind: Bind, agent_id: Any, lease: Lease, lost: str) -> _Agent:
        row = self._row(bind, agent_id)
        if row.owner != lease.owner:
            raise LeaseLost(f"{self.label} id={agent_id}: the run lease expired and was taken by another turn{lost}")
        return row

    # -- lease ---------------------------------------------------------------------------------
    def _try_acquire(self, bind: Bind, agent_id: Any, owner: str, ttl: float) -> Lease | str | None:
        with self._lock:
            row = self._row(bind, agent_id)
            if row.owner is not None and row.expires >= time.monotonic():
                return row.owner
            row.owner, row.expires = owner, time.monotonic() + ttl
            state = State.parse(row.data, f"{self.label} id={agent_id}")
            start, summary = window(state)
            history = [load_message(b) for b in row.bodies[start:]]
            if summary is not None:
                history.insert(0, summary_message(summary))
            return Lease(owner=owner, state=state, history=history, cost=row.cost, stored=list(history))

    async def acquire(self, bind: Bind, agent_id: Any, *, wait: float, ttl: float) -> Lease:
        """Take the run lease (waiting up to `wait` seconds) and load state and history under it."""
        return await take(
            lambda owner: self._try_acquire(bind, agent_id, owner, ttl),
            lambda dead: self.break_lease(bind, agent_id, dead),
            f"{self.label} id={agent_id}",
            wait,
            Lease,
        )

    def renew(self, bind: Bind, agent_id: Any, lease: Lease, ttl: float, *, state: bool = False) -> None:
        """Extend the lease by `ttl`; with `state`, also save the lease's state."""
        with self._lock:
            row = self._held(bind, agent_id, lease, f". {LEASE_ADVICE}")
            row.expires = time.monotonic() + ttl
            if state:
                row.data = lease.state.dump()

    def release(self, bind: Bind, agent_id: Any, lease: Lease) -> None:
        """Give the lease up, if this lease still holds it."""
        if lease.released:
            return
        with self._lock:
            row = self._row(bind, agent_id)
            if row.owner == lease.owner:
                row.owner, row.expires = None, 0.0
        lease.released = True

    def holder(self, bind: Bind, agent_id: Any) -> str | None:
        """Who holds the lease now, if anyone."""
        with self._lock:
            return self._row(bind, agent_id).owner

    def break_lease(self, bind: Bind, agent_id: Any, dead_owner: str) -> None:
        """Free the lease if `dead_owner` still holds it."""
        with self._lock:
            row = self._row(bind, agent_id)
            if row.owner == dead_owner:
                row.owner, row.expires = None, 0.0

    # -- writes --------------------------------------------------------------------------------
    def append(
        self,
        bind: Bind,
        agent_id: Any,
        lease: Lease,
        new: list[ModelMessage],
        *,
        usage: list[Entry],
        release: bool,
        ttl: float,
        turn_done: bool = False,
    ) -> Totals:
        """Append `new`, the ledger entries and their counters together, under the lease."""
        d_in, d_out, cost = totals(usage)
        next_state = advance(lease.state, new, turn_done=turn_done)
        now = _now()
        with self._lock:
            row = self._held(bind, agent_id, lease, f"; this turn's last step was not saved. {LEASE_ADVICE}")
            row.bodies.extend(dump_message(m) for m in new)
            row.ledger.extend((lease.state.turns + 1, now, e) for e in usage)
            row.input_tokens += d_in
            row.output_tokens += d_out
            if cost is not None:
                row.cost = (lease.cost or Decimal(0)) + cost
            row.data = next_state.dump()
            row.updated_at = now
            if release:
                row.owner, row.expires = None, 0.0
            else:
                row.expires = time.monotonic() + ttl
            result = Totals(
                row.input_tokens, row.output_tokens, row.input_tokens + row.output_tokens, row.cost, row.data, now
            )
        lease.state, lease.cost = next_state, result.cost
        lease.stored.extend(new)
        lease.released = lease.released or release
        return result

    def compact(
        self,
        bind: Bind,
        agent_id: Any,
        lease: Lease,
        *,
        start: int,
        summary: str,
        visible: list[ModelMessage],
        usage: list[Entry],
        ttl: float,
    ) -> Totals:
        """Record a new summary standing for every message before `start`, and the summary call's usage."""
        compacted(lease, start=start, summary=summary, visible=visible)
        return self.append(bind, agent_id, lease, [], usage=usage, release=False, ttl=ttl)

    # -- reads ---------------------------------------------------------------------------------
    def load_state(self, bind: Bind, agent_id: Any) -> State:
        """The agent's state as stored now."""
        with self._lock:
            raw = self._row(bind, agent_id).data
        return State.parse(raw, f"{self.label} id={agent_id}")

    def load_range(self, bind: Bind, agent_id: Any, start: int, end: int) -> list[ModelMessage]:
        """The messages numbered `start` up to `end`."""
        with self._lock:
            bodies = self._row(bind, agent_id).bodies[max(start, 0) : max(end, 0)]
        return [load_message(b) for b in bodies]

    def load_all(self, bind: Bind, agent_id: Any) -> list[ModelMessage]:
        """Every message, oldest first."""
        with self._lock:
            bodies = list(self._row(bind, agent_id).bodies)
        return [load_message(b) for b in bodies]

    def page(self, bind: Bind, agent_id: Any, before: int | None, limit: int) -> list[tuple[int, ModelMessage]]:
        """Up to `limit` (seq, message) numbered below `before` (None: the latest), oldest first."""
        with self._lock:
            bodies = self._row(bind, agent_id).bodies
            end = len(bodies) if before is None else max(0, min(before, len(bodies)))
            start = max(0, end - limit)
            picked = list(enumerate(bodies[start:end], start=start))
        return [(seq, load_message(body)) for seq, body in picked]

    def by_day(self, bind: Bind, agent_ids: list[Any], since: date | None = None) -> list[DayUsage]:
        """Per-day (UTC) totals of the agents' ledger entries, oldest day first."""
        days: dict[date, list[Entry]] = defaultdict(list)
        with self._lock:
            for agent_id in agent_ids:
                row = self._agents.get((bind, agent_id))
                for _, at, entry in row.ledger if row is not None else []:
                    if since is None or at.date() >= since:
                        days[at.date()].append(entry)
        return [_day(d, days[d]) for d in sorted(days)]

    def reservations(self, bind: Bind) -> MemorySpend:
        """The spend reservations of `bind`."""
        with self._lock:
            return self._spend.setdefault(bind, MemorySpend())


def _day(day: date, entries: list[Entry]) -> DayUsage:
    costs = [e.cost for e in entries if e.cost is not None]
    return DayUsage(
        day=day,
        requests=sum(e.requests for e in entries),
        input_tokens=sum(e.input_tokens for e in entries),
        output_tokens=sum(e.output_tokens for e in entries),
        cache_read_tokens=sum(e.cache_read_tokens for e in entries),
        cache_write_tokens=sum(e.cache_write_tokens for e in entries),
        cost=sum(costs, Decimal(0)) if costs else None,
        failed=sum(e.status != "ok" for e in entries),
    )


@dataclass
class _Scope:
    tokens: int = 0
    micros: int = 0
    reserved_tokens: int = 0
    reserved_micros: int = 0
    requests: int = 0


class MemorySpend:
    """`ports.SpendReservations` in memory: the same check-and-reserve as the SQL one, under one lock."""

    def __init__(self) -> None:
        self._scopes: dict[tuple[str, str], _Scope] = defaultdict(_Scope)
        self._lock = threading.Lock()

    def reserve(self, budgets: list[Budget], day: str) -> dict[str, tuple[int, int]] | Refusal:
        """Reserve the average request of `day` in every scope, or nothing if any scope is at its limit."""
        with self._lock:
            held: dict[str, tuple[int, int]] = {}
            for budget in budgets:
                s = self._scopes[(budget.scope, day)]
                over_tokens = budget.daily_tokens is not None and s.tokens + s.reserved_tokens >= budget.daily_tokens
                limit = micros(budget.daily_usd) if budget.daily_usd is not None else None
                if over_tokens or (limit is not None and s.micros + s.reserved_micros >= limit):
                    return Refusal(budget, s.tokens, s.micros)
                held[budget.scope] = (s.tokens // s.requests, s.micros // s.requests) if s.requests else (0, 0)
            for scope, (tokens, usd) in held.items():
                s = self._scopes[(scope, day)]
                s.reserved_tokens += tokens
                s.reserved_micros += usd
            return held

    def settle(
        self,
        budgets: list[Budget],
        day: str,
        charge: tuple[int, int],
        held: dict[str, tuple[int, int]],
        answered: int,
    ) -> None:
        """Charge every scope and release what it held."""
        with self._lock:
            for budget in budgets:
                s = self._scopes[(budget.scope, day)]
                release = held.get(budget.scope, (0, 0))
                s.tokens += charge[0]
                s.micros += charge[1]
                s.reserved_tokens -= release[0]
                s.reserved_micros -= release[1]
                s.requests += answered

    def spent(self, scope: str, day: str) -> tuple[int, int]:
        """(tokens, micros) spent in `scope` on `day`."""
        with self._lock:
            s = self._scopes.get((scope, day))
            return (0, 0) if s is None else (s.tokens, s.micros)
