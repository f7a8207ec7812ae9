"""The conversation store: append-only message rows beside each agent table, and the run lease.

Every agent table `t` gets a `t_messages` table holding one row per pydantic-ai message. A turn only
ever inserts rows and updates the agent row's counters in short transactions; nothing is rewritten.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic_ai.messages import ModelMessage
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    or_,
    select,
    update,
)

from .. import ledger
from ..codec import dump_message, load_message
from ..compaction import summary_message
from ..errors import LeaseLost, RecordNotSaved
from ..leases import HOST, LEASE_ADVICE, new_owner, process_gone, take
from ..ledger import DayUsage, Entry
from ..state import STATE_VERSION, Lease, State, Totals, advance, compacted, window
from .spend import SqlSpend, spend_table
from .usage_ledger import by_day, usage_table

__all__ = [
    "HOST",
    "STATE_VERSION",
    "Lease",
    "State",
    "Store",
    "Totals",
    "dump_message",
    "load_message",
    "message_table",
    "new_owner",
    "process_gone",
    "utcnow",
    "window",
]

CACHED_HISTORIES = 256
"""How many agents' parsed histories a process keeps (LRU)."""


def utcnow() -> datetime:
    """Naive UTC now: what the timestamp columns store on every backend."""
    return datetime.now(UTC).replace(tzinfo=None)


