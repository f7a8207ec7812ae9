"""Price history loaded offline: the bundled sample from the installed wheel, and a user's own CSV files."""

from __future__ import annotations

import gzip
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tradedesk.market.clock import ManualClock
from tradedesk.market.csv_market import CsvFormatError
from tradedesk.market.historical import HistoricalMarket, LookAhead
from tradedesk.market.history import INDEX, NAMES, History, HistoryError, bundled, close_of, load_closes

OHLCV = """date,open,high,low,close,volume
2024-01-02,187.15,188.44,183.89,185.64,82488700
2024-01-03,184.22,185.88,183.43,184.25,58414500
2024-01-04,182.15,183.09,180.88,181.91,71983600
"""
CLOSES = "Date,ACME,NEWCO\n2024-01-02,10.5,\n2024-01-03,11.25,20\n2024-01-04,11,21.5\n"


def test_the_bundled_sample_loads_offline_without_the_heavy_libraries() -> None:
    """In a fresh process with sockets disabled: the data loads, and neither skfolio nor pandas is imported."""
    script = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise OSError('no network in this test')\n"
        "socket.socket.connect = refuse\n"
        "from tradedesk.market.history import bundled\n"
        "h = bundled()\n"
        "print(len(h.symbols()), h.last('SPX').close, h.source)\n"
        "print(sorted(m for m in ('skfolio', 'pandas', 'sklearn', 'numpy', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    count, last, *source = out.splitlines()[0].split()
    assert (count, last) == ("21", "3783.22") and "skfolio" in source[0]
    assert out.splitlines()[1] == "[]"


def test_the_bundled_sample_spans_1990_to_2022() -> None:
    history = bundled()
    assert history.symbols() == sorted(NAMES) and history.indexes == frozenset({INDEX}) and history.closes_only
    for symbol in history.symbols():
        assert history.first(symbol).time == close_of(date(1990, 1, 2))
        assert history.last(symbol).time == close_of(date(2022, 12, 28))
        assert len(history.series[symbol]) == 8313


def test_importing_the_market_loads_no_data() -> None:
    script = "import tradedesk.market, tradedesk.market.historical as h, sys; print(h.bundled.cache_info().currsize)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0"


def test_a_users_ohlcv_files(tmp_path: Path) -> None:
    (tmp_path / "aapl.csv").write_text(OHLCV)
    history = History.from_directory(tmp_path)
    assert history.symbols() == ["AAPL"] and not history.closes_only and history.name("AAPL") == "AAPL"
    bar = history.first("AAPL")
    assert (bar.time, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        close_of(date(2024, 1, 2)),
        Decimal("187.15"),
        Decimal("188.44"),
        Decimal("183.89"),
        Decimal("185.64"),
        82488700,
    )
    market = HistoricalMarket(history, ManualClock(close_of(date(2024, 1, 3))))
    assert market.quote("AAPL").last == Decimal("184.25") and market.quote("AAPL").volume == 58414500
    assert [b.close for b in market.bars("AAPL")] == [Decimal("185.64"), Decimal("184.25")]
    assert history.next_bar("AAPL", market.now()).open == Decimal("182.15")  # the engine fills at the next open
    with pytest.raises(LookAhead):
        market.quote("AAPL", at=market.now() + timedelta(seconds=1))


def test_a_users_file_of_closes(tmp_path: Path) -> None:
    path = tmp_path / "closes.csv.gz"
    path.write_bytes(gzip.compress(CLOSES.encode()))
    history = History.from_closes(path, names={"ACME": "Acme Corp"}, indexes=["newco"])
    assert history.name("ACME") == "Acme Corp" and history.indexes == frozenset({"NEWCO"})
    assert [b.close for b in history.series["ACME"]] == [Decimal("10.50"), Decimal("11.25"), Decimal("11.00")]
    assert history.first("NEWCO").time == close_of(date(2024, 1, 3))  # an empty cell: not trading yet
    market = HistoricalMarket(history, ManualClock(close_of(date(2024, 1, 2))))
    with pytest.raises(HistoryError, match=r"no NEWCO data at .*: its first bar closes 2024-01-03"):
        market.quote("NEWCO")
    assert history.sessions(date(2024, 1, 1), date(2024, 1, 3)) == [close_of(date(2024, 1, d)) for d in (2, 3)]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("AAPL.csv", "date,open,close\n2024-01-02,1,1\n", "AAPL.csv: no column high, low, volume"),
        ("AAPL.csv", OHLCV.replace("185.64", "abc"), "AAPL.csv, line 2: cannot read"),
        ("AAPL.csv", OHLCV + "2024-01-04,1,1,1,1,1\n", "AAPL.csv: two bars on 2024-01-04"),
        ("closes.csv", "Day,ACME\n2024-01-02,1\n", "closes.csv: the header must be Date followed by"),
        ("closes.csv", "Date,ACME\n2024-13-02,1\n", "closes.csv, line 2: '2024-13-02' is not a date"),
        (
            "closes.csv",
            "Date,ACME\n2024-01-02,1\n2024-01-02,2\n",
            "closes.csv, line 3: expected 2 cells on a date after",
        ),
        ("closes.csv", "Date,ACME,B\n2024-01-02,1\n", "closes.csv, line 2: expected 3 cells"),
        ("closes.csv", "Date,ACME\n2024-01-02,1\n2024-01-03,-2\n", "line 3: ACME's close '-2' is not a positive price"),
        ("closes.csv", "Date,ACME\n2024-01-02,x\n", "line 2: ACME's close 'x' is not a positive price"),
    ],
)
def test_malformed_files_are_refused_in_one_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CsvFormatError) as raised:
        History.from_closes(path) if name == "closes.csv" else History.from_directory(tmp_path)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_no_files_or_no_prices_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match=r"no \.csv files"):
        History.from_directory(tmp_path)
    (tmp_path / "closes.csv").write_text("Date,ACME\n2024-01-02,\n")
    assert load_closes(tmp_path / "closes.csv") == {}
    with pytest.raises(HistoryError, match="no bars"):
        History.from_closes(tmp_path / "closes.csv")
