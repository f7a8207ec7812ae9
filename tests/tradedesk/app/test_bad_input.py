"""The bad-input battery: what careless or hostile users and models send, across the library, the CLI and the
web API. Each case gets one clear error saying what to do, the CLI exits 1 with one line, and nothing is written
(unless the case says what it writes by design: a rejected order is a record; a failed turn keeps its prompt).

`pytest` prints the battery's count at the end of the run (see tests/conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import DeclarativeBase, Session
from typer.testing import CliRunner

import agentrecord
from agentrecord import (
    AgentRecord,
    DeclarationError,
    InvalidPrompt,
    ProviderError,
    ProviderNotConfigured,
    RecordNotSaved,
    StateVersionError,
    Tool,
    UnknownProvider,
    provider_names,
)
from agentrecord.providers import secret_env_vars
from agentrecord.skills import load_skill
from agentrecord.testing import ScriptedModel, call, scripted
from tests.agentrecord.openai_server import Fault, OpenAIServer
from tests.tradedesk.web.conftest import Served, initialized
from tradedesk.agents.models import Daytrader
from tradedesk.app import desk
from tradedesk.brokerage import services
from tradedesk.brokerage.accounts import Account, Order, Position
from tradedesk.cli import app
from tradedesk.market import SimulatedMarket
from tradedesk.users import User

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 in New York: the exchange is open
ALICE, BOB = "alice@example.com", "bob@example.com"
runner = CliRunner()


@dataclass
class World:
    url: str
    engine: Engine
    base: str
    alice_token: str
    bob_token: str
    trader: int
    holder: int
    held_call: str
    decided_call: str
    outputs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    patch = pytest.MonkeyPatch()
    for name in provider_names():
        for var in secret_env_vars(name):
            patch.delenv(var, raising=False)
    patch.setenv("TRADEDESK_EXCHANGE_HOURS", "always")
    services.use_market(SimulatedMarket(seed=7, clock=lambda: NOW))
    url = initialized(f"sqlite:///{tmp_path_factory.mktemp('battery')}/battery.db")
    engine = agentrecord.create_engine(url)
    OddBase.metadata.create_all(engine)
    with Session(engine) as session:
        alice = desk.add_user(session, ALICE, "correct horse")
        desk.add_user(session, BOB, "correct horse")
        session.commit()
        trader_id = desk.Desk(session, alice).new_agent("daytrader", "local").id
        holder_id = desk.Desk(session, alice).new_agent("daytrader", "local").id
        clean = session.get(Daytrader, trader_id)
        assert clean is not None
        clean.approval_threshold = Decimal(10**15)  # its orders go to the broker, never wait for approval
        session.add(Oddball(provider="local"))
        session.commit()
    # two orders over the approval threshold: one held, one approved already
    big = [call("order_entry", symbol="AAPL", side="buy", quantity=100) for _ in range(2)]  # two call ids
    with scripted(Daytrader, ScriptedModel([big[0], "Done.", big[1]])), Session(engine) as session:
        agent = session.get(Daytrader, holder_id)
        assert agent is not None
        first = agent.talk("buy 100 AAPL")
        decided = first.pending[0].call_id
        agent.approve(decided)
        held = agent.talk("buy 100 more").pending[0].call_id
    with Served(url) as served:
        tokens = [
            httpx.post(f"{served.base}/api/login", json={"email": e, "password": "correct horse"}).json()["token"]
            for e in (ALICE, BOB)
        ]
        yield World(url, engine, served.base, tokens[0], tokens[1], trader_id, holder_id, held, decided)
    engine.dispose()
    services.use_market(None)
    patch.undo()


def snapshot(engine: Engine) -> dict[str, Any]:
    """Everything a bad input must leave alone."""
    with Session(engine) as session:
        counts = {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (User, Daytrader, Order, Position)
        }
        with engine.connect() as conn:
            counts["messages"] = conn.execute(text("SELECT count(*) FROM daytraders_messages")).scalar()
            counts["cash"] = sorted(str(c) for c in conn.execute(select(Account.cash)).scalars())
            counts["data"] = conn.execute(text("SELECT data FROM daytraders ORDER BY id")).scalars().all()
        return counts


def cli(world: World, *args: str, says: str) -> None:
    result = runner.invoke(app, ["--db", world.url, *args])
    assert result.exit_code == 1, (args, result.stdout, result.stderr, result.exception)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert says.lower() in result.stderr.lower(), result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def api(world: World, method: str, path: str, *, status: int, says: str, who: str = "alice", **kwargs: Any) -> None:
    token = world.alice_token if who == "alice" else world.bob_token
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    response = httpx.request(method, world.base + path, headers=headers, timeout=30, **kwargs)
    assert response.status_code == status, (path, response.status_code, response.text)
    doc = response.json()
    assert list(doc) == ["error"] and "\n" not in doc["error"], doc
    assert says.lower() in doc["error"].lower(), doc


def raises(kind: type[BaseException], says: str, fn: Callable[[], object]) -> None:
    with pytest.raises(kind) as caught:
        fn()
    assert says.lower() in " ".join(str(caught.value).split()).lower(), str(caught.value)


def talk_as(world: World, provider: str, prompt: Any, model: str | None = None) -> None:
    """A turn on the clean trader with `provider` (its real model: these fail before any request)."""
    with Session(world.engine) as session:
        agent = session.get(Daytrader, world.trader)
        assert agent is not None
        agent.provider = provider
        agent.model = model
        try:
            agent.talk(prompt)
        finally:
            session.rollback()


def scripted_talk(world: World, prompt: Any) -> None:
    with scripted(Daytrader, ScriptedModel(["ok"])), Session(world.engine) as session:
        agent = session.get(Daytrader, world.trader)
        assert agent is not None
        agent.talk(prompt)


def read_state(world: World) -> None:
    """What a turn does first with the data column: parse it (here through `pending_approvals`)."""
    with Session(world.engine) as session:
        agent = session.get(Daytrader, world.trader)
        assert agent is not None
        assert isinstance(agent.pending_approvals, list)


def with_data(world: World, data: str, fn: Callable[[], object]) -> None:
    """Run `fn` with the trader's data column set to `data` (restored after, outside the snapshot)."""
    with world.engine.begin() as conn:
        before = conn.execute(select(Daytrader.data).where(Daytrader.id == world.trader)).scalar()
        conn.execute(update(Daytrader).where(Daytrader.id == world.trader).values(data=data))
    try:
        fn()
    finally:
        with world.engine.begin() as conn:
            conn.execute(update(Daytrader).where(Daytrader.id == world.trader).values(data=before))


