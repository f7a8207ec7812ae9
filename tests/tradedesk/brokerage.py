"""Helpers for the brokerage tests: users, broker calls each in its own committed transaction, racing threads."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Engine, Integer, String, Table, func, insert, select
from sqlalchemy.orm import Session

from tradedesk.broker import Broker, Order
from tradedesk.db import Base

try:
    import tradedesk.models  # noqa: F401  (defines the users table the brokerage references)
except ModuleNotFoundError:  # models.py not written yet: a stand-in users table
    Table("users", Base.metadata, Column("id", Integer, primary_key=True), Column("email", String(320)))

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
START = Decimal("100000")


def new_user(engine: Engine) -> int:
    with engine.begin() as conn:
        users = Base.metadata.tables["users"]
        return int(conn.execute(insert(users).values(email=f"{uuid.uuid4().hex}@example.com")).inserted_primary_key[0])


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
