"""The exchange tick: work every account with open orders, so resting orders fill and expire on time, and take
equity snapshots on the exchange's clock.

Workers call `tick` on a schedule, possibly several processes at once on one database. Each account
is worked in its own short transaction by `Broker.work_orders`, which locks the account row first and
then reads the orders still open, so two ticks meeting on one account take turns and the second finds
nothing left to fill: no order fills twice. While the exchange is open, every account with positions or
open orders gets an equity snapshot (at most one a minute, see `equity`), and one after each fill.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tradedesk.brokerage import equity, services
from tradedesk.brokerage.accounts import OPEN_STATUSES, Account, Order, Position
from tradedesk.brokerage.broker import Broker

__all__ = ["TickResult", "tick"]


@dataclass(frozen=True)
class TickResult:
    """What one tick did: accounts worked, orders filled (whole or in part), expired or rejected at fill time, and
    equity snapshots taken."""

    as_of: datetime  # the clock when the tick started
    accounts: int
    filled: int
    expired: int
    rejected: int
    partially_filled: int = 0
    snapshots: int = 0


def tick(engine: Engine, *, broker: Broker | None = None) -> TickResult:
    """Work each account that has open orders (default broker: `services.broker()`), one transaction each."""
    broker = broker or services.broker()
    as_of = broker.now()
    trading = broker.calendar.is_open(as_of)
    with Session(engine) as session:
        simulated = set(session.scalars(select(Account.user_id).where(Account.backtest)))  # on a backtest's clock
        working = set(session.scalars(select(Order.user_id).where(Order.status.in_(OPEN_STATUSES)).distinct()))
        holding = set(session.scalars(select(Position.user_id).distinct())) if trading else set()
        working, holding = working - simulated, holding - simulated
    counts: Counter[str] = Counter()
    for user_id in sorted(working | holding):
        with Session(engine) as session, session.begin():
            worked = broker.work_orders(session, user_id) if user_id in working else []
            counts.update(order.status for order in worked)
            filled = any(order.status in ("filled", "partially_filled") for order in worked)
            if filled or trading:
                counts["snapshots"] += equity.snapshot(
                    session, user_id, broker.portfolio(session, user_id), force=filled
                )
    return TickResult(
        as_of=as_of,
        accounts=len(working),
        filled=counts["filled"],
        expired=counts["expired"],
        rejected=counts["rejected"],
        partially_filled=counts["partially_filled"],
        snapshots=counts["snapshots"],
    )