def scripted_turn(world: World, *steps: Any) -> list[Any]:
    """A turn whose model makes `steps`; returns the tool results it got back."""
    model = ScriptedModel([*steps, "Noted."])
    with scripted(Daytrader, model), Session(world.engine) as session:
        agent = session.get(Daytrader, world.trader)
        assert agent is not None
        reply = agent.talk("go")
    return [
        p for m in reply.messages for p in getattr(m, "parts", []) if p.part_kind in ("tool-return", "retry-prompt")
    ]


def order_refused(world: World, says: str, **args: Any) -> None:
    results = scripted_turn(world, call("order_entry", **args))
    shown = json.dumps([getattr(r, "content", None) for r in results], default=str).lower()
    assert says.lower() in shown, shown


def skill_dir(tmp: Path, body: str) -> Path:
    folder = tmp / "skill"
    folder.mkdir(exist_ok=True)
    (folder / "SKILL.md").write_text(body, encoding="utf-8", errors="surrogatepass")
    return folder


class Raises(Tool):
    """A tool that fails."""

    def call(self) -> str:
        raise RuntimeError("the feed is down")


class Weird(Tool):
    """Returns an object JSON cannot hold."""

    def call(self) -> Any:
        return object()


class OddBase(DeclarativeBase):
    pass


