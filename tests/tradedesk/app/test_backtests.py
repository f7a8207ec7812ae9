"""Backtests on a real database (SQLite file and PostgreSQL): a scripted twin over five trading days reproduces the
hand-computed fills and equity exactly, sees nothing after its simulated now, leaves the live agent and account as
they were, and another user's run is not found. The scripted model is the only double."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from agentrecord.testing import ScriptedModel, call, scripted
from tradedesk.agents.models import Daytrader
from tradedesk.app import desk
from tradedesk.app.backtests import csv_history
from tradedesk.backtests import runs  # noqa: F401  (the backtest tables register on Base)
from tradedesk.backtests.engine import Progress
from tradedesk.backtests.steps import LookAhead
from tradedesk.brokerage import services
from tradedesk.brokerage.accounts import Account, Fill, Order
from tradedesk.brokerage.equity import EquitySnapshot

# Closes by day; the step of day D (its close) sees the bar of the trading day before (CsvMarket: a daily bar is
# known once it has ended, at midnight after it).
AAA = {"2018-12-31": "100", "2019-01-02": "102", "2019-01-03": "99", "2019-01-04": "103", "2019-01-07": "105"}
IDX = {"2018-12-31": "200", "2019-01-02": "202", "2019-01-03": "204", "2019-01-04": "206", "2019-01-07": "208"}


def write_history(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    for symbol, closes in (("AAA", AAA), ("IDX", IDX)):
        lines = ["date,open,high,low,close,volume"]
        lines += [f"{day},{c},{c},{c},{c},1000" for day, c in closes.items()]
        (directory / f"{symbol}.csv").write_text("\n".join(lines) + "\n")
    return str(directory)


@pytest.fixture
def history(tmp_path: Path) -> Any:
    return csv_history(write_history(tmp_path / "history"))


@pytest.fixture(autouse=True)
def live_market(frozen_market: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The live platform's market stays the frozen simulation: a backtest must not see it, nor it the backtest."""
    monkeypatch.setenv("OPENAI_SECRET", "sk-env")


def tool_returns(model: ScriptedModel, tool: str) -> list[Any]:
    return [
        part.content
        for request in model.requests
        for message in request
        for part in getattr(message, "parts", ())
        if getattr(part, "part_kind", "") == "tool-return" and part.tool_name == tool
    ]


def peek(messages: Any, info: Any) -> Any:
    """A model step that, inside the turn, tries to read tomorrow's price through the platform's market."""
    from pydantic_ai.messages import ModelResponse, TextPart

    market = services.market()
    tomorrow = market.now() + timedelta(days=1)
    refused = []
    for attempt in (
        lambda: market.quote("AAA", at=tomorrow),
        lambda: market.bars("AAA", 5, timedelta(days=1), tomorrow),
    ):
        try:
            attempt()
        except LookAhead as error:
            refused.append(str(error))
    return ModelResponse(parts=[TextPart(f"peeked at {market.now():%Y-%m-%d}; refused {len(refused)}")])


