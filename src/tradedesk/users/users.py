"""The platform's users: the `users` table every account, agent and credential belongs to.

A user's agents (`tradedesk.agents.models`) are related by name, so this layer does not import the one above it;
import `tradedesk.agents` before querying, as the application does, so the mapper finds them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradedesk.brokerage.db import Base

if TYPE_CHECKING:
    from agentrecord import AgentRecord
    from tradedesk.agents.models import Daytrader, StockInvestor


class User(Base):
    """A person on the platform: owns one brokerage account and any number of agents, and their budgets."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    daytraders: Mapped[list[Daytrader]] = relationship(back_populates="user", cascade="all, delete-orphan")
    stock_investors: Mapped[list[StockInvestor]] = relationship(back_populates="user", cascade="all, delete-orphan")
    halted: Mapped[bool] = mapped_column(default=False)
    """The kill switch (`tradedesk halt`): none of the user's agents places an order or runs a schedule."""
    daily_usd: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), default=None)
    daily_tokens: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """The user's daily budgets, across all their agents (None: no limit)."""
    backtest_of: Mapped[int | None] = mapped_column(default=None)
    """Not a person: the owner of a backtest's book and twin (`tradedesk.backtests`), acting for the user with this
    id, who owns the run. It cannot sign in (no password) and is never found by email."""

    @property
    def agents(self) -> list[AgentRecord]:
        return [*self.daytraders, *self.stock_investors]
