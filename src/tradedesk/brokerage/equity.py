"""Equity over time: a snapshot of a user's cash and equity, taken when it is looked at or an order fills.

Snapshots are at most one a minute per user (a busy dashboard does not grow the table), enough to draw
an equity curve and to tell today's P&L from the first snapshot of the trading day.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import DateTime, ForeignKey, Index, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tradedesk.brokerage.accounts import utc
from tradedesk.brokerage.broker import Portfolio
from tradedesk.brokerage.columns import Money
from tradedesk.brokerage.db import Base

MIN_GAP = timedelta(seconds=60)


class EquitySnapshot(Base):
    """A user's cash and equity at one moment of the market's clock."""

    __tablename__ = "equity_snapshots"
    __table_args__ = (Index("ix_equity_snapshots_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cash: Mapped[Decimal] = mapped_column(Money())
    equity: Mapped[Decimal] = mapped_column(Money())


def snapshot(session: Session, user_id: int, book: Portfolio, *, force: bool = False) -> bool:
    """Record `book` unless the user's last snapshot is under a minute old (`force`: after a fill). True if written."""
    last = session.scalar(
        select(EquitySnapshot.at).where(EquitySnapshot.user_id == user_id).order_by(EquitySnapshot.at.desc()).limit(1)
    )
    at = utc(book.as_of)
    if last is not None and not force and at - utc(last) < MIN_GAP:
        return False
    session.add(EquitySnapshot(user_id=user_id, at=at, cash=book.cash, equity=book.equity))
    return True


def history(session: Session, user_id: int, limit: int = 500) -> list[tuple[datetime, Decimal]]:
    """The user's latest `limit` snapshots, oldest first, as (time, equity)."""
    query = (
        select(EquitySnapshot.at, EquitySnapshot.equity)
        .where(EquitySnapshot.user_id == user_id)
        .order_by(EquitySnapshot.at.desc())
        .limit(limit)
    )
    return [(utc(at), Decimal(equity)) for at, equity in reversed(session.execute(query).all())]


def since(session: Session, user_id: int, start: datetime) -> Decimal | None:
    """Equity at the first snapshot at or after `start` (the day's opening equity), or None."""
    query = (
        select(EquitySnapshot.equity)
        .where(EquitySnapshot.user_id == user_id, EquitySnapshot.at >= start)
        .order_by(EquitySnapshot.at)
        .limit(1)
    )
    found = session.scalar(query)
    return None if found is None else Decimal(found)
