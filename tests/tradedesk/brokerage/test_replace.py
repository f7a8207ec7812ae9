"""Cancel and replace of an open order: one step, the reservation moves, a refused replacement changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine

from tests.tradedesk.brokerage import START, act, new_user, order
from tradedesk.brokerage.broker import Broker, BrokerError, OrderNotFound
from tradedesk.brokerage.replace import replace_order
from tradedesk.market import ManualClock

D = Decimal


def test_replacing_a_resting_limit_buy_cancels_it_and_moves_its_reservation_to_the_new_order(
    db: Engine, broker: Broker, clock: ManualClock
) -> None:
    user = new_user(db)
    ask = broker.market.quote("KO").ask
    low = ask - D("5")
    resting = order(
        db, broker, user, symbol="KO", side="buy", quantity=10, order_type="limit", limit_price=low, time_in_force="gtc"
    )
    assert resting.status == "new"
    new = act(db, lambda s: replace_order(broker, s, user, resting.id, quantity=20, limit_price=low - 1))
    assert (new.status, new.quantity, new.limit_price, new.time_in_force) == ("new", 20, low - 1, "gtc")
    orders = {o.id: o for o in act(db, lambda s: broker.orders(s, user))}
    assert (orders[resting.id].status, orders[resting.id].reason) == ("cancelled", f"replaced by order {new.id}")
    assert act(db, lambda s: broker.portfolio(s, user)).buying_power == START - (low - 1) * 20


def test_a_replacement_that_is_marketable_fills_at_once(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    ask = broker.market.quote("KO").ask
    resting = order(db, broker, user, symbol="KO", side="buy", quantity=3, order_type="limit", limit_price=ask - 5)
    new = act(db, lambda s: replace_order(broker, s, user, resting.id, limit_price=ask + 1))
    assert (new.status, new.fill_price) == ("filled", ask)


def test_a_replaced_stop_keeps_its_type_with_the_new_stop(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    order(db, broker, user, symbol="KO", side="buy", quantity=5)
    bid = broker.market.quote("KO").bid
    stop = order(db, broker, user, symbol="KO", side="sell", quantity=5, order_type="stop", stop_price=bid - 3)
    new = act(db, lambda s: replace_order(broker, s, user, stop.id, stop_price=bid - 2))
    assert (new.order_type, new.status, new.stop_price, new.quantity) == ("stop", "new", bid - 2, 5)


def test_a_replacement_the_broker_would_reject_leaves_the_old_order_open_and_nothing_new(
    db: Engine, broker: Broker
) -> None:
    user = new_user(db)
    ask = broker.market.quote("KO").ask
    resting = order(db, broker, user, symbol="KO", side="buy", quantity=10, order_type="limit", limit_price=ask - 5)
    with pytest.raises(BrokerError, match=r"was not replaced .* insufficient cash"):
        act(db, lambda s: replace_order(broker, s, user, resting.id, quantity=1_000_000))
    [still] = act(db, lambda s: broker.orders(s, user))
    assert (still.id, still.status, still.quantity, still.reason) == (resting.id, "new", 10, None)


def test_only_the_owners_open_orders_can_be_replaced(db: Engine, broker: Broker) -> None:
    alice, bob = new_user(db), new_user(db)
    filled = order(db, broker, alice, symbol="KO", side="buy", quantity=1)
    with pytest.raises(BrokerError, match="is filled; only open orders can be replaced"):
        act(db, lambda s: replace_order(broker, s, alice, filled.id, quantity=2))
    with pytest.raises(OrderNotFound):
        act(db, lambda s: replace_order(broker, s, bob, filled.id, quantity=2))
