"""Property tests of the broker: random order flows against a hand-written ledger, on SQLite and PostgreSQL.

After every call: cash + market value == equity, cash and buying power never negative, each idempotency
key is one order, every fill is at the quote (buys at the ask, sells at the bid, never through the
limit), each order's outcome is the one the ledger predicts, and realized/unrealized P&L match an
average-cost ledger kept in exact fractions (the broker rounds the cost basis it takes off a partial
sale to the cent, so each partial sale may move up to half a cent between realized and unrealized).
Trading hours are beside the point here: the broker trades around the clock (`AlwaysOpen`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from tests.properties import examples
from tests.tradedesk.brokerage import START, T0, act, new_user
from tradedesk.brokerage.accounts import Account, Fill, utc
from tradedesk.brokerage.broker import Broker, Order, Portfolio, RiskLimits
from tradedesk.brokerage.costs import Costs
from tradedesk.market import ManualClock, Quote, SimulatedMarket, UnknownSymbol
from tradedesk.market.calendar import AlwaysOpen
from tradedesk.market.money import CENT

SYMBOLS = ["AAPL", "KO", "TSLA", "PFE", "SPY"]
HALF_CENT = Fraction(1, 200)
OPENING = {"KO": 40, "TSLA": 15, "PFE": 100}
PROPERTY = settings(
    max_examples=examples(50),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def broker(clock: ManualClock) -> Broker:
    """Around the clock: the flows wait up to a day between orders, and the ledger knows no trading hours."""
    return Broker(SimulatedMarket(seed=11, clock=clock), calendar=AlwaysOpen())


@pytest.fixture
def whole_fills(clock: ManualClock) -> Broker:
    """No book depth: every order fills whole, as the hand-written ledger assumes (partial fills are checked by the
    costs property below and in test_broker_partial_fills)."""
    return Broker(SimulatedMarket(seed=11, clock=clock, depth=False), calendar=AlwaysOpen())


@dataclass
class Resting:
    side: str
    symbol: str
    quantity: int
    limit: Decimal
    time_in_force: str
    day: Any


@dataclass
class Ledger:
    """What the account should hold, from first principles: exact average cost, no rounding."""

    cash: Decimal = START
    realized: Fraction = Fraction(0)
    lots: dict[str, tuple[int, Fraction]] = field(default_factory=dict)  # shares, total cost
    resting: dict[int, Resting] = field(default_factory=dict)
    partial_sells: int = 0

    def held(self, symbol: str) -> int:
        return self.lots.get(symbol, (0, Fraction(0)))[0]

    def reserved_cash(self) -> Decimal:
        return sum((r.limit * r.quantity for r in self.resting.values() if r.side == "buy"), Decimal(0))

    def reserved_shares(self, symbol: str) -> int:
        return sum(r.quantity for r in self.resting.values() if r.side == "sell" and r.symbol == symbol)

    def fill(self, side: str, symbol: str, quantity: int, price: Decimal) -> None:
        shares, cost = self.lots.get(symbol, (0, Fraction(0)))
        if side == "buy":
            self.cash -= price * quantity
            self.lots[symbol] = (shares + quantity, cost + Fraction(price) * quantity)
            return
        average = cost / shares
        self.cash += price * quantity
        self.realized += (Fraction(price) - average) * quantity
        if quantity < shares:
            self.partial_sells += 1
            self.lots[symbol] = (shares - quantity, cost - average * quantity)
        else:
            del self.lots[symbol]

    def unrealized(self, lasts: dict[str, Decimal]) -> Fraction:
        return sum((Fraction(lasts[s]) * q - cost for s, (q, cost) in self.lots.items()), Fraction(0))

    def outcome(self, side: str, symbol: str, quantity: int, limit: Decimal | None, quote: Quote | None) -> str:
        """The status a new order should get."""
        if quote is None or quantity <= 0:
            return "rejected"
        touch = quote.ask if side == "buy" else quote.bid
        marketable = limit is None or (touch <= limit if side == "buy" else touch >= limit)
        price = touch if marketable else limit
        assert price is not None
        if side == "sell" and quantity > self.held(symbol) - self.reserved_shares(symbol):
            return "rejected"
        if side == "buy" and price * quantity > self.cash - self.reserved_cash():
            return "rejected"
        return "filled" if marketable else "new"


def quote_of(broker: Broker, symbol: str) -> Quote | None:
    try:
        return broker.market.quote(symbol)
    except UnknownSymbol:
        return None


def touch(quote: Quote | None, side: str) -> Decimal:
    assert quote is not None
    return quote.ask if side == "buy" else quote.bid


def check_fill(order: Order, quote: Quote | None) -> None:
    """Filled at the quote of this moment, and never through its limit."""
    assert order.fill_price == touch(quote, order.side)
    if order.limit_price is not None:
        assert order.fill_price <= order.limit_price if order.side == "buy" else order.fill_price >= order.limit_price


def check_account(db: Engine, broker: Broker, user: int, ledger: Ledger) -> Portfolio:
    """The invariants that hold after every call."""
    book: Portfolio = act(db, lambda s: broker.portfolio(s, user))
    lasts = {h.symbol: h.last for h in book.positions}
    assert book.cash == ledger.cash and book.cash >= 0
    assert book.buying_power == ledger.cash - ledger.reserved_cash() >= 0
    assert {h.symbol: h.quantity for h in book.positions} == {s: q for s, (q, _) in ledger.lots.items()}
    for h in book.positions:
        assert h.quantity > 0 and h.last == broker.market.quote(h.symbol).last
        assert h.market_value == h.quantity * h.last
    assert book.market_value == sum((h.market_value for h in book.positions), Decimal(0))
    assert book.equity == book.cash + book.market_value
    assert book.realized_pnl + book.unrealized_pnl == book.equity - START
    drift = HALF_CENT * ledger.partial_sells
    assert abs(Fraction(book.realized_pnl) - ledger.realized) <= drift
    assert abs(Fraction(book.unrealized_pnl) - ledger.unrealized(lasts)) <= drift
    with Session(db) as session:
        keys = select(Order.idempotency_key, func.count(Order.id)).where(Order.user_id == user)
        assert session.execute(keys.group_by(Order.idempotency_key).having(func.count(Order.id) > 1)).all() == []
    return book


steps = st.lists(
    st.fixed_dictionaries(
        {
            "side": st.sampled_from(["buy", "buy", "sell"]),
            "symbol": st.sampled_from(["KO", "TSLA", "PFE", "KO", "TSLA", "PFE", "ZZZZ"]),
            # a number of shares, or a share of what is held (to sell part, all, or one too many)
            "quantity": st.one_of(
                st.integers(1, 15),
                st.integers(1, 40),
                st.integers(-2, 0),
                st.integers(40, 300),
                st.sampled_from(["half", "all", "all+1"]),
            ),
            "limit_bps": st.one_of(st.none(), st.integers(-30, 30)),  # None: a market order
            "time_in_force": st.sampled_from(["day", "gtc"]),
            "wait": st.sampled_from([0, 1, 3, 17, 90, 600, 1440]),
            "reuse": st.one_of(st.none(), st.none(), st.integers(0, 100)),  # replay an earlier call's key
        }
    ),
    min_size=4,
    max_size=25,
)


def shares(spec: int | str, held: int) -> int:
    if isinstance(spec, int):
        return spec
    return {"half": held // 2, "all": held, "all+1": held + 1}[spec]


@PROPERTY
@given(steps=steps)
def test_random_order_flows_keep_the_books_straight(
    db: Engine, whole_fills: Broker, clock: ManualClock, steps: list[dict[str, Any]]
) -> None:
    broker = whole_fills
    clock.time = T0
    user = new_user(db)
    ledger = Ledger()
    keys: dict[str, int] = {}
    for symbol, quantity in OPENING.items():  # start from a few positions, so that sells have something to sell
        opening = act(
            db,
            lambda s, symbol=symbol, quantity=quantity: broker.place_order(
                s, user, symbol=symbol, side="buy", quantity=quantity, idempotency_key=f"open_{symbol}"
            ),
        )
        check_fill(opening, broker.market.quote(symbol))
        ledger.fill("buy", symbol, quantity, broker.market.quote(symbol).ask)
        keys[opening.idempotency_key] = opening.id
    for n, step in enumerate(steps):
        clock.advance(timedelta(minutes=step["wait"]))
        quote = quote_of(broker, step["symbol"])
        limit = None
        if step["limit_bps"] is not None and quote is not None:
            limit = (quote.last * (1 + Decimal(step["limit_bps"]) / 10_000)).quantize(Decimal("0.01"))
        quantity = shares(step["quantity"], ledger.held(step["symbol"]))
        replayed = list(keys)[step["reuse"] % len(keys)] if step["reuse"] is not None and keys else None
        key = replayed or f"call_{n}"
        placed = act(
            db,
            lambda s, step=step, quantity=quantity, limit=limit, key=key: broker.place_order(
                s,
                user,
                symbol=step["symbol"],
                side=step["side"],
                quantity=quantity,
                order_type="market" if limit is None else "limit",
                limit_price=limit,
                time_in_force=step["time_in_force"],
                idempotency_key=key,
            ),
        )
        if replayed is not None:
            assert placed.id == keys[replayed]  # the same order, nothing new placed
        else:
            keys[key] = placed.id
        orders = {o.id: o for o in act(db, lambda s: broker.orders(s, user, limit=1000))}
        assert len(orders) == len(keys)

        # resting orders first: the broker works them before it looks at a new order
        for order_id in sorted(ledger.resting):
            before, now = ledger.resting[order_id], orders[order_id]
            if now.status == "new":
                continue
            assert replayed is None  # a replay returns at once, it works nothing
            del ledger.resting[order_id]
            event(f"resting order {now.status}")
            if now.status == "expired":
                assert before.time_in_force == "day" and before.day < clock.time.date()
            else:
                assert now.status == "filled", now.reason
                check_fill(now, broker.market.quote(now.symbol))
                ledger.fill(now.side, now.symbol, now.quantity, touch(broker.market.quote(now.symbol), now.side))
        if replayed is None:
            expected = ledger.outcome(step["side"], step["symbol"], quantity, limit, quote)
            event(f"{step['side']} {'market' if limit is None else 'limit'} order {expected}")
            assert placed.status == expected, placed.reason
            if expected == "filled":
                check_fill(placed, quote)
                ledger.fill(placed.side, placed.symbol, placed.quantity, touch(quote, placed.side))
            elif expected == "new":
                assert limit is not None
                ledger.resting[placed.id] = Resting(
                    placed.side, placed.symbol, placed.quantity, limit, placed.time_in_force, clock.time.date()
                )
            else:
                assert placed.reason
        # whatever still rests could not have filled now (a replay returns at once and works nothing)
        for order_id, resting in ledger.resting.items():
            assert orders[order_id].status == "new"
            if replayed is not None:
                continue
            price = touch(broker.market.quote(resting.symbol), resting.side)
            assert price > resting.limit if resting.side == "buy" else price < resting.limit
        check_account(db, broker, user, ledger)
    event(f"partial sells: {min(ledger.partial_sells, 3)}{'+' if ledger.partial_sells >= 3 else ''}")


limit_sets = st.builds(
    RiskLimits,
    max_order_notional=st.one_of(st.none(), st.integers(1_000, 40_000).map(Decimal)),
    max_position_weight=st.one_of(st.none(), st.integers(5, 60).map(lambda p: Decimal(p) / 100)),
    max_orders_per_day=st.one_of(st.none(), st.integers(1, 6)),
)
buys = st.lists(
    st.tuples(st.sampled_from(SYMBOLS), st.integers(1, 150), st.sampled_from([0, 5, 120, 1440])),
    min_size=1,
    max_size=10,
)


@PROPERTY
@given(limits=limit_sets, flow=buys)
def test_risk_limits_reject_exactly_the_orders_that_would_break_them(
    db: Engine, whole_fills: Broker, clock: ManualClock, limits: RiskLimits, flow: list[tuple[str, int, int]]
) -> None:
    broker = whole_fills
    clock.time = T0
    user = new_user(db)
    placed_today: dict[Any, int] = {}
    for n, (symbol, quantity, wait) in enumerate(flow):
        clock.advance(timedelta(minutes=wait))
        book = act(db, lambda s: broker.portfolio(s, user))
        q = broker.market.quote(symbol)
        notional = q.ask * quantity
        held = next((h.quantity for h in book.positions if h.symbol == symbol), 0)
        equity_after = book.equity - notional + q.last * quantity
        day = clock.time.date()
        # the broker's order of checks: orders per day, notional, cash, position weight
        if (limits.max_orders_per_day is not None and placed_today.get(day, 0) >= limits.max_orders_per_day) or (
            limits.max_order_notional is not None and notional > limits.max_order_notional
        ):
            expected = "risk limit exceeded"
        elif notional > book.buying_power:
            expected = "insufficient cash"
        elif limits.max_position_weight is not None and (
            equity_after <= 0 or (held + quantity) * q.last / equity_after > limits.max_position_weight
        ):
            expected = "risk limit exceeded"
        else:
            expected = "filled"
        placed = act(
            db,
            lambda s, symbol=symbol, quantity=quantity, n=n: broker.place_order(
                s,
                user,
                symbol=symbol,
                side="buy",
                quantity=quantity,
                idempotency_key=f"k{n}",
                agent_kind="stock_investor",
                agent_id=7,
                limits=limits,
            ),
        )
        if expected != "filled":
            assert placed.status == "rejected" and expected in (placed.reason or ""), placed.reason
        else:
            assert placed.status == "filled", placed.reason
            placed_today[day] = placed_today.get(day, 0) + 1
            after = act(db, lambda s: broker.portfolio(s, user))
            position = next(h for h in after.positions if h.symbol == symbol)
            if limits.max_position_weight is not None:
                assert position.market_value / after.equity <= limits.max_position_weight
            if limits.max_order_notional is not None:
                assert placed.fill_price is not None
                assert placed.fill_price * placed.quantity <= limits.max_order_notional


cost_sets = st.builds(
    Costs,
    commission_per_share=st.sampled_from(["0", "0.005", "0.01", "0.035"]).map(Decimal),
    commission_min=st.sampled_from(["0", "0.35", "1", "4.99"]).map(Decimal),
    impact_bps=st.sampled_from(["0", "1.5", "10", "75"]).map(Decimal),
)
costed_steps = st.lists(
    st.tuples(
        st.sampled_from(["buy", "buy", "sell"]),
        st.sampled_from(["KO", "TSLA", "PFE"]),
        st.one_of(st.integers(1, 40), st.integers(200, 2500), st.sampled_from(["half", "all"])),
        st.one_of(st.none(), st.integers(-30, 30)),  # None: a market order, else a limit this many bps off the last
        st.sampled_from([0, 3, 90, 1440]),
    ),
    min_size=3,
    max_size=15,
)


@PROPERTY
@given(cost=cost_sets, flow=costed_steps)
def test_with_random_costs_cash_plus_positions_is_still_equity(
    db: Engine, broker: Broker, clock: ManualClock, cost: Costs, flow: list[tuple[str, str, int | str, int | None, int]]
) -> None:
    clock.time = T0
    user = new_user(db)
    act(db, lambda s: broker.open_account(s, user))
    settings_ = {"commission_per_share": cost.commission_per_share, "commission_min": cost.commission_min}
    act(
        db,
        lambda s: s.execute(
            update(Account).where(Account.user_id == user).values(**settings_, impact_bps=cost.impact_bps)
        ),
    )
    cash = START
    for n, (side, symbol, spec, limit_bps, wait) in enumerate(flow):
        clock.advance(timedelta(minutes=wait))
        book = act(db, lambda s: broker.portfolio(s, user))
        held = next((h.quantity for h in book.positions if h.symbol == symbol), 0)
        quote = broker.market.quote(symbol)
        limit = None if limit_bps is None else (quote.last * (1 + Decimal(limit_bps) / 10_000)).quantize(CENT)
        act(
            db,
            lambda s, side=side, symbol=symbol, spec=spec, limit=limit, n=n, held=held: broker.place_order(
                s,
                user,
                symbol=symbol,
                side=side,
                quantity=shares(spec, held),
                order_type="market" if limit is None else "limit",
                limit_price=limit,
                time_in_force="gtc",
                idempotency_key=f"k{n}",
            ),
        )
        book = act(db, lambda s: broker.portfolio(s, user))
        fills = act(db, lambda s: list(s.scalars(select(Fill).where(Fill.user_id == user))))
        fees = sum((f.commission for f in fills), Decimal(0))
        flows = sum((f.price * f.quantity * (-1 if f.side == "buy" else 1) for f in fills), Decimal(0))
        cash = START + flows - fees
        assert book.cash == cash >= 0 and book.buying_power >= 0
        assert book.commissions == fees
        assert book.equity == book.cash + book.market_value
        assert book.realized_pnl + book.unrealized_pnl == book.equity - START
        orders = {o.id: o for o in act(db, lambda s: broker.orders(s, user, limit=1000))}
        for f in fills:
            placed = orders[f.order_id]
            quote = broker.market.quote(f.symbol, at=utc(f.at))
            assert f.price == cost.fill_price(touch(quote, f.side), f.side, f.quantity)
            assert f.quantity <= (quote.ask_size if f.side == "buy" else quote.bid_size)  # type: ignore[operator]
            if placed.limit_price is not None:
                assert f.price <= placed.limit_price if f.side == "buy" else f.price >= placed.limit_price
        for o in orders.values():
            mine = [f for f in fills if f.order_id == o.id]
            assert o.filled_quantity == sum(f.quantity for f in mine) <= o.quantity
            assert (o.commission or 0) == cost.commission_on(o.filled_quantity, o.filled_value)
            assert o.status != "filled" or o.filled_quantity == o.quantity
        partial = any(0 < o.filled_quantity < o.quantity for o in orders.values())
        event(f"fills: {min(len(fills), 5)}{'+' if len(fills) >= 5 else ''}; partial: {partial}")


def quote_at(broker: Broker, filled: Order) -> Quote:
    assert filled.filled_at is not None
    return broker.market.quote(filled.symbol, at=utc(filled.filled_at))
