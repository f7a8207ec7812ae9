"""The broker's checks: an order's arguments, its risk limits, cash and shares, and the reasons it is refused.

Business rejections (unknown symbol, quantity <= 0, insufficient cash, selling more than held, a risk
limit) are stored as orders with status "rejected" and a `reason` the agent can read. Arguments
outside the API's domain (a side other than buy/sell, an unknown order type or time in force, a
quantity that is not an int) are programming errors and raise ValueError before anything is stored.
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tradedesk.brokerage import allocations, book, bracket_legs, costs, fills
from tradedesk.brokerage.accounts import ORDER_TYPES, SIDES, TIMES_IN_FORCE, Account, Order
from tradedesk.brokerage.triggers import MARKET_COLLAR
from tradedesk.market import Quote, UnknownSymbol
from tradedesk.market.money import cents_down, cents_up, dollars

if TYPE_CHECKING:
    from tradedesk.brokerage.broker import Broker, RiskLimits

MAX_QUANTITY = 1_000_000_000
_BIGINT = 2**63 - 1


def check_domain(side: str, order_type: str, time_in_force: str, quantity: int, key: str | None) -> None:
    for label, value, allowed in (
        ("side", side, SIDES),
        ("order_type", order_type, ORDER_TYPES),
        ("time_in_force", time_in_force, TIMES_IN_FORCE),
    ):
        if value not in allowed:
            raise ValueError(f"{label} must be one of {', '.join(allowed)} (got {value!r})")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or abs(quantity) > _BIGINT:
        raise ValueError(f"quantity must be an int number of shares (got {quantity!r})")
    if key is not None and len(key) > 200:
        raise ValueError("idempotency_key must be at most 200 characters")


def limit_price(value: Decimal | float | str | None, side: str) -> Decimal | None:
    """A limit price in cents, rounded in the owner's favour (buy limits down, sell limits up)."""
    if value is None:
        return None
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    if not amount.is_finite() or abs(amount) >= Decimal("1e9"):
        raise ValueError(f"limit_price must be a finite price below $1,000,000,000 (got {value})")
    return cents_down(amount) if side == "buy" else cents_up(amount)


def rejection(
    broker: Broker,
    session: Session,
    account: Account,
    order: Order,
    quote: Quote | None,
    limits: RiskLimits,
    execution: tuple[Decimal, int] | None,
) -> str | None:
    """Why `order` cannot be accepted, or None. The first failing check wins.

    Amounts are at the price the order fills at now and, for what rests, the price it reserves (see `fills.booking`).
    """
    if quote is None:
        return str(UnknownSymbol(order.symbol, broker.market.symbols()))
    if order.quantity <= 0:
        return f"quantity must be a whole number of shares above 0 (got {order.quantity})"
    if order.quantity > MAX_QUANTITY:
        return f"quantity must be at most {MAX_QUANTITY:,} shares (got {order.quantity:,})"
    if order.order_type == "limit" and (order.limit_price is None or order.limit_price <= 0):
        return "a limit order needs a limit_price above $0.00"
    if order.order_type == "market" and order.limit_price is not None:
        return "limit_price applies only to limit orders; leave it out for a market order"
    if limits.max_orders_per_day is not None:
        placed = placed_today(session, order)
        if placed >= limits.max_orders_per_day:
            return (
                f"risk limit exceeded: this agent already placed {placed} orders today "
                f"(max {limits.max_orders_per_day} per day, reset at 00:00 UTC)"
            )
    cost = costs.of(account)
    notional, price = fills.booking(order, quote, execution)
    if limits.max_order_notional is not None and notional > limits.max_order_notional:
        return (
            f"risk limit exceeded: order notional {dollars(notional)} is above this agent's maximum of "
            f"{dollars(limits.max_order_notional)} per order"
        )
    if (over := allocations.problem(session, order, price, cost, limits.allocation)) is not None:
        return over
    held_position = book.position(session, order.user_id, order.symbol)
    held = held_position.quantity if held_position else 0
    if order.side == "sell":
        reserved = bracket_legs.reserved_shares(session, order.user_id, order.symbol)
        if order.quantity > held - reserved:
            pending = f" ({reserved} already in open sell orders)" if reserved else ""
            return (
                f"cannot sell {order.quantity} {order.symbol}: only {held} held{pending}; short selling is not allowed"
            )
        return None
    available = account.cash - book.reserved_cash(session, account)
    needed = notional + cost.commission_on(order.quantity, notional)
    if needed > available:
        collar = order.order_type == "market" and execution is None
        why = f" (the ask + {MARKET_COLLAR:.0%}, as the exchange is closed)" if collar else ""
        if execution is not None and execution[1] < order.quantity:
            why = f" (the {order.quantity - execution[1]:,} shares not displayed now at up to {dollars(price)})"
        fee = needed - notional
        fee_note = f" with {dollars(fee)} commission" if fee else ""
        return (
            f"insufficient cash: buying {order.quantity} {order.symbol} at {dollars(price)}{why} needs "
            f"{dollars(needed)}{fee_note} but only {dollars(available)} is available"
        )
    if limits.max_position_weight is not None:
        equity = account.cash + sum(
            (broker.holding(p, quote.time).market_value for p in book.positions(session, order.user_id)),
            Decimal(0),
        )
        after = equity - notional + quote.last * order.quantity
        weight = (held + order.quantity) * quote.last / after if after > 0 else Decimal("Infinity")
        if weight > limits.max_position_weight:
            return (
                f"risk limit exceeded: {order.symbol} would be {weight:.1%} of equity, above this agent's "
                f"maximum position weight of {limits.max_position_weight:.1%}"
            )
    return None


