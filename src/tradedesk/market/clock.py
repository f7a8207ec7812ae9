"""The market clock every process agrees on: real time, or a simulated time set by the environment.

A simulated clock is a pure function of real time (simulated = START + (real - ANCHOR) x SPEED), so
the CLI and any number of worker processes started with the same variables compute the same "now"
without talking to each other:

- `TRADEDESK_CLOCK_START`: the simulated time at the anchor, an ISO 8601 datetime with a UTC offset.
  Unset: the real clock (the other two variables must then be unset too).
- `TRADEDESK_CLOCK_ANCHOR`: the real time, in Unix epoch seconds, at which simulated time is START.
  Default: START itself, so at speed 1 simulated time is real time.
- `TRADEDESK_CLOCK_SPEED`: simulated seconds per real second (default 1; 60 makes a real second a
  simulated minute; 0 holds the clock at START).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "ManualClock", "SimulatedClock", "aware", "clock_from_env", "real_clock", "utcnow"]

Clock = Callable[[], datetime]

START, ANCHOR, SPEED = "TRADEDESK_CLOCK_START", "TRADEDESK_CLOCK_ANCHOR", "TRADEDESK_CLOCK_SPEED"


def real_clock() -> datetime:
    """The real time, aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class SimulatedClock:
    """Simulated time running `speed` times as fast as real time, equal to `start` at real time `anchor`."""

    start: datetime
    anchor: float
    speed: float = 1.0

    def at(self, real: float) -> datetime:
        """The simulated time at the real time `real` (Unix epoch seconds)."""
        return self.start + timedelta(seconds=(real - self.anchor) * self.speed)

    def __call__(self) -> datetime:
        return self.at(time.time())


def clock_from_env(environ: Mapping[str, str] | None = None) -> Clock:
    """The clock the TRADEDESK_CLOCK_* variables describe (the real clock when START is unset)."""
    env = os.environ if environ is None else environ
    raw_start, raw_anchor, raw_speed = (env.get(name, "").strip() for name in (START, ANCHOR, SPEED))
    if not raw_start:
        for name, raw in ((ANCHOR, raw_anchor), (SPEED, raw_speed)):
            if raw:
                raise ValueError(f"{name} is set but {START} is not: set {START} too, or unset {name}")
        return real_clock
    start = _start(raw_start)
    anchor = _number(ANCHOR, raw_anchor, "Unix epoch seconds, e.g. 1741012200") if raw_anchor else start.timestamp()
    speed = _number(SPEED, raw_speed, "a number of simulated seconds per real second, e.g. 60") if raw_speed else 1.0
    if speed < 0:
        raise ValueError(f"{SPEED} must be 0 or more simulated seconds per real second (got {raw_speed!r})")
    return SimulatedClock(start, anchor, speed)


def _start(raw: str) -> datetime:
    expected = "an ISO 8601 datetime with a UTC offset, e.g. 2025-03-03T09:30:00-05:00"
    try:
        start = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{START} must be {expected} (got {raw!r})") from None
    if start.utcoffset() is None:
        raise ValueError(f"{START} must be {expected}; {raw!r} has no offset")
    return start.astimezone(UTC)


def _number(name: str, raw: str, expected: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{name} must be {expected} (got {raw!r})")
    return value


def utcnow() -> datetime:
    """The real time, aware UTC (what a market without a clock of its own reads)."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told: for tests, replays and demos."""

    def __init__(self, start: datetime) -> None:
        self.time = aware(start)

    def __call__(self) -> datetime:
        return self.time

    def advance(self, delta: timedelta) -> datetime:
        self.time += delta
        return self.time


def aware(at: datetime) -> datetime:
    """`at` in UTC; a naive datetime is refused (it would silently mean different instants)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at!r} has no time zone; pass an aware datetime (e.g. datetime.now(UTC))")
    return at.astimezone(UTC)
