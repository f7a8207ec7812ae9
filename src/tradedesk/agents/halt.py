"""The kill switch and the daily loss limit: checked on every order an agent places, in the order's transaction.

`halt(session, user)` stops all of a user's agents at once, across processes and workers: the flag is a column,
so the next order of any running turn reads it and is refused ("agent halted"), and their schedules are paused.
`resume` lifts it. Per agent, `max_daily_loss` refuses new *buy* orders once the account's P&L today (equity now
minus the day's first equity snapshot, New York's day) is below minus that amount. Sells stay allowed: they can
only reduce exposure, and refusing them would trap a losing agent in its positions; a sell still passes every
other check (the shares must be held, the risk limits hold).
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from tradedesk.brokerage import equity, services
from tradedesk.users.users import User

NEW_YORK = ZoneInfo("America/New_York")


def refusal(session: Session, agent: Any, side: str) -> str | None:
    """Why `agent` may not place an order on `side` now (paused, halted, past its daily loss), or None."""
    cls = type(agent)
    paused, max_loss = session.execute(select(cls.paused, cls.max_daily_loss).where(cls.id == agent.id)).one()
    if paused:
        return "This agent is paused by its owner: it places no orders."
    # FOR UPDATE (PostgreSQL): a concurrent `halt` waits for this order, so once it returns no order slips past
    if session.scalar(select(User.halted).where(User.id == agent.user_id).with_for_update()):
        return (
            "agent halted: its owner stopped all their agents (the kill switch); no order is placed until they resume."
        )
    if max_loss is not None and side == "buy":
        pnl = today_pnl(session, agent.user_id)
        if pnl < -max_loss:
            return (
                f"daily loss limit reached: the account is {pnl:,.2f} USD today, below this agent's max_daily_loss "
                f"of {max_loss:,.2f}; no new buys today (sells are still allowed)."
            )
    return None


def today_pnl(session: Session, user_id: int) -> Decimal:
    """Equity now minus equity at the first snapshot of the market's day (New York); 0 before any."""
    broker = services.broker()
    book = broker.portfolio(session, user_id)
    equity.snapshot(session, user_id, book)
    day_start = datetime.combine(book.as_of.astimezone(NEW_YORK).date(), time(0), NEW_YORK).astimezone(UTC)
    opening = equity.since(session, user_id, day_start)
    return book.equity - (opening if opening is not None else book.equity)


def set_halted(session: Session, user: Any, halted: bool) -> list[str]:
    """Halt (or resume) all of `user`'s agents; returns the labels of the agents whose schedules changed.

    Schedules of agents the owner paused themselves stay paused on resume.
    """
    user.halted = halted
    session.commit()
    changed = []
    for agent in [*user.daytraders, *user.stock_investors]:
        if agent.paused:
            continue
        for found in agent.schedules():
            if found.active == halted:
                found.pause() if halted else found.resume()
                changed.append(agent.label)
    return sorted(set(changed))
