"""Cancel and replace: change an open order's quantity, prices or time in force in one step.

The open order is cancelled and a new one placed with the changes, in the caller's transaction, so the old
order's reservation is freed for the new one. If the new order would be rejected (or cannot rest), nothing
changes: the old order stays open and `BrokerError` says why. The new order keeps the old one's symbol, side,
type and agent; a replaced stop is armed afresh (a trailing stop's water mark starts at the current price).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tradedesk.brokerage import bracket_replace
from tradedesk.brokerage.accounts import Order
from tradedesk.brokerage.broker import Broker, BrokerError, OrderNotFound, RiskLimits

__all__ = ["replace_order"]


def replace_order(
    broker: Broker,
    session: Session,
    user_id: int,
    order_id: int,
    *,
    quantity: int | None = None,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
    trail_amount: Decimal | None = None,
    trail_percent: Decimal | None = None,
    time_in_force: str | None = None,
    limits: RiskLimits | None = None,
) -> Order:
    """Replace the user's open order `order_id` by a new one with the given fields changed (None: keep).

    Returns the new order (filled or open); the old one is cancelled with a reason naming it.
    """
    broker.work_orders(session, user_id)  # locks the account, and the order may have just filled or expired
    old = session.scalar(select(Order).where(Order.id == order_id, Order.user_id == user_id))
    if old is None:
        raise OrderNotFound(f"no order {order_id} in this account")
    if old.order_class != "simple":  # a bracket's or OCO's order: replaced keeping it joined to the others
        return bracket_replace.replace(
            broker, session, user_id, old, quantity=quantity, limit_price=limit_price, stop_price=stop_price,
            trail_amount=trail_amount, trail_percent=trail_percent, time_in_force=time_in_force, limits=limits,
        )  # fmt: skip
    if not old.is_open:
        raise BrokerError(f"order {order_id} is {old.status}; only open orders can be replaced")
    if old.filled_quantity:
        raise BrokerError(
            f"order {order_id} is partially filled ({old.filled_quantity:,} of {old.quantity:,} shares): cancel it "
            "and place a new order for the rest"
        )
    if trail_amount is not None or trail_percent is not None:  # a new trail replaces the old one, of either kind
        trails = (trail_amount, trail_percent)
    else:
        trails = (old.trail_amount, old.trail_percent)
    with session.begin_nested():  # rolled back, old order still open, if the new one is refused
        old.status = "cancelled"
        session.flush()  # its reservation no longer counts against the new order
        new = broker.place_order(
            session,
            user_id,
            symbol=old.symbol,
            side=old.side,
            quantity=old.quantity if quantity is None else quantity,
            order_type=old.order_type,
            limit_price=_kept_limit(old) if limit_price is None else limit_price,
            time_in_force=old.time_in_force if time_in_force is None else time_in_force,
            stop_price=_kept_stop(old) if stop_price is None else stop_price,
            trail_amount=trails[0],
            trail_percent=trails[1],
            agent_kind=old.agent_kind,
            agent_id=old.agent_id,
            limits=limits,
        )
        if not (new.is_open or new.status == "filled"):
            why = f"{new.status}: {new.reason}" if new.reason else new.status
            raise BrokerError(f"order {order_id} was not replaced (it stays open): the new order would be {why}")
        old.reason = f"replaced by order {new.id}"
    session.flush()
    return new


def _kept_limit(order: Order) -> Decimal | None:
    """The old order's own limit: none for a market order, a stop or a trailing stop (a buy's collar is re-set)."""
    return order.limit_price if order.order_type in ("limit", "stop_limit") else None


def _kept_stop(order: Order) -> Decimal | None:
    """The old order's stop; a trailing stop's is derived again from its trail."""
    return None if order.order_type == "trailing_stop" else order.stop_price
