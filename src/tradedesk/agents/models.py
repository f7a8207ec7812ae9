"""The users' agents: the seed's models, each agent an ordinary record with state, tools and skills."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import BigInteger, ForeignKey, Numeric, select
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, relationship

from agentrecord import AgentRecord, Budget, spend_table
from tradedesk.agents.orders import order_notional
from tradedesk.agents.trading_tools import (
    CancelOrder,
    FundamentalsFeed,
    OrderEntry,
    PortfolioBook,
    PositionBook,
    QuoteFeed,
    open_order_notional,
)
from tradedesk.brokerage.broker import RiskLimits
from tradedesk.brokerage.db import Base
from tradedesk.users.users import User

LOCAL_MODEL = "smollm2-135m"


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
    max_daily_loss: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), default=None)
    """When the account's P&L today is below minus this, the agent's new buy orders are refused."""
    daily_usd: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), default=None)
    daily_tokens: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """The agent's own daily budgets (None: no limit)."""
    allocation: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), default=None)
    """The capital the agent may have in use (None: the whole account); see `allocations`."""

    @property
    def limits(self) -> RiskLimits:
        return RiskLimits(
            max_order_notional=self.max_order_notional,
            max_position_weight=self.max_position_weight,
            max_orders_per_day=self.max_orders_per_day,
            allocation=self.allocation,
        )

    def order_needs_approval(self, args: dict[str, Any]) -> bool:
        """Orders above the owner's notional threshold (default $10,000) wait for approval."""
        threshold = self.approval_threshold if self.approval_threshold is not None else Decimal("10000")
        return order_notional(args) > threshold

    def cancel_needs_approval(self, args: dict[str, Any]) -> bool:
        """Cancelling an order above the same threshold waits for approval too (the seed's rule for orders)."""
        threshold = self.approval_threshold if self.approval_threshold is not None else Decimal("10000")
        engine, _ = self._bound()
        with Session(engine) as session:  # its own short read, scoped to the owner
            return open_order_notional(session, self.user_id, args.get("order_id")) > threshold

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.id}"

    def budgets(self) -> list[Budget]:
        """The owner's daily budget and the agent's own, read fresh (another process may have changed them)."""
        engine, _ = self._bound()
        with Session(engine) as session:  # its own short read: the record's session stays idle
            user = session.get(User, self.user_id)
            me = session.get(type(self), self.id)
            assert user is not None and me is not None
            email = user.email
            hint = f"Raise it with `tradedesk budget {email} {self.label} --daily-usd ... --daily-tokens ...`."
            user_hint = hint.replace(f" {self.label}", "")
            return [
                Budget(f"user:{user.id}", f"{email}'s daily budget", user.daily_tokens, user.daily_usd, user_hint),
                Budget(self.label, f"{self.label}'s daily budget", me.daily_tokens, me.daily_usd, hint),
            ]

    def provider_options(self) -> dict[str, Any]:
        """The owner's own key for this provider (stored encrypted in settings) before the environment's; a backtest's
        twin uses the key of the user who runs the backtest."""
        options = super().provider_options()
        if object_session(self) is not None and self.user_id is not None:
            from tradedesk.users.identity import user_key

            engine, _ = self._bound()
            with Session(engine) as session:  # its own short read: the record's session stays idle
                owner = session.scalar(select(User.backtest_of).where(User.id == self.user_id))
                key = user_key(session, owner or self.user_id, self.provider)  # a backtest's twin: its owner's key
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
        tools = [QuoteFeed, OrderEntry, PositionBook, CancelOrder]
        skills = ["skills/daytrader/find_trade", "skills/daytrader/enter_trade", "skills/daytrader/exit_trade"]
        concurrency = "thread"
        confirm = {OrderEntry: "order_needs_approval", CancelOrder: "cancel_needs_approval"}


class StockInvestor(TradingAgent, Base):
    __tablename__ = "stock_investors"
    kind = "stock_investor"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user: Mapped[User] = relationship(back_populates="stock_investors")

    class Agent:
        model = "gpt-5.4-mini"
        instructions = "You are a stock investor. You can review companies and invest for the user over time."
        tools = [FundamentalsFeed, PortfolioBook, OrderEntry, CancelOrder]
        skills = [
            "skills/stock_investor/find_investment",
            "skills/stock_investor/start_position",
            "skills/stock_investor/rebalance",
        ]
        concurrency = "thread"
        confirm = {OrderEntry: "order_needs_approval", CancelOrder: "cancel_needs_approval"}


SPEND = spend_table(Base.metadata)
"""Spending per budget scope (`user:ID`, `daytrader/ID`) and UTC day, kept by agentrecord's budgets."""

AGENT_KINDS: dict[str, type[TradingAgent]] = {"daytrader": Daytrader, "stock_investor": StockInvestor}
