"""`tradedesk worker` processes: background turns, jobs and schedules from the CLI, and the exchange clock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

import agentrecord
from agentrecord import provider_names
from agentrecord.providers import secret_env_vars
from tests.agentrecord.jobs.fleet import buyer
from tests.agentrecord.openai_server import OpenAIServer
from tests.conftest import fresh_pg_database
from tests.preforked import Forked
from tests.tradedesk.template_db import initialized
from tradedesk.agents.models import User
from tradedesk.brokerage import services
from tradedesk.brokerage.broker import Broker, Order
from tradedesk.cli import app
from tradedesk.market import SimulatedMarket
from tradedesk.market.calendar import NyseCalendar
from tradedesk.market.clock import SimulatedClock

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(sys.executable).with_name("tradedesk")
ALICE = "alice@example.com"
runner = CliRunner()


model = buyer("order_entry", side="buy")
"""The day trader's model: one market buy per "buy N SYM", then a sentence once the broker answered."""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A model server, and a simulated clock inside a session (10:00 New York on a Monday) for every process."""
    for name in provider_names():
        for var in secret_env_vars(name):
            monkeypatch.delenv(var, raising=False)
    with OpenAIServer(model, keep_requests=False) as server:
        values = {
            "OPENAI_SECRET": "sk-test-local",
            "OPENAI_BASE_URL": server.base_url,
            "TRADEDESK_CLOCK_START": "2026-03-02T10:00:00-05:00",
            "TRADEDESK_CLOCK_ANCHOR": str(time.time()),
            "TRADEDESK_EXCHANGE_HOURS": "nyse",
        }
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        services.use_market(None)
        yield values
        services.use_market(None)


def cli(url: str, *args: str, code: int = 0) -> Result:
    result = runner.invoke(app, ["--db", url, *args])
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    if code:
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    return result


def as_json(url: str, *args: str) -> Any:
    return json.loads(cli(url, *args, "--json").stdout)


