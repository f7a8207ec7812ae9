"""The exchange tick on real databases: resting orders fill and expire on schedule, once, however many ticks run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.tradedesk.brokerage import START, T0, act, new_user, order, run_together
from tradedesk.brokerage import services
from tradedesk.brokerage.accounts import utc
from tradedesk.brokerage.broker import Broker, Order
from tradedesk.brokerage.exchange import TickResult, tick
from tradedesk.market import ManualClock, SimulatedMarket
from tradedesk.market.calendar import NYSE

AFTER_CLOSE = datetime(2025, 3, 3, 22, 0, tzinfo=UTC)  # Monday, 17:00 New York


@cache
def crossing(seed: int, symbol: str) -> tuple[Decimal, datetime, datetime]:
    """A limit buy price for `symbol` below its ask at T0, the first minute the ask reaches it (the exchange is
    closed then), and the first minute in a session when the ask is at or below it: found by scanning the path."""
    market = SimulatedMarket(seed=seed)
    minutes = [T0 + timedelta(minutes=m) for m in range(1, 4 * 1440)]
    asks = [market.quote(symbol, at=at).ask for at in minutes]
    lowest = market.quote(symbol, at=T0).ask
    for i, (at, ask) in enumerate(zip(minutes, asks, strict=True)):
        if ask < lowest and not NYSE.is_open(at):
            later = (m for m, a in zip(minutes[i + 1 :], asks[i + 1 :], strict=True) if a <= ask and NYSE.is_open(m))
            if (fill := next(later, None)) is not None:
                return ask, at, fill
        lowest = min(lowest, ask)
    raise AssertionError(f"{symbol} made no new low while closed that a later session reached; pick another")


def test_a_limit_order_rests_until_the_price_crosses_it_in_a_session_then_fills_on_a_tick(
    db: Engine, broker: Broker, clock: ManualClock
) -> None:
    user = new_user(db)
    limit, closed_touch, fill_at = crossing(11, "AAPL")  # the broker fixture's seed
    placed = order(
        db,
        broker,
        user,
        symbol="AAPL",
        side="buy",
        quantity=5,
        order_type="limit",
        limit_price=limit,
        time_in_force="gtc",
    )
    assert placed.status == "new" and placed.reason is None  # placed in the session, below the ask
    checks = [T0 + timedelta(minutes=m) for m in range(0, int((fill_at - T0).total_seconds() // 60), 17)]
    assert broker.market.quote("AAPL", at=closed_touch).ask <= limit  # marketable then, but the exchange is closed
    for at in sorted({*checks, closed_touch, fill_at - timedelta(minutes=1)}):
        clock.time = at
        snapshots = int(broker.calendar.is_open(at))  # the account's equity, on the exchange's clock
        expected = TickResult(as_of=at, accounts=1, filled=0, expired=0, rejected=0, snapshots=snapshots)
        assert tick(db, broker=broker) == expected, at
    clock.time = fill_at
    expected = TickResult(as_of=fill_at, accounts=1, filled=1, expired=0, rejected=0, snapshots=1)
    assert tick(db, broker=broker) == expected
    [filled] = act(db, lambda s: broker.orders(s, user))
    ask = broker.market.quote("AAPL").ask
    assert filled.filled_at is not None and utc(filled.filled_at) == fill_at
    assert (filled.status, filled.fill_price) == ("filled", ask) and ask <= limit
    # the position's equity was snapshotted at the fill, this minute: no second snapshot
    assert tick(db, broker=broker) == TickResult(as_of=fill_at, accounts=0, filled=0, expired=0, rejected=0)


def test_a_tick_works_only_accounts_with_open_orders_and_counts_what_it_did(
    db: Engine, broker: Broker, clock: ManualClock
) -> None:
    idle, busy = new_user(db), new_user(db)
    order(db, broker, idle, symbol="KO", side="buy", quantity=1)  # filled at T0: nothing left open
    clock.time = AFTER_CLOSE
    order(db, broker, busy, symbol="KO", side="buy", quantity=3)  # queued for the open
    low = (broker.market.quote("PFE").ask / 2).quantize(Decimal("0.01"))
    order(db, broker, busy, symbol="PFE", side="buy", quantity=1, order_type="limit", limit_price=low)
    assert tick(db, broker=broker) == TickResult(as_of=AFTER_CLOSE, accounts=1, filled=0, expired=0, rejected=0)
    session = NYSE.next_session(AFTER_CLOSE)
    clock.time = session.open
    assert tick(db, broker=broker).filled == 1
    clock.time = session.close
    assert tick(db, broker=broker) == TickResult(as_of=session.close, accounts=1, filled=0, expired=1, rejected=0)
    assert act(db, lambda s: broker.open_orders(s, busy)) == []


def test_concurrent_ticks_fill_each_order_once(db: Engine, broker: Broker, clock: ManualClock) -> None:
    users = [new_user(db) for _ in range(6)]
    quantity, nights = 5, 3
    evening = AFTER_CLOSE
    for _ in range(nights):  # orders queued in the evening, two ticks racing at the open
        clock.time = evening
        for user in users:
            order(db, broker, user, symbol="KO", side="buy", quantity=quantity)
        clock.time = NYSE.next_session(evening).open
        results = run_together(lambda: tick(db, broker=broker), lambda: tick(db, broker=broker))
        assert all(isinstance(r, TickResult) for r in results), results
        assert sum(r.filled for r in results) == len(users)
        evening = NYSE.next_session(evening).close + timedelta(hours=1)
    with Session(db) as session:
        fills = session.execute(
            select(Order.user_id, func.count(Order.id), func.sum(Order.fill_price * Order.quantity))
            .where(Order.user_id.in_(users), Order.status == "filled")
            .group_by(Order.user_id)
        ).all()
    assert sorted(u for u, _, _ in fills) == sorted(users) and {n for _, n, _ in fills} == {nights}
    for user, _, spent in fills:
        book = act(db, lambda s, user=user: broker.portfolio(s, user))
        assert book.cash == START - spent >= 0
        assert [(h.symbol, h.quantity) for h in book.positions] == [("KO", quantity * nights)]


@pytest.fixture
def platform_market(clock: ManualClock) -> Iterator[None]:
    services.use_market(SimulatedMarket(seed=11, clock=clock))
    yield
    services.use_market(None)


@pytest.mark.usefixtures("platform_market")
def test_a_tick_uses_the_platforms_broker_and_hours_by_default(
    db: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = new_user(db)
    clock.time = AFTER_CLOSE
    monkeypatch.delenv("TRADEDESK_EXCHANGE_HOURS", raising=False)
    assert order(db, services.broker(), user, symbol="KO", side="buy", quantity=1).status == "accepted"
    assert tick(db).filled == 0  # the NYSE is closed
    monkeypatch.setenv("TRADEDESK_EXCHANGE_HOURS", "always")
    assert tick(db).filled == 1
