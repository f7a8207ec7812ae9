"""When the exchange trades: a simulated NYSE session calendar, and an always-open one for callers that opt out.

`NyseCalendar` holds the regular session, 9:30-16:00 America/New_York on weekdays, closed on the
exchange's holidays and closing at 13:00 on its early-close days, all computed by rule for any year
(no table to keep up to date). Unscheduled closures (a national day of mourning, a storm) are not
modelled, nor are the rules' histories (Juneteenth counts from 2022, the other holidays always).
`AlwaysOpen` has one session per UTC day, so every instant is in one. Both speak aware UTC datetimes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from tradedesk.market.clock import aware

__all__ = ["NYSE", "AlwaysOpen", "Calendar", "NyseCalendar", "TradingSession", "calendar_from_env", "easter"]

NEW_YORK = ZoneInfo("America/New_York")
OPEN, CLOSE, EARLY_CLOSE = time(9, 30), time(16, 0), time(13, 0)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class TradingSession:
    """One trading session, [open, close) in aware UTC datetimes."""

    open: datetime
    close: datetime

    def __contains__(self, at: datetime) -> bool:
        return self.open <= aware(at) < self.close


class Calendar(Protocol):
    """What the broker needs to know about trading hours."""

    def is_open(self, at: datetime) -> bool: ...

    def session_at(self, at: datetime) -> TradingSession | None:
        """The session containing `at`, or None while the exchange is closed."""
        ...

    def next_session(self, at: datetime) -> TradingSession:
        """The session containing `at`, else the next one to open."""
        ...

    def session_on(self, day: date) -> TradingSession | None:
        """The session of the calendar day `day` (exchange-local), or None if it does not trade."""
        ...

    def holidays(self, year: int) -> dict[date, str]:
        """The full-day closures of `year` on weekdays, as observed, with their names."""
        ...


class NyseCalendar:
    """The New York Stock Exchange's regular session, holidays and 13:00 early closes."""

    def is_open(self, at: datetime) -> bool:
        return self.session_at(at) is not None

    def session_at(self, at: datetime) -> TradingSession | None:
        when = aware(at)
        session = self.session_on(when.astimezone(NEW_YORK).date())
        return session if session is not None and when in session else None

    def next_session(self, at: datetime) -> TradingSession:
        when = aware(at)
        day = when.astimezone(NEW_YORK).date()
        while True:  # at most a weekend plus a holiday or two away
            session = self.session_on(day)
            if session is not None and when < session.close:
                return session
            day += _DAY

    def session_on(self, day: date) -> TradingSession | None:
        if day.weekday() >= 5 or day in _closed(day.year):
            return None
        close = EARLY_CLOSE if day in _early_closes(day.year) else CLOSE
        return TradingSession(_instant(day, OPEN), _instant(day, close))

    def holidays(self, year: int) -> dict[date, str]:
        return dict(_holidays(year))


class AlwaysOpen:
    """Trading around the clock: one session per UTC day, so every instant is inside one."""

    def is_open(self, at: datetime) -> bool:
        aware(at)  # a naive datetime is refused here too
        return True

    def session_at(self, at: datetime) -> TradingSession:
        return self.next_session(at)

    def next_session(self, at: datetime) -> TradingSession:
        return self.session_on(aware(at).date())

    def session_on(self, day: date) -> TradingSession:
        start = datetime.combine(day, time(0), tzinfo=UTC)
        return TradingSession(start, start + _DAY)

    def holidays(self, year: int) -> dict[date, str]:
        return {}


NYSE = NyseCalendar()


def calendar_from_env() -> Calendar:
    """The calendar TRADEDESK_EXCHANGE_HOURS names: `nyse` (the default) or `always` (24/7)."""
    raw = os.environ.get("TRADEDESK_EXCHANGE_HOURS", "nyse")
    choice = raw.strip().lower() or "nyse"
    if choice == "nyse":
        return NYSE
    if choice == "always":
        return AlwaysOpen()
    raise ValueError(f"TRADEDESK_EXCHANGE_HOURS must be nyse or always (got {raw!r})")


def easter(year: int) -> date:
    """Easter Sunday of `year` in the Gregorian calendar (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _instant(day: date, at: time) -> datetime:
    """`at` New York time on `day`, in UTC (zoneinfo applies the day's offset, EST or EDT)."""
    return datetime.combine(day, at, tzinfo=NEW_YORK).astimezone(UTC)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The `n`th `weekday` (0 = Monday) of the month; n = -1 is the last one."""
    if n < 0:
        last = date(year + month // 12, month % 12 + 1, 1) - _DAY
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _observed(day: date) -> date:
    """NYSE observance: a Saturday holiday moves to the Friday before, a Sunday one to the Monday after."""
    return day - _DAY if day.weekday() == 5 else day + _DAY if day.weekday() == 6 else day


@lru_cache(maxsize=64)
def _holidays(year: int) -> tuple[tuple[date, str], ...]:
    fixed = [(date(year, 1, 1), "New Year's Day")]
    if year >= 2022:
        fixed.append((date(year, 6, 19), "Juneteenth National Independence Day"))
    fixed += [(date(year, 7, 4), "Independence Day"), (date(year, 12, 25), "Christmas Day")]
    found = {}
    for day, name in fixed:
        if name == "New Year's Day" and day.weekday() == 5:
            continue  # never observed on Friday December 31: that is the last session of the old year
        observed = _observed(day)
        found[observed] = name if observed == day else f"{name} (observed)"
    found[_nth_weekday(year, 1, 0, 3)] = "Martin Luther King, Jr. Day"
    found[_nth_weekday(year, 2, 0, 3)] = "Washington's Birthday"
    found[easter(year) - 2 * _DAY] = "Good Friday"
    found[_nth_weekday(year, 5, 0, -1)] = "Memorial Day"
    found[_nth_weekday(year, 9, 0, 1)] = "Labor Day"
    found[_nth_weekday(year, 11, 3, 4)] = "Thanksgiving Day"
    return tuple(sorted(found.items()))


@lru_cache(maxsize=64)
def _closed(year: int) -> frozenset[date]:
    return frozenset(day for day, _ in _holidays(year))


@lru_cache(maxsize=64)
def _early_closes(year: int) -> frozenset[date]:
    """13:00 closes: July 3 and Christmas Eve when they are trading weekdays, and the day after Thanksgiving."""
    candidates = [date(year, 7, 3), date(year, 12, 24)]
    days = {day for day in candidates if day.weekday() < 5 and day not in _closed(year)}
    return frozenset(days | {_nth_weekday(year, 11, 3, 4) + _DAY})
