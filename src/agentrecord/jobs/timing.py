"""When a schedule fires: `every="15m"` or a cron expression, in a time zone, optionally inside a calendar.

Intervals are aligned to the clock (every 15m fires at :00, :15, :30, :45), so they are written as
six-field cron expressions (seconds first) and evaluated by the engine. A calendar is a named
predicate registered in every worker process (tradedesk registers "nyse"); a tick outside it is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ScheduleError

_EVERY = re.compile(r"^\s*(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hours?|d|days?)\s*$", re.IGNORECASE)
_DIVISORS = {"s": (60, "seconds"), "m": (60, "minutes"), "h": (24, "hours")}
_calendars: dict[str, Callable[[datetime], bool]] = {}


def cron_of(every: str | None, cron: str | None) -> str:
    """The six-field cron expression (seconds first) for `every=` or `cron=`; exactly one must be given."""
    if (every is None) == (cron is None):
        raise ScheduleError("Give exactly one of every= (e.g. '15m', '10s', '1h') or cron= (e.g. '*/15 9-16 * * 1-5').")
    if every is not None:
        return _interval(every)
    assert cron is not None
    fields = cron.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6 or not _valid_cron(" ".join(fields)):
        raise ScheduleError(
            f"Not a cron expression: {cron!r}. Use five fields (minute hour day month weekday, e.g. "
            "'*/15 9-16 * * 1-5') or six with seconds first."
        )
    return " ".join(fields)


def _interval(every: str) -> str:
    match = _EVERY.match(every)
    if not match:
        raise ScheduleError(f"Not an interval: {every!r}. Use a number and a unit: '10s', '5m', '1h' or '1d'.")
    count, unit = int(match.group(1)), match.group(2)[0].lower()
    if unit == "d":
        if count != 1:
            raise ScheduleError(f"every={every!r}: only '1d' is supported for days; use cron= for other day patterns.")
        return "0 0 0 * * *"
    limit, name = _DIVISORS[unit]
    if count < 1 or limit % count:
        allowed = ", ".join(f"{d}{unit}" for d in range(1, limit + 1) if limit % d == 0)
        raise ScheduleError(
            f"every={every!r}: intervals are aligned to the clock, so {name} must divide {limit} "
            f"({allowed}); use cron= for anything else."
        )
    step = "*" if count == 1 else f"*/{count}"
    return {"s": f"{step} * * * * *", "m": f"0 {step} * * * *", "h": f"0 0 {step} * * *"}[unit]


def _valid_cron(expression: str) -> bool:
    from croniter import croniter  # installed with the jobs extra (DBOS uses it)

    return bool(croniter.is_valid(expression, second_at_beginning=True))


def zone(tz: str | None) -> str:
    """A valid IANA time zone name (default UTC)."""
    name = tz or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"Unknown time zone {name!r}: use an IANA name such as 'America/New_York' or 'UTC'."
        ) from None
    return name


def previous_tick(cron: str, tz: str, now: datetime) -> datetime:
    """The latest tick at or before `now` (aware)."""
    from croniter import croniter

    it = croniter(cron, now.astimezone(ZoneInfo(tz)), second_at_beginning=True)
    result: datetime = it.get_prev(datetime)
    return result


def next_tick(cron: str, tz: str, now: datetime | None = None) -> datetime:
    """The first tick after `now` (default: now), aware, in UTC."""
    from croniter import croniter

    start = (now or datetime.now(UTC)).astimezone(ZoneInfo(tz))
    result: datetime = croniter(cron, start, second_at_beginning=True).get_next(datetime)
    return result.astimezone(UTC)


def register_calendar(name: str, is_open: Callable[[datetime], bool]) -> None:
    """Make `name` usable as `schedule(..., calendar=name)`: ticks when `is_open(tick)` is false are skipped."""
    _calendars[name] = is_open


def calendar(name: str) -> Callable[[datetime], bool]:
    """The calendar registered as `name` in this process."""
    found = _calendars.get(name)
    if found is None:
        known = ", ".join(sorted(_calendars)) or "none"
        raise ScheduleError(
            f"No calendar {name!r} is registered in this process (registered: {known}); register it with "
            "agentrecord.jobs.register_calendar() in the worker before it starts."
        )
    return found
