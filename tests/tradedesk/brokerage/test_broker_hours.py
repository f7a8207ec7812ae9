"""The broker keeps the exchange's hours: orders fill only in a session, day orders die at their session's close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from tests.tradedesk.brokerage import START, T0, act, new_user, order
from tradedesk.brokerage.broker import MARKET_COLLAR, Broker
from tradedesk.market import ManualClock, SimulatedMarket
from tradedesk.market.calendar import NYSE, AlwaysOpen
from tradedesk.market.money import cents_up

AFTER_CLOSE = datetime(2025, 3, 3, 22, 0, tzinfo=UTC)  # Monday, 17:00 New York
NEXT_OPEN = datetime(2025, 3, 4, 14, 30, tzinfo=UTC)  # Tuesday, 9:30 New York


def test_a_market_buy_placed_after_the_close_rests_with_a_collar_and_fills_at_the_open(
    db: Engine, broker: Broker, clock: ManualClock
) -> None:
    user = new_user(db)
    clock.time = AFTER_CLOSE
    ask = broker.market.quote("KO").ask
    collar = cents_up(ask * (1 + MARKET_COLLAR))
    placed = order(db, broker, user, symbol="KO", side="buy", quantity=10)
    placed_as = (placed.status, placed.order_type, placed.limit_price, placed.fill_price)
    assert placed_as == ("accepted", "market", collar, None)
    assert "waits for the open (2025-03-04 14:30 UTC)" in (placed.reason or "")
    assert f"up to ${collar}" in (placed.reason or "")
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.cash == START and book.buying_power == START - 10 * collar

    clock.time = NEXT_OPEN - timedelta(minutes=1)
    assert act(db, lambda s: broker.work_orders(s, user)) == []
    clock.time = NEXT_OPEN
    opening = broker.market.quote("KO")
    assert opening.ask <= collar  # this seed's overnight move stays inside the collar
    [filled] = act(db, lambda s: broker.work_orders(s, user))
    assert (filled.id, filled.status, filled.fill_price, filled.filled_at) == (
        placed.id,
        "filled",
        opening.ask,
        NEXT_OPEN,
    )
    assert filled.reason is None
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.cash == book.buying_power == START - 10 * opening.ask


def overnight_gap(market: SimulatedMarket, symbol: str) -> tuple[datetime, datetime]:
    """The first evening (from T0's) after which `symbol` opens more than the collar above the evening's ask."""
    day = T0.date()
    for _ in range(1000):
        session = NYSE.session_on(day)
        day += timedelta(days=1)
        if session is None:
            continue
        evening = session.close + timedelta(hours=1)
        opening = NYSE.next_session(evening).open
        if market.quote(symbol, at=opening).ask > cents_up(market.quote(symbol, at=evening).ask * (1 + MARKET_COLLAR)):
            return evening, opening
    raise AssertionError(f"{symbol} never gapped up by more than the collar overnight; pick another symbol")


def test_a_queued_market_buy_does_not_fill_above_its_collar(db: Engine, broker: Broker, clock: ManualClock) -> None:
    """A gap above the collar leaves the order resting, as a limit order would: its reservation still covers it."""
    user = new_user(db)
    evening, opening = overnight_gap(SimulatedMarket(seed=11), "TSLA")
    clock.time = evening
    placed = order(db, broker, user, symbol="TSLA", side="buy", quantity=1, time_in_force="gtc")
    assert placed.status == "accepted" and placed.limit_price is not None
    clock.time = opening
    assert broker.market.quote("TSLA").ask > placed.limit_price
    assert act(db, lambda s: broker.work_orders(s, user)) == []
    assert act(db, lambda s: broker.portfolio(s, user)).buying_power == START - placed.limit_price


def test_a_queued_market_buy_must_be_affordable_at_its_collar(db: Engine, broker: Broker, clock: ManualClock) -> None:
    user = new_user(db)
    clock.time = AFTER_CLOSE
    ask = broker.market.quote("KO").ask
    act(db, lambda s: broker.open_account(s, user, cash=10 * ask))  # ten shares at the ask, not at the collar
    rejected = order(db, broker, user, symbol="KO", side="buy", quantity=10)
    assert rejected.status == "rejected"
    assert "insufficient cash" in (rejected.reason or "") and "the ask + 5%" in (rejected.reason or "")
    assert order(db, broker, user, symbol="KO", side="buy", quantity=9).status == "accepted"


def test_a_market_sell_placed_after_the_close_reserves_its_shares_and_fills_at_the_bid(
    db: Engine, broker: Broker, clock: ManualClock
) -> None:
    user = new_user(db)
    order(db, broker, user, symbol="XOM", side="buy", quantity=10)  # at T0, in the session
    clock.time = AFTER_CLOSE
    placed = order(db, broker, user, symbol="XOM", side="sell", quantity=10)
    assert (placed.status, placed.limit_price) == ("accepted", None)
    again = order(db, broker, user, symbol="XOM", side="sell", quantity=1)
    assert again.status == "rejected" and "(10 already in open sell orders)" in (again.reason or "")
    clock.time = NEXT_OPEN
    [filled] = act(db, lambda s: broker.work_orders(s, user))
    assert (filled.id, filled.fill_price) == (placed.id, broker.market.quote("XOM").bid)
    assert act(db, lambda s: broker.portfolio(s, user)).positions == []


def test_a_marketable_limit_order_waits_for_the_open(db: Engine, broker: Broker, clock: ManualClock) -> None:
    user = new_user(db)
    clock.time = AFTER_CLOSE
    limit = max(broker.market.quote("V").ask, broker.market.quote("V", at=NEXT_OPEN).ask) + 1  # marketable at both
    placed = order(db, broker, user, symbol="V", side="buy", quantity=2, order_type="limit", limit_price=limit)
    assert placed.status == "accepted" and "waits for the open" in (placed.reason or "")
    assert act(db, lambda s: broker.portfolio(s, user)).buying_power == START - 2 * limit
    clock.time = NEXT_OPEN
    [filled] = act(db, lambda s: broker.work_orders(s, user))
    assert (filled.id, filled.status, filled.fill_price) == (placed.id, "filled", broker.market.quote("V").ask)


def test_day_orders_expire_at_the_close_of_their_session_and_gtc_orders_stay(
    db: Engine, broker: Broker, clock: ManualClock
) -> None:
    user = new_user(db)
    low = (broker.market.quote("JNJ").ask / 2).quantize(Decimal("0.01"))
    day = order(db, broker, user, symbol="JNJ", side="buy", quantity=1, order_type="limit", limit_price=low)
    gtc = order(
        db, broker, user, symbol="JNJ", side="buy", quantity=1, order_type="limit", limit_price=low, time_in_force="gtc"
    )
    close = NYSE.next_session(T0).close
    assert close == datetime(2025, 3, 3, 21, 0, tzinfo=UTC)  # 16:00 New York (EST)
    clock.time = close - timedelta(seconds=1)
    assert act(db, lambda s: broker.work_orders(s, user)) == []
    clock.time = close
    [expired] = act(db, lambda s: broker.work_orders(s, user))
    assert (expired.id, expired.status) == (day.id, "expired")
    assert expired.reason == "day order expired unfilled at the close of its session (2025-03-03 21:00 UTC)"
    clock.advance(timedelta(days=30))
    assert [o.id for o in act(db, lambda s: broker.open_orders(s, user))] == [gtc.id]
    assert act(db, lambda s: broker.portfolio(s, user)).buying_power == START - low


def test_a_day_order_placed_while_closed_belongs_to_the_next_session(
    db: Engine, broker: Broker, clock: ManualClock
) -> None:
    user = new_user(db)
    clock.time = datetime(2025, 3, 8, 15, 0, tzinfo=UTC)  # a Saturday; the next session is Monday's, in EDT
    low = (broker.market.quote("PG").ask / 2).quantize(Decimal("0.01"))
    placed = order(db, broker, user, symbol="PG", side="buy", quantity=1, order_type="limit", limit_price=low)
    assert "waits for the open (2025-03-10 13:30 UTC)" in (placed.reason or "")
    for at in (datetime(2025, 3, 9, 12, tzinfo=UTC), datetime(2025, 3, 10, 19, 59, tzinfo=UTC)):
        clock.time = at
        assert act(db, lambda s: broker.work_orders(s, user)) == []
    clock.time = datetime(2025, 3, 10, 20, 0, tzinfo=UTC)  # 16:00 EDT
    assert [o.status for o in act(db, lambda s: broker.work_orders(s, user))] == ["expired"]


def test_a_day_order_on_an_early_close_day_expires_at_13_00(db: Engine, broker: Broker, clock: ManualClock) -> None:
    user = new_user(db)
    clock.time = datetime(2025, 11, 28, 15, 0, tzinfo=UTC)  # the day after Thanksgiving, 10:00 New York
    low = (broker.market.quote("KO").ask / 2).quantize(Decimal("0.01"))
    order(db, broker, user, symbol="KO", side="buy", quantity=1, order_type="limit", limit_price=low)
    clock.time = datetime(2025, 11, 28, 17, 59, tzinfo=UTC)
    assert act(db, lambda s: broker.work_orders(s, user)) == []
    clock.time = datetime(2025, 11, 28, 18, 0, tzinfo=UTC)  # 13:00 EST
    assert [o.status for o in act(db, lambda s: broker.work_orders(s, user))] == ["expired"]


def test_an_always_open_broker_fills_at_any_hour_and_expires_day_orders_at_00_00_utc(
    db: Engine, clock: ManualClock
) -> None:
    broker = Broker(SimulatedMarket(seed=11, clock=clock), calendar=AlwaysOpen())
    user = new_user(db)
    clock.time = datetime(2025, 3, 8, 3, 0, tzinfo=UTC)  # a Saturday night
    assert order(db, broker, user, symbol="KO", side="buy", quantity=1).status == "filled"
    low = (broker.market.quote("KO").ask / 2).quantize(Decimal("0.01"))
    order(db, broker, user, symbol="KO", side="buy", quantity=1, order_type="limit", limit_price=low)
    clock.time = datetime(2025, 3, 8, 23, 59, tzinfo=UTC)
    assert act(db, lambda s: broker.work_orders(s, user)) == []
    clock.time = datetime(2025, 3, 9, 0, 0, tzinfo=UTC)
    assert [o.status for o in act(db, lambda s: broker.work_orders(s, user))] == ["expired"]
