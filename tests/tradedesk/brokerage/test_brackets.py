"""Bracket and OCO orders on a replayed price path of 1-minute bars, worked minute by minute by the exchange tick.

The spread is zero: the bid is the close and the ask a cent above. Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from agentrecord.testing import ScriptedModel, call, scripted
from tests.tradedesk.brokerage import START, act, new_user, order, path_broker
from tradedesk.agents.models import Daytrader
from tradedesk.brokerage import brackets, services
from tradedesk.brokerage.accounts import Order
from tradedesk.brokerage.broker import Broker, RiskLimits
from tradedesk.brokerage.exchange import tick
from tradedesk.market import ManualClock, SimulatedMarket
from tradedesk.users import User

D = Decimal


def bracket(db: Engine, broker: Broker, user: int, **kwargs: Any) -> Order:
    args: dict[str, Any] = {"symbol": "ACME", "quantity": 10, "take_profit": D("110"), "stop_loss": D("95")}
    placed: Order = act(db, lambda s: brackets.place_bracket(broker, s, user, **(args | kwargs)))
    return placed


def oco(db: Engine, broker: Broker, user: int, **kwargs: Any) -> Order:
    args: dict[str, Any] = {"symbol": "ACME", "quantity": 10, "take_profit": D("110"), "stop_loss": D("95")}
    placed: Order = act(db, lambda s: brackets.place_oco(broker, s, user, **(args | kwargs)))
    return placed


def orders(db: Engine, broker: Broker, user: int) -> dict[int, Order]:
    return {o.id: o for o in act(db, lambda s: broker.orders(s, user, limit=100))}


def children(db: Engine, broker: Broker, user: int, entry_id: int) -> list[Order]:
    return sorted((o for o in orders(db, broker, user).values() if o.parent_id == entry_id), key=lambda o: o.id)


def minute(db: Engine, broker: Broker, clock: ManualClock, minutes: int = 1) -> None:
    clock.advance(timedelta(minutes=minutes))
    tick(db, broker=broker)


def book(db: Engine, broker: Broker, user: int) -> tuple[Decimal, Decimal, int]:
    held = act(db, lambda s: broker.portfolio(s, user))
    return held.cash, held.buying_power, sum(h.quantity for h in held.positions)


def test_a_filled_bracket_entry_sets_both_children_working_and_the_take_profit_cancels_the_stop(
    db: Engine, clock: ManualClock
) -> None:
    broker = path_broker(clock, ["100", "100", "104", "111", "90"])
    user = new_user(db)
    entry = bracket(db, broker, user)
    assert (entry.status, entry.order_class, entry.fill_price) == ("filled", "bracket", D("100.01"))
    profit, loss = children(db, broker, user, entry.id)
    assert (profit.order_type, profit.limit_price, profit.status, profit.quantity) == ("limit", D("110"), "new", 10)
    assert (loss.order_type, loss.stop_price, loss.status, loss.quantity) == ("stop", D("95"), "new", 10)
    assert profit.is_open and loss.is_open and profit.time_in_force == loss.time_in_force == "gtc"
    assert profit.oco_group == loss.oco_group == profit.id
    minute(db, broker, clock, 2)  # 104: neither
    assert all(o.is_open for o in children(db, broker, user, entry.id))
    minute(db, broker, clock)  # 111: through the take-profit
    profit, loss = children(db, broker, user, entry.id)
    assert (profit.status, profit.fill_price) == ("filled", D("111"))
    assert loss.status == "cancelled" and f"sibling order {profit.id} filled" in (loss.reason or "")
    minute(db, broker, clock)  # 90: the cancelled stop stays cancelled
    assert children(db, broker, user, entry.id)[1].status == "cancelled"
    assert book(db, broker, user) == (START - D("1000.10") + D("1110"), START - D("1000.10") + D("1110"), 0)


def test_a_gap_down_through_the_stop_loss_fills_it_at_the_gapped_bid_and_cancels_the_take_profit(
    db: Engine, clock: ManualClock
) -> None:
    broker = path_broker(clock, ["100", "100", "99", "90", "120"])
    user = new_user(db)
    entry = bracket(db, broker, user)
    minute(db, broker, clock, 2)  # 99: above the stop
    assert all(o.is_open for o in children(db, broker, user, entry.id))
    minute(db, broker, clock)  # 90: gapped through 95
    profit, loss = children(db, broker, user, entry.id)
    assert (loss.status, loss.fill_price) == ("filled", D("90.00"))
    assert profit.status == "cancelled" and f"sibling order {loss.id} filled" in (profit.reason or "")
    minute(db, broker, clock)  # 120: the take-profit would have filled, had it not been cancelled
    assert children(db, broker, user, entry.id)[0].status == "cancelled"
    assert book(db, broker, user)[2] == 0


def test_a_resting_limit_entry_holds_its_children_until_a_later_tick_fills_it(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100", "98", "96", "97"])
    user = new_user(db)
    entry = bracket(db, broker, user, entry_type="limit", limit_price=D("97"), take_profit=D("105"))
    assert entry.is_open
    held = children(db, broker, user, entry.id)
    assert [o.status for o in held] == ["held", "held"] and not any(o.is_open for o in held)
    assert book(db, broker, user) == (START, START - D("970"), 0)  # the entry's cash only: held children reserve none
    minute(db, broker, clock, 2)  # ask 98.01: above the limit
    assert [o.status for o in children(db, broker, user, entry.id)] == ["held", "held"]
    minute(db, broker, clock)  # ask 96.01
    filled = orders(db, broker, user)[entry.id]
    assert (filled.status, filled.fill_price) == ("filled", D("96.01"))
    profit, loss = children(db, broker, user, entry.id)
    assert (profit.status, loss.status, profit.quantity, loss.quantity) == ("new", "new", 10, 10)
    assert profit.reason is None and loss.reason is None


def test_cancelling_a_resting_entry_cancels_its_held_children(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100"])
    user = new_user(db)
    entry = bracket(db, broker, user, entry_type="limit", limit_price=D("97"), take_profit=D("105"))
    act(db, lambda s: broker.cancel_order(s, user, entry.id))
    held = children(db, broker, user, entry.id)
    assert [o.status for o in held] == ["cancelled", "cancelled"]
    assert all(f"entry order {entry.id} was cancelled" in (o.reason or "") for o in held)
    assert book(db, broker, user) == (START, START, 0)


def test_an_entry_expiring_unfilled_or_an_ioc_entry_that_cannot_fill_cancels_its_children(
    db: Engine, clock: ManualClock
) -> None:
    broker = path_broker(clock, ["100", "100"])
    user = new_user(db)
    day = bracket(db, broker, user, entry_type="limit", limit_price=D("97"), take_profit=D("105"))
    ioc = bracket(db, broker, user, entry_type="limit", limit_price=D("97"), take_profit=D("105"), time_in_force="ioc")
    assert ioc.status == "cancelled"
    assert [o.status for o in children(db, broker, user, ioc.id)] == ["cancelled", "cancelled"]
    clock.advance(timedelta(hours=10))  # past 00:00 UTC: AlwaysOpen's session closed
    tick(db, broker=broker)
    assert orders(db, broker, user)[day.id].status == "expired"
    assert [o.status for o in children(db, broker, user, day.id)] == ["cancelled", "cancelled"]


def test_cancelling_a_held_exit_drops_both_exits_and_leaves_the_entry_working(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100", "96"])
    user = new_user(db)
    entry = bracket(db, broker, user, entry_type="limit", limit_price=D("97"), take_profit=D("105"))
    profit, _ = children(db, broker, user, entry.id)
    act(db, lambda s: broker.cancel_order(s, user, profit.id))
    assert [o.status for o in children(db, broker, user, entry.id)] == ["cancelled", "cancelled"]
    minute(db, broker, clock, 2)  # ask 96.01: the entry fills, with no exits left to work
    assert orders(db, broker, user)[entry.id].status == "filled"
    assert [o.status for o in children(db, broker, user, entry.id)] == ["cancelled", "cancelled"]
    assert book(db, broker, user)[2] == 10


def test_cancelling_one_working_exit_cancels_its_sibling(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100"])
    user = new_user(db)
    entry = bracket(db, broker, user)
    profit, loss = children(db, broker, user, entry.id)
    act(db, lambda s: broker.cancel_order(s, user, loss.id))
    profit, loss = children(db, broker, user, entry.id)
    assert loss.status == profit.status == "cancelled"
    assert f"with its OCO sibling order {loss.id}" in (profit.reason or "")
    assert book(db, broker, user)[2] == 10  # the shares stay, now free to sell
    assert order(db, broker, user, symbol="ACME", side="sell", quantity=10).status == "filled"


def test_an_oco_exit_reserves_its_shares_once_and_a_third_sell_of_them_is_rejected(
    db: Engine, clock: ManualClock
) -> None:
    broker = path_broker(clock, ["100", "100", "112"])
    user = new_user(db)
    order(db, broker, user, symbol="ACME", side="buy", quantity=10)
    profit = oco(db, broker, user)
    assert (profit.status, profit.order_class, profit.limit_price) == ("new", "oco", D("110"))
    [loss] = [o for o in orders(db, broker, user).values() if o.oco_group == profit.id and o.id != profit.id]
    assert (loss.status, loss.order_type, loss.stop_price, loss.quantity) == ("new", "stop", D("95"), 10)
    third = order(db, broker, user, symbol="ACME", side="sell", quantity=1)
    assert third.status == "rejected" and "only 10 held (10 already in open sell orders)" in (third.reason or "")
    minute(db, broker, clock, 2)  # 112
    now = orders(db, broker, user)
    assert (now[profit.id].status, now[profit.id].fill_price, now[loss.id].status) == ("filled", D("112"), "cancelled")


def test_an_oco_exit_on_shares_not_held_or_with_the_stop_above_the_bid_is_rejected(
    db: Engine, clock: ManualClock
) -> None:
    broker = path_broker(clock, ["100", "100"])
    user = new_user(db)
    unheld = oco(db, broker, user)
    assert unheld.status == "rejected" and "cannot sell 10 ACME: only 0 held" in (unheld.reason or "")
    order(db, broker, user, symbol="ACME", side="buy", quantity=10)
    high = oco(db, broker, user, stop_loss=D("101"))
    assert high.status == "rejected" and "stop_loss $101.00 must be below the bid $100.00" in (high.reason or "")
    one = oco(db, broker, user, take_profit=None)
    assert one.status == "rejected" and "take_profit is missing" in (one.reason or "")
    assert len(orders(db, broker, user)) == 4  # one row per refusal, no legs
    assert book(db, broker, user)[1] == book(db, broker, user)[0]  # nothing reserved


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({"take_profit": D("99")}, "take_profit $99.00 must be above the entry's price $100.01 (the ask)"),
        ({"stop_loss": D("100.50")}, "stop_loss $100.50 must be below the entry's price $100.01 (the ask)"),
        (
            {"entry_type": "limit", "limit_price": D("90")},
            "stop_loss $95.00 must be below the entry's price $90.00 (its limit price)",
        ),
        ({"side": "sell"}, "a bracket's entry must be a buy (short selling is not allowed)"),
        ({"stop_loss": None}, "stop_loss is missing"),
        ({"take_profit": None}, "take_profit is missing"),
        ({"entry_type": "stop"}, "a bracket's entry is a market or limit order (got stop)"),
    ],
)
def test_an_invalid_bracket_is_a_rejected_order_with_its_reason_and_places_nothing(
    db: Engine, clock: ManualClock, arguments: dict[str, Any], reason: str
) -> None:
    broker = path_broker(clock, ["100", "100"])
    user = new_user(db)
    refused = bracket(db, broker, user, **arguments)
    assert (refused.status, refused.order_class) == ("rejected", "bracket")
    assert reason in (refused.reason or "")
    assert list(orders(db, broker, user)) == [refused.id]
    assert book(db, broker, user) == (START, START, 0)


def test_the_same_key_twice_is_one_bracket(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100"])
    user = new_user(db)
    first = bracket(db, broker, user, idempotency_key="call-1")
    again = bracket(db, broker, user, idempotency_key="call-1", quantity=99)
    assert again.id == first.id and len(orders(db, broker, user)) == 3
    assert book(db, broker, user)[2] == 10


def test_a_bracket_and_an_oco_exit_each_count_as_one_order_toward_the_agents_daily_limit(
    db: Engine, clock: ManualClock
) -> None:
    broker = path_broker(clock, ["100", "100"])
    user = new_user(db)
    limits = RiskLimits(max_orders_per_day=3)
    agent = {"agent_kind": "daytrader", "agent_id": 1, "limits": limits}
    assert bracket(db, broker, user, **agent).status == "filled"
    assert oco(db, broker, user, **agent).status == "rejected"  # the bracket's exits hold the shares: not counted
    assert order(db, broker, user, symbol="ACME", side="buy", quantity=10, **agent).status == "filled"
    assert oco(db, broker, user, **agent).status == "new"
    assert len(orders(db, broker, user)) == 7  # 3 of the bracket, a rejected oco, the buy, 2 of the oco
    refused = bracket(db, broker, user, **agent)
    assert refused.status == "rejected" and "already placed 3 orders today" in (refused.reason or "")


def test_another_user_cannot_see_or_cancel_a_bracket(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100"])
    owner, intruder = new_user(db), new_user(db)
    entry = bracket(db, broker, owner, entry_type="limit", limit_price=D("97"), take_profit=D("105"))
    with pytest.raises(LookupError, match=f"no order {entry.id}"):
        act(db, lambda s: broker.cancel_order(s, intruder, entry.id))
    assert orders(db, broker, intruder) == {}
    assert [o.status for o in children(db, broker, owner, entry.id)] == ["held", "held"]


# -- through an agent's turn -------------------------------------------------------------------------

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


@pytest.fixture
def tools_market() -> Iterator[SimulatedMarket]:
    """The tools' market, frozen at NOW (a Wednesday, during the session)."""
    market = SimulatedMarket(seed=7, clock=lambda: NOW)
    services.use_market(market)
    yield market
    services.use_market(None)


