"""One turn at a time per agent: threads, processes, busy agents, crashed turns."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from agentrecord import AgentBusy
from agentrecord.sqlalchemy.store import utcnow
from agentrecord.testing import ScriptedModel, call, scripted
from tests.agentrecord.seed import Daytrader, User
from tests.preforked import run_code

ROOT = Path(__file__).resolve().parents[3]


def make_trader(engine: Engine) -> int:
    with Session(engine) as session:
        trader = Daytrader(user=User(email="bob@example.com"), provider="openai")
        session.add(trader)
        session.commit()
        return trader.id


def last_prompt(messages: list[ModelMessage]) -> str:
    for m in reversed(messages):
        if isinstance(m, ModelRequest):
            for p in m.parts:
                if isinstance(p, UserPromptPart):
                    return str(p.content)
    return ""


async def slow_echo(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    await asyncio.sleep(0.15)
    return ModelResponse(parts=[TextPart(f"answer to {last_prompt(messages)}")])


def assert_turns_not_interleaved(messages: list[ModelMessage], expected_turns: int) -> None:
    assert len(messages) == 2 * expected_turns
    for request, response in zip(messages[::2], messages[1::2], strict=True):
        assert isinstance(request, ModelRequest) and isinstance(response, ModelResponse)
        assert response.text == f"answer to {last_prompt([request])}"


def test_two_threads_on_one_agent_take_turns(engine: Engine) -> None:
    trader_id = make_trader(engine)
    model = FunctionModel(slow_echo)
    replies: dict[str, str] = {}

    def worker(name: str) -> None:
        with Session(engine) as session:
            trader = session.get(Daytrader, trader_id)
            assert trader is not None
            replies[name] = trader.talk(name).text

    with scripted(Daytrader, model):
        threads = [threading.Thread(target=worker, args=(f"thread-{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert replies == {"thread-0": "answer to thread-0", "thread-1": "answer to thread-1"}
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert_turns_not_interleaved(trader.messages, 2)
        assert trader.lease_owner is None


def test_a_busy_agent_raises_agent_busy_when_not_willing_to_wait(engine: Engine) -> None:
    trader_id = make_trader(engine)
    started = threading.Event()

    async def slow(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        started.set()
        await asyncio.sleep(0.6)
        return ModelResponse(parts=[TextPart("done")])

    def first() -> None:
        with Session(engine) as session:
            trader = session.get(Daytrader, trader_id)
            assert trader is not None
            trader.talk("long task")

    with scripted(Daytrader, FunctionModel(slow)):
        runner = threading.Thread(target=first)
        runner.start()
        assert started.wait(10)
        with Session(engine) as session:
            trader = session.get(Daytrader, trader_id)
            assert trader is not None
            t0 = time.monotonic()
            with pytest.raises(AgentBusy, match="busy"):
                trader.talk("me too", wait=0.2)
            assert time.monotonic() - t0 < 2.0  # gave up after `wait`, not after the other turn
        runner.join()
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert len(trader.messages) == 2  # the refused turn wrote nothing


_PROCESS_SCRIPT = """
import asyncio, sys
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from pydantic_ai.messages import ModelResponse, TextPart
from pydantic_ai.models.function import FunctionModel
from agentrecord.testing import scripted
from tests.agentrecord.sqlalchemy.test_lease import slow_echo
from tests.agentrecord.seed import Daytrader

engine = create_engine({url!r})
name = sys.argv[1]
with scripted(Daytrader, FunctionModel(slow_echo)), Session(engine) as session:
    trader = session.get(Daytrader, {agent_id})
    for i in range({turns}):
        print(trader.talk(f"{{name}}-{{i}}", wait=60).text, flush=True)
