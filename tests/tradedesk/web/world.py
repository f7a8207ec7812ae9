"""Two users' accounts with something of every kind, a database snapshot to diff, and worker processes for turns.

The accounts are made the way a user makes them (sign-up and agents over HTTP); the held approval and
the resting order come from real turns whose model is scripted in-process (the only double).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData, select
from sqlalchemy.orm import Session

import agentrecord
from agentrecord import provider_names
from agentrecord.providers import secret_env_vars
from agentrecord.testing import ScriptedModel, call, scripted
from tests.agentrecord.openai_server import OpenAIServer, Responder
from tests.preforked import Forked
from tradedesk.agents.models import Daytrader, StockInvestor
from tradedesk.app import desk
from tradedesk.brokerage import services
from tradedesk.brokerage.accounts import Order
from tradedesk.users import User, identity

from .conftest import Browserish, signed_up

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(sys.executable).with_name("tradedesk")
SECRET = "a-server-secret-for-tests-only"
PASSWORD = "correct horse"
CLOCK = {
    "TRADEDESK_CLOCK_START": "2026-03-02T10:00:00-05:00",  # a Monday, inside the NYSE session
    "TRADEDESK_EXCHANGE_HOURS": "nyse",
}


def clean_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider key from the machine's environment leaks into a test."""
    for name in provider_names():
        for var in secret_env_vars(name):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(f"{name.upper()}_BASE_URL", raising=False)


def market_env(monkeypatch: pytest.MonkeyPatch, server: OpenAIServer | None) -> dict[str, str]:
    """The model server, the server secret and a simulated clock inside a session, for this process and its workers."""
    clean_provider_env(monkeypatch)
    values = {**CLOCK, "TRADEDESK_CLOCK_ANCHOR": str(time.time()), "TRADEDESK_SECRET_KEY": SECRET}
    values["OPENAI_SECRET"] = "sk-env-key"
    if server is not None:
        values["OPENAI_BASE_URL"] = server.base_url
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    services.use_market(None)  # the next use builds the market on this clock
    return values


class Worker:
    """A `tradedesk --db URL worker` process (the platform's own worker) on the test's database, forked with its
    libraries imported (see tests/preforked.py)."""

    def __init__(self, url: str, env: dict[str, str]) -> None:
        child = dict(os.environ, **env, PYTHONPATH=str(ROOT))
        handle, self._log = tempfile.mkstemp(prefix="worker-", suffix=".log")
        os.close(handle)
        args = ["--db", url, "worker", "--concurrency", "8"]
        self.proc = Forked("tradedesk.cli", args, env=child, cwd=ROOT, log=self._log)
        self.stderr: str | None = None

    def stop(self) -> str:
        """SIGTERM and wait (once); what it wrote to stderr."""
        if self.stderr is not None:
            return self.stderr
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        log = Path(self._log)
        self.stderr = log.read_text(errors="replace")
        log.unlink()
        return self.stderr


@contextmanager
def worker(url: str, env: dict[str, str]) -> Iterator[Worker]:
    running = Worker(url, env)
    try:
        yield running
    finally:
        running.stop()


@contextmanager
def model_server(script: Responder | list[Any]) -> Iterator[OpenAIServer]:
    with OpenAIServer(script) as server:
        yield server


# -- two accounts ----------------------------------------------------------------------------------


@dataclass
class Account:
    """One signed-up user: a browser session (pages), a bearer token (API), and the ids of what they own."""

    email: str
    user_id: int
    browser: Browserish
    token: str
    token_id: int
    daytrader: int
    investor: int
    call_id: str = ""
    order_id: int = 0
    schedule_id: str = ""
    job_id: str = ""

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def api(self, base: str) -> httpx.Client:
        return httpx.Client(base_url=base, headers=self.bearer, timeout=60)