def placed_today(session: Session, order: Order) -> int:
    midnight = datetime.combine(order.created_at.date(), time(0), tzinfo=order.created_at.tzinfo)
    query = select(func.count(Order.id)).where(
        Order.user_id == order.user_id,
        Order.agent_kind.is_(None) if order.agent_kind is None else Order.agent_kind == order.agent_kind,
        Order.agent_id.is_(None) if order.agent_id is None else Order.agent_id == order.agent_id,
        Order.status != "rejected",
        Order.created_at >= midnight,
        bracket_legs.counted_once(),
    )
    return int(session.scalar(query) or 0)


def unfillable(session: Session, account: Account, order: Order, price: Decimal, shares: int) -> str | None:
    """A last check at fill time (reservations make it pass unless the data was edited by hand)."""
    needed = price * shares + fills.commission_of(costs.of(account), order, price, shares)
    if order.side == "buy" and needed > account.cash:
        return f"insufficient cash at fill: {dollars(needed)} needed, {dollars(account.cash)} held"
    position = book.position(session, order.user_id, order.symbol)
    if order.side == "sell" and (position is None or position.quantity < shares):
        return f"cannot sell {shares} {order.symbol}: only {position.quantity if position else 0} held"
    return None


def ioc_rest(order: Order, trading: bool) -> str:
    """Why an immediate-or-cancel order's unfilled rest was cancelled when placed."""
    if order.filled_quantity:
        rest = order.quantity - order.filled_quantity
        return (
            f"immediate-or-cancel: {order.filled_quantity:,} of {order.quantity:,} shares filled at once (as many as "
            f"were displayed at its price); the other {rest:,} were cancelled"
        )
    why = "the exchange is closed" if not trading else "it could not fill at once at its price"
    return f"immediate-or-cancel order cancelled: {why}; nothing was bought or sold"


def fok_refusal(order: Order, quote: Quote | None, trading: bool, execution: tuple[Decimal, int] | None) -> str:
    """Why a fill-or-kill order could not fill whole when placed."""
    if not trading:
        why = "the exchange is closed"
    elif execution is not None and quote is not None:
        side = "ask" if order.side == "buy" else "bid"
        why = f"only {execution[1]:,} of its {order.quantity:,} shares are displayed at the {side}"
    else:
        why = "it could not fill at once at its price"
    return f"fill-or-kill order not filled: {why}; nothing was bought or sold"
