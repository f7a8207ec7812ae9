"""Spend budgets, the kill switch and the daily loss limit, on real databases, real HTTP and real processes."""

from __future__ import annotations

import os
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from agentrecord import BudgetExceeded, jobs, provider_names
from agentrecord.budgets import spent_today
from agentrecord.providers import secret_env_vars
from agentrecord.testing import ScriptedModel, call, scripted
from tests.agentrecord.openai_server import OpenAIServer, Step, ToolCall, served
from tests.preforked import Forked
from tradedesk.agents import halt
from tradedesk.agents.models import SPEND, Daytrader
from tradedesk.app import desk
from tradedesk.brokerage import services
from tradedesk.brokerage.accounts import Account, Order
from tradedesk.cli import app
from tradedesk.users import User

ROOT = Path(__file__).resolve().parents[3]
TRADEDESK = Path(sys.executable).with_name("tradedesk")
runner = CliRunner()


@pytest.fixture(autouse=True)
def market(frozen_market: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in provider_names():
        for var in secret_env_vars(name):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TRADEDESK_EXCHANGE_HOURS", "always")


def user_with_traders(engine: Engine, n: int, provider: str = "openai") -> tuple[int, list[int]]:
    with Session(engine) as session:
        user = User(email="budget@example.com")
        session.add(user)
        session.flush()
        services.broker().open_account(session, user.id)
        traders = [Daytrader(user=user, provider=provider, model="gpt-4o-mini") for _ in range(n)]
        session.add_all(traders)
        session.commit()
        return user.id, [t.id for t in traders]


def talk(engine: Engine, trader_id: int, prompt: str) -> Any:
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        return trader.talk(prompt)


def test_budget_race_four_turns_against_an_almost_spent_budget(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with served(monkeypatch, lambda body: "ok", delay=0.3) as server:
        user_id, traders = user_with_traders(db, 4)
        for trader in traders:  # a day's spending so far: 4 requests of 18 tokens
            talk(db, trader, "warm up")
        per_request = server.prompt_tokens + server.completion_tokens
        spent, _ = spent_today(db, SPEND, f"user:{user_id}")
        assert spent == 4 * per_request
        limit = spent + per_request // 2  # less than one request is left
        with Session(db) as session:
            session.execute(update(User).where(User.id == user_id).values(daily_tokens=limit))
            session.commit()
        outcomes: list[str] = []
        start = threading.Barrier(4)

        def turn(trader: int) -> None:
            start.wait()
            try:
                talk(db, trader, "one more")
                outcomes.append("passed")
            except BudgetExceeded as error:
                assert "budget@example.com's daily budget is spent" in str(error)
                outcomes.append("stopped")

        threads = [threading.Thread(target=turn, args=(t,)) for t in traders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(outcomes) == ["passed", "stopped", "stopped", "stopped"], outcomes
        after, _ = spent_today(db, SPEND, f"user:{user_id}")
        assert limit < after <= limit + per_request  # one passed the line, by at most one request
        assert server.received == 5
        with db.connect() as conn:
            reserved = conn.execute(select(SPEND.c.reserved_tokens).where(SPEND.c.scope == f"user:{user_id}")).scalar()
        assert reserved == 0
        with Session(db) as session:
            for trader in session.scalars(select(Daytrader)):
                assert trader.lease_owner is None
                kinds = [m.kind for m in trader.messages]
                assert kinds in (["request", "response"], ["request", "response", "request", "response"])
        with pytest.raises(BudgetExceeded, match="Raise it with `tradedesk budget"):
            talk(db, traders[0], "and again")  # spent: refused before any request


def test_an_agents_usd_budget_stops_its_turn_and_keeps_what_it_did(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with served(monkeypatch, [ToolCall("quote_feed", {"symbol": "AAPL"}), "AAPL is up.", "more"]) as server:
        _, (trader,) = user_with_traders(db, 1)
        with Session(db) as session:
            session.execute(update(Daytrader).values(daily_usd=Decimal("0.000001")))
            session.commit()
        with pytest.raises(BudgetExceeded, match=r"daytrader/\d+'s daily budget is spent \(\$"):
            talk(db, trader, "quote AAPL")  # the first request passes the line; the second is refused
        assert server.received == 1
        with Session(db) as session:
            saved = session.get(Daytrader, trader)
            assert saved is not None and saved.lease_owner is None
            assert [m.kind for m in saved.messages] == ["request", "response", "request"]  # the tool ran
            assert saved.total_tokens == 18


def test_halt_during_a_running_job_places_no_further_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def buyer(body: dict[str, Any]) -> Step:
        results = sum(m.get("role") == "tool" for m in body["messages"])
        order = {"symbol": "AAPL", "side": "buy", "quantity": results + 1}  # each call differs: no loop guard
        return ToolCall("order_entry", order) if results < 12 else "Done."

    url = f"sqlite:///{tmp_path}/halt.db"
    with OpenAIServer(buyer, delay=0.4) as server:
        env = {"OPENAI_SECRET": "sk-halt", "OPENAI_BASE_URL": server.base_url, "TRADEDESK_EXCHANGE_HOURS": "always"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for args in (("init",), ("user", "add", "h@example.com"), ("agent", "add", "h@example.com", "daytrader")):
            assert runner.invoke(app, ["--db", url, *args]).exit_code == 0
        job_id = runner.invoke(app, ["--db", url, "talk", "h@example.com", "daytrader", "buy", "--background"])
        job_id_text = job_id.stdout.strip()
        worker = Forked(  # `tradedesk --db URL worker`, forked with its libraries imported (tests/preforked.py)
            "tradedesk.cli",
            ["--db", url, "worker"],
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            log=str(tmp_path / "worker.log"),
        )
        try:
            import agentrecord

            engine = agentrecord.create_engine(url)

            def filled() -> int:
                with Session(engine) as session:
                    return int(session.scalar(select(func.count()).where(Order.status == "filled")) or 0)

            deadline = time.monotonic() + 90
            while filled() < 2:
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
                time.sleep(0.1)
            halted = runner.invoke(app, ["--db", url, "halt", "h@example.com"])
            assert halted.exit_code == 0 and "Halted every agent" in halted.stdout
            at_halt = filled()
            with Session(engine) as session:
                orders_at_halt = int(session.scalar(select(func.count()).select_from(Order)) or 0)
            done = jobs.job(engine, job_id_text).wait(90)
            assert done.status == "done", done.error
            assert filled() == at_halt  # no order after the halt
            with Session(engine) as session:
                assert int(session.scalar(select(func.count()).select_from(Order)) or 0) == orders_at_halt
                trader = session.scalars(select(Daytrader)).one()
                told = str([getattr(p, "content", "") for m in trader.messages for p in getattr(m, "parts", [])])
            assert "agent halted" in told  # the running turn's next orders were refused, and it was told
            refused = runner.invoke(app, ["--db", url, "talk", "h@example.com", "daytrader", "x", "--background"])
            assert refused.exit_code == 1 and refused.stderr.startswith("Error: Your agents are halted")
            assert runner.invoke(app, ["--db", url, "resume", "h@example.com"]).exit_code == 0
            engine.dispose()
        finally:
            worker.terminate()
            worker.wait(30)


def test_max_daily_loss_refuses_buys_and_allows_sells(db: Engine) -> None:
    user_id, (trader_id,) = user_with_traders(db, 1, provider="local")
    buy = call("order_entry", symbol="AAPL", side="buy", quantity=10)
    sell = call("order_entry", symbol="AAPL", side="sell", quantity=5)
    buy_again = call("order_entry", symbol="AAPL", side="buy", quantity=1)
    with Session(db) as session:
        session.execute(update(Daytrader).values(max_daily_loss=Decimal("100")))
        session.commit()
        halt.today_pnl(session, user_id)  # the day's first equity snapshot
        session.commit()
    with scripted(Daytrader, ScriptedModel([buy, "ok"])):
        talk(db, trader_id, "buy")
    with Session(db) as session:  # the account loses $1,000 (a fee, say): P&L today is -$1,000
        session.execute(update(Account).where(Account.user_id == user_id).values(cash=Account.cash - 1000))
        session.commit()
    with scripted(Daytrader, ScriptedModel([buy_again, sell, "ok"])):
        reply = talk(db, trader_id, "trade")
    results = [p.content for m in reply.messages for p in getattr(m, "parts", []) if p.part_kind == "tool-return"]
    assert "daily loss limit reached" in results[0]["reason"]
    assert results[1]["status"] == "filled" and results[1]["side"] == "sell"


def test_the_budget_and_halt_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    for args in (("init",), ("user", "add", "c@example.com"), ("agent", "add", "c@example.com", "daytrader")):
        assert runner.invoke(app, ["--db", url, *args]).exit_code == 0
    shown = runner.invoke(app, ["--db", url, "budget", "c@example.com", "--daily-usd", "5", "--daily-tokens", "200000"])
    assert shown.exit_code == 0 and "200000" in shown.stdout
    one = runner.invoke(app, ["--db", url, "budget", "c@example.com", "daytrader", "--daily-tokens", "1000", "--json"])
    assert one.exit_code == 0 and '"daily_tokens": 1000' in one.stdout
    bad = runner.invoke(app, ["--db", url, "budget", "c@example.com", "--daily-tokens", "lots"])
    assert bad.exit_code == 1 and bad.stderr.startswith("Error: daily_tokens must be a number")
    listed = runner.invoke(app, ["--db", url, "agents", "c@example.com", "--json"])
    assert '"today_tokens": 0' in listed.stdout
    assert runner.invoke(app, ["--db", url, "halt", "c@example.com"]).exit_code == 0
    with Session(desk_engine(url)) as session:
        assert desk.user_by_email(session, "c@example.com").halted
    assert "Resumed" in runner.invoke(app, ["--db", url, "resume", "c@example.com"]).stdout


def desk_engine(url: str) -> Engine:
    import agentrecord

    return agentrecord.create_engine(url)
