"""The usage ledger's table, `<agent table>_usage`, and its per-day totals: the SQLAlchemy `ports.UsageLedger`."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    case,
    func,
    select,
)

from ..ledger import DayUsage
from .columns import ExactDecimal


def usage_table(agent_table: Table) -> Table:
    """The `<agent table>_usage` table for an agent table, created in the same MetaData once."""
    name = f"{agent_table.name}_usage"
    key = f"{agent_table.schema}.{name}" if agent_table.schema else name
    if key in agent_table.metadata.tables:
        return agent_table.metadata.tables[key]
    (pk,) = agent_table.primary_key.columns
    return Table(
        name,
        agent_table.metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column(
            "agent_id", pk.type, ForeignKey(f"{agent_table.fullname}.{pk.name}", ondelete="CASCADE"), nullable=False
        ),
        Column("turn", Integer, nullable=False),
        Column("source", String(120), nullable=False),
        Column("model", String(200)),
        Column("status", String(16), nullable=False),
        Column("requests", Integer, nullable=False),
        Column("input_tokens", Integer, nullable=False),
        Column("output_tokens", Integer, nullable=False),
        Column("cache_read_tokens", Integer, nullable=False),
        Column("cache_write_tokens", Integer, nullable=False),
        Column("cost", ExactDecimal()),
        Column("latency_ms", Integer),
        Column("created_at", DateTime, nullable=False),
        Index(f"ix_{name}_agent_created", "agent_id", "created_at"),
        schema=agent_table.schema,
    )


def by_day(engine: Engine, table: Table, agent_ids: list[Any], since: date | None = None) -> list[DayUsage]:
    """Per-day totals of the ledger rows of `agent_ids`, oldest day first (from `since` on, if given)."""
    c = table.c
    day = func.date(c.created_at)
    bad = func.sum(case((c.status != "ok", 1), else_=0))
    query = (
        select(
            day,
            func.sum(c.requests),
            func.sum(c.input_tokens),
            func.sum(c.output_tokens),
            func.sum(c.cache_read_tokens),
            func.sum(c.cache_write_tokens),
            bad,
        )
        .where(c.agent_id.in_(agent_ids))
        .group_by(day)
        .order_by(day)
    )
    costs = select(day, c.cost).where(c.agent_id.in_(agent_ids), c.cost.is_not(None))
    if since is not None:
        start = datetime(since.year, since.month, since.day)
        query, costs = query.where(c.created_at >= start), costs.where(c.created_at >= start)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        # summed here, not by SQL: SQLite holds exact decimals as text, and its SUM would make them floats
        spent: dict[str, Decimal] = {}
        for d, cost in conn.execute(costs):
            spent[str(d)] = spent.get(str(d), Decimal(0)) + cost
    return [
        DayUsage(
            day=date.fromisoformat(str(d)[:10]),
            requests=int(r or 0),
            input_tokens=int(i or 0),
            output_tokens=int(o or 0),
            cache_read_tokens=int(cr or 0),
            cache_write_tokens=int(cw or 0),
            cost=spent.get(str(d)),
            failed=int(f or 0),
        )
        for d, r, i, o, cr, cw, f in rows
    ]
