"""Stop, stop-limit and trailing-stop orders, and ioc/fok time in force, on a replayed price path of 1-minute bars.

Each scenario writes the closes it needs (a gap is one bar to the next), and the exchange tick works the
orders minute by minute, as workers do. The spread is zero: the bid is the close and the ask a cent above.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from tests.tradedesk.brokerage import START, act, new_user, order, path_broker
from tradedesk.brokerage.broker import Broker, Order
from tradedesk.brokerage.exchange import tick
from tradedesk.market import ManualClock

D = Decimal


def advance(db: Engine, broker: Broker, clock: ManualClock, user: int, order_id: int) -> Order:
    """One minute on and a tick; the order as it stands then."""
    clock.advance(timedelta(minutes=1))
    tick(db, broker=broker)
    [found] = [o for o in act(db, lambda s: broker.orders(s, user, limit=100)) if o.id == order_id]
    return found


def holding(db: Engine, broker: Broker, user: int) -> tuple[Decimal, int]:
    book = act(db, lambda s: broker.portfolio(s, user))
    return book.cash, sum(h.quantity for h in book.positions)


def test_a_sell_stop_jumped_over_by_a_gap_down_fills_at_the_gapped_price(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100", "99", "90", "91"])
    user = new_user(db)
    bought = order(db, broker, user, symbol="ACME", side="buy", quantity=10)
    assert (bought.status, bought.fill_price) == ("filled", D("100.01"))
    stop = order(db, broker, user, symbol="ACME", side="sell", quantity=10, order_type="stop", stop_price=D("95"))
    assert (stop.status, stop.stop_price, stop.limit_price) == ("new", D("95.00"), None)
    assert advance(db, broker, clock, user, stop.id).status == "new"  # 100: above the stop
    assert advance(db, broker, clock, user, stop.id).status == "new"  # 99: still above
    gapped = advance(db, broker, clock, user, stop.id)  # 90: the price gapped through 95
    assert (gapped.status, gapped.fill_price) == ("filled", D("90.00"))
    assert gapped.triggered_at is not None
    assert holding(db, broker, user) == (START - D("1000.10") + D("900.00"), 0)


def test_a_stop_limit_triggered_by_a_gap_waits_until_the_price_is_back_within_its_limit(
    db: Engine, clock: ManualClock
) -> None:
    broker = path_broker(clock, ["100", "90", "93.50", "94.20", "96"])
    user = new_user(db)
    order(db, broker, user, symbol="ACME", side="buy", quantity=4)
    placed = order(
        db,
        broker,
        user,
        symbol="ACME",
        side="sell",
        quantity=4,
        order_type="stop_limit",
        stop_price=D("95"),
        limit_price=D("94"),
    )
    assert placed.status == "new"
    triggered = advance(db, broker, clock, user, placed.id)  # 90: triggered, but below the 94 limit
    assert (triggered.status, triggered.fill_price) == ("new", None) and triggered.triggered_at is not None
    assert advance(db, broker, clock, user, placed.id).status == "new"  # 93.50: still below the limit
    filled = advance(db, broker, clock, user, placed.id)  # 94.20: within the limit
    assert (filled.status, filled.fill_price) == ("filled", D("94.20"))


def test_a_trailing_stop_follows_the_high_water_mark_and_fills_when_the_price_falls_back(
    db: Engine, clock: ManualClock
) -> None:
    broker = path_broker(clock, ["100", "104", "110", "107", "104.50", "120"])
    user = new_user(db)
    order(db, broker, user, symbol="ACME", side="buy", quantity=3)
    trail = order(
        db, broker, user, symbol="ACME", side="sell", quantity=3, order_type="trailing_stop", trail_amount=D("5")
    )
    assert (trail.status, trail.water_mark, trail.stop_price) == ("new", D("100.00"), D("95.00"))
    marks = []
    for _ in range(3):  # 104, 110, 107: the stop rises with the high and stays when the price dips
        now = advance(db, broker, clock, user, trail.id)
        marks.append((now.status, now.water_mark, now.stop_price))
    assert marks == [
        ("new", D("104.00"), D("99.00")),
        ("new", D("110.00"), D("105.00")),
        ("new", D("110.00"), D("105.00")),
    ]
    filled = advance(db, broker, clock, user, trail.id)  # 104.50: below the 105 stop
    assert (filled.status, filled.fill_price, filled.stop_price) == ("filled", D("104.50"), D("105.00"))


def test_a_trailing_buy_stop_by_percent_follows_the_low_water_mark(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "90", "95", "99.50", "101"])
    user = new_user(db)
    trail = order(
        db, broker, user, symbol="ACME", side="buy", quantity=2, order_type="trailing_stop", trail_percent=D("10")
    )
    # the ask is 100.01: the stop 10% above it, and cash reserved at the stop + 5%
    assert (trail.water_mark, trail.stop_price, trail.limit_price) == (D("100.01"), D("110.01"), D("115.52"))
    assert act(db, lambda s: broker.portfolio(s, user)).buying_power == START - D("231.04")
    low = advance(db, broker, clock, user, trail.id)  # ask 90.01: the stop follows it down
    assert (low.status, low.water_mark, low.stop_price) == ("new", D("90.01"), D("99.01"))
    assert advance(db, broker, clock, user, trail.id).status == "new"  # ask 95.01: below the stop
    filled = advance(db, broker, clock, user, trail.id)  # ask 99.51: at or above 99.01
    assert (filled.status, filled.fill_price) == ("filled", D("99.51"))


def test_a_buy_stop_gapping_beyond_its_collar_triggers_but_does_not_fill_above_it(
    db: Engine, clock: ManualClock
) -> None:
    broker = path_broker(clock, ["100", "130", "108"])
    user = new_user(db)
    stop = order(db, broker, user, symbol="ACME", side="buy", quantity=5, order_type="stop", stop_price=D("105"))
    assert (stop.status, stop.limit_price) == ("new", D("110.25"))  # the stop + 5%
    gapped = advance(db, broker, clock, user, stop.id)  # ask 130.01: triggered, above the collar
    assert gapped.status == "new" and gapped.triggered_at is not None
    filled = advance(db, broker, clock, user, stop.id)  # ask 108.01: within the collar
    assert (filled.status, filled.fill_price) == ("filled", D("108.01"))


def test_a_stop_already_reached_when_placed_fills_at_once(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100"])
    user = new_user(db)
    order(db, broker, user, symbol="ACME", side="buy", quantity=1)
    stop = order(db, broker, user, symbol="ACME", side="sell", quantity=1, order_type="stop", stop_price=D("101"))
    assert (stop.status, stop.fill_price) == ("filled", D("100.00"))


def test_an_ioc_order_that_cannot_fill_at_once_is_cancelled_and_moves_nothing(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "90"])
    user = new_user(db)
    ioc = order(
        db,
        broker,
        user,
        symbol="ACME",
        side="buy",
        quantity=5,
        order_type="limit",
        limit_price=D("95"),
        time_in_force="ioc",
    )
    assert ioc.status == "cancelled" and "immediate-or-cancel" in (ioc.reason or "")
    assert advance(db, broker, clock, user, ioc.id).status == "cancelled"  # 90 later: it did not rest
    assert holding(db, broker, user) == (START, 0)
    filled = order(db, broker, user, symbol="ACME", side="buy", quantity=5, time_in_force="ioc")
    assert (filled.status, filled.fill_price) == ("filled", D("90.01"))


def test_a_fok_order_that_cannot_fill_entirely_at_once_is_rejected(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100"])
    user = new_user(db)
    fok = order(
        db,
        broker,
        user,
        symbol="ACME",
        side="buy",
        quantity=5,
        order_type="limit",
        limit_price=D("99"),
        time_in_force="fok",
    )
    assert fok.status == "rejected" and "fill-or-kill" in (fok.reason or "")
    assert act(db, lambda s: broker.portfolio(s, user)).buying_power == START


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({"order_type": "stop"}, "needs a stop_price"),
        ({"order_type": "stop_limit", "stop_price": D("95")}, "needs a limit_price"),
        ({"order_type": "trailing_stop"}, "exactly one of trail_amount"),
        ({"order_type": "trailing_stop", "trail_amount": D("1"), "trail_percent": D("1")}, "exactly one"),
        ({"order_type": "trailing_stop", "trail_percent": D("100")}, "below 100"),
        ({"order_type": "trailing_stop", "trail_amount": D("-1")}, "above 0"),
        ({"order_type": "trailing_stop", "trail_amount": D("1"), "stop_price": D("9")}, "not stop_price"),
        ({"order_type": "market", "stop_price": D("95")}, "apply only to stop"),
        ({"order_type": "stop", "stop_price": D("95"), "trail_amount": D("1")}, "only to trailing_stop"),
        ({"order_type": "stop", "stop_price": D("95"), "limit_price": D("94")}, "leave it out"),
    ],
)
def test_stop_arguments_that_do_not_fit_the_order_type_are_rejected_with_what_to_do(
    db: Engine, clock: ManualClock, arguments: dict[str, object], reason: str
) -> None:
    broker = path_broker(clock, ["100", "100"])
    user = new_user(db)
    order(db, broker, user, symbol="ACME", side="buy", quantity=1)
    placed = order(db, broker, user, symbol="ACME", side="sell", quantity=1, **arguments)
    assert placed.status == "rejected" and reason in (placed.reason or ""), placed.reason
    assert holding(db, broker, user)[1] == 1


def test_a_stop_price_that_is_not_a_number_raises_before_anything_is_stored(db: Engine, clock: ManualClock) -> None:
    broker = path_broker(clock, ["100", "100"])
    user = new_user(db)
    with pytest.raises(ValueError, match="stop_price must be a finite number"):
        order(db, broker, user, symbol="ACME", side="sell", quantity=1, order_type="stop", stop_price=D("NaN"))
    assert act(db, lambda s: broker.orders(s, user)) == []
