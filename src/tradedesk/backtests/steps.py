"""A backtest's time: its steps, the market as it was known at each, and the calendar its broker trades on.

`--every 1d` steps at each trading day's close (NYSE). At step k the clock first stands at the close `c_k`, when
the simulated exchange is open for one second: orders resting from the previous decision fill (or expire) at the
quote then, that is the bar after the one their decision saw. Then, at `c_k + 1s` with the exchange closed again,
the agent decides: what it orders rests until step k+1. So an order never fills on the bar its agent saw, and the
broker's own rules (collars on queued market buys, day orders living one session, costs, risk limits) apply as live.

`PointInTime` wraps any `Market`: every question is answered as of the simulated now, and a question about a later
time is refused, so no tool (ours or a user's) can read the future through the platform's market.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tradedesk.market import Bar, Clock, Fundamentals, Market, Quote, aware
from tradedesk.market.calendar import NYSE, Calendar, TradingSession

EVERY = {"1d": "each trading day's close (NYSE)"}
FILL_WINDOW = timedelta(seconds=1)
"""How long the simulated exchange is open at each step: resting orders fill at its start, decisions follow it."""


class LookAhead(ValueError):
    """A question about a time after the backtest's simulated now."""


def step_times(start: date, end: date, every: str = "1d", calendar: Calendar = NYSE) -> list[datetime]:
    """The closes of the trading sessions from `start` to `end` (both included), in UTC."""
    if every not in EVERY:
        raise ValueError(f"--every must be one of {', '.join(EVERY)} (got {every!r})")
    times, day = [], start
    while day <= end:
        session = calendar.session_on(day)
        if session is not None:
            times.append(session.close)
        day += timedelta(days=1)
    return times


@dataclass(frozen=True)
class StepCalendar:
    """The exchange of a backtest: open for `FILL_WINDOW` at each step's time, closed in between."""

    steps: tuple[datetime, ...]

    def _sessions(self) -> list[TradingSession]:
        return [TradingSession(at, at + FILL_WINDOW) for at in self.steps]

    def is_open(self, at: datetime) -> bool:
        return self.session_at(at) is not None

    def session_at(self, at: datetime) -> TradingSession | None:
        when = aware(at)
        return next((s for s in self._sessions() if when in s), None)

    def next_session(self, at: datetime) -> TradingSession:
        when = aware(at)
        found = next((s for s in self._sessions() if when < s.close), None)
        if found is None:  # after the window: one more session a day on, which the run never reaches
            last = self.steps[-1] if self.steps else when
            later = max(last, when) + timedelta(days=1)
            return TradingSession(later, later + FILL_WINDOW)
        return found

    def session_on(self, day: date) -> TradingSession | None:
        return next((s for s in self._sessions() if s.open.date() == day), None)

    def holidays(self, year: int) -> dict[date, str]:
        return {}


class PointInTime:
    """`market` as known at `clock`'s time: the default `at` is the simulated now, and a later `at` is refused."""

    def __init__(self, market: Market, clock: Clock) -> None:
        self.inner = market
        self.clock = clock

    def now(self) -> datetime:
        return aware(self.clock())

    def _at(self, at: datetime | None) -> datetime:
        now = self.now()
        if at is None:
            return now
        when = aware(at)
        if when > now:
            raise LookAhead(
                f"no look-ahead: this backtest stands at {now.isoformat()}, and {when.isoformat()} is after it"
            )
        return when

    def symbols(self) -> list[str]:
        return self.inner.symbols()

    def name(self, symbol: str) -> str:
        return self.inner.name(symbol)

    def quote(self, symbol: str, at: datetime | None = None) -> Quote:
        return self.inner.quote(symbol, at=self._at(at))

    def bars(
        self, symbol: str, count: int = 20, interval: timedelta = timedelta(minutes=5), at: datetime | None = None
    ) -> list[Bar]:
        return self.inner.bars(symbol, count=count, interval=interval, at=self._at(at))

    def fundamentals(self, symbol: str) -> Fundamentals:
        return self.inner.fundamentals(symbol)  # the inner market runs on the same clock (see `engine.history`)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)
