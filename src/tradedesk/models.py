"""Users and their agents: the seed's models, each agent an ordinary record with state, tools and skills."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, relationship

from agentrecord import AgentRecord

from .broker import RiskLimits
from .db import Base
from .tools import FundamentalsFeed, OrderEntry, PortfolioBook, PositionBook, QuoteFeed, order_notional

LOCAL_MODEL = "smollm2-135m"


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    daytraders: Mapped[list[Daytrader]] = relationship(back_populates="user", cascade="all, delete-orphan")
    stock_investors: Mapped[list[StockInvestor]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def agents(self) -> list[AgentRecord]:
        return [*self.daytraders, *self.stock_investors]


class TradingAgent(AgentRecord):
    """What both kinds share: the owner, and risk limits the broker enforces (not the prompt)."""

    kind: ClassVar[str] = ""
    if TYPE_CHECKING:  # declared by each kind (their relationships differ); typed here for callers
        user_id: Mapped[int]
        user: Mapped[User]

    max_order_notional: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), default=Decimal("25000"))
    max_position_weight: Mapped[Decimal | None] = mapped_column(Numeric(6, 4), default=Decimal("0.25"))
    max_orders_per_day: Mapped[int | None] = mapped_column(default=20)
    approval_threshold: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal("10000"))
    paused: Mapped[bool] = mapped_column(default=False)
    """A paused agent runs no schedule and places no order (the broker refuses it)."""

    @property
    def limits(self) -> RiskLimits:
        return RiskLimits(
            max_order_notional=self.max_order_notional,
            max_position_weight=self.max_position_weight,
            max_orders_per_day=self.max_orders_per_day,
        )

    def order_needs_approval(self, args: dict[str, Any]) -> bool:
        """Orders above the owner's notional threshold (default $10,000) wait for approval."""
        threshold = self.approval_threshold if self.approval_threshold is not None else Decimal("10000")
        return order_notional(args) > threshold

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.id}"

    def provider_options(self) -> dict[str, Any]:
        """The owner's own key for this provider (stored encrypted in settings) before the environment's."""
        options = super().provider_options()
        if object_session(self) is not None and self.user_id is not None:
            from .identity import user_key

            engine, _ = self._bound()
            with Session(engine) as session:  # its own short read: the record's session stays idle
                key = user_key(session, self.user_id, self.provider)
            if key:
                options["api_key"] = key
        return options


class Daytrader(TradingAgent, Base):
    __tablename__ = "daytraders"
    kind = "daytrader"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user: Mapped[User] = relationship(back_populates="daytraders")

    class Agent:
        model = "gpt-5.4-mini"
        instructions = "You are a day trader. You can watch the market and place trades for the user."
        tools = [QuoteFeed, OrderEntry, PositionBook]
        skills = ["skills/daytrader/find_trade", "skills/daytrader/enter_trade", "skills/daytrader/exit_trade"]
        concurrency = "thread"
        confirm = {OrderEntry: "order_needs_approval"}


class StockInvestor(TradingAgent, Base):
    __tablename__ = "stock_investors"
    kind = "stock_investor"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user: Mapped[User] = relationship(back_populates="stock_investors")

    class Agent:
        model = "gpt-5.4-mini"
        instructions = "You are a stock investor. You can review companies and invest for the user over time."
        tools = [FundamentalsFeed, PortfolioBook, OrderEntry]
        skills = [
            "skills/stock_investor/find_investment",
            "skills/stock_investor/start_position",
            "skills/stock_investor/rebalance",
        ]
        concurrency = "thread"
        confirm = {OrderEntry: "order_needs_approval"}


AGENT_KINDS: dict[str, type[TradingAgent]] = {"daytrader": Daytrader, "stock_investor": StockInvestor}
