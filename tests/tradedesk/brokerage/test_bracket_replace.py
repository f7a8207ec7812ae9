"""Cancel and replace of a bracket's entry and exits, and of an OCO leg: the orders stay joined, on both databases."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine

from tests.tradedesk.brokerage import START, act, new_user, order
from tests.tradedesk.brokerage.test_brackets import book, bracket, children, minute, oco, orders, path_broker
from tradedesk.brokerage.broker import BrokerError
from tradedesk.brokerage.replace import replace_order
from tradedesk.market import ManualClock

D = Decimal


def test_replacing_a_resting_entry_moves_its_held_exits_to_the_new_entry(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100", "98.50", "98"])
    user = new_user(db)
    old = bracket(db, broker, user, entry_type="limit", limit_price=D("97"), take_profit=D("105"))
    new = act(db, lambda s: replace_order(broker, s, user, old.id, limit_price=D("98.10")))
    assert (new.status, new.order_class, new.limit_price) == ("new", "bracket", D("98.10"))
    now = orders(db, broker, user)
    assert (now[old.id].status, now[old.id].reason) == ("cancelled", f"replaced by order {new.id}")
    assert children(db, broker, user, old.id) == []
    assert [o.status for o in children(db, broker, user, new.id)] == ["held", "held"]
    assert book(db, broker, user)[1] == START - D("981")  # only the new entry's cash is reserved
    minute(db, broker, clock, 2)  # ask 98.51: above the new limit
    minute(db, broker, clock)  # ask 98.01: fills
    assert orders(db, broker, user)[new.id].status == "filled"
    assert [o.status for o in children(db, broker, user, new.id)] == ["new", "new"]


def test_an_entry_limit_moved_past_an_exit_is_refused_and_nothing_changes(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100"])
    user = new_user(db)
    old = bracket(db, broker, user, entry_type="limit", limit_price=D("97"), take_profit=D("105"))
    with pytest.raises(BrokerError, match=r"the entry's limit \$94.00 must stay above its stop-loss"):
        act(db, lambda s: replace_order(broker, s, user, old.id, limit_price=D("94")))
    assert orders(db, broker, user)[old.id].is_open
    assert [o.status for o in children(db, broker, user, old.id)] == ["held", "held"]


def test_raising_a_working_stop_loss_keeps_it_one_cancels_other_with_the_take_profit(
    db: Engine, clock: ManualClock
) -> None:
    broker = path_broker(clock, ["100", "100", "101", "98"])
    user = new_user(db)
    entry = bracket(db, broker, user)
    profit, loss = children(db, broker, user, entry.id)
    raised = act(db, lambda s: replace_order(broker, s, user, loss.id, stop_price=D("99")))
    assert (raised.status, raised.stop_price, raised.oco_group, raised.parent_id) == (
        "new",
        D("99"),
        profit.id,
        entry.id,
    )
    assert orders(db, broker, user)[loss.id].reason == f"replaced by order {raised.id}"
    sell = order(db, broker, user, symbol="ACME", side="sell", quantity=1)
    assert sell.status == "rejected"  # the pair still holds the 10 shares, once
    minute(db, broker, clock, 2)  # 101
    minute(db, broker, clock)  # 98: through the raised stop
    now = orders(db, broker, user)
    assert (now[raised.id].status, now[raised.id].fill_price) == ("filled", D("98"))
    assert now[profit.id].status == "cancelled" and now[loss.id].status == "cancelled"


def test_an_exits_quantity_or_a_price_it_does_not_have_cannot_be_replaced(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100"])
    user = new_user(db)
    entry = bracket(db, broker, user)
    profit, loss = children(db, broker, user, entry.id)
    with pytest.raises(BrokerError, match="its quantity is the shares it protects"):
        act(db, lambda s: replace_order(broker, s, user, profit.id, quantity=5))
    with pytest.raises(BrokerError, match="is a take-profit: it has no stop_price"):
        act(db, lambda s: replace_order(broker, s, user, profit.id, stop_price=D("90")))
    with pytest.raises(BrokerError, match="is a stop-loss: it has no limit_price"):
        act(db, lambda s: replace_order(broker, s, user, loss.id, limit_price=D("90")))
    assert [o.status for o in children(db, broker, user, entry.id)] == ["new", "new"]


def test_replacing_an_oco_take_profit_keeps_the_pair(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100", "106"])
    user = new_user(db)
    order(db, broker, user, symbol="ACME", side="buy", quantity=10)
    profit = oco(db, broker, user)
    lower = act(db, lambda s: replace_order(broker, s, user, profit.id, limit_price=D("105")))
    assert (lower.status, lower.order_class, lower.oco_group) == ("new", "oco", profit.id)
    minute(db, broker, clock, 2)  # 106: through the new take-profit
    legs = [o for o in orders(db, broker, user).values() if o.oco_group == profit.id]
    assert sorted(o.status for o in legs) == ["cancelled", "cancelled", "filled"]
    assert book(db, broker, user)[2] == 0
