"""The historical market over the bundled real data: it answers as of its clock, and never from the future."""

from __future__ import annotations

import csv
import gzip
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest

from tradedesk.market import Market
from tradedesk.market.bars import BadBarsRequest, recent
from tradedesk.market.clock import ManualClock
from tradedesk.market.historical import HistoricalMarket, LookAhead, NoFundamentals
from tradedesk.market.history import INDEX, History, HistoryError, bundled, close_of
from tradedesk.market.money import cents
from tradedesk.market.protocol import UnknownSymbol

SECOND = timedelta(seconds=1)
SYMBOLS = ("AAPL", "JPM", "XOM", INDEX)


@cache
def raw_closes() -> dict[str, dict[date, Decimal]]:
    """The wheel's files read on their own (no tradedesk code): symbol -> day -> close, as the files say."""
    found: dict[str, dict[date, Decimal]] = {}
    for name, rename in (("sp500_dataset.csv.gz", {}), ("sp500_index.csv.gz", {"SP500": INDEX})):
        path = Path(str(metadata.distribution("skfolio").locate_file(f"skfolio/datasets/data/{name}")))
        with gzip.open(path, "rt", newline="") as handle:
            for row in csv.DictReader(handle):
                day = date.fromisoformat(row.pop("Date"))
                for symbol, value in row.items():
                    found.setdefault(rename.get(symbol, symbol), {})[day] = Decimal(value)
    return found


def market_at(now: datetime) -> HistoricalMarket:
    return HistoricalMarket(bundled(), ManualClock(now))


def test_is_a_market_with_the_bundled_symbols() -> None:
    market = market_at(close_of(date(2019, 1, 2)))
    assert isinstance(market, Market)
    assert len(market.symbols()) == 21 and set(SYMBOLS) <= set(market.symbols())
    assert market.name("aapl") == "Apple Inc." and market.name("SPX") == "S&P 500 index"
    assert market.is_index("SPX") and not market.is_index("AAPL")


def test_quotes_and_bars_are_the_datasets_values() -> None:
    market = market_at(close_of(date(2019, 1, 3)))
    assert market.quote("AAPL").last == Decimal("34.21")  # the file's 34.210, to the cent
    assert market.quote("SPX").last == Decimal("2447.89")
    assert market.quote("AAPL").bid < Decimal("34.21") < market.quote("AAPL").ask
    bars = market.bars("AAPL", count=2)
    assert [b.time for b in bars] == [close_of(date(2019, 1, 2)), close_of(date(2019, 1, 3))]
    assert [b.close for b in bars] == [Decimal("37.99"), Decimal("34.21")]
    assert all(b.open == b.high == b.low == b.close and b.volume == 0 for b in bars)  # closes only


def test_a_bar_is_timestamped_at_its_sessions_close() -> None:
    assert close_of(date(2019, 1, 2)) == datetime(2019, 1, 2, 21, tzinfo=UTC)  # 16:00 EST
    assert close_of(date(2019, 7, 2)) == datetime(2019, 7, 2, 20, tzinfo=UTC)  # 16:00 EDT
    assert bundled().first("SPX").time == close_of(date(1990, 1, 2))
    assert bundled().last("AAPL").time == close_of(date(2022, 12, 28))


def _instants(count: int) -> list[datetime]:
    """Seeded instants over the whole data: around closes (a second before, at, after) and at random times."""
    rng = random.Random(26)
    start, end = close_of(date(1990, 1, 2)), close_of(date(2022, 12, 28))
    picks = [start + (end - start) * rng.random() for _ in range(count)]
    closes = bundled().sessions(date(1990, 1, 2), date(2022, 12, 28))
    for close in rng.sample(closes, count):
        picks += [close - SECOND, close, close + SECOND]
    return sorted(when for when in picks if start <= when <= end)


@pytest.mark.parametrize("now", _instants(40), ids=lambda when: when.isoformat())
def test_nothing_after_now_is_visible(now: datetime) -> None:
    """Every method a tool uses answers from the bars closed by now; the bar closing a second later is unseen."""
    market = market_at(now)
    for symbol in SYMBOLS:
        known = {day: close for day, close in raw_closes()[symbol].items() if close_of(day) <= now}
        last_day = max(known)
        bars = market.bars(symbol, count=500)
        assert all(bar.time <= now for bar in bars)
        assert bars[-1].time == close_of(last_day) and bars[-1].close == cents(known[last_day])
        assert market.quote(symbol).last == cents(known[last_day])
        assert recent(market, symbol, "1d", 5).bars == bars[-5:]
        for later in (now + SECOND, now + timedelta(days=1)):
            with pytest.raises(LookAhead, match="no look-ahead"):
                market.quote(symbol, at=later)
            with pytest.raises(LookAhead, match="no look-ahead"):
                market.bars(symbol, at=later)
        with pytest.raises(NoFundamentals):
            market.fundamentals(symbol)


