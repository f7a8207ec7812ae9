"""Property tests of stop orders: random orders of every type over random price paths (gaps included), worked
minute by minute by the exchange tick, on SQLite and PostgreSQL.

After every event: cash + market value == equity, cash and buying power never negative; every fill is at the
quote of its minute and within its limit; a stop order triggered only at a minute when its stop was reached,
and filled no earlier; a trailing stop's water mark is the best price of the minutes it was worked.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests.properties import examples
from tests.tradedesk.brokerage import T0, act, emptied, new_user, path_broker, walk
from tradedesk.brokerage.accounts import utc
from tradedesk.brokerage.broker import Order
from tradedesk.brokerage.exchange import tick
from tradedesk.market import ManualClock, Quote

# no shrinking: shrinking a 30-minute path worked on a database takes minutes; the failing example shows as found
PROPERTY = settings(
    max_examples=examples(30),
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MINUTES = 30

moves = st.lists(
    st.one_of(st.integers(-150, 150), st.integers(-1500, 1500)),  # cents a minute; the second kind gaps
    min_size=MINUTES,
    max_size=MINUTES,
)
orders = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, MINUTES - 5),
            "side": st.sampled_from(["buy", "sell"]),
            "quantity": st.integers(1, 30),
            "order_type": st.sampled_from(["market", "limit", "stop", "stop_limit", "trailing_stop", "trailing_stop"]),
            "offset_bps": st.integers(-800, 800),  # the stop (or limit) from the price when placed
            "limit_bps": st.integers(-300, 300),  # a stop-limit's limit from its stop
            "trail": st.one_of(
                st.integers(1, 800).map(lambda c: ("trail_amount", Decimal(c) / 100)),
                st.integers(1, 150).map(lambda t: ("trail_percent", Decimal(t) / 10)),
            ),
            "time_in_force": st.sampled_from(["day", "gtc", "gtc", "ioc", "fok"]),
        }
    ),
    min_size=1,
    max_size=8,
)


def arguments(spec: dict[str, Any], quote: Quote) -> dict[str, Any]:
    at = (quote.last * (1 + Decimal(spec["offset_bps"]) / 10_000)).quantize(Decimal("0.01"))
    kind = spec["order_type"]
    out: dict[str, Any] = {"side": spec["side"], "quantity": spec["quantity"], "order_type": kind}
    if kind == "limit":
        out["limit_price"] = at
    elif kind in ("stop", "stop_limit"):
        out["stop_price"] = at
        if kind == "stop_limit":
            out["limit_price"] = (at * (1 + Decimal(spec["limit_bps"]) / 10_000)).quantize(Decimal("0.01"))
    elif kind == "trailing_stop":
        name, value = spec["trail"]
        out[name] = value
    out["time_in_force"] = spec["time_in_force"]
    return out


def touch(quote: Quote, side: str) -> Decimal:
    return quote.ask if side == "buy" else quote.bid


def reached(order: Order, quote: Quote) -> bool:
    assert order.stop_price is not None
    price = touch(quote, order.side)
    return price <= order.stop_price if order.side == "sell" else price >= order.stop_price


@PROPERTY
@given(path=moves, flow=orders)
def test_stop_orders_over_random_price_paths_fill_only_when_and_where_their_conditions_allow(
    db: Engine, clock: ManualClock, path: list[int], flow: list[dict[str, Any]]
) -> None:
    broker = path_broker(clock, walk(path))
    market = broker.market
    clock.time = T0
    emptied(db)
    user = new_user(db)
    act(db, lambda s: broker.place_order(s, user, symbol="ACME", side="buy", quantity=40))
    worked: list[datetime] = [T0]
    placed_at: dict[int, datetime] = {}
    for minute in range(MINUTES - 1):
        for spec in (s for s in flow if s["minute"] == minute):
            extra = arguments(spec, market.quote("ACME"))
            new = act(db, lambda s, extra=extra: broker.place_order(s, user, symbol="ACME", **extra))
            placed_at[new.id] = clock.time
            event(f"{new.order_type} {new.time_in_force} {new.status}")
            if new.time_in_force in ("ioc", "fok"):
                assert new.status in ("filled", "rejected", "cancelled" if new.time_in_force == "ioc" else "rejected")
        book = act(db, lambda s: broker.portfolio(s, user))
        assert book.equity == book.cash + book.market_value and book.cash >= 0 and book.buying_power >= 0
        clock.advance(timedelta(minutes=1))
        tick(db, broker=broker)
        worked.append(clock.time)
        book = act(db, lambda s: broker.portfolio(s, user))
        assert book.equity == book.cash + book.market_value and book.cash >= 0 and book.buying_power >= 0
    for done in act(db, lambda s: broker.orders(s, user, limit=100)):
        if done.status == "filled":
            assert done.filled_at is not None and done.fill_price is not None
            filled = utc(done.filled_at)
            assert done.fill_price == touch(market.quote("ACME", at=filled), done.side)
            if done.limit_price is not None:
                assert (
                    done.fill_price <= done.limit_price if done.side == "buy" else done.fill_price >= done.limit_price
                )
        if done.order_type not in ("stop", "stop_limit", "trailing_stop") or done.status == "rejected":
            continue
        event(f"{done.order_type} {'triggered' if done.triggered_at else 'not triggered'}")
        if done.status == "filled":
            assert done.triggered_at is not None and done.filled_at is not None
            assert utc(done.triggered_at) <= utc(done.filled_at)
        seen = [at for at in worked if placed_at[done.id] <= at]
        if done.triggered_at is not None:
            trigger = utc(done.triggered_at)
            assert reached(done, market.quote("ACME", at=trigger))
            seen = [at for at in seen if at <= trigger]
        if done.order_type == "trailing_stop" and done.status in ("new", "filled"):
            prices = [touch(market.quote("ACME", at=at), done.side) for at in seen]
            assert done.water_mark == (max(prices) if done.side == "sell" else min(prices))
