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
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic_ai import Agent as _PydanticAgent
from pydantic_ai.messages import ModelMessage, ModelResponse

from .errors import BudgetExceeded
from .micros import MICRO, micros, today
from .ports import Refusal, SpendReservations
from .reply import Usage, cost_of

if TYPE_CHECKING:  # what type checkers see; at run time `__getattr__` imports them on first use
    from .sqlalchemy.spend import SPEND_TABLE as SPEND_TABLE
    from .sqlalchemy.spend import SqlSpend as SqlSpend
    from .sqlalchemy.spend import spend_table as spend_table
    from .sqlalchemy.spend import spent_today as spent_today

_SQL = ("SPEND_TABLE", "SqlSpend", "spend_table", "spent_today")
"""The SQLAlchemy side of the budgets, still importable from here (loaded on first use)."""


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


def __getattr__(name: str) -> Any:
    """`spend_table`, `spent_today`, `SqlSpend`: from `agentrecord.sqlalchemy.spend`, imported on first use."""
    if name in _SQL:
        from .sqlalchemy import spend

        return getattr(spend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
