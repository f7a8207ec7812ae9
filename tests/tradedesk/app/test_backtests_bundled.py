"""A backtest on the bundled real history (skfolio's S&P 500 sample): the twin sees a day's close at that day's
decision and its order fills at the next session's quote, the index is the benchmark and is never traded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from agentrecord.testing import ScriptedModel, call, scripted
from tests.tradedesk.app.test_backtests import live_market, tool_returns
from tradedesk.agents.models import Daytrader
from tradedesk.app import desk
from tradedesk.app.backtests import history_for
from tradedesk.brokerage.accounts import Fill
from tradedesk.market.historical import HistoricalMarket
from tradedesk.market.history import INDEX, bundled, close_of

__all__ = ["live_market"]  # the module's autouse fixture: the live platform on its frozen simulation


def as_of(moment: datetime) -> HistoricalMarket:
    """The bundled history as the market read it at `moment`, independently of the engine."""
    clock: Callable[[], datetime] = lambda: moment  # noqa: E731
    return HistoricalMarket(bundled(), clock=clock)


def test_a_twin_on_real_history_sees_the_days_close_and_fills_at_the_next_sessions_quote(db: Engine) -> None:
    history, benchmark = history_for(None, None)
    assert benchmark == INDEX
    with Session(db, expire_on_commit=False) as session:
        alice = desk.add_user(session, "alice@example.com")
        session.commit()
        d = desk.Desk(session, alice)
        d.new_agent("daytrader", provider="openai", model="gpt-5.4-mini")
        session.commit()
        run = d.start_backtest("daytrader", history, start="2019-01-02", end="2019-01-04", benchmark=benchmark)
        assert INDEX not in run.symbols and "AAPL" in run.symbols and run.steps_total == 3
        model = ScriptedModel(
            [call("quote_feed", symbol="AAPL"), call("order_entry", symbol="AAPL", side="buy", quantity=10), "ok"]
            + ["hold"] * 2
        )
        with scripted(Daytrader, model):
            done = d.run_backtest(run, history)
        assert done.status == "done" and done.steps_done == 3
        first, second = close_of(date(2019, 1, 2)), close_of(date(2019, 1, 3))
        seen = tool_returns(model, "quote_feed")[0]
        assert Decimal(str(seen["last"])) == as_of(first).quote("AAPL").last  # the day's close, at its decision
        assert as_of(first).quote("AAPL").last != as_of(second).quote("AAPL").last  # so a peek would show
        (fill,) = session.scalars(select(Fill).where(Fill.user_id == run.book_user_id)).all()
        filled_at = fill.at.replace(tzinfo=UTC) if fill.at.tzinfo is None else fill.at
        assert second <= filled_at < second + timedelta(hours=1)  # at the next session's step, not the one seen
        assert fill.price == as_of(filled_at).quote("AAPL").ask and fill.quantity == 10
        assert set(done.report["benchmarks"]) == {f"buy-and-hold {INDEX}", "equal-weight"}


def test_the_index_cannot_be_chosen_as_a_symbol_to_trade_with_itself_as_benchmark(db: Engine) -> None:
    history, benchmark = history_for(None, None)
    with Session(db, expire_on_commit=False) as session:
        alice = desk.add_user(session, "alice@example.com")
        session.commit()
        run = desk.Desk(session, alice).start_backtest(
            "buy-and-hold", history, start="2019-01-02", end="2019-01-04", symbols=["MSFT"], benchmark=benchmark
        )
        assert run.symbols == ["MSFT"] and run.benchmark == INDEX
        with pytest.raises(desk.Invalid, match="2022"):
            desk.Desk(session, alice).start_backtest(
                "buy-and-hold", history, start="2024-01-02", end="2024-01-05", benchmark=benchmark
            )
