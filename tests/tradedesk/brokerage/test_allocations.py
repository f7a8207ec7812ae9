"""Capital per agent: the broker keeps an allocated agent's capital in use within its allocation, and the
portfolio breaks positions and P&L down by agent (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from agentrecord.testing import ScriptedModel, call, scripted
from tests.tradedesk.brokerage import T0, act, new_user, replay_broker
from tradedesk.agents.models import StockInvestor
from tradedesk.brokerage import allocations, services
from tradedesk.brokerage.accounts import Account, Fill
from tradedesk.brokerage.broker import Broker, Order, RiskLimits
from tradedesk.brokerage.costs import Costs
from tradedesk.market import ManualClock, SimulatedMarket
from tradedesk.users import User

D = Decimal


def market_of(clock: ManualClock, prices: dict[str, list[str]]) -> Broker:
    """A broker on a market whose symbols trade at `prices[symbol][minute]` (bid; ask a cent above), always open."""
    clock.time = T0
    return replay_broker(clock, prices)


def agent_order(db: Engine, broker: Broker, user: int, agent: int, allocation: str | None, **kw: Any) -> Order:
    """An order by daytrader/`agent`, whose allocation is `allocation` (None: no allocation)."""
    limits = RiskLimits(allocation=None if allocation is None else D(allocation))
    result: Order = act(
        db,
        lambda s: broker.place_order(s, user, agent_kind="daytrader", agent_id=agent, limits=limits, **kw),
    )
    return result


def in_use(db: Engine, user: int, name: str) -> Decimal:
    with Session(db) as session:
        return allocations.in_use(session, user, name, Costs())


def test_a_buy_within_the_allocation_fills_and_one_over_it_is_rejected_with_the_reason(
    db: Engine, clock: ManualClock
) -> None:
    broker = market_of(clock, {"ACME": ["100"] * 3})
    user = new_user(db)
    first = agent_order(db, broker, user, 3, "5000.50", symbol="ACME", side="buy", quantity=40)
    assert first.status == "filled"
    over = agent_order(db, broker, user, 3, "5000.50", symbol="ACME", side="buy", quantity=11)
    assert over.status == "rejected"
    assert over.reason == (
        "allocation exceeded: daytrader/3 may use $5,000.50; $4,000.40 in use, this order needs $1,100.11"
    )
    exact = agent_order(db, broker, user, 3, "5000.50", symbol="ACME", side="buy", quantity=10)
    assert exact.status == "filled" and in_use(db, user, "daytrader/3") == D("5000.50")


def test_an_agent_without_an_allocation_may_use_the_whole_account(db: Engine, clock: ManualClock) -> None:
    broker = market_of(clock, {"ACME": ["100"] * 3})
    user = new_user(db)
    assert agent_order(db, broker, user, 1, None, symbol="ACME", side="buy", quantity=900).status == "filled"


def test_the_commission_counts_against_the_allocation(db: Engine, clock: ManualClock) -> None:
    broker = market_of(clock, {"ACME": ["100"] * 3})
    user = new_user(db)
    act(db, lambda s: broker.open_account(s, user))
    with Session(db) as session, session.begin():
        account = session.query(Account).filter_by(user_id=user).one()
        account.commission_min = D("5")
    over = agent_order(db, broker, user, 1, "1000", symbol="ACME", side="buy", quantity=10)
    assert over.status == "rejected" and "this order needs $1,005.10" in (over.reason or "")
    assert agent_order(db, broker, user, 1, "1005.10", symbol="ACME", side="buy", quantity=10).status == "filled"
    # the commission is spent (out of realized P&L), so only the shares' cost stays in use
    assert in_use(db, user, "daytrader/1") == D("1000.10")


def test_resting_buys_count_against_the_allocation_and_cancelling_frees_it(db: Engine, clock: ManualClock) -> None:
    broker = market_of(clock, {"ACME": ["100"] * 3})
    user = new_user(db)
    resting = agent_order(
        db, broker, user, 1, "5000", symbol="ACME", side="buy", quantity=30, order_type="limit", limit_price=D("90")
    )
    assert resting.is_open and in_use(db, user, "daytrader/1") == D("2700")
    blocked = agent_order(db, broker, user, 1, "5000", symbol="ACME", side="buy", quantity=25)
    assert blocked.status == "rejected" and "$2,700.00 in use, this order needs $2,500.25" in (blocked.reason or "")
    act(db, lambda s: broker.cancel_order(s, user, resting.id))
    assert in_use(db, user, "daytrader/1") == D("0")
    assert agent_order(db, broker, user, 1, "5000", symbol="ACME", side="buy", quantity=25).status == "filled"


def test_an_open_buy_reserves_only_its_unfilled_remainder(db: Engine, clock: ManualClock) -> None:
    broker = market_of(clock, {"ACME": ["100"] * 3})
    user = new_user(db)
    resting = agent_order(
        db, broker, user, 1, "5000", symbol="ACME", side="buy", quantity=30, order_type="limit", limit_price=D("90")
    )
    with Session(db) as session, session.begin():  # a partial fill of 10 shares, as the broker will record one
        session.add(
            Fill(order_id=resting.id, user_id=user, symbol="ACME", side="buy", quantity=10, price=D("90"),
                 commission=D(0), at=T0)
        )  # fmt: skip
    assert in_use(db, user, "daytrader/1") == D("900") + D("1800")


def test_selling_frees_capital_at_the_books_average_cost(db: Engine, clock: ManualClock) -> None:
    broker = market_of(clock, {"ACME": ["100", "120", "120"]})
    user = new_user(db)
    assert agent_order(db, broker, user, 1, "5000.50", symbol="ACME", side="buy", quantity=50).status == "filled"
    clock.advance(timedelta(minutes=1))
    assert agent_order(db, broker, user, 1, "5000.50", symbol="ACME", side="buy", quantity=1).status == "rejected"
    assert agent_order(db, broker, user, 1, "5000.50", symbol="ACME", side="sell", quantity=20).status == "filled"
    assert in_use(db, user, "daytrader/1") == D("3000.30")
    assert agent_order(db, broker, user, 1, "5000.50", symbol="ACME", side="buy", quantity=16).status == "filled"
    assert in_use(db, user, "daytrader/1") == D("4920.46")


def test_an_allocated_agent_cannot_sell_another_agents_shares(db: Engine, clock: ManualClock) -> None:
    broker = market_of(clock, {"ACME": ["100"] * 3})
    user = new_user(db)
    assert agent_order(db, broker, user, 1, None, symbol="ACME", side="buy", quantity=10).status == "filled"
    refused = agent_order(db, broker, user, 2, "5000", symbol="ACME", side="sell", quantity=5)
    assert refused.status == "rejected"
    assert refused.reason == (
        "cannot sell 5 ACME: daytrader/2's own book holds 0; an agent with an allocation sells only shares it bought"
    )
    # an agent without an allocation keeps today's behaviour: it may sell any of the account's shares
    assert agent_order(db, broker, user, 3, None, symbol="ACME", side="sell", quantity=4).status == "filled"
    with Session(db) as session:
        books = allocations.ledgers(session, user)
    assert books["daytrader/1"].held("ACME") == 6 and books["daytrader/3"].held("ACME") == 0


def test_an_allocated_agents_open_sells_hold_its_shares(db: Engine, clock: ManualClock) -> None:
    broker = market_of(clock, {"ACME": ["100"] * 3})
    user = new_user(db)
    agent_order(db, broker, user, 1, "5000", symbol="ACME", side="buy", quantity=10)
    resting = agent_order(
        db, broker, user, 1, "5000", symbol="ACME", side="sell", quantity=8, order_type="limit", limit_price=D("150")
    )
    assert resting.is_open
    refused = agent_order(db, broker, user, 1, "5000", symbol="ACME", side="sell", quantity=3)
    assert refused.status == "rejected" and "holds 10 (8 already in its open sell orders)" in (refused.reason or "")


def test_the_owners_sale_of_an_agents_shares_comes_out_of_the_agents_book(db: Engine, clock: ManualClock) -> None:
    broker = market_of(clock, {"ACME": ["100", "110", "110"]})
    user = new_user(db)
    agent_order(db, broker, user, 1, "5000", symbol="ACME", side="buy", quantity=40)
    clock.advance(timedelta(minutes=1))
    mine = act(db, lambda s: broker.place_order(s, user, symbol="ACME", side="sell", quantity=15))
    assert mine.status == "filled"
    with Session(db) as session:
        books = allocations.ledgers(session, user)
    assert books["daytrader/1"].held("ACME") == 25 and books[allocations.YOU].realized == D("149.85")
    assert in_use(db, user, "daytrader/1") == D("2500.25")


def test_per_agent_pnl_adds_up_to_the_accounts(db: Engine, clock: ManualClock) -> None:
    broker = market_of(clock, {"ACME": ["100", "104.5", "97.25", "101"], "BOLT": ["20", "21", "19.5", "23.75"]})
    user = new_user(db)
    act(db, lambda s: broker.open_account(s, user))
    with Session(db) as session, session.begin():
        account = session.query(Account).filter_by(user_id=user).one()
        account.commission_per_share, account.commission_min = D("0.01"), D("1")
    agent_order(db, broker, user, 1, "9000", symbol="ACME", side="buy", quantity=60)
    agent_order(db, broker, user, 2, None, symbol="BOLT", side="buy", quantity=300)
    act(db, lambda s: broker.place_order(s, user, symbol="BOLT", side="buy", quantity=100))
    clock.advance(timedelta(minutes=1))
    agent_order(db, broker, user, 1, "9000", symbol="ACME", side="sell", quantity=25)
    agent_order(db, broker, user, 2, None, symbol="BOLT", side="sell", quantity=120)
    clock.advance(timedelta(minutes=1))
    agent_order(db, broker, user, 1, "9000", symbol="ACME", side="buy", quantity=33)
    act(db, lambda s: broker.place_order(s, user, symbol="BOLT", side="sell", quantity=40))
    clock.advance(timedelta(minutes=1))
    limits = {"daytrader/1": D("9000"), "daytrader/2": None, "daytrader/4": D("100")}
    with Session(db) as session, session.begin():
        account_book = broker.portfolio(session, user)
        rows = allocations.by_agent(session, broker, user, limits)
    assert [r.agent for r in rows] == ["you", "daytrader/1", "daytrader/2", "daytrader/4"]
    assert account_book.realized_pnl != 0 and account_book.unrealized_pnl != 0
    assert sum(r.realized_pnl for r in rows) == account_book.realized_pnl
    assert sum(r.unrealized_pnl for r in rows) == account_book.unrealized_pnl
    assert sum(r.market_value for r in rows) == account_book.market_value
    held: dict[str, int] = {}
    for row in rows:
        for p in row.positions:
            held[p.symbol] = held.get(p.symbol, 0) + p.quantity
    assert held == {p.symbol: p.quantity for p in account_book.positions}
    by_name = {r.agent: r for r in rows}
    assert by_name["daytrader/4"].positions == [] and by_name["daytrader/4"].allocation == D("100")
    assert by_name["daytrader/1"].allocation == D("9000") and by_name["daytrader/1"].in_use <= D("9000")


def test_books_total_pnl_adds_up_when_agents_share_a_symbol_at_different_costs(db: Engine, clock: ManualClock) -> None:
    broker = market_of(clock, {"ACME": ["100", "120", "110", "115"]})
    user = new_user(db)
    agent_order(db, broker, user, 1, None, symbol="ACME", side="buy", quantity=10)
    clock.advance(timedelta(minutes=1))
    agent_order(db, broker, user, 2, None, symbol="ACME", side="buy", quantity=10)
    clock.advance(timedelta(minutes=1))
    agent_order(db, broker, user, 1, None, symbol="ACME", side="sell", quantity=10)
    clock.advance(timedelta(minutes=1))
    with Session(db) as session, session.begin():
        account_book = broker.portfolio(session, user)
        rows = allocations.by_agent(session, broker, user, {})
    by_name = {r.agent: r for r in rows}
    # each book keeps its own average cost: daytrader/1 made $99.90 on its own shares
    assert by_name["daytrader/1"].realized_pnl == D("99.90") and by_name["daytrader/2"].positions[0].cost_basis == D(
        "1200.10"
    )
    total = sum(r.realized_pnl + r.unrealized_pnl for r in rows)
    assert total == account_book.realized_pnl + account_book.unrealized_pnl


def test_an_allocated_agents_portfolio_tool_tells_it_its_allocation_and_what_is_in_use(db: Engine) -> None:
    services.use_market(SimulatedMarket(seed=7, clock=lambda: datetime(2026, 11, 25, 15, 0, tzinfo=UTC)))
    try:
        with Session(db) as session:
            investor = StockInvestor(user=User(email="ivy@example.com"), provider="openai")
            other = StockInvestor(user=User(email="olga@example.com"), provider="openai")
            investor.allocation = D("2500")
            session.add_all([investor, other])
            session.commit()
            steps = [call("order_entry", symbol="KO", side="buy", quantity=10), call("portfolio_book"), "ok"]
            with scripted(StockInvestor, ScriptedModel(steps)):  # type: ignore[arg-type]
                reply = investor.talk("go")
            with scripted(StockInvestor, ScriptedModel([call("portfolio_book"), "ok"])):  # type: ignore[arg-type]
                unallocated = other.talk("go")
    finally:
        services.use_market(None)
    returns = [p.content for m in reply.messages for p in getattr(m, "parts", []) if p.part_kind == "tool-return"]
    bought, book = returns
    assert bought["status"] == "filled" and book["allocation"] == "2500.00"
    assert D(book["in_use"]) == D(str(bought["fill_price"])) * 10
    (plain,) = [
        p.content for m in unallocated.messages for p in getattr(m, "parts", []) if p.part_kind == "tool-return"
    ]
    assert "allocation" not in plain and "in_use" not in plain and "equity" in plain