def start_worker(url: str, env: dict[str, str], *, script: bool = False) -> subprocess.Popen[bytes] | Forked:
    """`tradedesk --db URL worker` in a new process: forked with its libraries imported (see tests/preforked.py),
    or with `script` the console script a user runs, in a fresh interpreter."""
    child = dict(os.environ, **env, PYTHONPATH=str(ROOT))
    args = ["--db", url, "worker", "--concurrency", "20"]
    if not script:
        return Forked("tradedesk.cli", args, env=child, cwd=ROOT, log=None)
    return subprocess.Popen(
        [str(SCRIPT), *args], cwd=ROOT, env=child, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def stop(proc: subprocess.Popen[bytes] | Forked) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


@pytest.fixture
def url(tmp_path: Path, env: dict[str, str]) -> str:
    db = f"sqlite:///{tmp_path}/td.db"
    initialized(db)
    cli(db, "user", "add", ALICE)
    cli(db, "agent", "add", ALICE, "daytrader", "--provider", "openai")
    return db


def test_a_background_turn_runs_on_a_worker_and_the_cli_follows_it(url: str, env: dict[str, str]) -> None:
    job_id = cli(url, "talk", ALICE, "daytrader", "buy 3 AAPL", "--background").stdout.strip()
    dropped = as_json(url, "talk", ALICE, "daytrader", "buy 9 AAPL", "--background")
    assert [j["status"] for j in as_json(url, "jobs", ALICE)] == ["queued", "queued"]
    assert as_json(url, "cancel", dropped["id"])["status"] == "cancelled"
    worker = start_worker(url, env, script=True)
    try:
        done = as_json(url, "job", job_id, "--wait", "--timeout", "60")
    finally:
        stop(worker)
    assert done["status"] == "done" and done["text"] == "Done: buy 3 AAPL." and done["agent"] == "daytrader/1"
    assert done["input_tokens"] > 0 and done["finished_at"] is not None
    orders = as_json(url, "orders", ALICE)
    assert [(o["symbol"], o["quantity"], o["status"]) for o in orders] == [("AAPL", 3, "filled")]  # not the cancelled
    listed = {j["id"]: j["status"] for j in as_json(url, "jobs", ALICE)}
    assert listed == {job_id: "done", dropped["id"]: "cancelled"}
    assert "Done: buy 3 AAPL." in cli(url, "job", job_id).stdout


def test_an_order_held_for_approval_in_a_job_is_approved_from_the_cli_and_the_job_finishes(
    url: str, env: dict[str, str]
) -> None:
    job_id = cli(url, "talk", ALICE, "daytrader", "buy 100 AAPL", "--background").stdout.strip()  # over $10,000
    worker = start_worker(url, env)
    try:
        assert as_json(url, "job", job_id, "--wait", "--timeout", "60")["status"] == "waiting_approval"
        (held,) = as_json(url, "approvals", ALICE)
        assert held["tool"] == "order_entry" and held["args"]["quantity"] == 100
        decided = cli(url, "approve", held["call_id"]).stdout
        assert f"Job {job_id} resumes the turn on a worker" in decided
        done = as_json(url, "job", job_id, "--wait", "--timeout", "60")
    finally:
        stop(worker)
    assert done["status"] == "done" and done["text"] == "Done: buy 100 AAPL."
    assert [(o["quantity"], o["status"]) for o in as_json(url, "orders", ALICE)] == [(100, "filled")]
    assert as_json(url, "approvals", ALICE) == []


def test_job_commands_refuse_what_does_not_exist_in_one_line(url: str) -> None:
    assert "No job nope" in cli(url, "job", "nope", code=1).stderr
    assert "No job nope" in cli(url, "cancel", "nope", code=1).stderr
    assert (
        "intervals are aligned" in cli(url, "schedule", "add", ALICE, "daytrader", "hi", "--every", "7s", code=1).stderr
    )
    assert "exactly one of" in cli(url, "schedule", "add", ALICE, "daytrader", "hi", code=1).stderr
    assert (
        "Unknown time zone"
        in cli(url, "schedule", "add", ALICE, "daytrader", "hi", "--every", "1h", "--tz", "Mars/Base", code=1).stderr
    )
    assert "No schedule x" in cli(url, "schedule", "pause", "x", code=1).stderr
    assert "no jobs" in cli(url, "jobs", ALICE).stdout


def test_schedules_are_added_listed_paused_resumed_and_removed_from_the_cli(url: str) -> None:
    made = as_json(
        url, "schedule", "add", ALICE, "daytrader", "Check the market", "--cron", "*/15 9-16 * * 1-5", "--market-hours"
    )
    assert made["cron"] == "0 */15 9-16 * * 1-5" and made["tz"] == "America/New_York" and made["calendar"] == "nyse"
    assert [s["id"] for s in as_json(url, "schedule", "list", ALICE)] == [made["id"]]
    assert as_json(url, "schedule", "pause", made["id"])["status"] == "paused"
    assert as_json(url, "schedule", "resume", made["id"])["status"] == "active"
    assert as_json(url, "schedule", "remove", made["id"])["status"] == "removed"
    assert as_json(url, "schedule", "list", ALICE) == []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ex.db"
        return
    with fresh_pg_database("td_ex") as url:
        yield url


def test_workers_run_the_exchange_a_limit_order_fills_when_crossed_and_a_day_order_expires_at_the_close(
    fresh_url: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulated time runs 30x (two ticks a simulated minute): 15:52 New York six real seconds from now, the close
    # 16 real seconds later. Forked workers are live in ~2 s here (3.5 s with the settling pause), so on a host
    # 2.5x slower the orders go in by 15:53:30; `crossing` needs the four minutes to 15:56 at least.
    clock = SimulatedClock(datetime(2026, 3, 2, 20, 52, tzinfo=UTC), time.time() + 6, 30.0)
    timing = {"TRADEDESK_CLOCK_START": clock.start.isoformat(), "TRADEDESK_CLOCK_ANCHOR": str(clock.anchor)}
    timing["TRADEDESK_CLOCK_SPEED"] = "30"
    for key, value in timing.items():
        monkeypatch.setenv(key, value)
    url = fresh_url
    cli(url, "init")
    cli(url, "user", "add", ALICE)
    engine = agentrecord.create_engine(url)
    workers = [start_worker(url, env | timing) for _ in range(2 if url.startswith("sqlite") else 3)]
    try:
        until_live(engine, len(workers))
        broker = Broker(SimulatedMarket(seed=0, clock=clock), calendar=NyseCalendar())
        symbol, when, price = crossing(broker, clock(), close=datetime(2026, 3, 2, 21, 0, tzinfo=UTC))
        with Session(engine, expire_on_commit=False) as session, session.begin():
            user_id = session.scalar(select(User.id).where(User.email == ALICE))
            assert user_id is not None
            kwargs: dict[str, Any] = {"side": "buy", "order_type": "limit", "quantity": 2}
            day = broker.place_order(session, user_id, symbol="MSFT", limit_price=Decimal("1.00"), **kwargs)
            resting = broker.place_order(session, user_id, symbol=symbol, limit_price=price, **kwargs)
        assert day.status == resting.status == "new"
        until(lambda: status(engine, day.id) == "expired", 60)
    finally:
        for worker in workers:
            stop(worker)
    with Session(engine) as session:
        filled = session.get(Order, resting.id)
        assert filled is not None and filled.status == "filled", (filled and filled.status, when, price)
        assert filled.filled_at is not None and filled.filled_at.replace(tzinfo=UTC) >= when  # not before the cross
        assert filled.fill_price is not None and filled.fill_price <= price
    engine.dispose()


def crossing(broker: Broker, now: datetime, close: datetime) -> tuple[str, datetime, Decimal]:
    """A symbol whose ask makes a strict new low two or more minutes from now, before the close."""
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    minutes = [start + timedelta(minutes=k) for k in range(int((close - start).total_seconds() // 60))]
    for symbol in broker.market.symbols():
        asks = [broker.market.quote(symbol, at=m).ask for m in minutes]
        lowest = broker.market.quote(symbol, at=now).ask
        for i, ask in enumerate(asks):
            if i >= 2 and ask < lowest and i < len(asks) - 1:
                return symbol, minutes[i], ask
            lowest = min(lowest, ask)
    raise AssertionError("no symbol crosses in the window: move the simulated start")


def status(engine: Any, order_id: int) -> str | None:
    with Session(engine) as session:
        return session.scalar(select(Order.status).where(Order.id == order_id))


def until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.25)


def until_live(engine: Any, count: int = 1) -> None:
    from agentrecord.jobs.dbos import fleet

    until(lambda: len(fleet.live(engine)) >= count, 60)
    time.sleep(1.5)  # its exchange schedule starts ticking


@pytest.mark.parametrize(("start", "runs"), [("2026-03-07T11:00:00-05:00", False), ("2026-03-02T11:00:00-05:00", True)])
def test_a_market_hours_schedule_ticks_only_while_the_exchange_is_open(
    url: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, start: str, runs: bool
) -> None:
    from dbos import DBOSClient

    from agentrecord.jobs.backend import APP, TICK_WORKFLOW

    monkeypatch.setenv("TRADEDESK_CLOCK_START", start)  # a Saturday, or a Monday morning, in New York
    as_json(url, "schedule", "add", ALICE, "daytrader", "buy 1 KO", "--every", "1s", "--market-hours")
    worker = start_worker(url, env | {"TRADEDESK_CLOCK_START": start})
    client = DBOSClient(system_database_url=url, application_name=APP)
    try:
        until(lambda: len(client.list_workflows(name=TICK_WORKFLOW, status="SUCCESS")) >= 3, 60)
        outputs = [w.output for w in client.list_workflows(name=TICK_WORKFLOW, status="SUCCESS")]
    finally:
        client.destroy()
        stop(worker)
    assert all((o != "skipped") == runs for o in outputs), outputs
    assert bool(as_json(url, "jobs", ALICE)) == runs
