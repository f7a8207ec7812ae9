"""`tradedesk backtest EMAIL AGENT` in the foreground (progress, then the report) and `tradedesk backtests EMAIL [ID]`,
on an initialized SQLite file and a small CSV history; bad input is one line and exit 1."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from agentrecord.testing import ScriptedModel, call, scripted
from tests.tradedesk.app.test_backtests import write_history
from tests.tradedesk.cli.test_cli import ALICE, error, run, run_json
from tests.tradedesk.template_db import initialized
from tradedesk.agents.models import Daytrader

pytestmark = pytest.mark.usefixtures("frozen_market")
WINDOW = ("--from", "2019-01-02", "--to", "2019-01-08")


@pytest.fixture
def url(tmp_path: Path) -> str:
    db = f"sqlite:///{tmp_path}/bt.db"
    initialized(db)
    run(db, "user", "add", ALICE)
    run(db, "user", "add", "bob@example.com")
    return db


def test_backtest_runs_a_twin_prints_the_report_and_lists_it_for_its_owner_only(url: str, tmp_path: Path) -> None:
    data = write_history(tmp_path / "history")
    run(url, "agent", "add", ALICE, "daytrader", "--provider", "local")
    model = ScriptedModel([call("order_entry", symbol="AAA", side="buy", quantity=10), "bought", *["hold"] * 4])
    with scripted(Daytrader, model):
        doc = run_json(
            url, "backtest", ALICE, "daytrader", *WINDOW, "--data", data, "--symbols", "AAA", "--benchmark", "IDX"
        )
    assert doc["status"] == "done" and doc["steps"] == "5/5" and doc["agent"].startswith("daytrader/")
    # 10 bought at Jan 2's ask (102.03), marked at 105 at the last step
    assert Decimal(doc["report"]["strategy"]["end_equity"]) == Decimal("100000") - 10 * Decimal("102.03") + 1050
    assert set(doc["report"]["benchmarks"]) == {"buy-and-hold IDX", "equal-weight"}
    listed = run_json(url, "backtests", ALICE)
    assert [r["id"] for r in listed] == [doc["id"]]
    shown = run(url, "backtests", ALICE, str(doc["id"])).stdout
    assert "sharpe" in shown and "buy-and-hold IDX" in shown
    assert run_json(url, "backtests", "bob@example.com") == []
    assert error(url, "backtests", "bob@example.com", str(doc["id"])) == f"Error: No backtest {doc['id']}."


def test_a_baseline_runs_without_a_model_and_bad_input_is_one_line(url: str, tmp_path: Path) -> None:
    data = write_history(tmp_path / "history")
    out = run(url, "backtest", ALICE, "equal-weight", *WINDOW, "--data", data).stdout
    assert "Report" in out and "max_drawdown" in out
    assert error(
        url, "backtest", ALICE, "buy-and-hold", "--from", "2019-01-09", "--to", "2019-01-02", "--data", data
    ) == ("Error: --to (2019-01-02) is before --from (2019-01-09).")
    assert "no .csv files" in error(url, "backtest", ALICE, "buy-and-hold", *WINDOW, "--data", str(tmp_path))
    assert "--approvals must be approve or deny" in error(
        url, "backtest", ALICE, "buy-and-hold", *WINDOW, "--data", data, "--approvals", "maybe"
    )
    assert "has no daytrader" in error(url, "backtest", ALICE, "daytrader", *WINDOW, "--data", data)
