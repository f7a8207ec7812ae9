"""Property tests of bracket and OCO orders: random brackets, OCO exits, plain orders and cancels over random price
paths (gaps included), worked minute by minute by the exchange tick, on SQLite and PostgreSQL.

After every event: cash + market value == equity, cash and buying power never negative, and the shares promised to
open sells never exceed those held. At the end: no two orders of an OCO group both filled; a bracket's children
worked only after their entry filled, for the shares it bought; every fill is at its minute's quote, within its
limit, and a stop's only once the bid reached it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.properties import examples
from tests.tradedesk.brokerage import T0, act, emptied, new_user, path_broker, walk
from tradedesk.brokerage import brackets
from tradedesk.brokerage.accounts import Order, utc
from tradedesk.brokerage.broker import Broker, BrokerError
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
CENT = Decimal("0.01")

moves = st.lists(
    st.one_of(st.integers(-150, 150), st.integers(-1500, 1500)),  # cents a minute; the second kind gaps
    min_size=MINUTES,
    max_size=MINUTES,
)
actions = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, MINUTES - 5),
            "kind": st.sampled_from(["bracket", "bracket", "limit_bracket", "oco", "oco", "buy", "sell", "cancel"]),
            "quantity": st.integers(1, 30),
            "profit_bps": st.integers(20, 800),  # the take-profit above the entry price (or the bid)
            "loss_bps": st.integers(20, 800),  # the stop-loss below it
            "entry_bps": st.integers(-300, 50),  # a limit entry from the price
            "pick": st.integers(0, 10),  # which open order a cancel takes
        }
    ),
    min_size=1,
    max_size=10,
)


def off(price: Decimal, bps: int) -> Decimal:
    return (price * (1 + Decimal(bps) / 10_000)).quantize(CENT)


def act_on(broker: Broker, session: Session, user: int, spec: dict[str, Any], quote: Quote) -> Order | None:
    kind, quantity = spec["kind"], spec["quantity"]
    if kind in ("bracket", "limit_bracket"):
        limit = off(quote.ask, spec["entry_bps"]) if kind == "limit_bracket" else None
        reference = limit or quote.ask
        return brackets.place_bracket(
            broker,
            session,
            user,
            symbol="ACME",
            quantity=quantity,
            entry_type="limit" if limit else "market",
            limit_price=limit,
            take_profit=off(reference, spec["profit_bps"]),
            stop_loss=off(reference, -spec["loss_bps"]),
            time_in_force="gtc",
        )
    if kind == "oco":
        return brackets.place_oco(
            broker,
            session,
            user,
            symbol="ACME",
            quantity=quantity,
            take_profit=off(quote.bid, spec["profit_bps"]) + CENT,
            stop_loss=off(quote.bid, -spec["loss_bps"]) - CENT,
        )
    if kind in ("buy", "sell"):
        return broker.place_order(session, user, symbol="ACME", side=kind, quantity=quantity)
    working = broker.open_orders(session, user)
    if not working:
        return None
    try:
        return broker.cancel_order(session, user, working[spec["pick"] % len(working)].id)
    except BrokerError:  # cancelled a moment ago with its sibling
        return None


def check_book(db: Engine, broker: Broker, user: int) -> None:
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.equity == book.cash + book.market_value and book.cash >= 0 and book.buying_power >= 0
    held = sum(h.quantity for h in book.positions)
    assert act(db, lambda s: brackets.reserved_shares(s, user, "ACME")) <= held


@PROPERTY
@given(path=moves, flow=actions)
def test_brackets_and_oco_exits_over_random_price_paths_never_fill_both_exits_nor_outside_their_conditions(
    db: Engine, clock: ManualClock, path: list[int], flow: list[dict[str, Any]]
) -> None:
    broker = path_broker(clock, walk(path))
    market = broker.market
    clock.time = T0
    emptied(db)
    user = new_user(db)
    act(db, lambda s: broker.place_order(s, user, symbol="ACME", side="buy", quantity=40))
    worked: list[datetime] = [T0]
    for minute in range(MINUTES - 1):
        for spec in (s for s in flow if s["minute"] == minute):
            quote = market.quote("ACME")
            done = act(db, lambda s, spec=spec, quote=quote: act_on(broker, s, user, spec, quote))
            event(f"{spec['kind']} {done.status if done else 'nothing'}")
            check_book(db, broker, user)
        clock.advance(timedelta(minutes=1))
        tick(db, broker=broker)
        worked.append(clock.time)
        check_book(db, broker, user)
    everything = act(db, lambda s: broker.orders(s, user, limit=1000))
    by_id = {o.id: o for o in everything}
    groups: dict[int, list[Order]] = defaultdict(list)
    for done in everything:
        if done.oco_group is not None:
            groups[done.oco_group].append(done)
        if done.status == "filled":
            assert done.filled_at is not None and done.fill_price is not None
            quote = market.quote("ACME", at=utc(done.filled_at))
            assert done.fill_price == (quote.ask if done.side == "buy" else quote.bid)
            if done.limit_price is not None:
                assert (
                    done.fill_price <= done.limit_price if done.side == "buy" else done.fill_price >= done.limit_price
                )
            if done.order_type in ("stop", "stop_limit"):
                assert done.triggered_at is not None and done.stop_price is not None
                assert market.quote("ACME", at=utc(done.triggered_at)).bid <= done.stop_price
        if done.parent_id is not None:
            entry = by_id[done.parent_id]
            event(f"bracket child {done.status}")
            if entry.status == "filled":
                assert done.status != "held" and done.quantity == entry.quantity
                if done.status == "filled":
                    assert entry.filled_at is not None and done.filled_at is not None
                    assert utc(entry.filled_at) <= utc(done.filled_at)
            elif entry.is_open:
                assert done.status == "held"
            else:
                assert done.status == "cancelled"
    for legs in groups.values():
        filled = [o for o in legs if o.status == "filled"]
        event(f"oco group: {len(filled)} filled")
        assert len(filled) <= 1
        if filled:
            assert all(o.status == "cancelled" for o in legs if o is not filled[0])
