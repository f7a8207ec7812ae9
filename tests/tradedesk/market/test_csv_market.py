"""Historical bars from CSV, replayed as a market without look-ahead; the broker trades on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.tradedesk.brokerage import START, act, new_user, order
from tradedesk.brokerage.broker import Broker
from tradedesk.market import ManualClock, Market, UnknownSymbol
from tradedesk.market.csv_market import CsvFormatError, CsvMarket, load_bars

AAPL = """date,open,high,low,close,volume
2024-01-02,187.15,188.44,183.89,185.64,82488700
2024-01-03,184.22,185.88,183.43,184.25,58414500
2024-01-04,182.15,183.09,180.88,181.91,71983600
2024-01-05,181.99,182.76,180.17,181.18,62303300
2024-01-08,182.09,185.60,181.50,185.56,59144500
"""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "AAPL.csv").write_text(AAPL)
    (tmp_path / "acme.csv").write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,1000\n")
    return tmp_path


def test_loads_bars_oldest_first(files: Path) -> None:
    bars = load_bars(files / "AAPL.csv")
    assert [b.time for b in bars][:2] == [datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC)]
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close, bars[0].volume) == (
        Decimal("187.15"),
        Decimal("188.44"),
        Decimal("183.89"),
        Decimal("185.64"),
        82488700,
    )


def test_quotes_replay_the_latest_completed_bar(files: Path) -> None:
    clock = ManualClock(datetime(2024, 1, 3, 15, 0, tzinfo=UTC))
    market = CsvMarket.from_directory(files, clock=clock, spread_bps=10)
    assert isinstance(market, Market) and market.symbols() == ["AAPL", "ACME"]
    q = market.quote("aapl")
    assert q.last == Decimal("185.64")  # Jan 2's close: Jan 3 has not closed yet
    assert q.bid < q.last < q.ask and q.ask - q.bid <= Decimal("0.20")
    clock.time = datetime(2024, 1, 6, 12, 0, tzinfo=UTC)  # a Saturday: Friday's bar
    assert market.quote("AAPL").last == Decimal("181.18")
    bars = market.bars("AAPL", count=3, interval=timedelta(days=1))
    assert [b.close for b in bars] == [Decimal("184.25"), Decimal("181.91"), Decimal("181.18")]
    assert market.name("AAPL") == "Apple" and market.name("ACME") == "ACME"
    assert market.fundamentals("AAPL").pe_ratio == (Decimal("181.18") / Decimal("6.60")).quantize(Decimal("0.01"))


def test_errors_say_what_is_wrong(files: Path, tmp_path: Path) -> None:
    market = CsvMarket.from_directory(files, clock=lambda: datetime(2024, 1, 10, tzinfo=UTC))
    with pytest.raises(UnknownSymbol, match="AAPL, ACME"):
        market.quote("MSFT")
    with pytest.raises(ValueError, match="no AAPL data yet"):
        market.quote("AAPL", at=datetime(2023, 12, 31, tzinfo=UTC))
    with pytest.raises(ValueError, match="CSV has bars of 1 day only; ask for bars of that interval"):
        market.bars("AAPL", interval=timedelta(minutes=5))
    with pytest.raises(ValueError, match="no fundamentals for ACME"):
        market.fundamentals("ACME")
    bad = tmp_path / "bad.csv"
    bad.write_text("date,open,high,low,close\n2024-01-02,1,1,1,1\n")
    with pytest.raises(CsvFormatError, match="no column volume"):
        load_bars(bad)
    bad.write_text("date,open,high,low,close,volume\n2024-01-02,1,1,1,1,5\nnot a date,1,1,1,1,5\n")
    with pytest.raises(CsvFormatError, match="line 3"):
        load_bars(bad)
    bad.write_text("date,open,high,low,close,volume\n2024-01-02,10,9,8,10,5\n")
    with pytest.raises(CsvFormatError, match="low <= open, close <= high"):
        load_bars(bad)


def test_the_broker_trades_on_a_replayed_market(db: Engine, files: Path) -> None:
    clock = ManualClock(datetime(2024, 1, 4, 16, 0, tzinfo=UTC))
    broker = Broker(CsvMarket.from_directory(files, clock=clock))
    user = new_user(db)
    bought = order(db, broker, user, symbol="AAPL", side="buy", quantity=10)
    assert bought.fill_price == broker.market.quote("AAPL").ask
    clock.time = datetime(2024, 1, 9, tzinfo=UTC)
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.positions[0].last == Decimal("185.56")
    assert book.equity == START - 10 * bought.fill_price + 10 * Decimal("185.56")
