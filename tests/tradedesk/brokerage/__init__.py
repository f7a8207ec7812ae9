"""Helpers for the brokerage tests: users, broker calls each in its own committed transaction, racing threads."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Engine, Integer, String, Table, func, insert, inspect, select
from sqlalchemy.orm import Session

from tradedesk.brokerage.broker import Broker, Order
from tradedesk.brokerage.db import Base
from tradedesk.market import Bar, ManualClock
from tradedesk.market.calendar import AlwaysOpen, Calendar
from tradedesk.market.csv_market import CsvMarket

try:
    import tradedesk.agents.models  # noqa: F401  (defines the users table the brokerage references)
except ModuleNotFoundError:  # models.py not written yet: a stand-in users table
    Table("users", Base.metadata, Column("id", Integer, primary_key=True), Column("email", String(320)))

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
START = Decimal("100000")


def replay_broker(
    clock: ManualClock,
    closes: Mapping[str, Sequence[Decimal | str]],
    *,
    displayed: int | None = None,
    calendar: Calendar | None = None,
) -> Broker:
    """A broker on symbols whose bar i closes at closes[symbol][i], known from T0 + i minutes, with zero spread (the
    bid is the close, the ask a cent above) and `displayed` shares a side; around the clock unless `calendar`."""
    bars = {
        symbol: [Bar(T0 + timedelta(minutes=i - 1), c, c, c, c, 1000) for i, c in enumerate(map(Decimal, path))]
        for symbol, path in closes.items()
    }
    market = CsvMarket(bars, clock=clock, spread_bps=0, displayed=displayed)
    return Broker(market, calendar=calendar or AlwaysOpen())


def path_broker(
    clock: ManualClock,
    closes: Sequence[Decimal | str],
    *,
    displayed: int | None = None,
    calendar: Calendar | None = None,
) -> Broker:
    """`replay_broker` on one symbol, ACME."""
    return replay_broker(clock, {"ACME": closes}, displayed=displayed, calendar=calendar)


def walk(moves: Iterable[int], start: Decimal = Decimal("100")) -> list[Decimal]:
    """A price path: `start`, then moved by each step's cents, never below $5."""
    path = [start]
    for cents_moved in moves:
        path.append(max(Decimal("5"), path[-1] + Decimal(cents_moved) / 100))
    return path


def new_user(engine: Engine) -> int:
    with engine.begin() as conn:
        users = Base.metadata.tables["users"]
        return int(conn.execute(insert(users).values(email=f"{uuid.uuid4().hex}@example.com")).inserted_primary_key[0])


def emptied(engine: Engine) -> None:
    """Delete every row of the tradedesk tables: a property's example starts on an empty database, as on a fresh
    one, so the exchange tick works its own account only, not every earlier example's too (which made each
    example slower than the last)."""
    with engine.begin() as conn:
        present = set(inspect(conn).get_table_names())
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in present:
                conn.execute(table.delete())


def act(engine: Engine, work: Callable[[Session], Any]) -> Any:
    """Run `work` in one committed transaction (as a tool does) and hand back its result, still readable."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return work(session)


def order(engine: Engine, broker: Broker, user_id: int, **kwargs: Any) -> Order:
    result: Order = act(engine, lambda s: broker.place_order(s, user_id, **kwargs))
    return result


def count_orders(engine: Engine, user_id: int) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count(Order.id)).where(Order.user_id == user_id)) or 0)


def run_together(*jobs: Callable[[], Any]) -> list[Any]:
    """Start the jobs at the same moment, each on its own thread; results (or exceptions) in order."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(i: int, job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = job()
        except Exception as exc:  # reported to the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results
