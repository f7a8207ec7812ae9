"""Fills: the price and shares an order gets against a quote, and booking a fill into cash, positions and fills.

The broker decides when an order fills (`broker`); this module says at what and moves the money.

Each account's trading costs (`costs`: a commission per share with a minimum, and a size impact on the
fill price) apply to every fill; a buy's cash check and reservation include its commission.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from tradedesk.brokerage import book, costs
from tradedesk.brokerage.accounts import Account, Fill, Order, Position
from tradedesk.brokerage.triggers import MARKET_COLLAR
from tradedesk.market import Quote
from tradedesk.market.money import SCALE, cents, cents_up


def fill(session: Session, account: Account, order: Order, price: Decimal, shares: int, now: datetime) -> None:
    """Fill `shares` of `order` at `price`: move cash and shares, and record the fill.

    Realized P&L = proceeds - the cost basis of the shares sold. The commission comes out of cash and realized
    P&L (on a buy too), so realized P&L is net of commissions; an order pays its minimum commission once.
    """
    amount = price * shares
    commission = commission_of(costs.of(account), order, price, shares)
    account.cash -= commission
    account.realized_pnl -= commission
    account.commissions += commission
    position = book.position(session, order.user_id, order.symbol)
    if order.side == "buy":
        if position is None:
            position = Position(user_id=order.user_id, symbol=order.symbol, quantity=0, cost_basis=Decimal(0))
            session.add(position)
        account.cash -= amount
        position.quantity += shares
        position.cost_basis += amount
    else:
        assert position is not None and position.quantity >= shares
        basis = cents(position.cost_basis * shares / position.quantity)
        account.cash += amount
        account.realized_pnl += amount - basis
        position.quantity -= shares
        position.cost_basis -= basis
        if position.quantity == 0:
            session.delete(position)
    order.filled_quantity = (order.filled_quantity or 0) + shares
    order.filled_value = (order.filled_value or Decimal(0)) + amount
    order.commission = (order.commission or Decimal(0)) + commission
    order.fill_price = (order.filled_value / order.filled_quantity).quantize(SCALE)
    order.filled_at = now
    if order.filled_quantity == order.quantity:
        order.status, order.reason = "filled", None
    else:
        order.status = "partially_filled"
    session.add(
        Fill(
            order_id=order.id,
            user_id=order.user_id,
            symbol=order.symbol,
            side=order.side,
            quantity=shares,
            price=price,
            commission=commission,
            at=now,
        )
    )
    session.flush()


def execution(order: Order, quote: Quote, cost: costs.Costs) -> tuple[Decimal, int] | None:
    """The fill `order` gets against `quote` now: (price, shares), or None if the price is beyond its limit or collar.

    Buys take the ask, sells the bid, moved by the size impact; no more shares than are displayed there.
    """
    displayed = quote.ask_size if order.side == "buy" else quote.bid_size
    rest = order.quantity - (order.filled_quantity or 0)
    shares = rest if displayed is None else min(rest, displayed)
    price = cost.fill_price(quote.ask if order.side == "buy" else quote.bid, order.side, shares)
    if order.limit_price is None:
        return price, shares
    marketable = price <= order.limit_price if order.side == "buy" else price >= order.limit_price
    return (price, shares) if marketable else None


def booking(order: Order, quote: Quote, execution: tuple[Decimal, int] | None) -> tuple[Decimal, Decimal]:
    """What a new order is checked at: (notional, the price of what rests).

    What fills now counts at its fill price; what rests at the price it reserves (its limit, a market buy's collar,
    a sell's bid).
    """
    if order.limit_price is not None:
        rest_price = order.limit_price
    else:
        rest_price = collar(quote) if order.side == "buy" else quote.bid
    if execution is None:
        return rest_price * order.quantity, rest_price
    price, shares = execution
    if shares == order.quantity:
        return price * shares, price
    return price * shares + rest_price * (order.quantity - shares), rest_price


def commission_of(cost: costs.Costs, order: Order, price: Decimal, shares: int) -> Decimal:
    """What filling `shares` more of `order` at `price` adds to its commission."""
    filled, value = (order.filled_quantity or 0) + shares, (order.filled_value or Decimal(0)) + price * shares
    return cost.commission_on(filled, value) - (order.commission or Decimal(0))


def collar(quote: Quote) -> Decimal:
    """The highest price a market buy queued while the exchange is closed may fill at."""
    return cents_up(quote.ask * (1 + MARKET_COLLAR))


def minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def filled_note(order: Order) -> str:
    """What part of an order that ends early had filled, for its reason."""
    filled = order.filled_quantity or 0
    return f" ({filled:,} of {order.quantity:,} shares had filled)" if filled else ""
