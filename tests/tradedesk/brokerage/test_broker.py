"""The paper broker on real databases (a SQLite file and PostgreSQL): fills, rejections, limits, isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.tradedesk.brokerage import START, T0, act, count_orders, new_user, order, run_together
from tradedesk.brokerage.accounts import utc
from tradedesk.brokerage.broker import Account, Broker, BrokerError, Fill, Order, OrderNotFound, Position, RiskLimits
from tradedesk.market import ManualClock

# -- accounts and money ---------------------------------------------------------------------------


def test_money_round_trips_exactly(db: Engine) -> None:
    amounts = [Decimal("99999999999999.9999"), Decimal("12345678901.2345"), Decimal("0.0001"), Decimal("-1234.5678")]
    ids = []
    users = [new_user(db) for _ in range(len(amounts) + 1)]
    with Session(db) as session, session.begin():
        for user, amount in zip(users, amounts, strict=False):
            account = Account(user_id=user, cash=amount, realized_pnl=-amount, created_at=T0)
            session.add(account)
            session.flush()
            ids.append(account.id)
    with Session(db) as session:
        for account_id, amount in zip(ids, amounts, strict=True):
            account = session.get_one(Account, account_id)
            assert (account.cash, account.realized_pnl) == (amount, -amount)
    with Session(db) as session, session.begin(), pytest.raises(Exception, match="more than 4 decimal places"):
        session.add(Account(user_id=users[-1], cash=Decimal("1.00001"), created_at=T0))
        session.flush()


def test_open_account_starts_with_100k_and_is_idempotent(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    first = act(db, lambda s: broker.open_account(s, user))
    again = act(db, lambda s: broker.open_account(s, user, cash=Decimal("5")))
    assert first.cash == again.cash == START and first.id == again.id
    with Session(db) as session:
        assert session.scalar(select(func.count(Account.id)).where(Account.user_id == user)) == 1
    other = new_user(db)
    assert act(db, lambda s: broker.open_account(s, other, cash=Decimal("2500.50"))).cash == Decimal("2500.50")


# -- fills ----------------------------------------------------------------------------------------


def test_every_fill_is_recorded_as_a_fill_row_and_rejections_write_none(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    bought = order(db, broker, user, symbol="MSFT", side="buy", quantity=7)
    order(db, broker, user, symbol="MSFT", side="sell", quantity=70)  # rejected: only 7 held
    sold = order(db, broker, user, symbol="MSFT", side="sell", quantity=3)
    with Session(db) as session:
        fills = list(session.scalars(select(Fill).where(Fill.user_id == user).order_by(Fill.id)))
    assert [(f.order_id, f.side, f.quantity, f.price, utc(f.at)) for f in fills] == [
        (bought.id, "buy", 7, bought.fill_price, T0),
        (sold.id, "sell", 3, sold.fill_price, T0),
    ]
    assert all(f.commission == 0 and f.symbol == "MSFT" for f in fills)


def test_market_orders_buy_at_the_ask_and_sell_at_the_bid(db: Engine, broker: Broker, clock: ManualClock) -> None:
    user = new_user(db)
    quote = broker.market.quote("AAPL")
    bought = order(db, broker, user, symbol="aapl", side="buy", quantity=10)
    assert (bought.status, bought.symbol, bought.fill_price, bought.filled_at) == ("filled", "AAPL", quote.ask, T0)
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.cash == START - 10 * quote.ask
    [holding] = book.positions
    assert (holding.quantity, holding.average_cost, holding.last) == (10, quote.ask, quote.last)
    assert holding.unrealized_pnl == 10 * (quote.last - quote.ask) < 0  # the spread is a cost

    clock.advance(timedelta(minutes=45))
    later = broker.market.quote("AAPL")
    sold = order(db, broker, user, symbol="AAPL", side="sell", quantity=4)
    assert sold.fill_price == later.bid
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.realized_pnl == 4 * (later.bid - quote.ask)
    assert book.cash == START - 10 * quote.ask + 4 * later.bid
    assert [(h.quantity, h.average_cost) for h in book.positions] == [(6, quote.ask)]

    order(db, broker, user, symbol="AAPL", side="sell", quantity=6)
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.positions == [] and book.equity == book.cash == START + book.realized_pnl
    with Session(db) as session:
        assert session.scalar(select(func.count(Position.id)).where(Position.user_id == user)) == 0


def test_average_cost_blends_buys(db: Engine, broker: Broker, clock: ManualClock) -> None:
    user = new_user(db)
    first = order(db, broker, user, symbol="KO", side="buy", quantity=3)
    clock.advance(timedelta(hours=5))
    second = order(db, broker, user, symbol="KO", side="buy", quantity=7)
    assert first.fill_price != second.fill_price
    [holding] = act(db, lambda s: broker.portfolio(s, user)).positions
    basis = 3 * first.fill_price + 7 * second.fill_price
    assert holding.cost_basis == basis and holding.average_cost == (basis / 10).quantize(Decimal("0.0001"))


# -- rejections -----------------------------------------------------------------------------------


def assert_rejected(placed: Order, *fragments: str) -> None:
    assert placed.status == "rejected" and placed.fill_price is None and placed.id is not None
    for fragment in fragments:
        assert fragment in (placed.reason or ""), placed.reason


def test_rejections_are_stored_with_a_reason_and_change_nothing(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    order(db, broker, user, symbol="MSFT", side="buy", quantity=5)
    before = act(db, lambda s: broker.portfolio(s, user))

    assert_rejected(order(db, broker, user, symbol="ZZZZ", side="buy", quantity=1), "Unknown symbol 'ZZZZ'", "AAPL")
    assert_rejected(order(db, broker, user, symbol="AAPL", side="buy", quantity=0), "quantity", "above 0")
    assert_rejected(order(db, broker, user, symbol="AAPL", side="sell", quantity=-3), "quantity", "(got -3)")
    assert_rejected(order(db, broker, user, symbol="SPY", side="buy", quantity=1000), "insufficient cash")
    assert_rejected(order(db, broker, user, symbol="MSFT", side="sell", quantity=6), "only 5 held", "short selling")
    assert_rejected(order(db, broker, user, symbol="NVDA", side="sell", quantity=1), "only 0 held")
    assert_rejected(order(db, broker, user, symbol="KO", side="buy", quantity=1, order_type="limit"), "limit_price")
    market_with_price = order(db, broker, user, symbol="KO", side="buy", quantity=1, limit_price=Decimal("60"))
    assert_rejected(market_with_price, "only to limit orders")
    assert_rejected(
        order(db, broker, user, symbol="KO", side="buy", quantity=1, order_type="limit", limit_price=Decimal("-1")),
        "above $0.00",
    )

    assert act(db, lambda s: broker.portfolio(s, user)) == before
    assert [o.status for o in act(db, lambda s: broker.orders(s, user))] == ["rejected"] * 9 + ["filled"]


def test_insufficient_cash_counts_the_fill_price(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    act(db, lambda s: broker.open_account(s, user, cash=Decimal("1000")))
    ask = broker.market.quote("KO").ask
    affordable = int(Decimal(1000) // ask)
    assert_rejected(order(db, broker, user, symbol="KO", side="buy", quantity=affordable + 1), "insufficient cash")
    assert order(db, broker, user, symbol="KO", side="buy", quantity=affordable).status == "filled"
    assert act(db, lambda s: broker.portfolio(s, user)).cash == Decimal(1000) - affordable * ask >= 0


def test_invalid_arguments_raise_before_anything_is_stored(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    bad: list[dict[str, Any]] = [
        {"side": "hold"},
        {"order_type": "stop_market"},
        {"time_in_force": "opg"},
        {"quantity": 1.5},
        {"quantity": True},
        {"order_type": "limit", "limit_price": Decimal("NaN")},
        {"idempotency_key": "k" * 201},
    ]
    for override in bad:
        arguments = {"symbol": "AAPL", "side": "buy", "quantity": 1, **override}
        with pytest.raises(ValueError):
            order(db, broker, user, **arguments)
    assert count_orders(db, user) == 0


# -- risk limits ----------------------------------------------------------------------------------


def test_max_order_notional(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    limits = RiskLimits(max_order_notional=Decimal("5000"))
    ask = broker.market.quote("AAPL").ask
    small, big = int(Decimal(5000) // ask), int(Decimal(5000) // ask) + 1
    placed = order(db, broker, user, symbol="AAPL", side="buy", quantity=big, limits=limits)
    assert_rejected(placed, "risk limit exceeded", "notional", "$5,000.00")
    assert order(db, broker, user, symbol="AAPL", side="buy", quantity=small, limits=limits).status == "filled"


def test_max_position_weight_counts_the_position_after_the_order(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    limits = RiskLimits(max_position_weight=Decimal("0.10"))
    q = broker.market.quote("PG")
    # equity after a buy of n: 100,000 - n * (ask - last); weight = n * last / that
    fits = max(n for n in range(1, 200) if n * q.last / (START - n * (q.ask - q.last)) <= Decimal("0.10"))
    assert order(db, broker, user, symbol="PG", side="buy", quantity=fits, limits=limits).status == "filled"
    assert_rejected(order(db, broker, user, symbol="PG", side="buy", quantity=1, limits=limits), "PG would be", "10.0%")
    assert order(db, broker, user, symbol="KO", side="buy", quantity=10, limits=limits).status == "filled"
    assert order(db, broker, user, symbol="PG", side="sell", quantity=fits, limits=limits).status == "filled"


def test_max_orders_per_day_counts_this_agents_placed_orders(db: Engine, broker: Broker, clock: ManualClock) -> None:
    user = new_user(db)
    limits = RiskLimits(max_orders_per_day=2)
    trader: dict[str, Any] = {"agent_kind": "daytrader", "agent_id": 1, "limits": limits}
    assert order(db, broker, user, symbol="KO", side="buy", quantity=1, **trader).status == "filled"
    assert_rejected(order(db, broker, user, symbol="KO", side="buy", quantity=0, **trader), "quantity")
    assert order(db, broker, user, symbol="KO", side="buy", quantity=1, **trader).status == "filled"
    assert_rejected(order(db, broker, user, symbol="KO", side="buy", quantity=1, **trader), "2 orders today")
    # another agent of the same user has its own count
    other = {**trader, "agent_kind": "stock_investor"}
    assert order(db, broker, user, symbol="KO", side="buy", quantity=1, **other).status == "filled"
    clock.time = datetime(2025, 3, 4, 0, 0, tzinfo=UTC)  # a new UTC day (the exchange is closed: it is queued)
    assert order(db, broker, user, symbol="KO", side="buy", quantity=1, **trader).status == "accepted"


# -- limit orders (day and good-till-cancelled ones: test_broker_hours.py) ------------------------


def test_marketable_limit_orders_fill_at_the_quote_not_the_limit(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    q = broker.market.quote("V")
    buy = order(db, broker, user, symbol="V", side="buy", quantity=2, order_type="limit", limit_price=q.ask + 5)
    assert (buy.status, buy.fill_price) == ("filled", q.ask)
    sell = order(db, broker, user, symbol="V", side="sell", quantity=2, order_type="limit", limit_price=q.bid - 5)
    assert (sell.status, sell.fill_price) == ("filled", q.bid)


def test_resting_limit_buy_reserves_cash_and_fills_when_the_ask_reaches_it(
    db: Engine, broker: Broker, clock: ManualClock
) -> None:
    user = new_user(db)
    limit = broker.market.quote("TSLA").ask - Decimal("1.00")
    placed = order(db, broker, user, symbol="TSLA", side="buy", quantity=50, order_type="limit", limit_price=limit)
    assert placed.status == "new" and placed.fill_price is None
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.cash == START and book.buying_power == START - 50 * limit
    too_many = int(book.buying_power // broker.market.quote("SPY").ask) + 1  # affordable but for the reservation
    assert_rejected(order(db, broker, user, symbol="SPY", side="buy", quantity=too_many), "insufficient cash")
    for _ in range(2000):
        clock.advance(timedelta(minutes=1))
        quote = broker.market.quote("TSLA")
        changed = act(db, lambda s: broker.work_orders(s, user))
        if quote.ask <= limit:
            assert [(o.id, o.status, o.fill_price) for o in changed] == [(placed.id, "filled", quote.ask)]
            break
        assert changed == []
    else:
        pytest.fail("TSLA never traded down to the limit in 2000 minutes; pick another seed")
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.cash == book.buying_power == START - 50 * quote.ask
    assert [(h.symbol, h.quantity) for h in book.positions] == [("TSLA", 50)]


def test_resting_sell_reserves_its_shares(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    order(db, broker, user, symbol="XOM", side="buy", quantity=10)
    high = broker.market.quote("XOM").bid + 20
    resting = order(db, broker, user, symbol="XOM", side="sell", quantity=7, order_type="limit", limit_price=high)
    assert resting.status == "new"
    assert_rejected(order(db, broker, user, symbol="XOM", side="sell", quantity=4), "only 10 held (7 already in open")
    assert order(db, broker, user, symbol="XOM", side="sell", quantity=3).status == "filled"


def test_cancel_order(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    low = Decimal("1.00")
    resting = order(db, broker, user, symbol="PFE", side="buy", quantity=100, order_type="limit", limit_price=low)
    filled = order(db, broker, user, symbol="PFE", side="buy", quantity=1)
    cancelled = act(db, lambda s: broker.cancel_order(s, user, resting.id))
    assert cancelled.status == "cancelled" and act(db, lambda s: broker.open_orders(s, user)) == []
    assert act(db, lambda s: broker.portfolio(s, user)).buying_power == START - filled.fill_price
    with pytest.raises(BrokerError, match="only open orders"):
        act(db, lambda s: broker.cancel_order(s, user, filled.id))
    with pytest.raises(OrderNotFound):
        act(db, lambda s: broker.cancel_order(s, user, 10_000_000))


# -- idempotency ----------------------------------------------------------------------------------


def test_an_idempotency_key_places_one_order(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    first = order(db, broker, user, symbol="AMZN", side="buy", quantity=3, idempotency_key="call_abc")
    again = order(db, broker, user, symbol="AMZN", side="buy", quantity=3, idempotency_key="call_abc")
    different_args = order(db, broker, user, symbol="META", side="buy", quantity=9, idempotency_key="call_abc")
    assert first.id == again.id == different_args.id and count_orders(db, user) == 1
    assert act(db, lambda s: broker.portfolio(s, user)).cash == START - 3 * first.fill_price
    rejected = order(db, broker, user, symbol="AMZN", side="buy", quantity=0, idempotency_key="call_bad")
    assert order(db, broker, user, symbol="AMZN", side="buy", quantity=1, idempotency_key="call_bad").id == rejected.id
    # an empty key (a tool call without an id) is no key
    order(db, broker, user, symbol="AMZN", side="buy", quantity=1, idempotency_key="")
    order(db, broker, user, symbol="AMZN", side="buy", quantity=1, idempotency_key="")
    assert count_orders(db, user) == 4
    # keys are per user: another user's identical key is another order
    other = new_user(db)
    theirs = order(db, broker, other, symbol="AMZN", side="buy", quantity=3, idempotency_key="call_abc")
    assert theirs.id != first.id and theirs.user_id == other


def test_concurrent_orders_of_one_user_cannot_overspend(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    act(db, lambda s: broker.open_account(s, user))
    quantity = int(START * Decimal("0.6") // broker.market.quote("SPY").ask)
    for _ in range(3):
        results = run_together(*[lambda: order(db, broker, user, symbol="SPY", side="buy", quantity=quantity)] * 2)
        assert all(isinstance(r, Order) for r in results), results
        assert sorted(r.status for r in results) == ["filled", "rejected"]
        assert act(db, lambda s: broker.portfolio(s, user)).cash >= 0
        order(db, broker, user, symbol="SPY", side="sell", quantity=quantity)


def test_concurrent_calls_with_one_key_place_one_order(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    act(db, lambda s: broker.open_account(s, user))
    for n in range(3):

        def buy(key: str = f"call_race_{n}") -> Order:
            return order(db, broker, user, symbol="KO", side="buy", quantity=10, idempotency_key=key)

        results = run_together(buy, buy, buy)
        assert all(isinstance(r, Order) for r in results), results
        assert len({r.id for r in results}) == 1
    assert count_orders(db, user) == 3
    [holding] = act(db, lambda s: broker.portfolio(s, user)).positions
    assert holding.quantity == 30


# -- isolation ------------------------------------------------------------------------------------


def test_one_users_calls_never_see_or_change_another_users_account(db: Engine, broker: Broker) -> None:
    alice, bob = new_user(db), new_user(db)
    bought = order(db, broker, alice, symbol="NFLX", side="buy", quantity=5, idempotency_key="k1")
    low = Decimal("10.00")
    resting = order(db, broker, alice, symbol="NFLX", side="buy", quantity=1, order_type="limit", limit_price=low)
    alice_before = act(db, lambda s: broker.portfolio(s, alice))

    bob_book = act(db, lambda s: broker.portfolio(s, bob))
    assert bob_book.positions == [] and bob_book.cash == START and bob_book.realized_pnl == 0
    assert act(db, lambda s: broker.orders(s, bob)) == [] and act(db, lambda s: broker.open_orders(s, bob)) == []
    assert_rejected(order(db, broker, bob, symbol="NFLX", side="sell", quantity=5), "only 0 held")
    with pytest.raises(OrderNotFound):
        act(db, lambda s: broker.cancel_order(s, bob, resting.id))
    with pytest.raises(OrderNotFound):
        act(db, lambda s: broker.cancel_order(s, bob, bought.id))
    assert act(db, lambda s: broker.work_orders(s, bob)) == []
    bob_order = order(db, broker, bob, symbol="NFLX", side="buy", quantity=1, idempotency_key="k1")
    assert bob_order.id != bought.id and bob_order.user_id == bob

    assert act(db, lambda s: broker.portfolio(s, alice)) == alice_before
    assert [o.id for o in act(db, lambda s: broker.open_orders(s, alice))] == [resting.id]
    assert {o.user_id for o in act(db, lambda s: broker.orders(s, alice))} == {alice}