def test_the_past_can_be_asked_about() -> None:
    market = market_at(close_of(date(2019, 1, 3)))
    assert market.quote("AAPL", at=close_of(date(2019, 1, 2))).last == Decimal("37.99")
    assert market.quote("AAPL", at=close_of(date(2019, 1, 3)) - SECOND).last == Decimal("37.99")
    assert market.bars("AAPL", count=1, at=close_of(date(2008, 9, 15)))[0].close == Decimal("4.26")


def test_the_clock_moves_the_market() -> None:
    clock = ManualClock(close_of(date(2019, 1, 2)) - SECOND)
    market = HistoricalMarket(bundled(), clock)
    assert market.quote("SPX").time == clock.time
    before = market.quote("SPX").last
    clock.advance(SECOND)
    assert (before, market.quote("SPX").last) == (Decimal("2506.85"), Decimal("2510.03"))


def test_next_bar_is_the_engines_and_never_the_one_seen() -> None:
    history = bundled()
    decided = close_of(date(2019, 1, 2))
    filled = history.next_bar("AAPL", decided)
    assert (filled.time, filled.close) == (close_of(date(2019, 1, 3)), Decimal("34.21"))
    assert history.next_bar("AAPL", decided - SECOND).time == decided
    assert not hasattr(market_at(decided), "next_bar")  # agents' tools cannot reach the next bar
    with pytest.raises(HistoryError, match=r"no AAPL bar after .*: its data ends 2022-12-28"):
        history.next_bar("AAPL", close_of(date(2022, 12, 28)))


def test_sessions_are_the_decision_times() -> None:
    sessions = bundled().sessions(date(2019, 1, 1), date(2019, 12, 31))
    assert len(sessions) == 252  # NYSE's sessions in 2019
    assert sessions[0] == close_of(date(2019, 1, 2)) and sessions[-1] == close_of(date(2019, 12, 31))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m: m.quote("TSLA"), UnknownSymbol, "Unknown symbol 'TSLA'. This market lists: AAPL, AMD"),
        (lambda m: m.bars("AAPL", interval=timedelta(minutes=1)), ValueError, "daily bars only"),
        (lambda m: m.bars("AAPL", count=0), ValueError, "1 bar or more"),
        (lambda m: m.fundamentals("AAPL"), NoFundamentals, "no fundamentals for AAPL in a backtest"),
    ],
)
def test_refusals_are_one_line(call: object, error: type[Exception], message: str) -> None:
    market = market_at(close_of(date(2019, 1, 2)))
    with pytest.raises(error) as raised:
        call(market)  # type: ignore[operator]
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("now", "message"),
    [
        (close_of(date(1990, 1, 2)) - SECOND, "no AAPL data at 1990-01-02T20:59:59+00:00: its first bar closes"),
        (close_of(date(2023, 1, 3)), "no AAPL data at 2023-01-03T21:00:00+00:00: it ends with the session of"),
        (close_of(date(2022, 12, 29)), "it ends with the session of 2022-12-28"),
    ],
)
def test_dates_outside_the_data_are_refused(now: datetime, message: str) -> None:
    market = market_at(now)
    for call in (lambda: market.quote("AAPL"), lambda: market.bars("AAPL")):
        with pytest.raises(HistoryError) as raised:
            call()
        assert message in str(raised.value) and "\n" not in str(raised.value)


def test_the_last_close_holds_until_the_next_session_would_close() -> None:
    friday = close_of(date(2019, 1, 4))  # the sample's Friday: the weekend still sees Friday's close
    market = market_at(friday + timedelta(days=2))
    assert market.quote("AAPL").time == friday + timedelta(days=2)
    assert market_at(close_of(date(2022, 12, 29)) - SECOND).quote("AAPL").last == Decimal("125.67")


def test_recent_refuses_minute_bars() -> None:
    with pytest.raises(ValueError, match="daily bars only"):
        recent(market_at(close_of(date(2019, 1, 2))), "AAPL", "1m", 5)
    with pytest.raises(BadBarsRequest):
        recent(market_at(close_of(date(2019, 1, 2))), "AAPL", "1w", 5)


def test_a_history_of_its_own() -> None:
    history = History({"ACME": bundled().series["AAPL"][:3]}, {"ACME": "Acme"})
    market = HistoricalMarket(history, ManualClock(close_of(date(1990, 1, 4))))
    assert market.symbols() == ["ACME"] and market.name("ACME") == "Acme"
    assert len(market.bars("ACME")) == 3
