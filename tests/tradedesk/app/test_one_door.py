"""One door: every request made on a user's behalf passes `Desk.check_prompt`, so each refusal reads the same.

Each bad request goes through every entry point (the CLI's `talk` plain, `--json` and `--background`, `schedule
add`, the agent page's forms, the JSON API's messages (JSON and SSE) and schedules) and must come back as the same
one line (CLI: one line on stderr, exit 1; API: JSON `{error}`; page: the line shown), writing nothing at all.
"""

from __future__ import annotations

import html
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import agentrecord
from agentrecord import provider_names
from agentrecord.providers import secret_env_vars
from agentrecord.testing import ScriptedModel, call, scripted
from tests.tradedesk.web.conftest import Browserish, Served, browser, initialized
from tradedesk.agents.models import Daytrader, StockInvestor
from tradedesk.app import desk
from tradedesk.cli import app

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(sys.executable).with_name("tradedesk")
PASSWORD = "correct horse"
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
EMPTY = "Say something: the prompt is empty."
LONG = "The prompt is too long (at most 20,000 characters)."
NOT_UTF8 = "The prompt is not valid UTF-8 text: decode the input as UTF-8 and send it again."
runner = CliRunner()


@dataclass
class Who:
    """A user, the agent a bad request goes to, and their signed-in clients."""

    email: str
    kind: str
    agent_id: int
    page: Browserish
    api: httpx.Client
    idle: int = 0
    """alice's idle day trader, which bad prompts go to."""


@dataclass
class World:
    url: str
    base: str
    people: dict[str, Who]


@dataclass(frozen=True)
class Case:
    """A bad request: who sends what, and the one line (and HTTP status) every door answers with."""

    who: str
    prompt: str
    says: str
    status: int
    text: bool = True
    """A refusal of the prompt itself (schedules refuse it too); else of the agent's state (turns only)."""


CASES = {
    "an empty prompt": Case(ALICE, "", EMPTY, 422),
    "a prompt of whitespace": Case(ALICE, " \t\n  ", EMPTY, 422),
    "a prompt over 20,000 characters": Case(ALICE, "x" * 20_001, LONG, 422),
    "a prompt that is not UTF-8 (a terminal's lone surrogate)": Case(ALICE, "caf\udce9", NOT_UTF8, 422),
    "an agent waiting for approval": Case(ALICE, "hello", "{ref} is waiting for your decision on a held call: "
                                          "approve or deny it first.", 409, text=False),
    "a paused agent": Case(BOB, "hello", "{ref} is paused: resume it on its page first.", 409, text=False),
    "a halted user": Case(CAROL, "hello", f"Your agents are halted: resume them first (`tradedesk resume {CAROL}`).",
                          409, text=False),
}  # fmt: skip


def clean_env(patch: pytest.MonkeyPatch) -> None:
    for name in provider_names():
        for var in secret_env_vars(name):
            patch.delenv(var, raising=False)
    patch.delenv("TRADEDESK_DATABASE_URL", raising=False)


def signed_in(base: str, email: str) -> tuple[Browserish, httpx.Client]:
    """A browser session (pages) and a bearer-token client (API) of `email`."""
    page = browser(base)
    page.page("/login")
    assert page.form("/login", {"email": email, "password": PASSWORD}).status_code == 200
    page.page("/")
    token = httpx.post(f"{base}/api/login", json={"email": email, "password": PASSWORD}).json()["token"]
    return page, httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def furnish(url: str) -> dict[str, tuple[str, int, int]]:
    """alice: a day trader (idle) and a stock investor holding a call; bob: a paused day trader; carol: halted."""
    engine = agentrecord.create_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            users = {e: desk.add_user(session, e, PASSWORD) for e in (ALICE, BOB, CAROL)}
            session.commit()
            desks = {e: desk.Desk(session, u) for e, u in users.items()}
            idle = desks[ALICE].new_agent("daytrader", "local")
            holder = desks[ALICE].new_agent("stock_investor", "local")
            big = call("order_entry", symbol="AAPL", side="buy", quantity=1000)  # over the approval threshold
            with scripted(StockInvestor, ScriptedModel([big, "Asked."])):
                assert holder.talk("buy 1000 AAPL").pending
            paused = desks[BOB].set_paused(desks[BOB].new_agent("daytrader", "local"), True)
            halted = desks[CAROL].new_agent("daytrader", "local")
            desks[CAROL].set_halted(True)
            return {
                ALICE: ("stock_investor", holder.id, idle.id),
                BOB: ("daytrader", paused.id, 0),
                CAROL: ("daytrader", halted.id, 0),
            }
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with pytest.MonkeyPatch.context() as patch:
        clean_env(patch)
        url = initialized(f"sqlite:///{tmp_path_factory.mktemp('door')}/door.db")
        held = furnish(url)
        with Served(url) as served:
            people = {}
            for email, (kind, agent_id, idle) in held.items():
                page, api = signed_in(served.base, email)
                people[email] = Who(email, kind, agent_id, page, api, idle)
            yield World(url, served.base, people)
            for who in people.values():
                who.page.close()
                who.api.close()


def target(world: World, case: Case) -> tuple[Who, str, int]:
    """Who sends the case, and the kind and id of the agent it goes to (alice's idle day trader for a bad prompt)."""
    who = world.people[case.who]
    if case.text and case.who == ALICE:
        return who, "daytrader", who.idle
    return who, who.kind, who.agent_id


# -- the doors: each sends the case and returns the one line it answered ---------------------------


def cli(world: World, *args: str) -> str:
    with scripted(Daytrader, ScriptedModel(["(a turn that should not have run)"])):
        result = runner.invoke(app, ["--db", world.url, *args])
    assert result.exit_code == 1, (args[:3], result.stdout, result.stderr, result.exception)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr.removeprefix("Error: ").rstrip("\n")


