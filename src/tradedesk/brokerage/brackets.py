"""Bracket and OCO orders: an entry with a take-profit and a stop-loss exit, joined one-cancels-other.

A bracket (order class "bracket") is a buy entry, market or limit, with two sell children: a take-profit
limit at `take_profit` and a stop-loss stop (or stop-limit) at `stop_loss`. The children are "held" (not
worked, reserving nothing) until the entry is done; then they work, good-till-cancelled, for the shares the
entry bought (the sum of its fills), or are cancelled if it bought none. An OCO exit (order class "oco") is the
same pair of sells placed on shares already held. The two exits of a pair share an `oco_group`: any fill of
one cancels the other, so both never fill, and the pair reserves its shares once (the group's largest leg).

Cancelling a bracket entry cancels its held children (or, after a partial fill, sets them working for the
shares bought). Cancelling one working exit cancels its sibling too, as Alpaca cancels a bracket's remaining
legs: an exit without its other half is not what the trader asked for.

Only buy entries: this broker has no short selling, so a sell bracket is a rejected order with its reason.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from tradedesk.brokerage import triggers
from tradedesk.brokerage.accounts import Order
from tradedesk.brokerage.bracket_legs import (
    HELD,
    after_cancel,
    after_fill,
    counted_once,
    entry_done,
    legs,
    reserved_shares,
    settle,
    view,
)
from tradedesk.market.money import cents_down, cents_up, dollars

if TYPE_CHECKING:
    from tradedesk.brokerage.broker import Broker, RiskLimits

__all__ = [
    "HELD",
    "after_cancel",
    "after_fill",
    "counted_once",
    "entry_done",
    "legs",
    "place_bracket",
    "place_exits",
    "place_oco",
    "reserved_shares",
    "settle",
    "view",
]

ENTRY_TYPES = ("market", "limit")
_STEADY = ("day", "gtc")


def place_bracket(
    broker: Broker,
    session: Session,
    user_id: int,
    *,
    symbol: str,
    quantity: int,
    take_profit: Decimal | None,
    stop_loss: Decimal | None,
    side: str = "buy",
    entry_type: str = "market",
    limit_price: Decimal | None = None,
    stop_loss_limit: Decimal | None = None,
    time_in_force: str = "day",
    idempotency_key: str | None = None,
    agent_kind: str | None = None,
    agent_id: int | None = None,
    limits: RiskLimits | None = None,
) -> Order:
    """Place a bracket: the entry order (returned; see `view` for its children), filled, resting or rejected.

    The entry may use any time in force; an ioc or fok entry that buys nothing cancels its children at once.
    """
    key = idempotency_key or None
    broker.lock_account(session, user_id)
    if key is not None and (existing := broker.order_by_key(session, user_id, key)) is not None:
        return existing
    symbol = symbol.strip().upper()[:16]
    tp, sl = _price(take_profit, "take_profit", "sell"), _price(stop_loss, "stop_loss", "sell", stop=True)
    sl_limit = _price(stop_loss_limit, "stop_loss_limit", "sell")
    limit = None if limit_price is None else cents_down(triggers.price(limit_price, "limit_price") or Decimal(0))
    quote = broker.quote(symbol, broker.now())
    reason = _bracket_problem(side, entry_type, limit, tp, sl, sl_limit, None if quote is None else quote.ask)
    if reason is not None:
        return _rejected(
            broker,
            session,
            user_id,
            "bracket",
            reason,
            symbol=symbol,
            side=side,
            quantity=quantity,
            order_type=entry_type,
            limit_price=limit,
            time_in_force=time_in_force,
            idempotency_key=key,
            agent_kind=agent_kind,
            agent_id=agent_id,
        )
    entry = broker.place_order(
        session,
        user_id,
        symbol=symbol,
        side="buy",
        quantity=quantity,
        order_type=entry_type,
        limit_price=limit,
        time_in_force=time_in_force,
        idempotency_key=key,
        agent_kind=agent_kind,
        agent_id=agent_id,
        limits=limits,
    )
    entry.order_class = "bracket"
    if entry.status == "rejected":
        session.flush()
        return entry
    assert tp is not None and sl is not None
    note = f"held until its bracket entry order {entry.id} fills"
    profit = _exit(broker, entry, "limit", limit_price=tp, status=HELD, reason=note, parent_id=entry.id)
    session.add(profit)
    session.flush()
    kind = "stop" if sl_limit is None else "stop_limit"
    loss = _exit(broker, entry, kind, limit_price=sl_limit, stop_price=sl, status=HELD, reason=note, parent_id=entry.id)
    profit.oco_group = loss.oco_group = profit.id
    session.add(loss)
    session.flush()
    if not entry.is_open:  # filled at once, or an ioc/fok entry that is already over
        entry_done(session, broker, entry)
    return entry


def place_oco(
    broker: Broker,
    session: Session,
    user_id: int,
    *,
    symbol: str,
    quantity: int,
    take_profit: Decimal | None,
    stop_loss: Decimal | None,
    stop_loss_limit: Decimal | None = None,
    time_in_force: str = "gtc",
    idempotency_key: str | None = None,
    agent_kind: str | None = None,
    agent_id: int | None = None,
    limits: RiskLimits | None = None,
) -> Order:
    """Place an OCO exit on shares held: a take-profit sell limit (returned) and a stop-loss sell stop, sharing them.

    Both must be away from the bid (the take-profit above, the stop-loss below), so neither fills when placed.
    """
    key = idempotency_key or None
    broker.lock_account(session, user_id)
    if key is not None and (existing := broker.order_by_key(session, user_id, key)) is not None:
        return existing
    symbol = symbol.strip().upper()[:16]
    tp, sl = _price(take_profit, "take_profit", "sell"), _price(stop_loss, "stop_loss", "sell", stop=True)
    sl_limit = _price(stop_loss_limit, "stop_loss_limit", "sell")
    quote = broker.quote(symbol, broker.now())
    reason = _oco_problem(tp, sl, sl_limit, time_in_force, None if quote is None else quote.bid)
    if reason is not None:
        return _rejected(
            broker,
            session,
            user_id,
            "oco",
            reason,
            symbol=symbol,
            side="sell",
            quantity=quantity,
            order_type="limit",
            limit_price=tp,
            time_in_force=time_in_force,
            idempotency_key=key,
            agent_kind=agent_kind,
            agent_id=agent_id,
        )
    profit = broker.place_order(
        session,
        user_id,
        symbol=symbol,
        side="sell",
        quantity=quantity,
        order_type="limit",
        limit_price=tp,
        time_in_force=time_in_force,
        idempotency_key=key,
        agent_kind=agent_kind,
        agent_id=agent_id,
        limits=limits,
    )
    profit.order_class = "oco"
    if not profit.is_open:  # rejected (shares not held, a risk limit, unknown symbol)
        session.flush()
        return profit
    profit.oco_group = profit.id
    assert sl is not None
    kind = "stop" if sl_limit is None else "stop_limit"
    loss = _exit(broker, profit, kind, limit_price=sl_limit, stop_price=sl, status=profit.status, reason=profit.reason)
    loss.time_in_force, loss.oco_group = profit.time_in_force, profit.id
    session.add(loss)
    session.flush()
    return profit


def place_exits(
    broker: Broker,
    session: Session,
    user_id: int,
    *,
    symbol: str,
    side: str,
    quantity: int,
    order_type: str,
    take_profit: Decimal | None,
    stop_loss: Decimal | None,
    limit_price: Decimal | None = None,
    time_in_force: str = "day",
    other_prices: bool = False,
    idempotency_key: str | None = None,
    agent_kind: str | None = None,
    agent_id: int | None = None,
    limits: RiskLimits | None = None,
) -> Order:
    """OrderEntry with take_profit or stop_loss: a bracket on a buy, an OCO exit on a sell.

    `other_prices` says the call also gave a stop or trail, which neither takes (a rejected order says so).
    """
    common: dict[str, Any] = {
        "symbol": symbol,
        "quantity": quantity,
        "take_profit": take_profit,
        "stop_loss": stop_loss,
        "time_in_force": time_in_force,
        "idempotency_key": idempotency_key,
        "agent_kind": agent_kind,
        "agent_id": agent_id,
        "limits": limits,
    }
    if side == "buy" and not other_prices:
        return place_bracket(broker, session, user_id, entry_type=order_type, limit_price=limit_price, **common)
    if side == "sell" and not other_prices and limit_price is None and order_type in ENTRY_TYPES:
        return place_oco(broker, session, user_id, **common)
    reason = (
        "a bracket's entry is a market or limit order: leave out stop_price, trail_amount and trail_percent"
        if side == "buy"
        else "an OCO exit sets its own prices: give take_profit and stop_loss only (no order_type, limit_price, "
        "stop_price or trail)"
    )
    return _rejected(
        broker,
        session,
        user_id,
        "bracket" if side == "buy" else "oco",
        reason,
        symbol=symbol.strip().upper()[:16],
        side=side,
        quantity=quantity,
        order_type=order_type,
        limit_price=None,
        time_in_force=time_in_force,
        idempotency_key=idempotency_key or None,
        agent_kind=agent_kind,
        agent_id=agent_id,
    )


def _exit(
    broker: Broker,
    parent: Order,
    order_type: str,
    *,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
    status: str,
    reason: str | None,
    parent_id: int | None = None,
) -> Order:
    """A sell exit for `parent`'s shares (a bracket's child, or an OCO's second leg), gtc, of `parent`'s class."""
    return Order(
        user_id=parent.user_id,
        agent_kind=parent.agent_kind,
        agent_id=parent.agent_id,
        symbol=parent.symbol,
        side="sell",
        quantity=parent.quantity,
        order_type=order_type,
        limit_price=limit_price,
        stop_price=stop_price,
        time_in_force="gtc",
        status=status,
        reason=reason,
        created_at=broker.now(),
        order_class=parent.order_class,
        parent_id=parent_id,
    )


def _rejected(broker: Broker, session: Session, user_id: int, order_class: str, reason: str, **fields: Any) -> Order:
    """Store a bracket or OCO refused before anything was placed, as a rejected order the agent can read."""
    quantity = fields["quantity"]
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise ValueError(f"quantity must be an int number of shares (got {quantity!r})")
    if fields["side"] not in ("buy", "sell"):
        raise ValueError(f"side must be one of buy, sell (got {fields['side']!r})")
    order = Order(
        user_id=user_id, status="rejected", reason=reason, order_class=order_class, created_at=broker.now(), **fields
    )
    session.add(order)
    session.flush()
    return order


def _price(value: Decimal | float | None, label: str, side: str, *, stop: bool = False) -> Decimal | None:
    """A price argument in cents, rounded in the owner's favour (a sell's limit up, a sell's stop down)."""
    amount = triggers.price(value, label)
    if amount is None:
        return None
    return cents_down(amount) if stop or side == "buy" else cents_up(amount)


