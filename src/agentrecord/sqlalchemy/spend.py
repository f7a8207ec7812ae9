"""Daily spend kept in the `agentrecord_spend` table: the SQLAlchemy `ports.SpendReservations`.

Per budget scope and UTC day, spending and reservations are columns updated by conditional UPDATEs, so concurrent
turns across processes cannot all pass a limit (see `agentrecord.budgets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..micros import MICRO, micros, today
from ..ports import Refusal

if TYPE_CHECKING:
    from ..budgets import Budget

SPEND_TABLE = "agentrecord_spend"


def spend_table(metadata: MetaData) -> Table:
    """The `agentrecord_spend` table in `metadata` (declared once)."""
    if SPEND_TABLE in metadata.tables:
        return metadata.tables[SPEND_TABLE]
    return Table(
        SPEND_TABLE,
        metadata,
        Column("scope", String(100), primary_key=True),
        Column("day", String(10), primary_key=True),
        Column("tokens", BigInteger, nullable=False, default=0),
        Column("usd_micros", BigInteger, nullable=False, default=0),
        Column("reserved_tokens", BigInteger, nullable=False, default=0),
        Column("reserved_micros", BigInteger, nullable=False, default=0),
        Column("requests", BigInteger, nullable=False, default=0),
    )


def spent_today(engine: Engine, table: Table, scope: str) -> tuple[int, Decimal]:
    """(tokens, USD) spent in `scope` today (UTC)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(table.c.tokens, table.c.usd_micros).where(table.c.scope == scope, table.c.day == today())
        ).first()
    return (0, Decimal(0)) if row is None else (int(row[0]), Decimal(int(row[1])) * MICRO)


class _Refused(Exception):
    """Rolls a reservation's transaction back (carrying the refusal out of it)."""

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal


@dataclass
class SqlSpend:
    """The spend reservations in one database's `agentrecord_spend` table (`ports.SpendReservations`)."""

    engine: Engine
    table: Table

    def _insert(self, conn: Any, budgets: list[Budget], day: str) -> None:
        zero = {"tokens": 0, "usd_micros": 0, "reserved_tokens": 0, "reserved_micros": 0, "requests": 0}
        rows = [{"scope": b.scope, "day": day} | zero for b in budgets]
        maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(maker(self.table).values(rows).on_conflict_do_nothing())

    def reserve(self, budgets: list[Budget], day: str) -> dict[str, tuple[int, int]] | Refusal:
        """One conditional UPDATE per scope in one transaction; a refused scope rolls every one back."""
        t = self.table.c
        held: dict[str, tuple[int, int]] = {}
        try:
            with self.engine.begin() as conn:
                self._insert(conn, budgets, day)
                for budget in budgets:
                    where = [t.scope == budget.scope, t.day == day]
                    found = conn.execute(select(t.tokens, t.usd_micros, t.requests).where(*where).with_for_update())
                    row = found.first()
                    assert row is not None
                    tokens, usd, requests = (int(v) for v in row)
                    est = (tokens // requests, usd // requests) if requests else (0, 0)
                    if budget.daily_tokens is not None:
                        where.append(t.tokens + t.reserved_tokens < budget.daily_tokens)
                    if budget.daily_usd is not None:
                        where.append(t.usd_micros + t.reserved_micros < micros(budget.daily_usd))
                    done = conn.execute(
                        update(self.table)
                        .where(*where)
                        .values(reserved_tokens=t.reserved_tokens + est[0], reserved_micros=t.reserved_micros + est[1])
                    ).rowcount
                    if done != 1:
                        raise _Refused(Refusal(budget, tokens, usd))
                    held[budget.scope] = est
        except _Refused as refused:
            return refused.refusal
        return held

    def settle(
        self,
        budgets: list[Budget],
        day: str,
        charge: tuple[int, int],
        held: dict[str, tuple[int, int]],
        answered: int,
    ) -> None:
        """Charge every scope and release what it held, in one transaction."""
        t = self.table.c
        with self.engine.begin() as conn:
            for budget in budgets:
                release = held.get(budget.scope, (0, 0))
                conn.execute(
                    update(self.table)
                    .where(t.scope == budget.scope, t.day == day)
                    .values(
                        tokens=t.tokens + charge[0],
                        usd_micros=t.usd_micros + charge[1],
                        reserved_tokens=t.reserved_tokens - release[0],
                        reserved_micros=t.reserved_micros - release[1],
                        requests=t.requests + answered,
                    )
                )

    def spent(self, scope: str, day: str) -> tuple[int, int]:
        """(tokens, micros) spent in `scope` on `day`."""
        t = self.table.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t.tokens, t.usd_micros).where(t.scope == scope, t.day == day)).first()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))
