"""The brokerage's tables: one cash account per user, positions, and every order ever placed.

Every row carries the owner's `user_id`; the broker reads and writes only rows of the user it is
called for. Money columns are `Money` (exact, 4 decimal places); amounts the broker writes are whole
cents. A position keeps its cost basis (what its shares cost, in cents) rather than a rounded average,
so cash + market value == starting cash + realized P&L + unrealized P&L holds to the cent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradedesk.brokerage.columns import Money
from tradedesk.brokerage.db import Base
from tradedesk.market.money import SCALE

SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIMES_IN_FORCE = ("day", "gtc", "ioc", "fok")
STATUSES = ("new", "accepted", "partially_filled", "filled", "cancelled", "expired", "rejected", "held")
"""An order's life: `new` (working on the open exchange), `accepted` (placed while the exchange is closed, waiting
for the open), `partially_filled` (some shares filled, the rest working), then one of filled, cancelled, expired
or rejected; `held` is a bracket's exit waiting for its entry to fill (see `brackets`)."""
OPEN_STATUSES = ("new", "accepted", "partially_filled")
"""The statuses of an order that may still fill (it reserves cash or shares, and can be cancelled or replaced)."""
ORDER_CLASSES = ("simple", "bracket", "oco")
"""A bracket is an entry with two OCO exit children; an oco is a pair of exits (see `brackets`)."""


def utc(value: datetime) -> datetime:
    """A stored timestamp as aware UTC (SQLite hands them back naive; we only ever store UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Account(Base):
    """A user's cash and the P&L realized by selling."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    cash: Mapped[Decimal] = mapped_column(Money())
    realized_pnl: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    commission_per_share: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    commission_min: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    impact_bps: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    """The account's trading costs (see `costs`); all zero by default."""
    commissions: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    """Commissions paid, in total."""
    backtest: Mapped[bool] = mapped_column(default=False, server_default="0")
    """A backtest's book (see `tradedesk.backtests`): it trades on a simulated clock, so the live exchange's tick
    never works its orders."""


class Position(Base):
    """Shares of one symbol a user holds (long only; a position sold to zero is deleted)."""

    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("user_id", "symbol", name="uq_positions_user_symbol"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    symbol: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(BigInteger)
    cost_basis: Mapped[Decimal] = mapped_column(Money())

    @property
    def average_cost(self) -> Decimal:
        """Cost basis per share, to 4 decimal places."""
        return (self.cost_basis / self.quantity).quantize(SCALE) if self.quantity else Decimal(0)


class Order(Base):
    """An order and what became of it; rejected ones are kept with the reason, for the agent to read.

    `idempotency_key` (the tool call id) is unique per user: the same key twice is one order.
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_orders_user_idempotency_key"),
        Index("ix_orders_user_status", "user_id", "status"),
        Index("ix_orders_user_agent_created", "user_id", "agent_kind", "agent_id", "created_at"),
        Index("ix_orders_parent_id", "parent_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    agent_kind: Mapped[str | None] = mapped_column(String(32))
    agent_id: Mapped[int | None]
    symbol: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[int] = mapped_column(BigInteger)
    order_type: Mapped[str] = mapped_column(String(13))
    limit_price: Mapped[Decimal | None] = mapped_column(Money())
    time_in_force: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    fill_price: Mapped[Decimal | None] = mapped_column(Money())
    reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    filled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stop_price: Mapped[Decimal | None] = mapped_column(Money())
    """Where a stop, stop-limit or trailing stop triggers (a trailing stop's moves as its water mark does)."""
    trail_amount: Mapped[Decimal | None] = mapped_column(Money())
    trail_percent: Mapped[Decimal | None] = mapped_column(Money())
    """A trailing stop's distance from its water mark: dollars, or percent (2.5 = 2.5%)."""
    water_mark: Mapped[Decimal | None] = mapped_column(Money())
    """A trailing stop's best price seen: the highest bid for a sell, the lowest ask for a buy."""
    triggered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When a stop order's stop was reached; from then on it works as a market (or limit) order."""
    commission: Mapped[Decimal | None] = mapped_column(Money())
    """The commission its fills paid; None until filled (fill_price already includes any size impact)."""
    filled_quantity: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    filled_value: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    """Shares filled so far and what they cost or raised (sums of its fills); `fill_price` is their average price,
    to 4 decimal places."""
    tool_call_id: Mapped[str | None] = mapped_column(String(200))
    turn: Mapped[int | None]
    message_seq: Mapped[int | None]
    """The audit trail (see `audit`): the tool call that placed it, the agent's turn (as in its usage ledger) and
    the sequence number of the model message asking for the call; all None for an order the owner placed."""
    approval: Mapped[str | None] = mapped_column(String(10))
    approved_by: Mapped[str | None] = mapped_column(String(320))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Whether its tool call was held for approval ("approved", by whom and when) or not ("not_needed")."""
    cancelled_by: Mapped[str | None] = mapped_column(String(48))
    cancel_call_id: Mapped[str | None] = mapped_column(String(200))
    """The agent (`daytrader/3`) and tool call that cancelled it, when an agent did."""
    order_class: Mapped[str] = mapped_column(String(7), default="simple", server_default="simple")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    """A bracket child's entry order; its children stay "held" until the entry fills."""
    oco_group: Mapped[int | None]
    """Orders sharing an oco_group (the id of its take-profit) are one-cancels-other: a fill cancels the rest."""

    @property
    def is_open(self) -> bool:
        """Whether the order may still fill (see `OPEN_STATUSES`)."""
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> int:
        """Shares still to fill (none once the order is done, whatever was left)."""
        return self.quantity - (self.filled_quantity or 0) if self.is_open else 0

    @property
    def notional(self) -> Decimal | None:
        """What its fills cost or raised (at their average price); None until one filled."""
        return None if self.fill_price is None else self.filled_value

    def __repr__(self) -> str:
        price = f" @ {self.fill_price}" if self.fill_price is not None else ""
        return f"<Order {self.id} {self.side} {self.quantity} {self.symbol} {self.order_type} {self.status}{price}>"


class Fill(Base):
    """One execution of an order: shares that changed hands at one price, and the commission they paid.

    An order's fills add up to what it bought or sold; positions, cash and realized P&L move fill by fill.
    """

    __tablename__ = "fills"
    __table_args__ = (Index("ix_fills_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[Decimal] = mapped_column(Money())
    commission: Mapped[Decimal] = mapped_column(Money())
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity
