"""The account's book as the broker reads it in the caller's transaction: positions, open orders, reserved cash.

Queries only (no fills, no checks), shared by the broker, its checks and its fills.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from tradedesk.brokerage import costs
from tradedesk.brokerage.accounts import OPEN_STATUSES, Account, Order, Position


def is_open(user_id: int) -> ColumnElement[bool]:
    return and_(Order.user_id == user_id, Order.status.in_(OPEN_STATUSES))


def positions(session: Session, user_id: int) -> list[Position]:
    query = select(Position).where(Position.user_id == user_id).order_by(Position.symbol)
    return list(session.scalars(query.execution_options(populate_existing=True)))


def position(session: Session, user_id: int, symbol: str) -> Position | None:
    query = select(Position).where(Position.user_id == user_id, Position.symbol == symbol)
    return session.scalar(query.execution_options(populate_existing=True))


def reserved_cash(session: Session, account: Account) -> Decimal:
    """Cash promised to open buy orders' unfilled shares, at their limit prices (a market buy's collar), with the
    commission still to pay."""
    cost = costs.of(account)
    buys = session.scalars(select(Order).where(is_open(account.user_id), Order.side == "buy"))
    return sum((reserve(cost, o) for o in buys if o.limit_price is not None), Decimal(0))


def reserve(cost: costs.Costs, order: Order) -> Decimal:
    """Cash an open buy holds back: its unfilled shares at its limit, and the most its commission can still grow."""
    assert order.limit_price is not None
    rest = order.quantity - (order.filled_quantity or 0)
    most = cost.commission(order.quantity, order.limit_price) - (order.commission or Decimal(0))
    return order.limit_price * rest + max(most, Decimal(0))
