"""Stop, stop-limit and trailing-stop orders: when they trigger, and how a trailing stop follows the price.

A stop order rests until the price on its side of the book reaches its stop: a sell stop triggers when
the bid is at or below the stop, a buy stop when the ask is at or above it. From then on (`triggered_at`
is set) a stop works as a market order and a stop-limit as a limit order, so a stop that a gap jumps
over fills at the gapped price. A trailing stop keeps a water mark, the best price seen on its side
(the highest bid for a sell, the lowest ask for a buy), and its stop stays `trail_amount` dollars or
`trail_percent` percent behind it; the stop only ever moves in the owner's favour.

The broker looks at resting orders when it works them (every `exchange.tick` and every new order), so
the water mark follows the quotes seen then, not every minute between them.

A buy stop or trailing buy stop carries a collar, like a market buy queued while the exchange is
closed: it fills up to its stop + `MARKET_COLLAR` (kept as its `limit_price`), and its cash is reserved
at that price, so a reservation always covers the fill.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tradedesk.brokerage.accounts import Order
from tradedesk.market import Quote
from tradedesk.market.money import cents_down, cents_up

__all__ = ["STOP_TYPES", "arm", "problem", "triggered"]

STOP_TYPES = ("stop", "stop_limit", "trailing_stop")
MARKET_COLLAR = Decimal("0.05")
MAX_PRICE = Decimal("1e9")


def price(value: Decimal | float | str | None, label: str) -> Decimal | None:
    """An optional price or amount argument as an exact Decimal; ValueError if it is not a finite number."""
    if value is None:
        return None
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    if not amount.is_finite() or abs(amount) >= MAX_PRICE:
        raise ValueError(f"{label} must be a finite number below 1,000,000,000 (got {value})")
    return amount


def problem(order: Order) -> str | None:
    """Why a new order's stop and trail arguments do not fit its type, or None (the agent reads this)."""
    kind = order.order_type
    trail = [
        n for n, v in (("trail_amount", order.trail_amount), ("trail_percent", order.trail_percent)) if v is not None
    ]
    if kind not in STOP_TYPES:
        if order.stop_price is not None or trail:
            return "stop_price, trail_amount and trail_percent apply only to stop, stop_limit and trailing_stop orders"
        return None
    if kind == "trailing_stop":
        if order.stop_price is not None:
            return "a trailing_stop sets its own stop: give trail_amount or trail_percent, not stop_price"
        if len(trail) != 1:
            return "a trailing_stop needs exactly one of trail_amount (dollars) or trail_percent (e.g. 2.5 for 2.5%)"
        if (order.trail_amount or order.trail_percent or Decimal(0)) <= 0:
            return f"{trail[0]} must be above 0"
        if order.trail_percent is not None and order.trail_percent >= 100:
            return "trail_percent must be below 100"
    else:
        if trail:
            return f"{', '.join(trail)} applies only to trailing_stop orders"
        if order.stop_price is None or order.stop_price <= 0:
            return f"a {kind} order needs a stop_price above $0.00"
    if kind == "stop_limit" and (order.limit_price is None or order.limit_price <= 0):
        return "a stop_limit order needs a limit_price above $0.00 (the worst price it may fill at once triggered)"
    if kind != "stop_limit" and order.limit_price is not None:
        return f"limit_price applies only to limit and stop_limit orders; leave it out for a {kind} order"
    return None


def arm(order: Order, quote: Quote) -> None:
    """Set a new stop order's starting stop, water mark and (buys) collar; call after `problem` found none."""
    if order.order_type not in STOP_TYPES:
        return
    if order.stop_price is not None:
        order.stop_price = cents_up(order.stop_price) if order.side == "buy" else cents_down(order.stop_price)
    if order.order_type == "trailing_stop":
        order.water_mark = quote.ask if order.side == "buy" else quote.bid
        order.stop_price = _trailed(order, order.water_mark)
    if order.side == "buy" and order.order_type != "stop_limit":
        assert order.stop_price is not None
        order.limit_price = cents_up(order.stop_price * (1 + MARKET_COLLAR))


def triggered(order: Order, quote: Quote, now: datetime) -> bool:
    """Whether `order` may fill now: any non-stop order; a stop order once its stop was reached (updating a
    trailing stop's water mark and stop first, and recording the trigger)."""
    if order.order_type not in STOP_TYPES or order.triggered_at is not None:
        return True
    touch = quote.ask if order.side == "buy" else quote.bid
    if order.order_type == "trailing_stop":
        assert order.water_mark is not None
        better = touch > order.water_mark if order.side == "sell" else touch < order.water_mark
        if better:
            order.water_mark = touch
            order.stop_price = _trailed(order, touch)
    assert order.stop_price is not None
    reached = touch <= order.stop_price if order.side == "sell" else touch >= order.stop_price
    if reached:
        order.triggered_at = now
    return reached


def _trailed(order: Order, mark: Decimal) -> Decimal:
    """The stop `order`'s trail puts behind the water mark `mark`, in cents, rounded toward the mark."""
    if order.trail_amount is not None:
        distance = order.trail_amount
    else:
        assert order.trail_percent is not None
        distance = mark * order.trail_percent / 100
    stop = mark - distance if order.side == "sell" else mark + distance
    return max(cents_up(stop), Decimal("0.01")) if order.side == "sell" else cents_down(stop)