class Oddball(AgentRecord, OddBase):
    """An agent whose tools misbehave (its own Base: the platform's schema stays the migrations')."""

    __tablename__ = "oddballs"

    class Agent:
        model = "test"
        tools = [Weird, Raises]
        concurrency = "call"


SQLISH = ["'; DROP TABLE users; --", "1 OR 1=1", "$(rm -rf ~)", "`reboot`", "a; cat /etc/passwd", "%s%s%n"]

# name -> (writes, check). `writes` names what the case stores by design ("" = nothing).
CASES: dict[str, tuple[str, Callable[[World], None]]] = {}


def case(name: str, writes: str = "") -> Callable[[Callable[[World], None]], Callable[[World], None]]:
    def register(fn: Callable[[World], None]) -> Callable[[World], None]:
        assert name not in CASES
        CASES[name] = (writes, fn)
        return fn

    return register


# -- the library -------------------------------------------------------------------------------------
for bad in ("nope", "open ai", "`rm -rf /`", "'; DROP TABLE daytraders; --", ""):
    case(f"lib: unknown provider {bad!r}")(
        lambda w, bad=bad: raises(UnknownProvider, "valid providers", lambda: talk_as(w, bad, "hi"))
    )
case("lib: a provider with no key names the variable")(
    lambda w: raises(ProviderNotConfigured, "OPENAI_SECRET", lambda: talk_as(w, "openai", "hi"))
)
case("lib: a prompt that is not UTF-8 (lone surrogate)")(
    lambda w: raises(InvalidPrompt, "not valid UTF-8", lambda: scripted_talk(w, "caf\udce9"))
)
case("lib: a prompt that is bytes")(lambda w: raises(InvalidPrompt, "is text", lambda: scripted_talk(w, b"\xff\xfe")))


@case("lib: a prompt larger than the model's context", writes="the prompt (a completed step)")
def _too_long(w: World) -> None:
    with OpenAIServer([Fault("status", 400)]) as server:
        patch = pytest.MonkeyPatch()
        patch.setenv("OPENAI_SECRET", "sk-battery")
        patch.setenv("OPENAI_BASE_URL", server.base_url)
        try:
            raises(ProviderError, "too long", lambda: talk_as(w, "openai", "word " * 200_000, "gpt-4o-mini"))
        finally:
            patch.undo()


for label, data in {
    "not JSON": "{{{",
    "a newer schema": '{"v": 99}',
    "a list": "[1, 2]",
    "counters that are not numbers": '{"v": 1, "messages": "many"}',
    "extra that is not a dict": '{"v": 1, "extra": 5}',
}.items():
    case(f"lib: stored state that is {label}")(
        lambda w, data=data: with_data(
            w, data, lambda: raises(StateVersionError, "data column", lambda: scripted_talk(w, "hi"))
        )
    )


@case("lib: stored state fuzzed (hypothesis, 60 examples)")
def _fuzzed_state(w: World) -> None:
    scalar = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    value = st.recursive(scalar, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(), kids))
    docs = st.fixed_dictionaries(
        {"v": st.sampled_from([1, 2, "1", None])},
        optional={k: value for k in ("messages", "requests", "turns", "head", "extra")},
    )
    raw = st.text(max_size=40) | docs.map(json.dumps)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(raw)
    def run(data: str) -> None:
        if not data:
            return  # an empty column is a new agent's
        try:
            with_data(w, data, lambda: read_state(w))
        except StateVersionError as error:
            assert "data column" in str(error)

    run()