"""


def test_two_processes_on_one_agent_never_interleave_or_lose_a_message(engine: Engine, db_url: str) -> None:
    trader_id = make_trader(engine)
    script = _PROCESS_SCRIPT.format(url=db_url, agent_id=trader_id, turns=4)
    with ThreadPoolExecutor(2) as pool:  # two processes at once
        done = list(pool.map(lambda name: run_code(script, name, cwd=ROOT, timeout=180), ["p0", "p1"]))
    for out in done:
        assert out.returncode == 0, out.stderr
        assert out.stdout.split("\n")[0].startswith("answer to p")
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        messages = trader.messages
        assert_turns_not_interleaved(messages, 8)
        assert sorted(last_prompt([m]) for m in messages[::2]) == sorted(
            f"p{i}-{j}" for i in range(2) for j in range(4)
        )


def test_a_turn_that_crashes_keeps_completed_steps_and_the_next_turn_continues(engine: Engine) -> None:
    trader_id = make_trader(engine)

    def provider_dies(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise ConnectionError("provider went away")

    crash = ScriptedModel([call("order_entry", symbol="AAPL", side="buy", quantity=3), provider_dies])
    with scripted(Daytrader, crash), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        with pytest.raises(ConnectionError):
            trader.talk("buy 3 AAPL")
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        saved = trader.messages
        assert trader.lease_owner is None
        # the prompt, the order call and the order's result survived the crash
        assert [m.kind for m in saved] == ["request", "response", "request"]
        assert any(isinstance(p, ToolReturnPart) and p.content["status"] == "filled" for p in saved[2].parts)
    resume = ScriptedModel(["Your AAPL order of 3 shares was filled."])
    with scripted(Daytrader, resume), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert trader.talk("did it go through?").text == "Your AAPL order of 3 shares was filled."
        sent = resume.requests[0]
        assert any(isinstance(p, ToolReturnPart) for m in sent for p in getattr(m, "parts", []))


_KILL_SCRIPT = """
import os, signal
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from agentrecord import Tool
from agentrecord.testing import ScriptedModel, call, scripted
from tests.agentrecord.seed import Daytrader

def die(self, symbol: str) -> dict:
    os.kill(os.getpid(), signal.SIGKILL)

engine = create_engine({url!r})
with scripted(Daytrader, ScriptedModel([call("quote_feed", symbol="AAPL")])), Session(engine) as session:
    type(Daytrader.agent_spec().tools[0]).call = die
    session.get(Daytrader, {agent_id}).talk("quote AAPL")
"""


def test_a_killed_process_leaves_its_steps_and_the_next_turn_repairs_the_dangling_call(
    engine: Engine, db_url: str
) -> None:
    trader_id = make_trader(engine)
    killed = run_code(_KILL_SCRIPT.format(url=db_url, agent_id=trader_id), cwd=ROOT)
    assert killed.returncode == -9, killed.stderr
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert trader.lease_owner is not None  # the dead process still holds the lease
        assert [m.kind for m in trader.messages] == ["request", "response"]
    model = ScriptedModel(["The quote did not come through; try again?"])
    with scripted(Daytrader, model), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        t0 = time.monotonic()
        reply = trader.talk("well?", wait=5)
        assert time.monotonic() - t0 < 4.5  # a dead local holder is detected (the lease TTL is 300 s)
    assert reply.text.startswith("The quote did not come through")
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        kinds = [m.kind for m in trader.messages]
        assert kinds == ["request", "response", "request", "request", "response"]
        repaired = trader.messages[2]
        assert isinstance(repaired, ModelRequest)
        assert isinstance(repaired.parts[0], ToolReturnPart)


def test_an_expired_lease_of_another_host_is_taken_over(engine: Engine) -> None:
    trader_id = make_trader(engine)
    with engine.begin() as conn:
        conn.execute(
            update(Daytrader.__table__)
            .where(Daytrader.__table__.c.id == trader_id)
            .values(lease_owner="elsewhere:1:abc", lease_expires_at=utcnow() + timedelta(seconds=30))
        )
    with scripted(Daytrader, ScriptedModel(["hi"])), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        with pytest.raises(AgentBusy):
            trader.talk("hello", wait=0.1)
    with engine.begin() as conn:
        conn.execute(
            update(Daytrader.__table__)
            .where(Daytrader.__table__.c.id == trader_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    with scripted(Daytrader, ScriptedModel(["hi"])), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert trader.talk("hello", wait=0.1).text == "hi"