def sign_up(base: str, url: str, email: str) -> Account:
    """A user signed up through the pages, with a bearer token from `POST /api/login` and one agent of each kind."""
    page = signed_up(base, email, PASSWORD)
    login = httpx.post(f"{base}/api/login", json={"email": email, "password": PASSWORD}, timeout=30)
    assert login.status_code == 200, login.text
    token = login.json()["token"]
    made = []
    for kind in ("daytrader", "stock_investor"):
        response = httpx.post(
            f"{base}/api/agents",
            json={"kind": kind, "provider": "openai"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    engine = agentrecord.create_engine(url)
    try:
        with Session(engine) as session:
            user = session.scalars(select(User).where(User.email == email)).one()
            (row,) = identity.tokens(session, user)
            return Account(email, user.id, page, token, row.id, made[0], made[1])
    finally:
        engine.dispose()


def furnish(url: str, who: Account) -> None:
    """Give `who` a held approval, a resting order, a schedule, a queued job and a stored provider key."""
    engine = agentrecord.create_engine(url)
    try:
        with Session(engine) as session:
            user = session.get(User, who.user_id)
            trader = session.get(Daytrader, who.daytrader)
            investor = session.get(StockInvestor, who.investor)
            assert user is not None and trader is not None and investor is not None
            big: list[Any] = [call("order_entry", symbol="AAPL", side="buy", quantity=1000), "Asked."]
            with scripted(Daytrader, ScriptedModel(big)):
                held = trader.talk("buy 1000 AAPL")
            (pending,) = held.pending
            who.call_id = pending.call_id
            resting = call(
                "order_entry",
                symbol="KO",
                side="buy",
                quantity=2,
                order_type="limit",
                limit_price=1.0,
                time_in_force="gtc",
            )
            with scripted(StockInvestor, ScriptedModel([resting, "Placed."])):
                investor.talk("bid for KO")
            order = session.scalars(select(Order).where(Order.user_id == who.user_id)).one()
            assert order.is_open, (order.status, order.reason)
            who.order_id = order.id
            d = desk.Desk(session, user)
            who.schedule_id = d.add_schedule(investor, "review my portfolio", cron="0 15 * * 1-5").id
            who.job_id = d.enqueue(investor, "anything new?").id  # no worker runs here: it stays queued
            identity.store_key(session, user, "openai", f"sk-{who.email.split('@')[0]}-own-key")
            session.commit()
    finally:
        engine.dispose()


def routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves, included routers flattened."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: app.routes is flat
        contexts: list[Any] = list(app.routes)
    else:
        contexts = list(iter_route_contexts(app.routes))
    found = set()
    for context in contexts:
        original = getattr(context, "original_route", context)
        methods = getattr(original, "methods", None) or {"*"}
        for method in set(methods) - {"HEAD"}:
            found.add((method, str(context.path)))
    return found


# -- the database, whole ---------------------------------------------------------------------------


def snapshot(url: str) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of every table in the database (SQLite), as sets of tuples per table."""
    engine = agentrecord.create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {name: {tuple(r) for r in conn.execute(table.select())} for name, table in meta.tables.items()}
    finally:
        engine.dispose()


def changes(before: dict[str, set[tuple[Any, ...]]], after: dict[str, set[tuple[Any, ...]]]) -> dict[str, Any]:
    """Tables whose rows differ: {table: (rows gone, rows new)}."""
    found = {}
    for name in sorted(set(before) | set(after)):
        gone, new = before.get(name, set()) - after.get(name, set()), after.get(name, set()) - before.get(name, set())
        if gone or new:
            found[name] = (gone, new)
    return found


# -- the whole platform: app, model servers, a worker ----------------------------------------------


@dataclass
class Platform:
    """The app on a SQLite file over loopback HTTP, a `tradedesk worker` process, and the model servers.

    `model` answers the `openai` provider; `broken` answers every request of the `llamacpp` provider (an
    OpenAI-compatible server) with HTTP 500: a failing provider.
    """

    base: str
    url: str
    model: OpenAIServer
    broken: OpenAIServer
    worker: Worker
    env: dict[str, str]

    def user(self, email: str) -> httpx.Client:
        """An API client for a new account (signed up with `POST /api/signup`)."""
        response = httpx.post(f"{self.base}/api/signup", json={"email": email, "password": PASSWORD}, timeout=30)
        assert response.status_code == 201, response.text
        token = response.json()["token"]
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=120)


@contextmanager
def platform(directory: Path, responder: Responder) -> Iterator[Platform]:
    from .conftest import Served, initialized

    with pytest.MonkeyPatch.context() as mp, OpenAIServer(responder) as model, OpenAIServer([]) as broken:
        env = market_env(mp, model)
        extra = {"LLAMACPP_BASE_URL": broken.base_url}
        for key, value in extra.items():
            mp.setenv(key, value)
        env |= extra
        url = initialized(f"sqlite:///{directory}/platform.db")
        try:
            with Served(url) as served, worker(url, env) as running:
                yield Platform(served.base, url, model, broken, running, env)
        finally:
            services.use_market(None)
