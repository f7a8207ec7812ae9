"""The exchange tick: work every account with open orders, so resting orders fill and expire on time.

Workers call `tick` on a schedule, possibly several processes at once on one database. Each account
is worked in its own short transaction by `Broker.work_orders`, which locks the account row first and
then reads the orders still open, so two ticks meeting on one account take turns and the second finds
nothing left to fill: no order fills twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from . import equity, services
from .accounts import OPEN_STATUSES, Order
from .broker import Broker

__all__ = ["TickResult", "tick"]


@dataclass(frozen=True)
class TickResult:
    """What one tick did: accounts worked and orders filled, expired or rejected at fill time."""

    as_of: datetime  # the clock when the tick started
    accounts: int
    filled: int
    expired: int
    rejected: int


def tick(engine: Engine, *, broker: Broker | None = None) -> TickResult:
    """Work each account that has open orders (default broker: `services.broker()`), one transaction each."""
    broker = broker or services.broker()
    as_of = broker.now()
    with Session(engine) as session:
        users = list(session.scalars(select(Order.user_id).where(Order.status.in_(OPEN_STATUSES)).distinct()))
    counts = {"filled": 0, "expired": 0, "rejected": 0}
    for user_id in sorted(users):
        with Session(engine) as session, session.begin():
            worked = broker.work_orders(session, user_id)
            for order in worked:
                counts[order.status] += 1
            if any(order.status == "filled" for order in worked):
                equity.snapshot(session, user_id, broker.portfolio(session, user_id), force=True)
    return TickResult(as_of=as_of, accounts=len(users), **counts)