@case("lib: a malformed SKILL.md, fuzzed (hypothesis, 60 examples)")
def _fuzzed_skill(w: World) -> None:
    base = Path(w.url.removeprefix("sqlite:///")).parent
    line = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)
    front = st.lists(st.sampled_from(["name: x", "description: d", "tools: [nope]", "tools: 5", ":", "- a", "{"]))
    body = st.builds(
        lambda f, extra, close: "---\n" + "\n".join(f) + "\n" + extra + ("\n---\nBody\n" if close else ""),
        front,
        line,
        st.booleans(),
    ) | line.map(lambda t: t + "\nno front matter")

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body)
    def run(content: str) -> None:
        folder = skill_dir(base, content)
        try:
            load_skill(folder, owner="Fuzz", tool_names=["quote_feed"])
        except DeclarationError as error:
            assert "SKILL.md" in str(error)

    run()


@case("lib: a SKILL.md without front matter")
def _no_front(w: World) -> None:
    folder = skill_dir(Path(w.url.removeprefix("sqlite:///")).parent, "Just instructions.")
    raises(DeclarationError, "SKILL.md", lambda: load_skill(folder, owner="X", tool_names=[]))


@case("lib: a SKILL.md naming an unknown tool")
def _unknown_tool(w: World) -> None:
    md = "---\nname: s\ndescription: d\ntools: [launch_missiles]\n---\nDo it."
    folder = skill_dir(Path(w.url.removeprefix("sqlite:///")).parent, md)
    raises(DeclarationError, "launch_missiles", lambda: load_skill(folder, owner="X", tool_names=["quote_feed"]))


case("lib: an unknown Agent option")(
    lambda w: raises(
        DeclarationError,
        "unknown option",
        lambda: agentrecord.declaration.parse(type("X", (), {"Agent": type("Agent", (), {"modle": "x"})})),
    )
)
case("lib: max_requests of 0")(
    lambda w: raises(
        DeclarationError,
        "positive integer",
        lambda: agentrecord.declaration.parse(type("X", (), {"Agent": type("Agent", (), {"max_requests": 0})})),
    )
)
case("lib: a record that was never saved")(
    lambda w: raises(RecordNotSaved, "session.commit()", lambda: Daytrader(provider="local").talk("hi"))
)


@case("lib: a tool that raises: the model is told, the turn goes on", writes="the turn's messages")
def _tool_raises(w: World) -> None:
    results = scripted_turn(w, call("quote_feed", symbol="BOOM"), call("position_book", extra="x"))
    assert any("BOOM" in str(r.content) or "unknown" in str(r.content).lower() for r in results), results


@case("lib: tool arguments of the wrong type: the model is told", writes="the turn's messages")
def _wrong_type(w: World) -> None:
    results = scripted_turn(w, call("order_entry", symbol="AAPL", side="buy", quantity="lots"))
    assert any("quantity" in str(r.content) for r in results), results


@case("lib: a tool returning something unserializable: the model is told", writes="the turn's messages")
def _unserializable(w: World) -> None:
    model = ScriptedModel([call("weird"), call("raises"), "Noted."])
    with scripted(Oddball, model), Session(w.engine) as session:
        agent = session.scalars(select(Oddball)).first()
        assert agent is not None
        reply = agent.talk("go")
    told = json.dumps([str(getattr(p, "content", "")) for m in reply.messages for p in getattr(m, "parts", [])])
    assert "the feed is down" in told, told


# -- orders, through the agent's order tool (the broker records a rejected order with its reason) ------
for label, args, says in [
    ("zero quantity", {"quantity": 0}, "above 0"),
    ("negative quantity", {"quantity": -5}, "above 0"),
    ("huge quantity", {"quantity": 10**12}, "at most"),
    ("fractional quantity", {"quantity": 1.5}, "quantity"),
    ("unknown symbol", {"symbol": "ZZZZ"}, "ZZZZ"),
    ("shell-looking symbol", {"symbol": "AAPL; rm -rf /"}, "symbol"),
    ("SQL-looking symbol", {"symbol": "AAPL'; DROP TABLE orders; --"}, "symbol"),
    ("a side that is not buy or sell", {"side": "steal"}, "side"),
]:
    order = {"symbol": "AAPL", "side": "buy", "quantity": 1, **args}
    case(f"order: {label}", writes="a rejected order or the model's retry (no fill)")(
        lambda w, order=order, says=says: order_refused(w, says, **order)
    )

