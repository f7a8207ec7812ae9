"""Property test of capital per agent: random orders by several agents (some with random allocations) and by the
owner, of every kind, over random price paths worked minute by minute, on SQLite and PostgreSQL.

After every event: each allocated agent's capital in use is within its allocation, and the agents' books add up
to the account's positions and total P&L.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.properties import examples
from tests.tradedesk.brokerage import T0, act, emptied, new_user, path_broker, walk
from tradedesk.brokerage import allocations
from tradedesk.brokerage.broker import Broker, RiskLimits
from tradedesk.brokerage.costs import Costs
from tradedesk.brokerage.exchange import tick
from tradedesk.market import ManualClock, Quote

PROPERTY = settings(
    max_examples=examples(25),
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MINUTES = 10
AGENTS = (1, 2, 3)

moves = st.lists(st.one_of(st.integers(-150, 150), st.integers(-1200, 1200)), min_size=MINUTES, max_size=MINUTES)
allocation = st.one_of(st.none(), st.integers(0, 6000).map(lambda d: Decimal(d)))
orders = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, MINUTES - 2),
            "agent": st.sampled_from([None, *AGENTS]),
            "side": st.sampled_from(["buy", "buy", "sell"]),
            "quantity": st.integers(1, 40),
            "order_type": st.sampled_from(["market", "market", "limit", "stop"]),
            "offset_bps": st.integers(-600, 600),
            "time_in_force": st.sampled_from(["day", "gtc"]),
        }
    ),
    min_size=1,
    max_size=14,
)


def arguments(spec: dict[str, Any], quote: Quote) -> dict[str, Any]:
    at = (quote.last * (1 + Decimal(spec["offset_bps"]) / 10_000)).quantize(Decimal("0.01"))
    out: dict[str, Any] = {k: spec[k] for k in ("side", "quantity", "order_type", "time_in_force")}
    if spec["order_type"] == "limit":
        out["limit_price"] = at
    elif spec["order_type"] == "stop":
        out["stop_price"] = at
    return out


def check(db: Engine, broker: Broker, user: int, limits: dict[int, Decimal | None]) -> None:
    with Session(db) as session, session.begin():
        account = broker.portfolio(session, user)
        books = allocations.ledgers(session, user)
        for agent, allowed in limits.items():
            used = allocations.in_use(session, user, f"daytrader/{agent}", Costs())
            if allowed is not None:
                assert used <= allowed, f"daytrader/{agent} has {used} in use, above its allocation of {allowed}"
        rows = allocations.by_agent(session, broker, user, {f"daytrader/{a}": v for a, v in limits.items()})
    held: dict[str, int] = {}
    for name, book in books.items():
        for symbol, quantity in book.shares.items():
            assert quantity > 0, f"{name}'s book holds {quantity} {symbol}"
            held[symbol] = held.get(symbol, 0) + quantity
    assert held == {p.symbol: p.quantity for p in account.positions}
    assert sum(r.market_value for r in rows) == account.market_value
    total = sum(r.realized_pnl + r.unrealized_pnl for r in rows)
    assert total == account.realized_pnl + account.unrealized_pnl


@PROPERTY
@given(path=moves, flow=orders, allowed=st.tuples(allocation, allocation, allocation))
def test_allocations_are_never_exceeded_and_the_books_add_up_to_the_account(
    db: Engine, clock: ManualClock, path: list[int], flow: list[dict[str, Any]], allowed: tuple[Decimal | None, ...]
) -> None:
    broker = path_broker(clock, walk(path))
    market = broker.market
    clock.time = T0
    emptied(db)
    user = new_user(db)
    limits = dict(zip(AGENTS, allowed, strict=True))
    for minute in range(MINUTES - 1):
        for spec in (s for s in flow if s["minute"] == minute):
            extra = arguments(spec, market.quote("ACME"))
            agent = spec["agent"]
            if agent is not None:
                extra |= {"agent_kind": "daytrader", "agent_id": agent, "limits": RiskLimits(allocation=limits[agent])}
            new = act(db, lambda s, extra=extra: broker.place_order(s, user, symbol="ACME", **extra))
            reason = new.reason or ""
            kinds = ("allocation exceeded", "own book", "cannot sell", "insufficient cash")
            event(f"{new.status} {next((k for k in kinds if k in reason), '')}".strip())
            check(db, broker, user, limits)
        clock.advance(timedelta(minutes=1))
        tick(db, broker=broker)
        check(db, broker, user, limits)