def _bracket_problem(
    side: str,
    entry_type: str,
    limit: Decimal | None,
    tp: Decimal | None,
    sl: Decimal | None,
    sl_limit: Decimal | None,
    ask: Decimal | None,
) -> str | None:
    """Why a bracket cannot be placed, or None (an unknown symbol is left for the broker to reject)."""
    if side != "buy":
        return (
            "a bracket's entry must be a buy (short selling is not allowed); to exit shares you hold, sell with "
            "take_profit and stop_loss (an OCO exit)"
        )
    if tp is None or sl is None:
        return (
            "a bracket needs both take_profit (the sell limit above the entry price) and stop_loss (the sell stop "
            f"below it); {'take_profit' if tp is None else 'stop_loss'} is missing"
        )
    if entry_type not in ENTRY_TYPES:
        return f"a bracket's entry is a market or limit order (got {entry_type})"
    if entry_type == "limit" and (limit is None or limit <= 0):
        return "a limit entry needs a limit_price above $0.00"
    if entry_type == "market" and limit is not None:
        return "limit_price applies only to a limit entry; leave it out for a market entry"
    if sl <= 0 or (sl_limit is not None and sl_limit <= 0):
        return "stop_loss must be above $0.00"
    reference = limit if limit is not None else ask
    if reference is None:
        return None
    what = "its limit price" if limit is not None else "the ask"
    if tp <= reference:
        return f"take_profit {dollars(tp)} must be above the entry's price {dollars(reference)} ({what})"
    if sl >= reference:
        return f"stop_loss {dollars(sl)} must be below the entry's price {dollars(reference)} ({what})"
    return None


def _oco_problem(
    tp: Decimal | None, sl: Decimal | None, sl_limit: Decimal | None, time_in_force: str, bid: Decimal | None
) -> str | None:
    """Why an OCO exit cannot be placed, or None (an unknown symbol or shares not held are the broker's to reject)."""
    if tp is None or sl is None:
        return (
            "an OCO exit needs both take_profit (a sell limit above the bid) and stop_loss (a sell stop below it); "
            f"{'take_profit' if tp is None else 'stop_loss'} is missing"
        )
    if time_in_force not in _STEADY:
        return f"an OCO exit rests until one leg fills: use time_in_force day or gtc (got {time_in_force})"
    if sl <= 0 or (sl_limit is not None and sl_limit <= 0):
        return "stop_loss must be above $0.00"
    if bid is not None and tp <= bid:
        return f"take_profit {dollars(tp)} must be above the bid {dollars(bid)} (else sell now with a plain order)"
    if bid is not None and sl >= bid:
        return f"stop_loss {dollars(sl)} must be below the bid {dollars(bid)} (else sell now with a plain order)"
    return None
