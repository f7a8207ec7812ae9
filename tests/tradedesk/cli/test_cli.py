"""The `tradedesk` command line, in process (CliRunner) and through the installed console script."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

import agentrecord
from agentrecord import provider_names
from agentrecord.providers import secret_env_vars
from agentrecord.testing import ScriptedModel, call, scripted
from tests.factories import NOW
from tests.tradedesk.isolated import schema_url
from tests.tradedesk.template_db import initialized
from tradedesk import migrations
from tradedesk.agents.models import Daytrader, StockInvestor
from tradedesk.brokerage import services
from tradedesk.cli import app
from tradedesk.users import identity

HEAD = migrations.head()

ALICE = "alice@example.com"
SCRIPT = Path(sys.executable).with_name("tradedesk")

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider secret: new agents default to the embedded model. The market's clock and hours are the defaults."""
    for name in provider_names():
        for var in secret_env_vars(name):
            monkeypatch.delenv(var, raising=False)
    for var in ("DATABASE_URL", "EXCHANGE_HOURS", "CLOCK_START", "CLOCK_ANCHOR", "CLOCK_SPEED"):
        monkeypatch.delenv(f"TRADEDESK_{var}", raising=False)


pytestmark = pytest.mark.usefixtures("frozen_market")


@pytest.fixture
def url(tmp_path: Path) -> str:
    """An initialized SQLite database."""
    db = f"sqlite:///{tmp_path}/t.db"
    initialized(db)  # as `run(db, "init")` leaves it (tested above), copied from a template
    return db


@pytest.fixture
def alice(url: str) -> str:
    """`url`, with alice and a day trader and a stock investor on the local provider."""
    run(url, "user", "add", ALICE)
    run(url, "agent", "add", ALICE, "daytrader")
    run(url, "agent", "add", ALICE, "stock_investor")
    return url


def run(url: str | None, *args: str, code: int = 0) -> Result:
    """Invoke the CLI in process; check the exit code; errors must be one line on stderr."""
    result = runner.invoke(app, [*(["--db", url] if url else []), *args])
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    if code:
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
        assert result.stdout == ""
    return result


def run_json(url: str | None, *args: str) -> Any:
    return json.loads(run(url, *args, "--json").stdout)


def error(url: str | None, *args: str) -> str:
    return run(url, *args, code=1).stderr.strip()


def talk(url: str, model: ScriptedModel, *args: str, cls: type = Daytrader) -> Result:
    with scripted(cls, model):
        return run(url, "talk", ALICE, *args)


# -- init ----------------------------------------------------------------------------------------


def test_init_creates_then_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/t.db"
    assert "Created the database" in run(url, "init").stdout
    assert f"is up to date (revision {HEAD})" in run(url, "init").stdout
    doc = run_json(url, "init")
    assert doc == {"database": url, "revision": HEAD, "previous": HEAD, "changed": False}


def test_init_json_on_a_new_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/t.db"
    assert run_json(url, "init") == {"database": url, "revision": HEAD, "previous": None, "changed": True}