def message_table(agent_table: Table) -> Table:
    """The `<agent table>_messages` table for an agent table, created in the same MetaData once."""
    name = f"{agent_table.name}_messages"
    metadata: MetaData = agent_table.metadata
    key = f"{agent_table.schema}.{name}" if agent_table.schema else name
    if key in metadata.tables:
        return metadata.tables[key]
    (pk,) = agent_table.primary_key.columns
    return Table(
        name,
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column(
            "agent_id",
            pk.type,
            ForeignKey(f"{agent_table.fullname}.{pk.name}", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("seq", Integer, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("body", Text, nullable=False),
        Column("run_id", String(64)),
        Column("created_at", DateTime, nullable=False),
        UniqueConstraint("agent_id", "seq", name=f"uq_{name}_seq"),
        schema=agent_table.schema,
    )


class Store:
    """Reads and writes one agent class's rows through its own short transactions (never the caller's).

    The SQLAlchemy implementation of `ports.AgentStore` and `ports.UsageLedger`; its bind is an `Engine`.
    """

    def __init__(self, agent_table: Table, messages: Table, label: str) -> None:
        self.agents = agent_table
        self.messages = messages
        self.usage = usage_table(agent_table)
        (self.pk,) = agent_table.primary_key.columns
        self.label = label
        self._cache: OrderedDict[tuple[str, Any], tuple[str, list[ModelMessage]]] = OrderedDict()
        self._cache_pid = os.getpid()
        self._cache_lock = threading.Lock()

    # -- history cache: rows are append-only and written under the lease, so a parsed history stays
    # valid for as long as the row's state head is the one it was cached with.
    def _cached(self, key: tuple[str, Any], state: State) -> list[ModelMessage] | None:
        with self._cache_lock:
            if self._cache_pid != os.getpid():
                self._cache.clear()
                self._cache_pid = os.getpid()
            hit = self._cache.get(key)
            start, summary = window(state)
            expected = state.messages - start + (summary is not None)
            if hit is None or not state.head or hit[0] != state.head or len(hit[1]) != expected:
                return None
            self._cache.move_to_end(key)
            return list(hit[1])

    def _remember(self, key: tuple[str, Any], head: str, messages: list[ModelMessage]) -> None:
        if not head:
            return
        with self._cache_lock:
            self._cache[key] = (head, messages)
            self._cache.move_to_end(key)
            while len(self._cache) > CACHED_HISTORIES:
                self._cache.popitem(last=False)

    # -- lease ---------------------------------------------------------------------------------
    def _try_acquire(self, engine: Engine, agent_id: Any, owner: str, ttl: float) -> Lease | str | None:
        a = self.agents.c
        now = utcnow()
        with engine.begin() as conn:
            taken = conn.execute(
                update(self.agents)
                .where(self.pk == agent_id, or_(a.lease_owner.is_(None), a.lease_expires_at < now))
                .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=ttl), updated_at=a.updated_at)
                .returning(a.data, a.cost)
            ).first()
            if taken is None:
                row = conn.execute(select(a.lease_owner).where(self.pk == agent_id)).first()
                if row is None:
                    raise RecordNotSaved(
                        f"{self.label} id={agent_id} is not in the database (yet): commit the session that "
                        "created it before talking to it."
                    )
                return None if row[0] is None else str(row[0])
            data, cost = taken
            state = State.parse(data, f"{self.label} id={agent_id}")
            key = (str(engine.url), agent_id)
            history = self._cached(key, state)
            if history is None:  # only what the model will see: the summary and the rows after it
                start, summary = window(state)
                bodies: Iterable[str] = (  # a new agent (or one just compacted to nothing) has no rows to read
                    conn.execute(
                        select(self.messages.c.body)
                        .where(self.messages.c.agent_id == agent_id, self.messages.c.seq >= start)
                        .order_by(self.messages.c.seq)
                    ).scalars()
                    if state.messages > start
                    else []
                )
                history = [load_message(b) for b in bodies]
                if summary is not None:
                    history.insert(0, summary_message(summary))
                self._remember(key, state.head, history)
        return Lease(owner=owner, state=state, history=history, cost=cost, stored=list(history))

    def holder(self, engine: Engine, agent_id: Any) -> str | None:
        """Who holds the agent's run lease now (`host:pid:nonce`), if anyone."""
        with engine.connect() as conn:
            found = conn.execute(select(self.agents.c.lease_owner).where(self.pk == agent_id)).scalar_one_or_none()
        return None if found is None else str(found)

    def break_lease(self, engine: Engine, agent_id: Any, dead_owner: str) -> None:
        """Free a lease whose holder is known to be dead (only if that holder still has it)."""
        with engine.begin() as conn:
            conn.execute(
                update(self.agents)
                .where(self.pk == agent_id, self.agents.c.lease_owner == dead_owner)
                .values(lease_owner=None, lease_expires_at=None, updated_at=self.agents.c.updated_at)
            )

    async def acquire(self, engine: Engine, agent_id: Any, *, wait: float, ttl: float) -> Lease:
        """Take the run lease (waiting up to `wait` seconds) and load state and history under it."""
        return await take(
            lambda owner: self._try_acquire(engine, agent_id, owner, ttl),
            lambda dead: self.break_lease(engine, agent_id, dead),
            f"{self.label} id={agent_id}",
            wait,
            Lease,
        )

    def renew(self, engine: Engine, agent_id: Any, lease: Lease, ttl: float, *, state: bool = False) -> None:
        """Extend the lease by `ttl`; with `state`, also write the lease's state (its head stays: no new messages)."""
        values: dict[str, Any] = {"lease_expires_at": utcnow() + timedelta(seconds=ttl)}
        if state:
            values["data"] = lease.state.dump()
        with engine.begin() as conn:
            ok = conn.execute(
                update(self.agents)
                .where(self.pk == agent_id, self.agents.c.lease_owner == lease.owner)
                .values(**values, updated_at=self.agents.c.updated_at)
            ).rowcount
        if ok != 1:
            raise LeaseLost(
                f"{self.label} id={agent_id}: the run lease expired and was taken by another turn. {LEASE_ADVICE}"
            )

    def release(self, engine: Engine, agent_id: Any, lease: Lease) -> None:
        if lease.released:
            return
        with engine.begin() as conn:
            conn.execute(
                update(self.agents)
                .where(self.pk == agent_id, self.agents.c.lease_owner == lease.owner)
                .values(lease_owner=None, lease_expires_at=None, updated_at=self.agents.c.updated_at)
            )
        lease.released = True

    # -- writes --------------------------------------------------------------------------------
    def append(
        self,
        engine: Engine,
        agent_id: Any,
        lease: Lease,
        new: list[ModelMessage],
        *,
        usage: list[Entry],
        release: bool,
        ttl: float,
        turn_done: bool = False,
    ) -> Totals:
        """Insert `new` messages and the `usage` ledger rows, and add that usage to the row, in one transaction.

        The counters grow by exactly what the ledger rows hold, so they stay the sum of the ledger.
        """
        a = self.agents.c
        now = utcnow()
        state = lease.state
        d_in, d_out, cost = ledger.totals(usage)
        turn = state.turns + 1
        spent = [e.row(agent_id, turn, now) for e in usage]
        rows = [
            {
                "agent_id": agent_id,
                "seq": state.messages + i,
                "kind": m.kind,
                "body": dump_message(m),
                "run_id": getattr(m, "run_id", None),
                "created_at": now,
            }
            for i, m in enumerate(new)
        ]
        next_state = advance(state, new, turn_done=turn_done)
        data = next_state.dump()
        values: dict[str, Any] = {
            "input_tokens": func.coalesce(a.input_tokens, 0) + d_in,
            "output_tokens": func.coalesce(a.output_tokens, 0) + d_out,
            "total_tokens": func.coalesce(a.total_tokens, 0) + d_in + d_out,
            "data": data,
            "updated_at": now,
        }
        new_cost = lease.cost
        if cost is not None:
            new_cost = values["cost"] = (lease.cost or Decimal(0)) + cost
        if release:
            values.update(lease_owner=None, lease_expires_at=None)
        else:
            values["lease_expires_at"] = now + timedelta(seconds=ttl)
        with engine.begin() as conn:
            result = conn.execute(
                update(self.agents)
                .where(self.pk == agent_id, a.lease_owner == lease.owner)
                .values(**values)
                .returning(a.input_tokens, a.output_tokens, a.total_tokens)
            )
            row = result.first()
            if row is None:
                raise LeaseLost(
                    f"{self.label} id={agent_id}: the run lease expired and was taken by another turn; "
                    f"this turn's last step was not saved. {LEASE_ADVICE}"
                )
            if rows:
                conn.execute(insert(self.messages), rows)
            if spent:
                conn.execute(insert(self.usage), spent)
        lease.state = next_state
        lease.cost = new_cost
        lease.stored.extend(new)
        self._remember((str(engine.url), agent_id), next_state.head, list(lease.stored))
        if release:
            lease.released = True
        return Totals(row[0], row[1], row[2], new_cost, data, now)

    def compact(
        self,
        engine: Engine,
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
        return self.append(engine, agent_id, lease, [], usage=usage, release=False, ttl=ttl)

    def load_range(self, engine: Engine, agent_id: Any, start: int, end: int) -> list[ModelMessage]:
        """The messages with sequence numbers in [start, end)."""
        m = self.messages.c
        with engine.connect() as conn:
            bodies = conn.execute(
                select(m.body).where(m.agent_id == agent_id, m.seq >= start, m.seq < end).order_by(m.seq)
            ).scalars()
            return [load_message(b) for b in bodies]

    def page(self, engine: Engine, agent_id: Any, before: int | None, limit: int) -> list[tuple[int, ModelMessage]]:
        """Up to `limit` messages with seq < `before` (None: the latest), oldest first, with their seq."""
        m = self.messages.c
        query = select(m.seq, m.body).where(m.agent_id == agent_id)
        if before is not None:
            query = query.where(m.seq < before)
        with engine.connect() as conn:
            rows = conn.execute(query.order_by(m.seq.desc()).limit(limit)).all()
        return [(int(seq), load_message(body)) for seq, body in reversed(rows)]

    def load_state(self, engine: Engine, agent_id: Any) -> State:
        """The agent's runtime state as stored now (not as the caller's instance last saw it)."""
        with engine.connect() as conn:
            raw = conn.execute(select(self.agents.c.data).where(self.pk == agent_id)).scalar_one_or_none()
        return State.parse(raw, f"{self.label} id={agent_id}")

    def load_all(self, engine: Engine, agent_id: Any) -> list[ModelMessage]:
        with engine.connect() as conn:
            bodies = conn.execute(
                select(self.messages.c.body).where(self.messages.c.agent_id == agent_id).order_by(self.messages.c.seq)
            ).scalars()
            return [load_message(b) for b in bodies]

    def by_day(self, engine: Engine, agent_ids: list[Any], since: date | None = None) -> list[DayUsage]:
        """Per-day (UTC) totals of the agents' usage ledger rows, oldest day first."""
        return by_day(engine, self.usage, agent_ids, since)

    def reservations(self, engine: Engine) -> SqlSpend:
        """The spend reservations in `engine`'s database (`agentrecord_spend`, beside the agent tables)."""
        return SqlSpend(engine, spend_table(self.agents.metadata))
