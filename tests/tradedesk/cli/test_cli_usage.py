"""`tradedesk usage`: a user's (or one agent's) ledger per UTC day, over real HTTP to the local test server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.agentrecord.openai_server import Fault, OpenAIServer, Text, served
from tests.tradedesk.cli.test_cli import ALICE, error, run, run_json
from tests.tradedesk.template_db import initialized


@pytest.fixture  # stays local: not agentrecord's `server`, it pins the retries that retry the scripted 500
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIServer]:
    monkeypatch.setenv("AGENTRECORD_REQUEST_RETRIES", "2")
    with served(monkeypatch) as srv:
        yield srv


@pytest.fixture
def url(tmp_path: Path, server: OpenAIServer) -> str:
    """A migrated SQLite database where alice has a day trader and a stock investor on `openai`."""
    db = f"sqlite:///{tmp_path}/usage.db"
    initialized(db)
    run(db, "user", "add", ALICE)
    run(db, "agent", "add", ALICE, "daytrader", "--provider", "openai", "--model", "gpt-4o-mini")
    run(db, "agent", "add", ALICE, "stock_investor", "--provider", "openai", "--model", "gpt-4o-mini")
    return db


def test_usage_prints_each_days_requests_failures_tokens_and_cost(url: str, server: OpenAIServer) -> None:
    server.script = [
        Fault("status", 500),
        Text("Nothing to trade.", prompt_tokens=100, completion_tokens=10),
        Text("Holding.", prompt_tokens=50, completion_tokens=5),
    ]
    run(url, "talk", ALICE, "daytrader", "Anything?")
    run(url, "talk", ALICE, "stock_investor", "And you?")
    today = datetime.now(UTC).date().isoformat()

    (day,) = run_json(url, "usage", ALICE)["days"]
    assert day["day"] == today
    assert (day["requests"], day["failed"], day["input_tokens"], day["output_tokens"]) == (3, 1, 150, 15)
    agents = {a["agent"]: a for a in run_json(url, "agents", ALICE)}
    assert Decimal(day["cost"]) == sum(Decimal(a["cost"]) for a in agents.values()) > 0

    trader = run_json(url, "usage", ALICE, "--agent", "daytrader")
    assert trader["scope"] == "daytrader/1"
    assert [(d["requests"], d["failed"], d["input_tokens"]) for d in trader["days"]] == [(2, 1, 100)]

    table = run(url, "usage", ALICE).stdout
    assert f"Usage of {ALICE} per day (UTC)" in table and today in table and "150" in table
    assert run(url, "usage", ALICE, "--since", "2999-01-01").stdout.startswith(f"No usage recorded for {ALICE}")


def test_usage_refuses_a_bad_date_and_an_agent_of_someone_else(url: str) -> None:
    assert "--since must be a date as YYYY-MM-DD" in error(url, "usage", ALICE, "--since", "yesterday")
    run(url, "user", "add", "bob@example.com")
    assert "has no agent daytrader/1" in error(url, "usage", "bob@example.com", "--agent", "daytrader/1")