def talk(engine: Engine, trader_id: int, steps: list[object]) -> Any:
    with scripted(Daytrader, ScriptedModel(steps)), Session(engine) as session:  # type: ignore[arg-type]
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        return trader.talk("go")


def results(reply: Any) -> list[dict[str, Any]]:
    return [p.content for m in reply.messages for p in getattr(m, "parts", []) if p.part_kind == "tool-return"]


def test_order_entry_with_take_profit_and_stop_loss_places_a_bracket_and_one_whose_largest_leg_is_large_waits(
    db: Engine, tools_market: SimulatedMarket
) -> None:
    with Session(db) as session:
        trader = Daytrader(user=User(email="alice@example.com"), provider="openai")
        session.add(trader)
        session.commit()
        trader_id, user_id = trader.id, trader.user_id
    ask = tools_market.quote("KO").ask
    tp, sl = float(ask + 5), float(ask - 5)
    small = call("order_entry", symbol="KO", side="buy", quantity=10, take_profit=tp, stop_loss=sl)
    [view] = results(talk(db, trader_id, [small, "ok"]))
    assert (view["status"], view["order_class"], view["fill_price"]) == ("filled", "bracket", float(ask))
    legs = view["children"]
    assert [(c["order_type"], c["status"], c["quantity"]) for c in legs] == [
        ("limit", "new", 10),
        ("stop", "new", 10),
    ]
    assert (legs[0]["limit_price"], legs[1]["stop_price"]) == (tp, sl)
    half = call("order_entry", symbol="KO", side="buy", quantity=10, take_profit=tp)
    [refused] = results(talk(db, trader_id, [half, "ok"]))
    assert refused["status"] == "rejected" and "stop_loss is missing" in refused["reason"]
    exit_ = call("order_entry", symbol="KO", side="sell", quantity=10, take_profit=tp, stop_loss=sl)
    [pair] = results(talk(db, trader_id, [exit_, "ok"]))
    assert (pair["status"], pair["order_class"]) == ("rejected", "oco")  # the bracket's own exits hold the shares
    assert "10 already in open sell orders" in pair["reason"]
    quantity = int(10_000 / (ask + 5)) + 1  # the entry under the $10,000 threshold, its take-profit leg above it
    assert quantity * ask < 10_000 < quantity * (ask + 5)
    big = call("order_entry", symbol="KO", side="buy", quantity=quantity, take_profit=tp, stop_loss=sl)
    reply = talk(db, trader_id, [big])
    assert [p.call_id for p in reply.pending] == [big.id]
    with Session(db) as session:
        assert len(services.broker().orders(session, user_id)) == 5  # 3 of the bracket, 2 rejected: none waiting
    with scripted(Daytrader, ScriptedModel(["Bought."])), Session(db) as session:
        owner = session.get(Daytrader, trader_id)
        assert owner is not None
        owner.approve(big.id)
    with Session(db) as session:
        [entry] = [o for o in services.broker().orders(session, user_id) if o.quantity == quantity and not o.parent_id]
        assert (entry.status, entry.order_class) == ("filled", "bracket")
        legs = brackets.view(entry)["children"]
        assert [(c["status"], c["quantity"]) for c in legs] == [("new", quantity), ("new", quantity)]


