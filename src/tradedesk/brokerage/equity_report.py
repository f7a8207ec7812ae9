"""What a user's equity snapshots say: drawdown from the running peak and P&L per trading day.

Days are New York calendar days (the exchange's), as for the dashboard's "today". A day's P&L is close
to close: its last snapshot minus the previous day's last one, so the days add up to the whole change;
the first day shown is measured from the last snapshot before it, else from its own first snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

NEW_YORK = ZoneInfo("America/New_York")
PERCENT = Decimal("0.01")
MAX_DAYS = 366


@dataclass(frozen=True)
class DayPnl:
    """One trading day: equity at its last snapshot and the change since the day before's."""

    day: date
    close: Decimal
    pnl: Decimal


@dataclass(frozen=True)
class Drawdown:
    """The deepest fall from a running peak (amount <= 0, percent of that peak) and where the curve is now."""

    max_amount: Decimal
    max_percent: Decimal
    peak: Decimal
    current_amount: Decimal
    current_percent: Decimal


@dataclass(frozen=True)
class EquityReport:
    """A user's equity curve over recent days: snapshots, drawdown and P&L per day (no snapshot: all empty)."""

    since: datetime
    snapshots: list[tuple[datetime, Decimal]]
    drawdown: Drawdown | None
    days: list[DayPnl]


def drawdown(curve: Sequence[Decimal]) -> Drawdown | None:
    """Drawdown of an equity curve (oldest first), or None if it is empty."""
    if not curve:
        return None
    peak = worst = curve[0]
    worst_peak = peak
    for value in curve:
        peak = max(peak, value)
        if value - peak < worst - worst_peak:
            worst, worst_peak = value, peak
    return Drawdown(
        max_amount=worst - worst_peak,
        max_percent=_percent(worst - worst_peak, worst_peak),
        peak=peak,
        current_amount=curve[-1] - peak,
        current_percent=_percent(curve[-1] - peak, peak),
    )


def daily_pnl(snapshots: Sequence[tuple[datetime, Decimal]], before: Decimal | None = None) -> list[DayPnl]:
    """P&L per New York day of time-ordered snapshots; `before` is the equity just before the first one."""
    if not snapshots:
        return []
    closes = {at.astimezone(NEW_YORK).date(): value for at, value in snapshots}  # the day's last one wins
    previous = snapshots[0][1] if before is None else before
    days = []
    for day, close in closes.items():
        days.append(DayPnl(day, close, close - previous))
        previous = close
    return days


def report(session: Session, user_id: int, as_of: datetime, days: int = 30) -> EquityReport:
    """`user_id`'s snapshots over the `days` New York days ending on `as_of`'s, with drawdown and daily P&L."""
    from sqlalchemy import select  # here, not above: the CLI reads MAX_DAYS for its help without loading the ORM

    from tradedesk.brokerage.accounts import utc
    from tradedesk.brokerage.equity import EquitySnapshot

    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"Ask for between 1 and {MAX_DAYS} days (got {days}).")
    first_day = as_of.astimezone(NEW_YORK).date() - timedelta(days=days - 1)
    since = datetime.combine(first_day, time(0), NEW_YORK).astimezone(UTC)
    mine = EquitySnapshot.user_id == user_id
    rows = session.execute(
        select(EquitySnapshot.at, EquitySnapshot.equity)
        .where(mine, EquitySnapshot.at >= since, EquitySnapshot.at <= as_of)
        .order_by(EquitySnapshot.at, EquitySnapshot.id)
    ).all()
    snapshots = [(utc(at), Decimal(value)) for at, value in rows]
    before = session.scalar(
        select(EquitySnapshot.equity)
        .where(mine, EquitySnapshot.at < since)
        .order_by(EquitySnapshot.at.desc(), EquitySnapshot.id.desc())
        .limit(1)
    )
    return EquityReport(
        since=since,
        snapshots=snapshots,
        drawdown=drawdown([value for _, value in snapshots]),
        days=daily_pnl(snapshots, None if before is None else Decimal(before)),
    )


def _percent(amount: Decimal, base: Decimal) -> Decimal:
    """`amount` as a percent of `base`, to two places; a dip too small to show is 0.00, not -0.00."""
    return (amount / base * 100).quantize(PERCENT) + 0 if base else Decimal(0)
