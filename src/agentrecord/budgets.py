"""Daily spend budgets in tokens and USD, enforced atomically across processes and workers.

A record opts in by defining `budgets()`, returning the `Budget`s its turns count against (say one for its
owner and one for itself). Spending is kept per budget scope and UTC day in one table, `agentrecord_spend`
(`spend_table(metadata)` declares it beside the application's tables). Before every model request a turn
reserves that request's expected cost in each scope with one conditional UPDATE per scope, in one transaction:
the request goes ahead only while `spent + reserved < limit` holds in every scope, else the turn stops with
`BudgetExceeded` (what it did so far is saved). The expected cost is the scope's average request today, so
concurrent turns near the line cannot all pass it: at most one crosses it, by about one request's cost. When
the response arrives its real usage is charged and the reservation released. A process killed mid-request
leaves its reservation until the day ends (the budget errs on the side of spending less).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from pydantic_ai import Agent as _PydanticAgent
from pydantic_ai.messages import ModelMessage, ModelResponse
from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .errors import BudgetExceeded
from .ports import Refusal, SpendReservations
from .reply import Usage, cost_of

SPEND_TABLE = "agentrecord_spend"
MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class Budget:
    """A daily limit on one scope's spending; None means no limit (spending is still counted)."""

    scope: str
    """What is budgeted, unique in the database, e.g. `user:3` or `daytrader:7`."""
    label: str
    """How the error names it, e.g. "alice@example.com's daily budget"."""
    daily_tokens: int | None = None
    daily_usd: Decimal | None = None
    hint: str = ""
    """What to do when it is spent, appended to the error."""


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


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def micros(amount: Decimal | None) -> int:
    return 0 if amount is None else int((amount / MICRO).to_integral_value(ROUND_CEILING))


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


@dataclass
class Meter:
    """One turn's side of the budgets: reserve before each request, charge and release after it."""

    spend: SpendReservations | None = None
    budgets: list[Budget] = field(default_factory=list)
    agent: str = ""
    day: str = ""
    held: tuple[int, int] | None = None
    """The reservation of the request in flight: (tokens, micros) per scope (the same estimate in each)."""
    held_per_scope: dict[str, tuple[int, int]] = field(default_factory=dict)
    charged: tuple[int, int] = (0, 0)
    responses: int = 0
    admitted_first: bool = False

    @classmethod
    def of(cls, record: Any, spend: Callable[[], SpendReservations], label: str) -> Meter:
        """The meter of `record`'s turn: idle unless the record defines `budgets()` (then `spend()` keeps them)."""
        hook = getattr(record, "budgets", None)
        found = list(hook()) if callable(hook) else []
        if not found:
            return cls()
        return cls(spend(), found, label, today())

    def admit(self) -> None:
        """Reserve the next request's expected cost in every scope, or raise BudgetExceeded."""
        if self.spend is None:
            return
        got = self.spend.reserve(self.budgets, self.day)
        if isinstance(got, Refusal):
            raise self._exceeded(got.budget, got.tokens, got.micros)  # nothing was reserved
        self.held_per_scope = got
        self.held = (0, 0)

    def _exceeded(self, budget: Budget, tokens: int, usd: int) -> BudgetExceeded:
        spent = []
        if budget.daily_tokens is not None:
            spent.append(f"{tokens:,} of {budget.daily_tokens:,} tokens")
        if budget.daily_usd is not None:
            spent.append(f"${Decimal(usd) * MICRO:.6f} of ${budget.daily_usd}")
        hint = f" {budget.hint}" if budget.hint else ""
        return BudgetExceeded(
            f"{self.agent} stopped: {budget.label} is spent ({' and '.join(spent)} today, UTC; resets at 00:00 "
            f"UTC). Everything up to that point is saved.{hint}"
        )

    def _settle(self, messages: list[ModelMessage], release: bool) -> None:
        if self.spend is None:
            return
        usage = Usage.of(messages)
        total = (usage.input_tokens + usage.output_tokens, micros(cost_of(messages)))
        responses = sum(isinstance(m, ModelResponse) for m in messages)
        delta = (total[0] - self.charged[0], total[1] - self.charged[1])
        answered = responses - self.responses
        release = release or answered > 0
        if delta == (0, 0) and not (release and self.held is not None):
            return
        held = self.held_per_scope if release and self.held is not None else {}
        self.spend.settle(self.budgets, self.day, delta, held, max(answered, 0))
        self.charged, self.responses = total, responses
        if release:
            self.held = None
            self.held_per_scope = {}

    def step(self, node: Any, messages: list[ModelMessage]) -> None:
        """At a node boundary: charge what arrived; before a model request, reserve for it."""
        if self.spend is None:
            return
        self._settle(messages, release=False)
        if _PydanticAgent.is_model_request_node(node):
            if self.admitted_first:
                self.admitted_first = False  # reserved before the run started
            elif self.held is None:
                self.admit()

    def start(self) -> None:
        """Before the run: reserve for its first request (so a spent budget writes nothing)."""
        if self.spend is not None:
            self.admit()
            self.admitted_first = True

    def close(self, messages: list[ModelMessage]) -> None:
        """At the end of the turn (however it ended): charge the rest and release any reservation."""
        if self.spend is not None:
            self._settle(messages, release=True)
