"""`tradedesk chart SYMBOL`: recent bars as a sparkline and summary, or JSON; bad input is one line, exit 1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.tradedesk.cli.test_cli import error, run, run_json
from tradedesk.app.presenters import TICKS, sparkline
from tradedesk.brokerage import services
from tradedesk.market import SimulatedMarket
from tradedesk.market.csv_market import CsvMarket

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def market() -> Iterator[SimulatedMarket]:
    simulated = SimulatedMarket(seed=7, clock=lambda: NOW)
    services.use_market(simulated)
    yield simulated
    services.use_market(None)


def test_chart_json_gives_the_bars_the_market_gives(market: SimulatedMarket) -> None:
    doc = run_json(None, "chart", "aapl", "--interval", "1m", "--bars", "15")
    assert doc["symbol"] == "AAPL" and doc["interval"] == "1m" and doc["as_of"] == NOW.isoformat()
    assert len(doc["bars"]) == 15 and doc["bars"][-1]["time"] == NOW.isoformat()
    assert Decimal(doc["bars"][-1]["close"]) == market.quote("AAPL").last
    daily = run_json(None, "chart", "AAPL")
    assert len(daily["bars"]) == 30 and daily["interval"] == "1d"


def test_chart_prints_a_sparkline_of_closes_and_the_range(market: SimulatedMarket) -> None:
    out = run(None, "chart", "MSFT", "--bars", "12").stdout
    closes = [b.close for b in market.bars("MSFT", 12, market_interval_days(), at=NOW)]
    assert "MSFT · 12 x 1d bars" in out
    assert sparkline(closes) in out and len(sparkline(closes)) == 12
    highs = max(b.high for b in market.bars("MSFT", 12, market_interval_days(), at=NOW))
    assert f"{highs:,.2f}" in out and "change" in out


def test_chart_of_a_csv_replay_shows_its_rows(tmp_path: Path) -> None:
    (tmp_path / "ACME.csv").write_text("date,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,1000\n")
    services.use_market(CsvMarket.from_directory(tmp_path, clock=lambda: datetime(2024, 1, 5, tzinfo=UTC)))
    doc = run_json(None, "chart", "ACME")
    assert [(b["open"], b["high"], b["low"], b["close"], b["volume"]) for b in doc["bars"]] == [
        ("10.00", "11.00", "9.00", "10.50", 1000)
    ]
    assert "CSV has bars of 1 day only" in error(
        None, "chart", "ACME", "--interval", "1m"
    )  # the file has daily bars only


def test_chart_refuses_an_unknown_symbol_interval_or_count_in_one_line() -> None:
    assert "Unknown symbol 'ZZZZ'" in error(None, "chart", "ZZZZ")
    assert "use one of 1m, 1d" in error(None, "chart", "AAPL", "--interval", "1h")
    assert "between 1 and 500 bars" in error(None, "chart", "AAPL", "--bars", "0")


def test_sparkline_maps_lowest_to_the_bottom_tick_and_highest_to_the_top() -> None:
    assert sparkline([Decimal(1), Decimal(5), Decimal(3)]) == TICKS[0] + TICKS[-1] + TICKS[4]
    assert sparkline([Decimal(2)] * 3) == TICKS[4] * 3 and sparkline([]) == ""


def market_interval_days() -> timedelta:
    return timedelta(days=1)