def test_a_scripted_twin_reproduces_hand_computed_fills_equity_and_leaves_the_live_agent_alone(
    db: Engine, history: Any
) -> None:
    with Session(db, expire_on_commit=False) as session:
        alice = desk.add_user(session, "alice@example.com")
        session.commit()
        d = desk.Desk(session, alice)
        live = d.new_agent("daytrader", provider="openai", model="gpt-5.4-mini")
        live.max_orders_per_day = 7
        session.commit()
        live_before = (d.portfolio().cash, live.total_tokens, live.data, session.scalar(select(func.count(Order.id))))
        run = d.start_backtest(
            "daytrader", history, start="2019-01-02", end="2019-01-08", symbols=["AAA"], benchmark="IDX"
        )
        assert run.steps_total == 5 and run.status == "created"
        twin = session.get(Daytrader, run.twin_id)
        assert twin is not None and twin.id != live.id and twin.user_id != alice.id
        assert (twin.provider, twin.model, twin.max_orders_per_day) == ("openai", "gpt-5.4-mini", 7)
        model = ScriptedModel(
            [
                call("quote_feed", symbol="AAA"),  # step 0, Jan 2: sees Dec 31's close, 100 (ask 100.03: 5 bps spread)
                call("order_entry", symbol="AAA", side="buy", quantity=90),  # rests: fills at the next step
                "bought",
                peek,  # step 1, Jan 3: fills first, at Jan 2's ask: 102 + 2.5 bps, 102.03
                call("order_entry", symbol="AAA", side="sell", quantity=90),  # step 2, Jan 4: sees 99
                "sold",
                "hold",  # step 3, Jan 7: the sale fills at Jan 4's bid, 102.97
                "hold",  # step 4, Jan 8
            ]
        )
        seen: list[Progress] = []
        with scripted(Daytrader, model):
            done = d.run_backtest(run, history, seen.append)
        assert done.status == "done" and done.steps_done == 5
        assert [p.done for p in seen] == [1, 2, 3, 4, 5]
        assert tool_returns(model, "quote_feed")[0]["last"] == 100.0  # the bar known then, not a later one
        rows = d.backtest_decisions(run)
        assert rows[1].reply == "peeked at 2019-01-03; refused 2"
        assert rows[0].at.astimezone(UTC) == datetime(2019, 1, 2, 21, 0, tzinfo=UTC)
        fills = session.scalars(select(Fill).where(Fill.user_id == run.book_user_id).order_by(Fill.id)).all()
        assert [(f.side, f.quantity, f.price) for f in fills] == [
            ("buy", 90, Decimal("102.03")),
            ("sell", 90, Decimal("102.97")),
        ]
        assert [r.equity for r in rows] == [
            Decimal("100000.00"),
            Decimal("90817.30") + 90 * Decimal("102"),  # cash after the buy (100000 - 90 x 102.03) + 90 at 102
            Decimal("90817.30") + 90 * Decimal("99"),
            Decimal("100084.60"),  # + 90 x 102.97
            Decimal("100084.60"),
        ]
        assert [r.traded for r in rows] == [0, Decimal("9182.70"), 0, Decimal("9267.30"), 0]
        assert rows[0].tool_calls == [
            {"tool": "quote_feed", "args": {"symbol": "AAA"}},
            {"tool": "order_entry", "args": {"symbol": "AAA", "side": "buy", "quantity": 90}},
        ]
        strategy = done.report["strategy"]
        assert strategy["end_equity"] == "100084.60" and strategy["total_return"] == pytest.approx(0.000846)
        assert strategy["drawdown_peak"].startswith("2019-01-02") and strategy["drawdown_trough"].startswith(
            "2019-01-04"
        )
        index = done.report["benchmarks"]["buy-and-hold IDX"]
        assert index["total_return"] == pytest.approx(208 / 200 - 1)  # the closes seen at the first and last step
        # the live side: same cash, no order, no tokens, no conversation, no snapshot of the twin's on it
        session.expire_all()
        after = (d.portfolio().cash, live.total_tokens, live.data, session.scalar(select(func.count(Order.id))))
        assert after[:3] == live_before[:3] and after[3] == live_before[3] + 2  # the two orders are the twin's
        assert session.scalar(select(func.count(Order.id)).where(Order.user_id == alice.id)) == 0
        assert session.scalar(select(func.count(Fill.id)).where(Fill.user_id == alice.id)) == 0
        live_snapshots = session.scalars(select(EquitySnapshot.at).where(EquitySnapshot.user_id == alice.id)).all()
        assert all(at.year > 2019 for at in live_snapshots)  # looking at the live portfolio snapshots it, now
        book = session.scalar(select(Account).where(Account.user_id == run.book_user_id))
        assert book is not None and book.backtest and book.cash == Decimal("100084.60")