# -- the CLI -----------------------------------------------------------------------------------------
for bad in ["", "no-at-sign", "a@", "@b.com", "a b@c.com", "x" * 400 + "@e.com", *SQLISH[:3]]:
    case(f"cli: user add {bad[:30]!r}")(lambda w, bad=bad: cli(w, "user", "add", bad, says="not an email"))
case("cli: user add twice")(lambda w: cli(w, "user", "add", ALICE, says="already exists"))
for bad in SQLISH[:3]:
    case(f"cli: agents of {bad!r}")(lambda w, bad=bad: cli(w, "agents", bad, says="no user"))
case("cli: agent add of an unknown kind")(lambda w: cli(w, "agent", "add", ALICE, "$(rm -rf ~)", says="unknown agent"))
case("cli: agent add on an unknown provider")(
    lambda w: cli(w, "agent", "add", ALICE, "daytrader", "--provider", "x'); DROP TABLE daytraders;--", says="unknown")
)
case("cli: agent add on a provider with no key")(
    lambda w: cli(w, "agent", "add", ALICE, "daytrader", "--provider", "anthropic", says="ANTHROPIC_SECRET")
)
for ref in ("daytrader/999", "daytrader/1; rm -rf /", "robot/1"):
    case(f"cli: talk to {ref!r}")(lambda w, ref=ref: cli(w, "talk", ALICE, ref, "hi", says=ref.split("/")[0][:6]))
case("cli: talk with a prompt that is not UTF-8")(
    lambda w: cli(w, "talk", ALICE, f"daytrader/{w.trader}", "caf\udce9", says="not valid UTF-8")
)
case("cli: quote an unknown symbol")(lambda w: cli(w, "quote", "ZZZZ", says="ZZZZ"))
case("cli: quote a SQL-looking symbol")(lambda w: cli(w, "quote", "AAPL'; DROP TABLE orders;--", says="unknown"))
case("cli: approve an unknown call id")(lambda w: cli(w, "approve", "call_nope", says="no agent"))
case("cli: approve a call decided already")(lambda w: cli(w, "approve", w.decided_call, says="already"))
case("cli: deny a call decided already")(lambda w: cli(w, "deny", w.decided_call, says="already"))
case("cli: an unknown job")(lambda w: cli(w, "job", "daytrader.1.nope", says="job"))
case("cli: cancel an unknown job")(lambda w: cli(w, "cancel", "nope", says="job"))
for label, option in [
    ("a bad cron", ["--cron", "61 * * * *"]),
    ("an interval not dividing the hour", ["--every", "7m"]),
]:
    case(f"cli: schedule with {label}")(
        lambda w, option=option: cli(w, "schedule", "add", ALICE, f"daytrader/{w.trader}", "look", *option, says="")
    )
case("cli: schedule in an unknown time zone")(
    lambda w: cli(
        w, "schedule", "add", ALICE, f"daytrader/{w.trader}", "x", "--every", "1h", "--tz", "Mars/Olympus", says="zone"
    )
)
case("cli: a database URL that is not one")(
    lambda w: runner.invoke(app, ["--db", "nota://url", "agents", ALICE]).exit_code == 1 or pytest.fail("exit")
)

# -- the application layer: limits ---------------------------------------------------------------------
for name, value in [
    ("max_order_notional", "abc"),
    ("max_order_notional", "-5"),
    ("max_position_weight", "NaN"),
    ("max_orders_per_day", "2.5"),
]:

    def _limits(w: World, name: str = name, value: str = value) -> None:
        with Session(w.engine) as session:
            d = desk.Desk(session, desk.user_by_email(session, ALICE))
            raises(desk.Invalid, name, lambda: d.set_limits(d.agent("daytrader", w.trader), **{name: value}))

    case(f"desk: {name}={value!r}")(_limits)

