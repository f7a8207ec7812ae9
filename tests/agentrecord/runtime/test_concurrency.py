"""Concurrency: how one response's tool calls run under call, thread, async and process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelRequest, RetryPromptPart, ToolReturnPart
from sqlalchemy import Engine, select
from sqlalchemy.orm import DeclarativeBase, Session

from agentrecord import AgentRecord, DeclarationError, Reply, Tool, concurrency, tool
from agentrecord import _process_pool as process_pool
from agentrecord.testing import ScriptedModel, Step, call, scripted
from tests.agentrecord import concurrency_models as models
from tests.agentrecord.concurrency_models import AGENTS, ProcessAgent, Stamp
from tests.agentrecord.declare import declare
from tests.agentrecord.seed import Order, User

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module", autouse=True)
def warm_pool() -> None:
    """Start the worker processes once, so process-mode tests do not each wait for Python to boot."""
    concurrency.warm_up(ProcessAgent)


def make_agent(engine: Engine, mode: str, email: str = "owner@example.com", note: str | None = None) -> Any:
    with Session(engine, expire_on_commit=False) as session:
        user = User(email=email)
        session.add(user)
        session.flush()
        agent = AGENTS[mode](user_id=user.id, provider="openai", note=note)
        session.add(agent)
        session.commit()
    return agent


def talk(engine: Engine, agent: AgentRecord, steps: list[Step]) -> Reply[Any]:
    """One turn of `agent` (reloaded in a fresh session) on a scripted model."""
    with Session(engine) as session, scripted(type(agent), ScriptedModel(steps)):
        record = session.get(type(agent), agent.id)
        assert record is not None
        return record.talk("go")


def answered(reply: Reply[Any]) -> list[ToolReturnPart]:
    """The tool results the model was sent, in the order it received them (failures excluded)."""
    return [
        p
        for m in reply.messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart) and p.outcome != "retried"
    ]


def results(reply: Reply[Any]) -> list[dict[str, Any]]:
    return [p.content for p in answered(reply)]


def failures(reply: Reply[Any]) -> dict[str, str]:
    """Tool errors the model was sent, by call id."""
    return {
        p.tool_call_id: p.model_response() if isinstance(p, RetryPromptPart) else str(p.content)
        for m in reply.messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, RetryPromptPart) or getattr(p, "outcome", None) == "retried"
    }


@pytest.mark.parametrize("mode", ["call", "thread", "async", "process"])
def test_every_mode_runs_all_calls_and_answers_them_in_call_order(engine: Engine, mode: str) -> None:
    agent = make_agent(engine, mode)
    # the first call takes longest, so under the concurrent modes it finishes last
    calls = [
        call("stamp", label="a", delay=0.3),
        call("async_stamp", label="b", delay=0.0),
        call("stamp", label="c", delay=0.1),
    ]
    reply = talk(engine, agent, [calls, "done"])
    assert reply.text == "done"
    returns = answered(reply)
    assert [r.tool_call_id for r in returns] == [c.id for c in calls]
    stamps = [r.content for r in returns]
    assert [s["label"] for s in stamps] == ["a", "b", "c"]
    assert all(s["agent"] == agent.id for s in stamps)
    assert all((s["turn"], s["seq"]) == (1, 1) for s in stamps)  # the prompt is message 0, the calls' response 1
    pids = [s["pid"] for s in stamps]
    if mode == "process":
        assert pids[0] != os.getpid() and pids[2] != os.getpid()  # sync tools in worker processes
        assert pids[1] == os.getpid()  # async tools stay on the runtime loop
    else:
        assert pids == [os.getpid()] * 3
    if mode == "call":
        assert stamps[0]["end"] <= stamps[1]["start"] and stamps[1]["end"] <= stamps[2]["start"]


@pytest.mark.parametrize(
    ("mode", "tool_names"),
    [
        ("thread", ["rendezvous", "rendezvous", "rendezvous"]),
        ("async", ["async_rendezvous", "async_rendezvous", "rendezvous"]),
        ("process", ["rendezvous", "rendezvous"]),
    ],
)
def test_concurrent_modes_run_the_calls_at_the_same_time(engine: Engine, mode: str, tool_names: list[str]) -> None:
    """Each call waits until all have arrived: only calls running at the same time can all return."""
    if mode == "process" and concurrency.size() < len(tool_names):
        pytest.skip("needs as many CPUs as calls")
    agent = make_agent(engine, mode)
    group = uuid.uuid4().hex
    reply = talk(
        engine,
        agent,
        [[call(n, group=group, parties=len(tool_names), seat=i) for i, n in enumerate(tool_names)], "met"],
    )
    met = results(reply)
    assert failures(reply) == {}
    assert [m["met"] for m in met] == [len(tool_names)] * len(tool_names)
    if mode == "process":
        assert len({m["pid"] for m in met}) == len(tool_names)
        assert os.getpid() not in {m["pid"] for m in met}
    if mode == "thread":
        assert len({m["thread"] for m in met}) == len(tool_names)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_sequential_tool_runs_alone(engine: Engine, mode: str) -> None:
    agent = make_agent(engine, mode)
    calls = [
        call("stamp", label="a", delay=0.2),
        call("stamp", label="b", delay=0.2),
        call("exclusive", label="x", delay=0.2),
        call("stamp", label="c", delay=0.2),
        call("stamp", label="d", delay=0.2),
    ]
    stamps = {s["label"]: s for s in results(talk(engine, agent, [calls, "done"]))}
    assert sorted(stamps) == ["a", "b", "c", "d", "x"]
    x = stamps["x"]
    assert x["start"] >= max(stamps["a"]["end"], stamps["b"]["end"])
    assert x["end"] <= min(stamps["c"]["start"], stamps["d"]["start"])


def test_process_mode_acts_for_the_right_record_and_writes_through_its_own_session(engine: Engine) -> None:
    alice = make_agent(engine, "process", "alice@example.com", note="alice's")
    bob = make_agent(engine, "process", "bob@example.com", note="bob's")
    for agent, email, note in ((alice, "alice@example.com", "alice's"), (bob, "bob@example.com", "bob's")):
        calls = [call("whoami", tag=f"{note}-class"), call("whoami_fn", tag=f"{note}-fn")]
        reply = talk(engine, agent, [calls, "done"])
        assert failures(reply) == {}
        for answer, c in zip(results(reply), calls, strict=True):
            assert answer["pid"] != os.getpid()
            assert (answer["agent"], answer["user"], answer["note"]) == (agent.id, email, note)
            assert answer["tag"] == c.args["tag"]
        with Session(engine) as session:
            orders = session.scalars(select(Order).where(Order.key.in_([c.id for c in calls]))).all()
            assert sorted(o.symbol for o in orders) == sorted(c.args["tag"] for c in calls)
            assert {o.user_id for o in orders} == {agent.user_id}


@pytest.mark.parametrize("mode", ["call", "thread", "async"])
def test_tools_never_share_the_callers_session(engine: Engine, mode: str) -> None:
    agent = make_agent(engine, mode, "carol@example.com")
    with Session(engine) as session:
        record = session.get(type(agent), agent.id)
        assert record is not None
        assert record.provider == "openai"  # loaded now, so nothing below makes the caller's session flush
        session.add(Order(user_id=agent.user_id, symbol="CALLER", side="buy", quantity=1, key=uuid.uuid4().hex))
        models.CALLER.update(session=session, record=record)
        try:
            probe = call("session_probe", tag="TOOL")
            with scripted(type(agent), ScriptedModel([[probe, call("session_probe", tag="TOOL2")], "done"])):
                reply = record.talk("go")
        finally:
            models.CALLER.clear()
        for answer in results(reply):
            assert answer == {
                "own_session_is_callers": False,
                "record_is_callers": False,
                "record_session_is_callers": False,
                "user": "carol@example.com",
            }
        session.rollback()  # the caller's pending order goes; the tools' orders were committed on their own
    with Session(engine) as session:
        symbols = sorted(session.scalars(select(Order.symbol).where(Order.user_id == agent.user_id)))
    assert symbols == ["TOOL", "TOOL2"]


def test_tool_failures_in_a_worker_process_go_back_to_the_model(engine: Engine) -> None:
    agent = make_agent(engine, "process")
    calls = [call("explode", symbol="XYZ"), call("refuse", symbol="ABC"), call("handle", symbol="DEF")]
    reply = talk(engine, agent, [calls, "sorry"])
    assert reply.text == "sorry"
    retries = failures(reply)
    assert retries[calls[0].id] == "Tool explode failed: ValueError: no liquidity in XYZ"
    assert retries[calls[1].id] == "ABC is not traded here; try another symbol"
    assert "Tool handle cannot run in a worker process" in retries[calls[2].id]
    assert "cannot be pickled" in retries[calls[2].id]


def test_a_dead_worker_is_a_tool_error_and_the_pool_recovers(engine: Engine) -> None:
    agent = make_agent(engine, "process")
    die = call("die", symbol="X")
    reply = talk(engine, agent, [die, "it died"])
    assert "worker process running it exited" in failures(reply)[die.id]
    [answer] = results(talk(engine, agent, [call("whoami", tag="after"), "fine"]))
    assert answer["pid"] != os.getpid() and answer["tag"] == "after"


# -- tools that cannot run in a process are refused when the agent class is declared ------------------------------
def _declare(tools: list[Any], concurrency: str, name: str) -> type:
    return declare(type("Agent", (), {"tools": tools, "concurrency": concurrency}), name)


def _local_tool() -> type[Tool]:
    class LocalTool(Tool):
        """Defined inside a function."""

        def call(self, symbol: str) -> str:
            return symbol

    return LocalTool


def _stateful() -> Tool:
    stamp = Stamp()
    stamp.lock = threading.Lock()
    return stamp


@pytest.mark.parametrize(
    ("tools", "reason"),
    [
        (lambda: [_local_tool()], "tool local_tool cannot run in a worker process"),
        (lambda: [tool(lambda symbol: symbol)], "it is a lambda"),
        (lambda: [_stateful()], "its instance state cannot be pickled (TypeError: cannot pickle '_thread.lock'"),
    ],
)
def test_a_tool_that_cannot_run_in_a_process_is_refused_at_declaration(tools: Any, reason: str) -> None:
    _declare(tools(), "thread", f"Fine{uuid.uuid4().hex[:6]}")  # the same tools are fine in threads
    with pytest.raises(DeclarationError) as caught:
        _declare(tools(), "process", f"Refused{uuid.uuid4().hex[:6]}")
    message = str(caught.value)
    assert reason in message
    assert 'concurrency="process"' in message
    assert 'Move it to module level, or use concurrency="thread".' in message


def test_an_agent_class_defined_in_a_function_cannot_use_process() -> None:
    class LocalBase(DeclarativeBase):
        pass

    with pytest.raises(DeclarationError, match=r"a worker process loads the agent record by its class.*inside a"):

        class LocalAgent(AgentRecord, LocalBase):
            __tablename__ = "local_agents"

            class Agent:
                tools = [Stamp]
                concurrency = "process"


def test_a_tool_typed_into_an_interactive_session_is_refused() -> None:
    program = (
        "from sqlalchemy.orm import DeclarativeBase\n"
        "from agentrecord import AgentRecord, Tool\n"
        "class Base(DeclarativeBase):\n"
        "    pass\n"
        "class Typed(Tool):\n"
        "    '''Typed at a prompt.'''\n"
        "    def call(self, symbol: str) -> str:\n"
        "        return symbol\n"
        "class Bot(AgentRecord, Base):\n"
        "    __tablename__ = 'bots'\n"
        "    class Agent:\n"
        "        tools = [Typed]\n"
        "        concurrency = 'process'\n"
    )
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "DeclarationError: Bot.Agent: tool typed cannot run in a worker process" in done.stderr
    assert "defined in an interactive session" in done.stderr


def test_warm_up_starts_every_worker() -> None:
    assert concurrency.warm_up(ProcessAgent) == concurrency.size()


def test_the_database_password_is_not_in_a_jobs_repr() -> None:
    job = process_pool.Job(
        tool=Stamp(),
        kwargs={},
        record_class=ProcessAgent,
        record_key=(1,),
        origin={"call_id": "c"},
        binding=ProcessAgent.__agentrecord_binding__,
        address="postgresql://u:s3cret@h/d",
    )
    assert "s3cret" not in repr(job)