def test_another_users_run_is_not_found_and_bad_input_is_one_line(db: Engine, history: Any) -> None:
    with Session(db, expire_on_commit=False) as session:
        alice, bob = desk.add_user(session, "alice@example.com"), desk.add_user(session, "bob@example.com")
        session.commit()
        run = desk.Desk(session, alice).start_backtest("buy-and-hold", history, start="2019-01-02", end="2019-01-08")
        assert run.symbols == ["AAA", "IDX"]
        with pytest.raises(desk.NotFound, match=f"No backtest {run.id}"):
            desk.Desk(session, bob).backtest(run.id)
        assert desk.Desk(session, bob).backtests() == []
        assert desk.user_by_email(session, "alice@example.com").id == alice.id
        bad = {
            "start": ("2019-13-01", "--from must be a date"),
            "end": ("2018-01-01", "is before --from"),
            "approvals": ("maybe", "approve or deny"),
            "cash": ("-5", "--cash must be"),
            "symbols": (["ZZZ"], "Unknown symbol 'ZZZ'"),
        }
        for name, (value, message) in bad.items():
            args: dict[str, Any] = {"start": "2019-01-02", "end": "2019-01-08", name: value}
            with pytest.raises(desk.Invalid, match=message):
                desk.Desk(session, alice).start_backtest("buy-and-hold", history, **args)


def test_baselines_trade_through_the_broker_and_the_live_tick_leaves_their_books_alone(
    db: Engine, history: Any
) -> None:
    from tradedesk.brokerage.exchange import tick

    with Session(db, expire_on_commit=False) as session:
        alice = desk.add_user(session, "alice@example.com")
        session.commit()
        d = desk.Desk(session, alice)
        run = d.start_backtest("buy-and-hold", history, start="2019-01-02", end="2019-01-07", symbols=["AAA"])
        # a live tick between the run's creation and its steps: the book's not the live exchange's to work
        assert tick(db).accounts == 0
        done = d.run_backtest(run, history)
        rows = d.backtest_decisions(done)
        # 100000 / 105.04 (the collar of a queued market buy at the ask, 100.03) = 952 shares, filled at 102.03
        assert rows[1].traded == Decimal("952") * Decimal("102.03")
        assert rows[-1].equity == Decimal("100000") - 952 * Decimal("102.03") + 952 * Decimal("103")
        assert done.report["strategy"]["exposure"] > 0.7
        assert [r.id for r in d.backtests()] == [done.id]


def test_report_matches_a_hand_computation_on_a_fixed_series() -> None:
    import math

    from tradedesk.backtests.report import statistics

    times = [datetime(2019, 1, 2, tzinfo=UTC) + timedelta(days=k) for k in range(5)]
    equity = [Decimal(v) for v in ("100", "110", "99", "108.9", "119.79")]
    got = statistics(times, equity, [Decimal("0.5")] * 5, Decimal("200"))
    r = [0.1, -0.1, 0.1, 0.1]
    mean = sum(r) / 4
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / 3)
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in r) / 4) * math.sqrt(252)
    cagr = 1.1979 ** (252 / 4) - 1
    assert got["total_return"] == pytest.approx(0.1979)
    assert got["cagr"] == pytest.approx(cagr)
    assert got["volatility"] == pytest.approx(std * math.sqrt(252))
    assert got["sharpe"] == pytest.approx(mean / std * math.sqrt(252))
    assert got["sortino"] == pytest.approx(mean * 252 / downside)
    assert got["max_drawdown"] == pytest.approx(-0.1)
    assert got["calmar"] == pytest.approx(cagr / 0.1)
    assert (got["drawdown_peak"], got["drawdown_trough"]) == (times[1].isoformat(), times[2].isoformat())
    assert got["drawdown_recovered"] == times[4].isoformat()  # 108.9 < 110; 119.79 recovers it
    assert got["win_rate"] == pytest.approx(0.75)
    assert got["exposure"] == pytest.approx(0.5)
    assert got["turnover"] == pytest.approx(200 / 107.538)