def test_the_database_comes_from_the_environment_else_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_json(None, "init")["database"] == "sqlite:///tradedesk.db"
    assert (tmp_path / "tradedesk.db").is_file()
    monkeypatch.setenv("TRADEDESK_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    assert run_json(None, "init")["database"] == f"sqlite:///{tmp_path}/env.db"
    assert run_json(f"sqlite:///{tmp_path}/flag.db", "init")["database"] == f"sqlite:///{tmp_path}/flag.db"


def test_commands_on_a_database_that_was_never_initialized_say_to_run_init(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path}/missing.db"
    assert error(missing, "agents", ALICE) == f"Error: No database at {missing}: run `tradedesk init` to create it."
    assert not (tmp_path / "missing.db").exists()
    sqlite3.connect(tmp_path / "empty.db").close()
    empty = f"sqlite:///{tmp_path}/empty.db"
    assert "is not initialized: run `tradedesk init`" in error(empty, "user", "add", ALICE)


def test_database_errors_are_one_line(tmp_path: Path) -> None:
    unreachable = f"sqlite:///{tmp_path}/no/such/dir/t.db"
    assert error(unreachable, "init") == f"Error: Database error on {unreachable}: unable to open database file"
    assert error("nonsense://", "init").startswith("Error: Database error on nonsense://: ")
    newer = f"sqlite:///{tmp_path}/newer.db"
    run(newer, "init")
    with sqlite3.connect(tmp_path / "newer.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    assert f"is at revision 9999, this tradedesk needs {HEAD}" in error(newer, "agents", ALICE)
    assert "9999" in error(newer, "init")


# -- users and agents ----------------------------------------------------------------------------


def test_user_add(url: str) -> None:
    assert run(url, "user", "add", ALICE).stdout == f"Added user {ALICE} (id 1).\n"
    assert run_json(url, "user", "add", "Bob@Example.com") == {"id": 2, "email": "bob@example.com"}
    assert error(url, "user", "add", ALICE) == f"Error: User {ALICE} already exists."
    assert error(url, "user", "add", "nobody") == "Error: Not an email address: 'nobody'."


def test_agent_add_defaults_to_the_local_model_without_a_secret(url: str) -> None:
    run(url, "user", "add", ALICE)
    out = run(url, "agent", "add", ALICE, "daytrader").stdout
    assert out == f"Added daytrader/1 for {ALICE} on local (smollm2-135m).\n"
    doc = run_json(url, "agent", "add", ALICE, "stock_investor", "--provider", "local")
    assert doc["agent"] == "stock_investor/1" and doc["provider"] == "local" and doc["model"] == "smollm2-135m"
    assert doc["total_tokens"] == 0 and doc["cost"] is None and doc["user"] == ALICE


def test_agent_add_defaults_to_the_first_configured_provider(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run(url, "user", "add", ALICE)
    monkeypatch.setenv("ANTHROPIC_SECRET", "sk-test")
    doc = run_json(url, "agent", "add", ALICE, "daytrader")
    assert doc["provider"] == "anthropic" and doc["model"] == Daytrader.agent_spec().model
    doc = run_json(url, "agent", "add", ALICE, "daytrader", "--provider", "anthropic", "--model", "claude-haiku-4-5")
    assert doc["model"] == "claude-haiku-4-5"


def test_agent_add_errors(url: str) -> None:
    run(url, "user", "add", ALICE)
    assert error(url, "agent", "add", "bob@example.com", "daytrader") == (
        "Error: No user bob@example.com: add one with `tradedesk user add bob@example.com`."
    )
    assert error(url, "agent", "add", ALICE, "scalper") == (
        "Error: Unknown agent kind 'scalper': use daytrader or stock_investor."
    )
    assert error(url, "agent", "add", ALICE, "daytrader", "--provider", "openai").startswith(
        "Error: Provider 'openai' is not configured: set the OPENAI_SECRET environment variable"
    )
    assert error(url, "agent", "add", ALICE, "daytrader", "--provider", "acme").startswith(
        "Error: Unknown provider 'acme'."
    )
    assert run_json(url, "agents", ALICE) == []


def test_agents(alice: str) -> None:
    talk(alice, ScriptedModel([call("quote_feed", symbol="AAPL"), "AAPL is at 190."]), "daytrader", "AAPL?")
    out = run(alice, "agents", ALICE).stdout
    assert "daytrader/1" in out and "stock_investor/1" in out and "smollm2-135m" in out
    rows = run_json(alice, "agents", ALICE)
    assert [(r["agent"], r["provider"], r["model"]) for r in rows] == [
        ("daytrader/1", "local", "smollm2-135m"),
        ("stock_investor/1", "local", "smollm2-135m"),
    ]
    assert set(rows[0]) >= {"input_tokens", "output_tokens", "total_tokens", "cost", "pending_approvals"}
    assert rows[0]["total_tokens"] > 0 and rows[1]["total_tokens"] == 0
    assert error(alice, "agents", "bob@example.com").startswith("Error: No user bob@example.com")


def test_agents_of_a_user_without_any(url: str) -> None:
    run(url, "user", "add", ALICE)
    assert "has no agents" in run(url, "agents", ALICE).stdout


# -- talk ----------------------------------------------------------------------------------------


def test_talk_streams_the_reply_and_shows_the_tools_it_used(alice: str) -> None:
    model = ScriptedModel([call("quote_feed", symbol="AAPL"), "AAPL last traded at 190.12 dollars."])
    out = talk(alice, model, "daytrader", "What is the price of AAPL?").stdout
    assert out.startswith("daytrader/1> AAPL last traded at 190.12 dollars.\n")
    assert "used quote_feed(symbol='AAPL')" in out and "tokens, cost" in out


def test_talk_json(alice: str) -> None:
    model = ScriptedModel([call("fundamentals_feed", symbol="MSFT"), "MSFT trades at 35 times earnings."])
    with scripted(StockInvestor, model):
        doc = run_json(alice, "talk", ALICE, "stock_investor/1", "P/E of MSFT?")
    assert doc["agent"] == "stock_investor/1" and doc["prompt"] == "P/E of MSFT?"
    assert doc["reply"] == "MSFT trades at 35 times earnings." and doc["pending"] == []
    (used,) = doc["tool_calls"]
    assert used["tool"] == "fundamentals_feed" and used["args"] == {"symbol": "MSFT"}
    assert used["result"]["symbol"] == "MSFT"
    assert doc["usage"]["requests"] == 2 and doc["usage"]["total_tokens"] > 0


def test_talk_finds_the_agent(alice: str) -> None:
    assert talk(alice, ScriptedModel(["hi"]), "daytrader/1", "hello").stdout.startswith("daytrader/1> hi")
    assert error(alice, "talk", ALICE, "daytrader/9", "hello") == (
        f"Error: {ALICE} has no agent daytrader/9: list them with `tradedesk agents {ALICE}`."
    )
    assert error(alice, "talk", ALICE, "robot", "hello").startswith("Error: Unknown agent kind 'robot'")
    assert error(alice, "talk", "bob@example.com", "daytrader", "hello").startswith("Error: No user bob@example.com")
    run(alice, "agent", "add", ALICE, "daytrader")
    assert error(alice, "talk", ALICE, "daytrader", "hello") == (
        f"Error: {ALICE} has 2 agents of kind daytrader (daytrader/1, daytrader/2): name one, e.g. daytrader/1."
    )
    assert talk(alice, ScriptedModel(["two"]), "daytrader/2", "hello").stdout.startswith("daytrader/2> two")


def test_talk_to_a_provider_that_is_not_configured(alice: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_SECRET", "sk-test")
    run(alice, "agent", "add", ALICE, "daytrader", "--provider", "openai")
    monkeypatch.delenv("OPENAI_SECRET")
    assert error(alice, "talk", ALICE, "daytrader/2", "hello").startswith(
        "Error: Provider 'openai' is not configured: set the OPENAI_SECRET environment variable"
    )


def test_talk_to_the_local_model_uses_its_tools(alice: str) -> None:
    doc = run_json(alice, "talk", ALICE, "daytrader", "What is the price of AAPL?")
    assert [(c["tool"], c["args"]) for c in doc["tool_calls"]] == [("quote_feed", {"symbol": "AAPL"})]
    assert doc["reply"] and doc["cost"] == "0" and doc["usage"]["total_tokens"] > 0


@pytest.mark.parametrize(
    ("agent", "prompt", "tool"),
    [
        ("daytrader", "Which of my positions should I exit now?", "exit_trade"),  # the skill, not the data
        ("daytrader", "What is a limit order?", None),
    ],
)
def test_the_local_model_routes_procedures_to_skills_and_concepts_to_words(
    alice: str, agent: str, prompt: str, tool: str | None
) -> None:
    """Through the whole CLI: a procedure runs its skill and a concept gets words (data to tools: the tests above).
    The routing accuracy over many more requests, these included, is `benchmarks/local_model_accuracy.py`'s
    (tests/agentrecord/local_eval_set.py): the suite keeps one case of each path, not the accuracy set."""
    doc = run_json(alice, "talk", ALICE, agent, prompt)
    assert [c["tool"] for c in doc["tool_calls"]][:1] == ([tool] if tool else []) and doc["reply"]


def test_an_empty_position_book_is_answered_as_none_held(alice: str) -> None:
    doc = run_json(alice, "talk", ALICE, "daytrader", "Show my positions.")
    assert [c["tool"] for c in doc["tool_calls"]] == ["position_book"]
    assert "none" in doc["reply"].lower() and "returned" not in doc["reply"], doc["reply"]


# -- approvals -----------------------------------------------------------------------------------


def big_order() -> Any:
    return call("order_entry", symbol="AAPL", side="buy", quantity=100)  # ~ $20k, above the $10k threshold


def test_a_large_order_waits_for_approval_then_approve_places_it(alice: str) -> None:
    order = big_order()
    out = talk(alice, ScriptedModel([order]), "daytrader", "Buy 100 AAPL").stdout
    assert "Waiting for approval (1):" in out and order.id in out and "tradedesk approve CALL_ID" in out
    assert order.id in run(alice, "approvals", ALICE).stdout
    (held,) = run_json(alice, "approvals", ALICE)
    assert held["agent"] == "daytrader/1" and held["call_id"] == order.id and held["tool"] == "order_entry"
    assert held["args"] == {"symbol": "AAPL", "side": "buy", "quantity": 100}
    assert Decimal(held["notional"]) > Decimal("10000")
    assert run_json(alice, "orders", ALICE) == []

    with scripted(Daytrader, ScriptedModel(["Bought 100 AAPL."])):
        out = run(alice, "approve", order.id).stdout
    assert out.startswith(f"Approved {order.id} on daytrader/1: order_entry(symbol='AAPL', side='buy', quantity=100)")
    assert "daytrader/1> Bought 100 AAPL." in out
    (placed,) = run_json(alice, "orders", ALICE)
    assert (placed["symbol"], placed["side"], placed["quantity"]) == ("AAPL", "buy", 100)
    assert placed["agent"] == "daytrader/1"
    assert "AAPL" in run(alice, "orders", ALICE).stdout
    assert run_json(alice, "approvals", ALICE) == []
    assert "Nothing is waiting" in run(alice, "approvals", ALICE).stdout
    assert error(alice, "approve", order.id) == (
        f"Error: Tool call {order.id} on Daytrader id=1 was already approved; a decision is final."
    )


def test_approve_json(alice: str) -> None:
    order = big_order()
    talk(alice, ScriptedModel([order]), "daytrader", "Buy 100 AAPL")
    with scripted(Daytrader, ScriptedModel(["Bought."])):
        doc = run_json(alice, "approve", order.id)
    assert doc["decision"] == "approved" and doc["call_id"] == order.id and doc["agent"] == "daytrader/1"
    assert doc["reply"] == "Bought." and doc["user"] == ALICE and doc["still_pending"] == []
    assert doc["call"]["args"]["quantity"] == 100 and doc["result"]["symbol"] == "AAPL"


def test_deny_tells_the_agent_and_places_nothing(alice: str) -> None:
    order = big_order()
    talk(alice, ScriptedModel([order]), "daytrader", "Buy 100 AAPL")
    resumed = ScriptedModel(["Understood, no order."])
    with scripted(Daytrader, resumed):
        out = run(alice, "deny", order.id, "--reason", "too big").stdout
    assert out.startswith(f"Denied {order.id} on daytrader/1") and "Understood, no order." in out
    assert "too big" in str(resumed.requests[-1])
    assert run_json(alice, "orders", ALICE) == []
    assert error(alice, "deny", order.id).endswith("was already denied; a decision is final.")


def test_deny_json(alice: str) -> None:
    order = big_order()
    talk(alice, ScriptedModel([order]), "daytrader", "Buy 100 AAPL")
    with scripted(Daytrader, ScriptedModel(["OK."])):
        doc = run_json(alice, "deny", order.id, "--reason", "not now")
    assert doc["decision"] == "denied" and doc["reason"] == "not now" and doc["reply"] == "OK."
    assert "not now" in str(doc["result"])


def test_approving_an_unknown_call(alice: str) -> None:
    assert error(alice, "approve", "call_nope") == (
        "Error: No agent is holding tool call call_nope: list pending calls with `tradedesk approvals EMAIL`."
    )


def test_a_new_talk_while_calls_wait_is_refused(alice: str) -> None:
    talk(alice, ScriptedModel([big_order()]), "daytrader", "Buy 100 AAPL")
    assert "waiting" in error(alice, "talk", ALICE, "daytrader", "hello").lower()


# -- the brokerage -------------------------------------------------------------------------------


def test_portfolio(alice: str) -> None:
    talk(alice, ScriptedModel([call("order_entry", symbol="KO", side="buy", quantity=10), "ok"]), "daytrader", "go")
    out = run(alice, "portfolio", ALICE).stdout
    assert f"Portfolio of {ALICE}" in out and "KO" in out
    doc = run_json(alice, "portfolio", ALICE)
    assert doc["user"] == ALICE and isinstance(doc["cash"], str) and Decimal(doc["cash"]) < Decimal("100000")
    assert [(p["symbol"], p["quantity"]) for p in doc["positions"]] == [("KO", 10)]
    assert error(alice, "portfolio", "bob@example.com").startswith("Error: No user bob@example.com")


def test_portfolio_of_a_new_user(url: str) -> None:
    run(url, "user", "add", ALICE)
    assert "No positions." in run(url, "portfolio", ALICE).stdout
    doc = run_json(url, "portfolio", ALICE)
    assert Decimal(doc["cash"]) == Decimal("100000") and doc["positions"] == []


def test_orders(alice: str) -> None:
    assert run(alice, "orders", ALICE).stdout == f"{ALICE} has no orders.\n"
    steps = [call("order_entry", symbol="KO", side="buy", quantity=10), "ok"]
    talk(alice, ScriptedModel(steps), "daytrader", "go")
    out = run(alice, "orders", ALICE).stdout
    assert f"Orders of {ALICE}" in out and "KO" in out and "daytrader/1" in out
    (order,) = run_json(alice, "orders", ALICE)
    assert (order["symbol"], order["side"], order["quantity"], order["agent"]) == ("KO", "buy", 10, "daytrader/1")
    assert order["status"] == "filled" and isinstance(order["fill_price"], str)
    assert error(alice, "orders", "bob@example.com").startswith("Error: No user bob@example.com")


def test_orders_show_stop_and_trailing_stop_orders_with_their_stop_trail_and_time_in_force(alice: str) -> None:
    steps = [
        call("order_entry", symbol="KO", side="buy", quantity=10),
        call(
            "order_entry", symbol="KO", side="sell", quantity=4, order_type="stop", stop_price=1.5, time_in_force="gtc"
        ),
        call("order_entry", symbol="KO", side="sell", quantity=6, order_type="trailing_stop", trail_percent=2.5),
        "ok",
    ]
    talk(alice, ScriptedModel(steps), "daytrader", "go")
    trailing, stop, _ = run_json(alice, "orders", ALICE)
    assert (stop["order_type"], stop["stop_price"], stop["time_in_force"], stop["status"]) == (
        "stop",
        "1.5000",
        "gtc",
        "new",
    )
    assert (trailing["order_type"], trailing["trail_percent"], trailing["status"]) == ("trailing_stop", 2.5, "new")
    assert trailing["stop_price"] is not None
    out = run(alice, "orders", ALICE).stdout
    assert "2.5%" in out and "1.50" in out and "gtc" in out


def test_orders_show_a_brackets_class_and_its_childrens_parent(alice: str) -> None:
    ask = float(services.market().quote("KO").ask)
    steps = [call("order_entry", symbol="KO", side="buy", quantity=10, take_profit=ask + 5, stop_loss=ask - 5), "ok"]
    talk(alice, ScriptedModel(steps), "daytrader", "go")
    loss, profit, entry = run_json(alice, "orders", ALICE)
    assert (entry["order_class"], entry["status"], [c["id"] for c in entry["children"]]) == (
        "bracket",
        "filled",
        [profit["id"], loss["id"]],
    )
    assert (profit["parent_id"], profit["order_type"], loss["parent_id"], loss["order_type"]) == (
        entry["id"],
        "limit",
        entry["id"],
        "stop",
    )
    out = run(alice, "orders", ALICE).stdout
    assert "class" in out and "parent" in out and out.count("bracket") >= 3


def test_quote() -> None:
    out = run(None, "quote", "aapl").stdout
    assert "AAPL" in out and "bid" in out and "ask" in out
    doc = run_json(None, "quote", "AAPL")
    assert doc["symbol"] == "AAPL" and Decimal(doc["bid"]) < Decimal(doc["ask"])
    assert doc["bid_size"] >= 100 and doc["ask_size"] % 100 == 0  # shares displayed, in round lots
    assert error(None, "quote", "ZZZZ").startswith("Error: ")
    assert "ZZZZ" in error(None, "quote", "ZZZZ")


# -- demo and the console script -----------------------------------------------------------------


def test_demo_json_lists_every_turn_agent_order_and_the_portfolio(tmp_path: Path) -> None:
    """The JSON form of the demo, on scripted decisions; the real embedded model's demo (and its numbers) is the
    console script's test below, so the suite runs the demo's inference once."""
    url = f"sqlite:///{tmp_path}/demo.db"
    trader = ScriptedModel(
        [call("quote_feed", symbol="AAPL"), "AAPL last traded at 190.", order := big_order(), "Asked for approval."]
    )
    investor = ScriptedModel([call("fundamentals_feed", symbol="MSFT"), "The P/E of MSFT is 33."])
    with scripted(Daytrader, trader), scripted(StockInvestor, investor):
        doc = run_json(url, "demo", "--provider", "local")
    assert doc["database"] == url and doc["user"] == "demo@tradedesk.local" and doc["provider"] == "local"
    asked = [(t["agent"], t["prompt"]) for t in doc["turns"]]
    assert asked == [
        ("daytrader/1", "What is the price of AAPL?"),
        ("daytrader/1", "Place an order to buy 10 shares of AAPL."),
        ("stock_investor/1", "What is the P/E ratio of MSFT?"),
    ]
    by_prompt = {t["prompt"]: t for t in doc["turns"]}
    assert [c["tool"] for c in by_prompt["What is the price of AAPL?"]["tool_calls"]] == ["quote_feed"]
    assert [c["tool"] for c in by_prompt["What is the P/E ratio of MSFT?"]["tool_calls"]] == ["fundamentals_feed"]
    assert [p["call_id"] for p in by_prompt["Place an order to buy 10 shares of AAPL."]["pending"]] == [order.id]
    assert all(t["reply"] or t["pending"] for t in doc["turns"])
    assert [a["agent"] for a in doc["agents"]] == ["daytrader/1", "stock_investor/1"]
    assert all(a["total_tokens"] > 0 for a in doc["agents"])
    assert "cash" in doc["portfolio"] and doc["orders"] == []  # the big order waits for approval: nothing placed


def _script_env(tmp_path: Path) -> dict[str, str]:
    """The environment without secrets or a database, on a simulated clock reading NOW (in a session) as it starts."""
    secrets = {v for name in provider_names() for v in secret_env_vars(name)}
    env = {k: v for k, v in os.environ.items() if k not in secrets and not k.startswith("TRADEDESK_")}
    return env | {"TRADEDESK_CLOCK_START": NOW.isoformat(), "TRADEDESK_CLOCK_ANCHOR": str(time.time())}


def test_the_console_script_runs_the_full_demo_and_answers_with_the_right_numbers(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(SCRIPT), "demo"], cwd=tmp_path, env=_script_env(tmp_path), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "embedded local model" in out
    assert "you → daytrader/1: What is the price of AAPL?" in out and "used quote_feed(symbol='AAPL')" in out
    assert "you → stock_investor/1: What is the P/E ratio of MSFT?" in out
    assert "used fundamentals_feed(symbol='MSFT')" in out
    assert "Portfolio of demo@tradedesk.local" in out and "Token usage" in out
    assert not (tmp_path / "tradedesk.db").exists()  # the demo uses a database of its own
    # the right numbers, not only faithful ones: the P/E (not the EPS), the last price (not the bid or ask)
    for agent, field in (("stock_investor/1", "pe_ratio"), ("daytrader/1", "last")):
        for reply, result in re.findall(rf"^{agent}> (.*)\n  used \w+\(.*?\) → (.*)$", out, re.MULTILINE):
            if f" {field}=" in f" {result}":
                given = re.findall(r"\d+(?:\.\d+)?", reply.replace(",", ""))
                value = re.search(rf"(?:^|, ){field}=([\d.]+)", result)
                assert given and value and float(given[0]) == float(value[1]), (reply, result)
                break
        else:
            raise AssertionError(f"no reply of {agent} over a result with {field}: {out}")


def test_the_console_script_reports_errors_in_one_line(tmp_path: Path) -> None:
    env = _script_env(tmp_path)
    done = subprocess.run([str(SCRIPT), "agents", ALICE], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "Error: No database at sqlite:///tradedesk.db: run `tradedesk init` to create it.\n"
    assert subprocess.run([str(SCRIPT), "init"], cwd=tmp_path, env=env, capture_output=True).returncode == 0
    done = subprocess.run(
        [sys.executable, "-m", "tradedesk.cli", "agents", ALICE, "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and done.stderr.startswith(f"Error: No user {ALICE}")


# -- PostgreSQL ----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_the_cli_on_postgresql(pg_url: str) -> None:
    with schema_url(pg_url) as url:
        assert run_json(url, "init")["changed"] is True
        run(url, "user", "add", ALICE)
        run(url, "agent", "add", ALICE, "daytrader")
        order = big_order()
        talk(url, ScriptedModel([order]), "daytrader", "Buy 100 AAPL")
        assert [h["call_id"] for h in run_json(url, "approvals", ALICE)] == [order.id]
        with scripted(Daytrader, ScriptedModel(["Bought."])):
            run(url, "approve", order.id)
        assert [o["symbol"] for o in run_json(url, "orders", ALICE)] == ["AAPL"]
        assert Decimal(run_json(url, "portfolio", ALICE)["cash"]) < Decimal("100000")
        assert run_json(url, "init")["changed"] is False


def test_user_password_sets_a_password_that_signs_in_and_refuses_a_short_one(url: str) -> None:
    run(url, "user", "add", ALICE)
    short = runner.invoke(app, ["--db", url, "user", "password", ALICE], input="short\n")
    assert short.exit_code == 1 and short.stderr == "Error: A password needs at least 8 characters.\n"
    assert run_json(url, "user", "password", ALICE, "--password", "correct horse")["password"] == "set"
    piped = runner.invoke(app, ["--db", url, "user", "password", ALICE], input="battery staple\n")
    assert piped.exit_code == 0 and piped.stdout == f"Set the password of {ALICE}.\n"
    assert error(url, "user", "password", "bob@example.com").startswith("Error: No user bob@example.com")
    engine = agentrecord.create_engine(url)
    with Session(engine) as session:
        assert identity.authenticate(session, ALICE, "battery staple").email == ALICE
        with pytest.raises(identity.IdentityError, match="Wrong email or password"):
            identity.authenticate(session, ALICE, "correct horse")
    engine.dispose()