# -- the web API -------------------------------------------------------------------------------------
AGENT = "/api/agents/daytrader/{id}"
for label, body in [
    ("an invalid email", {"email": "not-an-email", "password": "correct horse"}),
    ("a SQL-looking email", {"email": "'; DROP TABLE users; --", "password": "correct horse"}),
    ("a short password", {"email": "carol@example.com", "password": "x"}),
]:
    case(f"web: sign up with {label}")(
        lambda w, body=body: api(w, "POST", "/api/signup", status=422, says="", json=body)
    )
case("web: an agent of an unknown kind")(
    lambda w: api(w, "POST", "/api/agents", status=422, says="kind", json={"kind": "robot"})
)
case("web: an agent on an unknown provider")(
    lambda w: api(
        w, "POST", "/api/agents", status=422, says="unknown provider", json={"kind": "daytrader", "provider": "`id`"}
    )
)
case("web: an empty prompt")(
    lambda w: api(w, "POST", AGENT.format(id=w.trader) + "/messages", status=422, says="prompt", json={"prompt": ""})
)
case("web: a prompt over 20,000 characters")(
    lambda w: api(
        w, "POST", AGENT.format(id=w.trader) + "/messages", status=422, says="prompt", json={"prompt": "x" * 20_001}
    )
)
case("web: a body that is not UTF-8")(
    lambda w: api(
        w,
        "POST",
        AGENT.format(id=w.trader) + "/messages",
        status=400,
        says="parsing the body",
        content=b'{"prompt": "caf\xe9"}',
        headers={"Content-Type": "application/json"},
    )
)
case("web: a body that is not JSON")(
    lambda w: api(w, "POST", "/api/agents", status=422, says="invalid", content=b"kind=daytrader")
)
case("web: a prompt with a lone surrogate")(
    lambda w: api(
        w,
        "POST",
        AGENT.format(id=w.trader) + "/messages",
        status=422,
        says="not valid UTF-8",
        content=b'{"prompt": "\\udce9"}',
        headers={"Content-Type": "application/json"},  # without it the body is no JSON at all
    )
)
case("web: approve another user's call")(
    lambda w: api(w, "POST", f"/api/approvals/{w.held_call}/approve", status=404, says="no agent", who="bob")
)
case("web: approve an unknown call")(
    lambda w: api(w, "POST", "/api/approvals/call_nope/approve", status=404, says="no agent")
)
case("web: approve a call decided already")(
    lambda w: api(w, "POST", f"/api/approvals/{w.decided_call}/approve", status=409, says="already")
)
case("web: another user's agent")(
    lambda w: api(w, "GET", AGENT.format(id=w.trader), status=404, says="no agent", who="bob")
)
case("web: cancel an order id past any row")(
    lambda w: api(w, "POST", f"/api/orders/{10**30}/cancel", status=404, says="no order")
)
case("web: orders with an unknown status")(
    lambda w: api(w, "GET", "/api/orders?status=' OR 1=1 --", status=422, says="unknown order status")
)
case("web: a schedule with a bad cron")(
    lambda w: api(
        w,
        "POST",
        AGENT.format(id=w.trader) + "/schedules",
        status=422,
        says="cron",
        json={"prompt": "x", "cron": "every tuesday"},
    )
)


@pytest.mark.battery
@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(world: World, name: str) -> None:
    writes, check = CASES[name]
    before = snapshot(world.engine)
    check(world)
    after = snapshot(world.engine)
    if not writes:
        assert after == before, f"{name} wrote something"
    else:
        assert after["User"] == before["User"] and after["Position"] == before["Position"]
        assert after["cash"] == before["cash"]  # no order filled


def test_the_battery_has_at_least_60_cases() -> None:
    assert len(CASES) >= 60, len(CASES)
