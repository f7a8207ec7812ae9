"""A bracket's and an OCO pair's legs after they are placed: the broker's hooks, reservations and views.

A bracket entry that is done sets its held children working (or cancels them); a fill or cancel of one OCO leg
cancels its sibling; a pair reserves its shares once. Placing brackets and OCO pairs is `brackets`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, object_session

from tradedesk.brokerage.accounts import OPEN_STATUSES, Fill, Order

if TYPE_CHECKING:
    from tradedesk.brokerage.broker import Broker

__all__ = [
    "HELD",
    "after_cancel",
    "after_fill",
    "counted_once",
    "entry_done",
    "legs",
    "reserved_shares",
    "settle",
    "view",
]

HELD = "held"


def after_fill(session: Session, broker: Broker, order: Order) -> None:
    """After any fill of `order`: a done bracket entry sets its children working; an exit cancels its sibling."""
    if order.order_class == "bracket" and order.parent_id is None and not order.is_open:
        entry_done(session, broker, order)
    if order.oco_group is not None:
        _cancel_group(session, order, f"cancelled: its OCO sibling order {order.id} filled")


def after_cancel(session: Session, broker: Broker, order: Order) -> None:
    """After `order` was cancelled: a bracket entry settles its children; an exit takes its sibling with it."""
    if order.order_class == "bracket" and order.parent_id is None:
        entry_done(session, broker, order)
    if order.oco_group is not None:
        _cancel_group(session, order, f"cancelled with its OCO sibling order {order.id}")


def entry_done(session: Session, broker: Broker, entry: Order) -> None:
    """A bracket entry is over (filled, or cancelled, expired or rejected): its held children work for the shares
    it bought (the sum of its fills), good-till-cancelled, or are cancelled if it bought none."""
    bought = int(
        session.scalar(
            select(func.coalesce(func.sum(Fill.quantity), 0)).where(
                Fill.order_id == entry.id, Fill.user_id == entry.user_id
            )
        )
        or 0
    )
    held = select(Order).where(Order.user_id == entry.user_id, Order.parent_id == entry.id, Order.status == HELD)
    working = "new" if broker.calendar.is_open(broker.now()) else "accepted"  # as `Broker.place_order` would rest it
    for child in session.scalars(held.order_by(Order.id)):
        if bought:
            child.quantity, child.status, child.reason = bought, working, None
        else:
            child.status = "cancelled"
            child.reason = f"cancelled: its bracket entry order {entry.id} was {entry.status} without buying any shares"
    session.flush()


def settle(session: Session, broker: Broker, user_id: int) -> None:
    """Settle the children still held for entries that are over (expired, rejected at fill time, replaced)."""
    held_for = select(Order.parent_id).where(Order.user_id == user_id, Order.status == HELD)
    query = select(Order).where(
        Order.user_id == user_id, Order.id.in_(held_for), Order.status.not_in(OPEN_STATUSES)
    )  # no alias: building one per call cost more than the query, and this runs on every order placed
    for done in session.scalars(query.order_by(Order.id)).all():
        entry_done(session, broker, done)


def reserved_shares(session: Session, user_id: int, symbol: str) -> int:
    """Shares of `symbol` promised to the user's open sells (their unfilled part); an OCO group's legs share theirs
    (its largest counts)."""
    rows = session.execute(
        select(Order.quantity - Order.filled_quantity, Order.oco_group).where(
            Order.user_id == user_id, Order.status.in_(OPEN_STATUSES), Order.side == "sell", Order.symbol == symbol
        )
    ).all()
    groups: dict[int, int] = {}
    single = 0
    for quantity, group in rows:
        if group is None:
            single += quantity
        else:
            groups[group] = max(groups.get(group, 0), quantity)
    return single + sum(groups.values())


def legs(session: Session, order: Order) -> list[Order]:
    """The other orders placed with `order` by one request: a bracket entry's exits, or an OCO leg's sibling."""
    if order.order_class == "bracket" and order.parent_id is None and order.id is not None:
        query = select(Order).where(Order.user_id == order.user_id, Order.parent_id == order.id)
    elif order.oco_group is not None:
        query = select(Order).where(
            Order.user_id == order.user_id, Order.oco_group == order.oco_group, Order.id != order.id
        )
    else:
        return []
    return list(session.scalars(query.order_by(Order.id)))


def counted_once() -> ColumnElement[bool]:
    """Orders that count toward an agent's orders per day: a bracket or an OCO exit is one order, not its legs."""
    return and_(Order.parent_id.is_(None), or_(Order.oco_group.is_(None), Order.oco_group == Order.id))


def view(order: Order) -> dict[str, Any]:
    """The bracket part of an order's view (nothing for a simple order): its class, parent and its legs."""
    if order.order_class in (None, "simple"):
        return {}
    out: dict[str, Any] = {"order_class": order.order_class}
    if order.parent_id is not None:
        out["parent_id"] = order.parent_id
    session = object_session(order)
    if session is None or order.id is None:
        return out
    if order.order_class == "bracket" and order.parent_id is None:
        legs = select(Order).where(Order.user_id == order.user_id, Order.parent_id == order.id)
        out["children"] = [_leg(o) for o in session.scalars(legs.order_by(Order.id))]
    elif order.oco_group is not None:
        others = select(Order).where(
            Order.user_id == order.user_id, Order.oco_group == order.oco_group, Order.id != order.id
        )
        out["oco_with"] = [_leg(o) for o in session.scalars(others.order_by(Order.id))]
    return out


def _leg(order: Order) -> dict[str, Any]:
    prices = {"limit_price": order.limit_price, "stop_price": order.stop_price, "fill_price": order.fill_price}
    shown = {k: float(v) for k, v in prices.items() if v is not None}
    return {"id": order.id, "order_type": order.order_type, "quantity": order.quantity, "status": order.status} | shown


def _cancel_group(session: Session, order: Order, reason: str) -> None:
    """Cancel the other open or held orders of `order`'s OCO group."""
    others = select(Order).where(
        Order.user_id == order.user_id,
        Order.oco_group == order.oco_group,
        Order.id != order.id,
        Order.status.in_((*OPEN_STATUSES, HELD)),
    )
    for other in session.scalars(others):
        other.status, other.reason = "cancelled", reason
    session.flush()
