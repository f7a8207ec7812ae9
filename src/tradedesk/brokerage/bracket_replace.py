"""Cancel and replace for a bracket's or an OCO's orders, keeping them joined (`replace.replace_order` calls it).

A bracket entry that has bought nothing yet is replaced by a new entry (new limit, quantity or time in force) and
its held exits move to it; a limit must stay between the exits. An exit (held or working) is replaced by a new one
at a new price (a take-profit's limit, a stop-loss's stop or its limit) or time in force, in the same OCO group; its
quantity stays the shares it protects. Either way nothing changes if the new order is refused: `BrokerError` says why.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tradedesk.brokerage import bracket_legs, triggers
from tradedesk.brokerage.accounts import Fill, Order
from tradedesk.brokerage.broker import Broker, BrokerError, RiskLimits
from tradedesk.market.money import cents_down, cents_up, dollars

__all__ = ["replace"]


def replace(
    broker: Broker,
    session: Session,
    user_id: int,
    old: Order,
    *,
    quantity: int | None = None,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
    trail_amount: Decimal | None = None,
    trail_percent: Decimal | None = None,
    time_in_force: str | None = None,
    limits: RiskLimits | None = None,
) -> Order:
    """Replace `old`, one of the user's bracket or OCO orders; returns the new order (`old` is cancelled)."""
    if trail_amount is not None or trail_percent is not None:
        raise BrokerError(f"order {old.id} is part of a {old.order_class}: it takes no trail")
    if old.order_class == "bracket" and old.parent_id is None:
        return _entry(broker, session, user_id, old, quantity, limit_price, stop_price, time_in_force, limits)
    return _exit(broker, session, user_id, old, quantity, limit_price, stop_price, time_in_force)


def _entry(
    broker: Broker,
    session: Session,
    user_id: int,
    old: Order,
    quantity: int | None,
    limit_price: Decimal | None,
    stop_price: Decimal | None,
    time_in_force: str | None,
    limits: RiskLimits | None,
) -> Order:
    if not old.is_open:
        raise BrokerError(f"order {old.id} is {old.status}; only open orders can be replaced")
    if stop_price is not None:
        raise BrokerError("a bracket's entry has no stop_price: change its limit_price, quantity or time_in_force")
    bought = session.scalar(select(func.count(Fill.id)).where(Fill.order_id == old.id, Fill.user_id == user_id))
    if bought:
        raise BrokerError(f"order {old.id} has bought shares already: cancel it, and its exits work for those shares")
    held = list(
        session.scalars(
            select(Order)
            .where(Order.user_id == user_id, Order.parent_id == old.id, Order.status == bracket_legs.HELD)
            .order_by(Order.id)
        )
    )
    limit = (old.limit_price if old.order_type == "limit" else None) if limit_price is None else limit_price
    if limit is not None:
        limit = cents_down(limit)
        for exit_ in held:
            if exit_.order_type == "limit" and exit_.limit_price is not None and exit_.limit_price <= limit:
                raise BrokerError(f"the entry's limit {dollars(limit)} must stay below its take-profit's")
            if exit_.stop_price is not None and exit_.stop_price >= limit:
                raise BrokerError(f"the entry's limit {dollars(limit)} must stay above its stop-loss")
    with session.begin_nested():  # rolled back, old entry and its exits as they were, if the new one is refused
        old.status = "cancelled"
        for exit_ in held:
            exit_.parent_id = None  # not the old entry's any more: settling it must not cancel them
        session.flush()
        new = broker.place_order(
            session,
            user_id,
            symbol=old.symbol,
            side="buy",
            quantity=old.quantity if quantity is None else quantity,
            order_type=old.order_type,
            limit_price=limit,
            time_in_force=old.time_in_force if time_in_force is None else time_in_force,
            agent_kind=old.agent_kind,
            agent_id=old.agent_id,
            limits=limits,
        )
        if not (new.is_open or new.status == "filled"):
            why = new.reason or new.status
            raise BrokerError(f"order {old.id} was not replaced (it stays open): the new order would be {why}")
        old.reason, new.order_class = f"replaced by order {new.id}", "bracket"
        for exit_ in held:
            exit_.parent_id, exit_.reason = new.id, f"held until its bracket entry order {new.id} fills"
        session.flush()
        if not new.is_open:
            bracket_legs.entry_done(session, broker, new)
    return new


def _exit(
    broker: Broker,
    session: Session,
    user_id: int,
    old: Order,
    quantity: int | None,
    limit_price: Decimal | None,
    stop_price: Decimal | None,
    time_in_force: str | None,
) -> Order:
    if not (old.is_open or old.status == bracket_legs.HELD):
        raise BrokerError(f"order {old.id} is {old.status}; only open or held orders can be replaced")
    if quantity is not None and quantity != old.quantity:
        raise BrokerError(
            f"order {old.id} is an exit of a {old.order_class}: its quantity is the shares it protects; change its "
            "price, or cancel it (its pair goes with it) and place new orders"
        )
    if stop_price is not None and old.order_type not in triggers.STOP_TYPES:
        raise BrokerError(f"order {old.id} is a take-profit: it has no stop_price; change its limit_price")
    if limit_price is not None and old.order_type == "stop":
        raise BrokerError(f"order {old.id} is a stop-loss: it has no limit_price; change its stop_price")
    if time_in_force not in (None, "day", "gtc"):
        raise BrokerError(f"an exit rests until it fills: use time_in_force day or gtc (got {time_in_force})")
    limit = old.limit_price if limit_price is None else cents_up(limit_price)
    stop = old.stop_price if stop_price is None else cents_down(stop_price)
    if (limit is not None and limit <= 0) or (stop is not None and stop <= 0):
        raise BrokerError("an exit's prices must be above $0.00")
    new = Order(
        user_id=old.user_id,
        agent_kind=old.agent_kind,
        agent_id=old.agent_id,
        symbol=old.symbol,
        side="sell",
        quantity=old.quantity,
        order_type=old.order_type,
        limit_price=limit,
        stop_price=stop,
        time_in_force=old.time_in_force if time_in_force is None else time_in_force,
        status=old.status,
        reason=old.reason,
        created_at=broker.now(),
        order_class=old.order_class,
        parent_id=old.parent_id,
        oco_group=old.oco_group,
    )
    old.status = "cancelled"
    session.add(new)
    session.flush()
    old.reason = f"replaced by order {new.id}"
    if new.is_open:
        broker.work_orders(session, user_id)  # a price already reached fills at once, as a new order's would
    return new
