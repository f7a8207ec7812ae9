"""Partial fills and order states: an order larger than the shares displayed at the quote fills in pieces.

A replayed 1-minute price path with zero spread (bid = close, ask a cent above) and a fixed displayed size,
so each scenario knows exactly how many shares each minute offers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, select, update

from tests.tradedesk.brokerage import START, act, new_user, order, path_broker
from tradedesk.brokerage.accounts import Account, Fill
from tradedesk.brokerage.broker import Broker, Order
from tradedesk.brokerage.exchange import tick
from tradedesk.market import ManualClock
from tradedesk.market.calendar import NYSE

D = Decimal
CLOSES = ["100.00", "100.50", "101.00", "101.50", "102.00", "103.00", "110.00", "111.00"]


def fills(db: Engine, order_id: int) -> list[tuple[int, Decimal, Decimal]]:
    query = select(Fill).where(Fill.order_id == order_id).order_by(Fill.id)
    return [(f.quantity, f.price, f.commission) for f in act(db, lambda s: list(s.scalars(query)))]


def current(db: Engine, broker: Broker, user: int, order_id: int) -> Order:
    [found] = [o for o in act(db, lambda s: broker.orders(s, user, limit=100)) if o.id == order_id]
    return found


def minute(db: Engine, broker: Broker, clock: ManualClock) -> None:
    clock.advance(timedelta(minutes=1))
    tick(db, broker=broker)


def test_an_order_larger_than_the_displayed_size_fills_in_part_now_and_the_rest_minute_by_minute(
    db: Engine, clock: ManualClock
) -> None:
    broker = path_broker(clock, CLOSES, displayed=100)
    user = new_user(db)
    placed = order(db, broker, user, symbol="ACME", side="buy", quantity=250)
    assert (placed.status, placed.filled_quantity, placed.fill_price) == ("partially_filled", 100, D("100.01"))
    assert placed.limit_price == D("105.02")  # the rest of a market buy is collared at the ask + 5%
    assert "the other 150 fill as shares are offered" in (placed.reason or "")
    tick(db, broker=broker)  # the same minute: what was displayed is taken
    assert current(db, broker, user, placed.id).filled_quantity == 100
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.buying_power == book.cash - 150 * D("105.02")  # the rest's reservation, at its collar

    minute(db, broker, clock)
    assert current(db, broker, user, placed.id).filled_quantity == 200
    minute(db, broker, clock)
    done = current(db, broker, user, placed.id)
    assert fills(db, placed.id) == [(100, D("100.01"), 0), (100, D("100.51"), 0), (50, D("101.01"), 0)]
    cost = 100 * D("100.01") + 100 * D("100.51") + 50 * D("101.01")
    assert (done.status, done.filled_quantity, done.filled_value, done.reason) == ("filled", 250, cost, None)
    assert done.fill_price == (cost / 250).quantize(D("0.0001"))
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.cash == book.buying_power == START - cost
    assert [(h.quantity, h.cost_basis) for h in book.positions] == [(250, cost)]


def test_an_ioc_order_is_partially_filled_and_the_rest_cancelled(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, CLOSES, displayed=100)
    user = new_user(db)
    placed = order(
        db, broker, user, symbol="ACME", side="buy", quantity=300, order_type="limit", limit_price="100.05",
        time_in_force="ioc",
    )  # fmt: skip
    assert (placed.status, placed.filled_quantity, placed.fill_price) == ("cancelled", 100, D("100.01"))
    assert placed.reason == (
        "immediate-or-cancel: 100 of 300 shares filled at once (as many as were displayed at its price); "
        "the other 200 were cancelled"
    )
    assert fills(db, placed.id) == [(100, D("100.01"), 0)]
    minute(db, broker, clock)  # nothing of it works on
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.cash == book.buying_power == START - 100 * D("100.01")
    assert [h.quantity for h in book.positions] == [100]


def test_a_fok_order_larger_than_the_displayed_size_is_rejected_and_nothing_fills(
    db: Engine, clock: ManualClock
) -> None:
    broker = path_broker(clock, CLOSES, displayed=100)
    user = new_user(db)
    placed = order(db, broker, user, symbol="ACME", side="buy", quantity=101, time_in_force="fok")
    assert (placed.status, placed.filled_quantity) == ("rejected", 0)
    assert "only 100 of its 101 shares are displayed at the ask" in (placed.reason or "")
    assert fills(db, placed.id) == []
    whole = order(db, broker, user, symbol="ACME", side="buy", quantity=100, time_in_force="fok")
    assert (whole.status, whole.filled_quantity) == ("filled", 100)


def test_a_partially_filled_sell_reserves_only_its_unfilled_shares(db: Engine, clock: ManualClock) -> None:
    user = new_user(db)
    assert order(db, path_broker(clock, CLOSES), user, symbol="ACME", side="buy", quantity=300).status == "filled"
    broker = path_broker(clock, CLOSES, displayed=100)
    selling = order(db, broker, user, symbol="ACME", side="sell", quantity=250)
    assert (selling.status, selling.filled_quantity) == ("partially_filled", 100)
    refused = order(db, broker, user, symbol="ACME", side="sell", quantity=51)
    assert refused.status == "rejected" and "only 200 held (150 already in open sell orders)" in (refused.reason or "")
    assert order(db, broker, user, symbol="ACME", side="sell", quantity=50).status == "filled"


def test_cancelling_a_partially_filled_order_keeps_its_fills_and_frees_the_rest(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, CLOSES, displayed=100)
    user = new_user(db)
    placed = order(db, broker, user, symbol="ACME", side="buy", quantity=400, order_type="limit", limit_price="101")
    cancelled = act(db, lambda s: broker.cancel_order(s, user, placed.id))
    assert cancelled.status == "cancelled"
    assert cancelled.reason == "cancelled by the account owner (100 of 400 shares had filled)"
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.cash == book.buying_power == START - 100 * D("100.01")
    minute(db, broker, clock)
    assert fills(db, placed.id) == [(100, D("100.01"), 0)]


def test_an_order_pays_its_minimum_commission_once_across_its_fills(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, displayed=100, closes=["10"] * 5)
    user = new_user(db)
    act(db, lambda s: broker.open_account(s, user))
    costs = {"commission_per_share": D("0.005"), "commission_min": D("1")}
    act(db, lambda s: s.execute(update(Account).where(Account.user_id == user).values(**costs)))
    placed = order(db, broker, user, symbol="ACME", side="buy", quantity=300, order_type="limit", limit_price="10.01")
    minute(db, broker, clock)
    minute(db, broker, clock)
    # the first fill pays the $1 minimum; the total then grows only once $0.005 a share passes it ($1.50 for 300)
    assert fills(db, placed.id) == [(100, D("10.01"), D("1")), (100, D("10.01"), 0), (100, D("10.01"), D("0.5"))]
    done = current(db, broker, user, placed.id)
    assert (done.status, done.commission) == ("filled", D("1.5"))
    assert act(db, lambda s: broker.portfolio(s, user)).cash == START - 300 * D("10.01") - D("1.5")


def test_the_rest_of_a_market_buy_does_not_fill_above_its_collar(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, displayed=100, closes=["100", "100", "120", "104"])
    user = new_user(db)
    placed = order(db, broker, user, symbol="ACME", side="buy", quantity=300)
    minute(db, broker, clock)  # 100.01 again
    minute(db, broker, clock)  # 120.01: above the collar (105.02), so the rest waits
    assert current(db, broker, user, placed.id).status == "partially_filled"
    minute(db, broker, clock)  # 104.01
    assert [price for _, price, _ in fills(db, placed.id)] == [D("100.01"), D("100.01"), D("104.01")]
    assert current(db, broker, user, placed.id).status == "filled"


def test_a_partially_filled_day_order_expires_at_the_close_keeping_its_fills(db: Engine, clock: ManualClock) -> None:
    closes = ["100.00"] * 3
    broker = path_broker(clock, displayed=100, closes=closes, calendar=NYSE)  # T0 is the open of a session
    user = new_user(db)
    placed = order(db, broker, user, symbol="ACME", side="buy", quantity=250, order_type="limit", limit_price="100.01")
    clock.time = datetime(2025, 3, 3, 21, 0, tzinfo=UTC)  # the close
    tick(db, broker=broker)
    done = current(db, broker, user, placed.id)
    assert (done.status, done.filled_quantity) == ("expired", 100)
    assert (
        done.reason
        == "day order expired at the close of its session (2025-03-03 21:00 UTC) (100 of 250 shares had filled)"
    )
    assert act(db, lambda s: broker.portfolio(s, user)).buying_power == START - 100 * D("100.01")


def test_an_order_placed_while_closed_is_accepted_then_new_once_the_exchange_opens(
    db: Engine, clock: ManualClock
) -> None:
    broker = path_broker(clock, displayed=100, closes=["100.00"] * 3, calendar=NYSE)
    user = new_user(db)
    clock.time = datetime(2025, 3, 3, 21, 30, tzinfo=UTC)  # after the close
    resting = order(db, broker, user, symbol="ACME", side="buy", quantity=5, order_type="limit", limit_price="90")
    assert resting.status == "accepted" and "waits for the open" in (resting.reason or "")
    tick(db, broker=broker)
    assert current(db, broker, user, resting.id).status == "accepted"
    clock.time = datetime(2025, 3, 4, 14, 31, tzinfo=UTC)  # the next session
    tick(db, broker=broker)
    assert current(db, broker, user, resting.id).status == "new"