def cli_talk(world: World, case: Case, *options: str) -> str:
    who, kind, agent_id = target(world, case)
    ref = kind if who.idle == agent_id else f"{kind}/{agent_id}"  # alice has one day trader: the kind names it
    return cli(world, "talk", who.email, ref, case.prompt, *options)


def cli_schedule(world: World, case: Case) -> str:
    who, kind, agent_id = target(world, case)
    return cli(world, "schedule", "add", who.email, f"{kind}/{agent_id}", case.prompt, "--every", "1h")


def api_post(world: World, case: Case, path: str, headers: dict[str, str] | None = None) -> str:
    who, kind, agent_id = target(world, case)
    body = {"prompt": case.prompt} | ({"every": "1h"} if path == "schedules" else {})
    response = who.api.post(
        f"/api/agents/{kind}/{agent_id}/{path}",
        content=json.dumps(body).encode("ascii"),  # a lone surrogate travels as `\udce9`, as JSON encoders send it
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    assert response.status_code == case.status, (response.status_code, response.text[:300])
    doc = response.json()
    assert list(doc) == ["error"], doc
    return str(doc["error"])


def page_post(world: World, case: Case, path: str, htmx: bool) -> str:
    """The line the agent page shows after posting its form (as HTMX does, or as a plain form)."""
    who, kind, agent_id = target(world, case)
    data = {"csrf_token": who.page.csrf, "prompt": case.prompt} | ({"every": "1h"} if path == "schedules" else {})
    headers = {"HX-Request": "true"} if htmx else {}
    response = who.page.post(f"/agents/{kind}/{agent_id}/{path}", data=data, headers=headers)
    assert response.status_code == case.status, (response.status_code, response.text[:300])
    shown = html.unescape(response.text)
    expected = said(case, who)
    assert expected in shown, shown[:500]
    return expected


def said(case: Case, who: Who) -> str:
    return case.says.format(ref=f"{who.kind}/{who.agent_id}")


Door = Callable[[World, Case], str]
DOORS: dict[str, tuple[Door, bool]] = {
    "cli talk": (lambda w, c: cli_talk(w, c), False),
    "cli talk --json": (lambda w, c: cli_talk(w, c, "--json"), False),
    "cli talk --background": (lambda w, c: cli_talk(w, c, "--background"), False),
    "cli schedule add": (cli_schedule, True),
    "api messages": (lambda w, c: api_post(w, c, "messages"), False),
    "api messages (SSE)": (lambda w, c: api_post(w, c, "messages", {"Accept": "text/event-stream"}), False),
    "api schedules": (lambda w, c: api_post(w, c, "schedules"), True),
    "page message (htmx)": (lambda w, c: page_post(w, c, "messages", True), False),
    "page message (form)": (lambda w, c: page_post(w, c, "messages", False), False),
    "page schedule": (lambda w, c: page_post(w, c, "schedules", False), True),
}
"""Each door, and whether it adds a schedule (which refuses a bad prompt, but not an agent's state)."""


def snapshot(url: str) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of every table of the SQLite file (the job engine's included), per table."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: set(conn.execute(f'SELECT * FROM "{name}"')) for name in names}


@pytest.mark.parametrize("door", list(DOORS))
@pytest.mark.parametrize("name", list(CASES))
def test_every_door_refuses_a_bad_request_in_the_same_line_and_writes_nothing(
    world: World, name: str, door: str
) -> None:
    case = CASES[name]
    send, adds_schedule = DOORS[door]
    if adds_schedule and not case.text:
        pytest.skip("a schedule runs later: the agent's state then decides (a paused or halted one is added paused)")
    if door.startswith("page") and case.prompt == "caf\udce9":
        pytest.skip("a form is decoded before any code runs: invalid bytes arrive as U+FFFD, valid text")
    before = snapshot(world.url)
    assert send(world, case) == said(case, world.people[case.who])
    assert snapshot(world.url) == before  # no message, job, schedule, usage or session row


def test_the_console_script_refuses_an_empty_prompt_with_the_api_s_line(world: World) -> None:
    """The issue's own check: `tradedesk talk EMAIL daytrader ""` exits 1 with the line the API answers 422 with."""
    api = api_post(world, CASES["an empty prompt"], "messages")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEDESK_")} | {"PYTHONPATH": str(ROOT / "src")}
    for prompt, says in ((b"", api), (b"caf\xe9", NOT_UTF8)):  # bytes a Latin-1 terminal sends: not UTF-8
        done = subprocess.run(
            [str(SCRIPT), "--db", world.url, "talk", ALICE, "daytrader", prompt],
            capture_output=True, env=env, cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert done.returncode == 1 and done.stdout == b"", done
        assert done.stderr.decode() == f"Error: {says}\n"
    assert api == EMPTY


def test_a_schedule_is_added_paused_for_a_paused_agent_or_a_halted_user_through_every_door(world: World) -> None:
    """Held calls do not stop a future tick; a pause or a halt does: the schedule waits for the resume."""
    for email, status in ((ALICE, "active"), (BOB, "paused"), (CAROL, "paused")):
        who = world.people[email]
        path = f"/agents/{who.kind}/{who.agent_id}/schedules"
        args = ["--db", world.url, "schedule", "add", email, f"{who.kind}/{who.agent_id}", "look", "--every", "1h"]
        assert runner.invoke(app, args).exit_code == 0
        assert who.api.post(f"/api{path}", json={"prompt": "look", "every": "1h"}).status_code == 201
        assert who.page.form(path, {"prompt": "look", "every": "1h"}).status_code == 200
        made = who.api.get(f"/api{path}").json()
        assert [s["status"] for s in made] == [status] * 3, (email, made)
