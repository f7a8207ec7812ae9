"""MCP servers as tool sources: a real test server started over stdio and over streamable HTTP on loopback.

The model's decisions are scripted (ScriptedModel); the server, its subprocess and its HTTP endpoint are real.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo
from sqlalchemy import Engine, String
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from agentrecord import MCP, AgentRecord, DeclarationError, MCPServerUnavailable
from agentrecord.testing import ScriptedModel, call, scripted

SERVER = str(Path(__file__).parent.parent / "mcp_server.py")


class McpBase(DeclarativeBase):
    pass


def stdio_server(record: Any) -> MCP:
    """Per record: the server writes this record's wires to the record's own file."""
    return MCP("market-data", command=[sys.executable, SERVER, "stdio"], env={"MCP_TEST_LEDGER": record.wires})


class Broker(AgentRecord, McpBase):
    __tablename__ = "mcp_brokers"
    wires: Mapped[str] = mapped_column(String(300), default="")

    class Agent:
        model = "scripted"
        mcp = [stdio_server]
        confirm = ["wire_funds"]
        loop_guard = 2


class Remote(AgentRecord, McpBase):
    """Its MCP server is wherever the record's `mcp_url` says, with the record's token."""

    __tablename__ = "mcp_remotes"
    mcp_url: Mapped[str] = mapped_column(String(300), default="")

    class Agent:
        model = "scripted"
        mcp = [lambda record: MCP("quotes", url=record.mcp_url, headers={"Authorization": "Bearer t0k"}, timeout=5)]


class Impatient(AgentRecord, McpBase):
    __tablename__ = "mcp_impatient"

    class Agent:
        model = "scripted"
        mcp = [MCP("market-data", command=[sys.executable, SERVER, "stdio"], call_timeout=1)]


class Missing(AgentRecord, McpBase):
    __tablename__ = "mcp_missing"

    class Agent:
        model = "scripted"
        mcp = [MCP("ghost", command=["/nonexistent/mcp-server-binary"], timeout=5)]


TABLES = McpBase.metadata  # the tables `sqlite_db` makes (conftest.py)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def http_url() -> Iterator[str]:
    """The test server over streamable HTTP, in a subprocess listening on loopback."""
    port = free_port()
    process = subprocess.Popen([sys.executable, SERVER, "http", str(port)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None and time.monotonic() < deadline, "the MCP test server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def saved(db: Engine, cls: type[AgentRecord], **columns: Any) -> int:
    with Session(db) as session:
        record = cls(provider="openai", **columns)
        session.add(record)
        session.commit()
        return record.id


def tool_results(messages: list[ModelMessage]) -> list[Any]:
    return [
        p.content
        for m in messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart | RetryPromptPart)
    ]


def test_an_agent_calls_a_tool_of_its_stdio_mcp_server(sqlite_db: Engine, tmp_path: Path) -> None:
    agent_id = saved(sqlite_db, Broker, wires=str(tmp_path / "wires.txt"))
    offered: list[str] = []

    def first(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        offered.extend(t.name for t in info.function_tools)
        return ModelResponse(parts=[ToolCallPart("stock_price", {"symbol": "aapl"})])

    model = ScriptedModel([first, "AAPL is at 190.25."])
    with scripted(Broker, model), Session(sqlite_db) as session:
        agent = session.get(Broker, agent_id)
        assert agent is not None
        reply = agent.talk("What is AAPL at?")
    assert reply.text == "AAPL is at 190.25."
    assert sorted(offered) == ["crash", "hang", "stock_price", "wire_funds"]
    (result,) = tool_results(reply.messages)
    assert result == {"symbol": "AAPL", "price": 190.25, "source": "mcp"}


def test_an_mcp_tool_under_confirm_is_held_until_approved(sqlite_db: Engine, tmp_path: Path) -> None:
    wires = tmp_path / "wires.txt"
    agent_id = saved(sqlite_db, Broker, wires=str(wires))
    model = ScriptedModel([call("wire_funds", account="ACME-1", amount=250.0), "Sent."])
    with scripted(Broker, model), Session(sqlite_db) as session:
        agent = session.get(Broker, agent_id)
        assert agent is not None
        held = agent.talk("Pay ACME 250")
        (pending,) = held.pending
        assert pending.tool == "wire_funds" and pending.args == {"account": "ACME-1", "amount": 250.0}
        assert not wires.exists()  # held: the server was never asked
        resumed = agent.approve(pending.call_id)
    assert resumed is not None and resumed.text == "Sent."
    assert wires.read_text() == "ACME-1 250.0\n"


def test_the_loop_guard_answers_a_repeated_mcp_call_without_calling_the_server(
    sqlite_db: Engine, tmp_path: Path
) -> None:
    agent_id = saved(sqlite_db, Broker, wires=str(tmp_path / "w.txt"))
    model = ScriptedModel([call("stock_price", symbol="MSFT"), call("stock_price", symbol="MSFT"), "Done."])
    with scripted(Broker, model), Session(sqlite_db) as session:
        agent = session.get(Broker, agent_id)
        assert agent is not None
        reply = agent.talk("MSFT twice")
    first, second = tool_results(reply.messages)
    assert first["price"] == 190.25
    assert isinstance(second, str) and second.startswith("Not run: you already called stock_price")


def test_an_agent_calls_a_tool_of_its_http_mcp_server_named_per_record(sqlite_db: Engine, http_url: str) -> None:
    agent_id = saved(sqlite_db, Remote, mcp_url=http_url)
    model = ScriptedModel([call("stock_price", symbol="nvda"), "NVDA is at 190.25."])
    with scripted(Remote, model), Session(sqlite_db) as session:
        agent = session.get(Remote, agent_id)
        assert agent is not None
        reply = agent.talk("NVDA?")
    assert tool_results(reply.messages) == [{"symbol": "NVDA", "price": 190.25, "source": "mcp"}]


def test_an_unreachable_http_server_is_a_clear_error_before_the_turn(sqlite_db: Engine) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"  # nothing listens there
    agent_id = saved(sqlite_db, Remote, mcp_url=url)
    model = ScriptedModel(["never asked"])
    with scripted(Remote, model), Session(sqlite_db) as session:
        agent = session.get(Remote, agent_id)
        assert agent is not None
        start = time.monotonic()
        with pytest.raises(MCPServerUnavailable) as caught:
            agent.talk("hello")
        assert time.monotonic() - start < 15
        assert "the MCP server 'quotes'" in str(caught.value) and url in str(caught.value)
        assert "t0k" not in str(caught.value)
        assert model.requests == [] and agent.messages == [] and agent.lease_owner is None


def test_a_server_command_that_cannot_start_is_a_clear_error(sqlite_db: Engine) -> None:
    agent_id = saved(sqlite_db, Missing)
    with scripted(Missing, ScriptedModel(["never asked"])), Session(sqlite_db) as session:
        agent = session.get(Missing, agent_id)
        assert agent is not None
        with pytest.raises(MCPServerUnavailable, match=r"the MCP server 'ghost' \(command '/nonexistent/"):
            agent.talk("hello")


def test_a_server_that_dies_or_hangs_mid_turn_is_a_tool_error_for_the_model(sqlite_db: Engine) -> None:
    agent_id = saved(sqlite_db, Impatient)
    model = ScriptedModel([call("hang"), "It did not answer.", call("crash"), "It broke."])
    with scripted(Impatient, model), Session(sqlite_db) as session:
        agent = session.get(Impatient, agent_id)
        assert agent is not None
        start = time.monotonic()
        assert agent.talk("Try hang").text == "It did not answer."
        assert time.monotonic() - start < 10
        (hung,) = tool_results(agent.messages)
        assert "Tool hang failed on the MCP server 'market-data'" in str(hung) and "timed out" in str(hung)
        assert agent.talk("Try crash").text == "It broke."
        crashed = tool_results(agent.messages)[-1]
        assert "MCP server 'market-data'" in str(crashed)


def test_bad_mcp_declarations_are_refused_with_what_to_do() -> None:
    with pytest.raises(DeclarationError, match="exactly one of `command`"):
        MCP("x")
    with pytest.raises(DeclarationError, match="`command` is a list"):
        MCP("x", command="python server.py")  # type: ignore[arg-type]
    with pytest.raises(DeclarationError, match="must start with http"):
        MCP("x", url="localhost:8000/mcp")
    with pytest.raises(DeclarationError, match=r"Agent\.mcp must be a list"):

        class Wrong(AgentRecord, McpBase):
            __tablename__ = "mcp_wrong"

            class Agent:
                mcp = MCP("x", url="http://127.0.0.1:1/mcp")
