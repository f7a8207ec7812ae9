"""The backtest tables: a run (what was asked, where it is) and its decisions (one row per completed step).

A run owns its book: `book_user_id` is a user row that is not a person (`User.backtest_of`), whose account
(`Account.backtest`) the twin trades in, so the broker's per-user scoping keeps the run apart from its owner's live
account, orders, fills, equity and budgets without a change to the brokerage. A decision is written once its step is
done, unique per (run, step): a resumed run starts after the last one and never runs a step twice.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradedesk.brokerage.columns import Money
from tradedesk.brokerage.db import Base

STATUSES = ("created", "running", "done", "failed")


class BacktestRun(Base):
    """One backtest of one agent (or baseline) of `user_id`, over [start, end], on its own book."""

    __tablename__ = "backtest_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    book_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    strategy: Mapped[str] = mapped_column(String(32))
    """`agent` (a twin of `agent_kind`/`agent_id` decides), or a baseline's name (`baselines.BASELINES`)."""
    agent_kind: Mapped[str | None] = mapped_column(String(32))
    agent_id: Mapped[int | None]
    twin_id: Mapped[int | None]
    """The twin's row, of the same kind (table) as the agent."""
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    every: Mapped[str] = mapped_column(String(8))
    prompt: Mapped[str | None] = mapped_column(Text)
    symbols: Mapped[list[str]] = mapped_column(JSON)
    benchmark: Mapped[str | None] = mapped_column(String(16))
    cash: Mapped[Decimal] = mapped_column(Money())
    approvals: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8), default="created")
    error: Mapped[str | None] = mapped_column(Text)
    steps_total: Mapped[int] = mapped_column(Integer)
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[Decimal | None] = mapped_column(Money())
    """What the twin's turns cost (USD, to 4 places); None when its model has no known price."""
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BacktestDecision(Base):
    """One completed step: when (simulated), what the twin said and called, and the book after it."""

    __tablename__ = "backtest_decisions"
    __table_args__ = (UniqueConstraint("run_id", "step", name="uq_backtest_decisions_run_step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("backtest_runs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reply: Mapped[str] = mapped_column(Text, default="")
    tool_calls: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    cash: Mapped[Decimal] = mapped_column(Money())
    equity: Mapped[Decimal] = mapped_column(Money())
    traded: Mapped[Decimal] = mapped_column(Money())
    """The notional of the fills since the previous step (for turnover)."""
    marks: Mapped[dict[str, str]] = mapped_column(JSON)
    """The last price of every symbol (and the benchmark) at this step, as text: the benchmarks' curves."""