def test_order_entry_with_take_profit_and_stop_loss_on_a_sell_places_an_oco_exit_on_shares_held(
    db: Engine, tools_market: SimulatedMarket
) -> None:
    with Session(db) as session:
        trader = Daytrader(user=User(email="alice@example.com"), provider="openai")
        session.add(trader)
        session.commit()
        trader_id = trader.id
    bid = tools_market.quote("KO").bid
    tp, sl = float(bid + 3), float(bid - 3)
    steps = [
        call("order_entry", symbol="KO", side="buy", quantity=10),
        call("order_entry", symbol="KO", side="sell", quantity=10, take_profit=tp, stop_loss=sl, time_in_force="gtc"),
        call("order_entry", symbol="KO", side="sell", quantity=10, take_profit=tp, stop_loss=sl, limit_price=tp),
        call("order_entry", symbol="KO", side="buy", quantity=10, stop_loss=sl, order_type="stop", stop_price=tp),
        "ok",
    ]
    _, pair, priced, stop_entry = results(talk(db, trader_id, steps))
    assert (pair["status"], pair["order_class"], pair["order_type"], pair["limit_price"]) == (
        "new",
        "oco",
        "limit",
        tp,
    )
    [leg] = pair["oco_with"]
    assert (leg["order_type"], leg["stop_price"], leg["status"], leg["quantity"]) == ("stop", sl, "new", 10)
    assert priced["status"] == "rejected" and "an OCO exit sets its own prices" in priced["reason"]
    assert stop_entry["status"] == "rejected" and "leave out stop_price" in stop_entry["reason"]
