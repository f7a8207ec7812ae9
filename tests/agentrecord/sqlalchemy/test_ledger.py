"""The usage ledger: one row per provider request, over real HTTP, on SQLite and PostgreSQL.

The local OpenAI-compatible server fails requests on cue, so the SDK's retries, a request that fails the turn and a
request cut off by the turn's deadline all reach the ledger as the provider saw them; the agent's counters are
checked against the sum of its rows after every turn.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from agentrecord import AgentRecord, ProviderError, ProviderTimeout
from tests.agentrecord.openai_server import Fault, OpenAIServer, Text, ToolCall
from tests.agentrecord.seed import Base, QuoteFeed


class Bookkeeper(AgentRecord, Base):
    """Two retries per request, a short request deadline."""

    __tablename__ = "bookkeepers"

    class Agent:
        model = "gpt-4o-mini"
        instructions = "You answer briefly."
        tools = [QuoteFeed]
        request_timeout = 5
        request_retries = 2


class Hurried(AgentRecord, Base):
    """A whole-turn deadline of one second."""

    __tablename__ = "hurried_agents"

    class Agent:
        model = "gpt-4o-mini"
        request_timeout = 30
        turn_timeout = 1


def new_agent(engine: Engine, cls: type[AgentRecord] = Bookkeeper) -> int:
    with Session(engine) as session:
        agent = cls(provider="openai")
        session.add(agent)
        session.commit()
        return agent.id


def ledger(engine: Engine, agent_id: int, cls: type[AgentRecord] = Bookkeeper) -> list[dict[str, Any]]:
    table = cls._store().usage
    with engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.agent_id == agent_id).order_by(table.c.id)).mappings().all()
    return [dict(r) for r in rows]


def assert_counters_are_the_ledger_sum(engine: Engine, agent_id: int, cls: type[AgentRecord] = Bookkeeper) -> None:
    rows = ledger(engine, agent_id, cls)
    with Session(engine) as session:
        agent = session.get(cls, agent_id)
        assert agent is not None
        assert agent.input_tokens == sum(r["input_tokens"] for r in rows)
        assert agent.output_tokens == sum(r["output_tokens"] for r in rows)
        assert agent.total_tokens == agent.input_tokens + agent.output_tokens
        costs = [r["cost"] for r in rows if r["cost"] is not None]
        assert agent.cost == (sum(costs, Decimal(0)) if costs else None)


def test_every_attempt_is_a_row_and_the_counters_are_the_sum_of_the_ledger(
    engine: Engine, server: OpenAIServer
) -> None:
    server.script = [
        Fault("status", 500),
        ToolCall("quote_feed", {"symbol": "AAPL"}, prompt_tokens=40, completion_tokens=9),
        Fault("status", 429, retry_after=0.1),
        Text("AAPL is at 190.", prompt_tokens=60, completion_tokens=5, cached_tokens=32),
    ]
    agent_id = new_agent(engine)
    with Session(engine) as session:
        agent = session.get(Bookkeeper, agent_id)
        assert agent is not None
        assert agent.talk("Quote AAPL").text == "AAPL is at 190."
    rows = ledger(engine, agent_id)
    assert [r["status"] for r in rows] == ["retried", "ok", "retried", "ok"]
    assert [(r["input_tokens"], r["output_tokens"], r["cache_read_tokens"]) for r in rows] == [
        (0, 0, 0),
        (40, 9, 0),
        (0, 0, 0),
        (60, 5, 32),
    ]
    assert {r["turn"] for r in rows} == {1}
    assert {r["model"] for r in rows} == {"gpt-4o-mini"}
    assert all(isinstance(r["cost"], Decimal) and r["cost"] > 0 for r in rows if r["status"] == "ok")
    assert all(r["cost"] is None for r in rows if r["status"] == "retried")
    assert all(r["latency_ms"] is not None and r["latency_ms"] >= 0 for r in rows)
    assert_counters_are_the_ledger_sum(engine, agent_id)

    server.script.extend([Fault("status", 503)] * 3)  # every attempt of the second turn fails
    with Session(engine) as session:
        agent = session.get(Bookkeeper, agent_id)
        assert agent is not None
        with pytest.raises(ProviderError, match="HTTP 503"):
            agent.talk("Again?")
    second = [r for r in ledger(engine, agent_id) if r["turn"] == 2]
    assert [r["status"] for r in second] == ["retried", "retried", "failed"]
    assert all(r["input_tokens"] == r["output_tokens"] == 0 for r in second)
    assert_counters_are_the_ledger_sum(engine, agent_id)


def test_a_request_cut_off_by_the_turn_deadline_is_a_cancelled_row(engine: Engine, server: OpenAIServer) -> None:
    server.script = [Fault("hang")]
    agent_id = new_agent(engine, Hurried)
    with Session(engine) as session:
        agent = session.get(Hurried, agent_id)
        assert agent is not None
        started = time.monotonic()
        with pytest.raises(ProviderTimeout):
            agent.talk("Take your time")
        turn_ms = (time.monotonic() - started) * 1000
    rows = ledger(engine, agent_id, Hurried)
    assert [(r["status"], r["input_tokens"], r["cost"]) for r in rows] == [("cancelled", 0, None)]
    assert turn_ms >= 950  # the one-second deadline ended the turn, not an error before it
    # the request hung from when it was sent until the deadline (what ran before it depends on the machine's load)
    assert 100 <= rows[0]["latency_ms"] <= turn_ms
    assert_counters_are_the_ledger_sum(engine, agent_id, Hurried)


def test_usage_by_day_sums_each_utc_day_and_since_leaves_earlier_days_out(engine: Engine, server: OpenAIServer) -> None:
    server.script = [Text("one", prompt_tokens=10, completion_tokens=2), Fault("status", 500), Text("two")]
    agent_id = new_agent(engine)
    with Session(engine) as session:
        agent = session.get(Bookkeeper, agent_id)
        assert agent is not None
        agent.talk("first")
        table = Bookkeeper._store().usage
        yesterday = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)
        with engine.begin() as conn:  # the first turn happened a day earlier
            conn.execute(update(table).where(table.c.agent_id == agent_id).values(created_at=yesterday))
        agent.talk("second")
        days = agent.usage_by_day()
        today = datetime.now(UTC).date()
        assert [d.day for d in days] == [today - timedelta(days=1), today]
        first, second = days
        assert (first.requests, first.input_tokens, first.output_tokens, first.failed) == (1, 10, 2, 0)
        assert (second.requests, second.input_tokens, second.output_tokens, second.failed) == (2, 11, 7, 1)
        assert first.cost is not None and second.cost is not None
        assert first.cost + second.cost == agent.cost
        assert first.total_tokens + second.total_tokens == agent.total_tokens
        assert [d.day for d in agent.usage_by_day(since=today)] == [today]
        assert agent.usage_by_day(since=date(2999, 1, 1)) == []


def test_deleting_an_agent_deletes_its_ledger(engine: Engine, server: OpenAIServer) -> None:
    server.script = ["hello"]
    agent_id = new_agent(engine)
    with Session(engine) as session:
        agent = session.get(Bookkeeper, agent_id)
        assert agent is not None
        agent.talk("hi")
        assert len(ledger(engine, agent_id)) == 1
        session.delete(agent)
        session.commit()
    table = Bookkeeper._store().usage
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
