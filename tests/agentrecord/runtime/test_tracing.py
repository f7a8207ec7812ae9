"""OpenTelemetry spans of a turn, collected by the SDK's in-memory exporter, over real HTTP to the test server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from agentrecord import AgentRecord, Tool, tracing
from tests.agentrecord.openai_server import OpenAIServer, ToolCall

PROMPT = "Find me a trade, my codeword is PLUM-4471"
ANSWER = "Buy 10 AAPL, codeword MANGO-9912"
SECRET = "sk-test-local"


class TraceBase(DeclarativeBase):
    pass


class Quote(Tool):
    """Get the latest price of a ticker symbol."""

    name = "quote_feed"

    def call(self, symbol: str) -> dict[str, Any]:
        return {"symbol": symbol, "last": 190.0}


class Positions(Tool):
    """List the user's open positions."""

    name = "position_book"

    def call(self) -> list[dict[str, Any]]:
        return [{"symbol": "AAPL", "quantity": 10}]


class Orders(Tool):
    """Place an order."""

    name = "order_entry"

    def call(self, symbol: str, quantity: int) -> dict[str, Any]:
        return {"status": "filled", "symbol": symbol, "quantity": quantity}


class Tracked(AgentRecord, TraceBase):
    __tablename__ = "tracked_agents"
    user_id: Mapped[int] = mapped_column(default=7)

    class Agent:
        model = "gpt-4o-mini"
        instructions = "You are an analyst."
        tools = [Quote, Positions, Orders]
        confirm = [Orders]
        skills = [str(Path(__file__).resolve().parents[1] / "skills" / "find-trade")]


TABLES = TraceBase.metadata  # the tables `sqlite_db` makes (conftest.py)


def new_agent(engine: Engine) -> int:
    with Session(engine) as session:
        agent = Tracked(provider="openai")
        session.add(agent)
        session.commit()
        return agent.id


def children(all_spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    found = [s for s in all_spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
    return sorted(found, key=lambda s: s.start_time or 0)


def descendants(all_spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    found = []
    for child in children(all_spans, parent):
        found += [child, *descendants(all_spans, child)]
    return found


def every_value(span: ReadableSpan) -> str:
    values = [str(v) for v in (span.attributes or {}).values()]
    values += [str(v) for e in span.events for v in (e.attributes or {}).values()]
    return " ".join([span.name, *values])


def test_a_turn_with_two_tools_and_a_skill_is_one_span_tree_without_content_or_secret(
    sqlite_db: Engine, server: OpenAIServer, spans: InMemorySpanExporter
) -> None:
    server.script = [
        ToolCall("quote_feed", {"symbol": "AAPL"}),
        ToolCall("position_book", {}),
        ToolCall("find_trade", {"task": "Find a trade in AAPL"}),
        ToolCall("quote_feed", {"symbol": "AAPL"}),  # the skill's sub-agent
        "Buy 10 AAPL at 190.",  # the sub-agent's answer
        ANSWER,
    ]
    agent_id = new_agent(sqlite_db)
    with Session(sqlite_db) as session:
        agent = session.get(Tracked, agent_id)
        assert agent is not None
        reply = agent.talk(PROMPT)
    assert reply.text == ANSWER
    finished = list(spans.get_finished_spans())
    (turn,) = [s for s in finished if s.name == "agentrecord.turn Tracked"]
    assert turn.parent is None
    attributes = dict(turn.attributes or {})
    assert attributes["agentrecord.agent.class"] == "Tracked"
    assert attributes["agentrecord.agent.id"] == str(agent_id)
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["agentrecord.outcome"] == "answered"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (66, 42)
    assert attributes["agentrecord.requests"] == 6
    assert attributes["agentrecord.cost_usd"] == str(reply.cost)

    (run,) = children(finished, turn)  # pydantic-ai's agent run
    under_run = children(finished, run)
    chats = [s for s in under_run if s.name.startswith("chat ")]
    tools = [s for s in under_run if s.name.startswith("execute_tool ")]
    assert len(chats) == 4  # the parent's own requests
    assert [s.name for s in tools] == [
        "execute_tool quote_feed",
        "execute_tool position_book",
        "execute_tool find_trade",
    ]
    skill = tools[-1]
    inside_skill = descendants(finished, skill)  # the sub-agent: its run, its two requests, its tool call
    assert [s.name for s in inside_skill if s.name.startswith("chat ")] == ["chat gpt-4o-mini"] * 2
    assert [s.name for s in inside_skill if s.name.startswith("execute_tool ")] == ["execute_tool quote_feed"]
    assert {s.context.trace_id for s in finished if s.context is not None} == {turn.context.trace_id}  # type: ignore[union-attr]

    for span in finished:
        text = every_value(span)
        assert SECRET not in text, span.name
        assert "PLUM-4471" not in text and "MANGO-9912" not in text, span.name
        assert "190.0" not in text, span.name  # a tool result is content too


def test_content_is_recorded_when_opted_in(
    sqlite_db: Engine, server: OpenAIServer, spans: InMemorySpanExporter
) -> None:
    tracing.enable(content=True, tracer_provider=tracing._config.tracer_provider)
    server.script = [ANSWER]
    agent_id = new_agent(sqlite_db)
    with Session(sqlite_db) as session:
        agent = session.get(Tracked, agent_id)
        assert agent is not None
        agent.talk(PROMPT)
    finished = list(spans.get_finished_spans())
    (turn,) = [s for s in finished if s.name == "agentrecord.turn Tracked"]
    assert (turn.attributes or {})["agentrecord.prompt"] == PROMPT
    assert (turn.attributes or {})["agentrecord.reply"] == ANSWER
    assert any("MANGO-9912" in every_value(s) for s in finished if s.name.startswith("chat "))
    assert not any(SECRET in every_value(s) for s in finished)


def test_a_held_approval_and_its_resumption_are_spans_under_the_callers_span(
    sqlite_db: Engine, server: OpenAIServer, spans: InMemorySpanExporter
) -> None:
    server.script = [ToolCall("order_entry", {"symbol": "AAPL", "quantity": 10}), "Ordered."]
    agent_id = new_agent(sqlite_db)
    caller = trace.get_tracer("test", tracer_provider=tracing._config.tracer_provider)
    with Session(sqlite_db) as session, caller.start_as_current_span("request") as outer:
        agent = session.get(Tracked, agent_id)
        assert agent is not None
        held = agent.talk("Buy 10 AAPL")
        (pending,) = held.pending
        agent.approve(pending.call_id)
    finished = list(spans.get_finished_spans())
    first, second = [s for s in finished if s.name == "agentrecord.turn Tracked"]
    assert first.parent is not None and first.parent.span_id == outer.get_span_context().span_id
    assert second.parent is not None and second.parent.span_id == outer.get_span_context().span_id
    assert (first.attributes or {})["agentrecord.outcome"] == "held_for_approval"
    (hold,) = [s for s in descendants(finished, first) if s.name == "agentrecord.approval.held order_entry"]
    assert (hold.attributes or {})["gen_ai.tool.call.id"] == pending.call_id
    assert (second.attributes or {})["agentrecord.resumed"] is True
    (resumed,) = [s for s in descendants(finished, second) if s.name == "agentrecord.approval.resumed order_entry"]
    assert (resumed.attributes or {})["agentrecord.approved"] is True
    assert "execute_tool order_entry" in [s.name for s in descendants(finished, second)]


def test_tracing_is_off_by_default_and_on_with_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_config", tracing._Config())
    monkeypatch.delenv(tracing.ENV, raising=False)
    assert not tracing.enabled() and tracing.instrumentation() is None
    monkeypatch.setenv(tracing.ENV, "1")
    settings = tracing.instrumentation()
    assert tracing.enabled() and settings is not None and settings.include_content is False
    tracing.disable()
    assert not tracing.enabled()


def test_a_jobs_turn_runs_inside_its_job_span_which_continues_the_enqueuers_trace(
    sqlite_db: Engine, server: OpenAIServer, spans: InMemorySpanExporter
) -> None:
    from agentrecord import _loop
    from agentrecord.jobs import runner
    from agentrecord.jobs.backend import request_of

    server.script = [ANSWER]
    agent_id = new_agent(sqlite_db)
    caller = trace.get_tracer("test", tracer_provider=tracing._config.tracer_provider)
    with Session(sqlite_db) as session, caller.start_as_current_span("web request") as enqueuing:
        agent = session.get(Tracked, agent_id)
        assert agent is not None
        request = request_of(agent, PROMPT) | {"trace": tracing.carrier()}  # as enqueue() stores it
    result = _loop.run_sync(runner.run(sqlite_db, request, "job-1", lambda: None))  # later, on a worker
    assert result["text"] == ANSWER
    finished = list(spans.get_finished_spans())
    (job,) = [s for s in finished if s.name == "agentrecord.job"]
    assert job.parent is not None and job.parent.span_id == enqueuing.get_span_context().span_id
    assert job.context is not None and job.context.trace_id == enqueuing.get_span_context().trace_id
    assert (job.attributes or {})["agentrecord.job.id"] == "job-1"
    assert (job.attributes or {})["agentrecord.agent.id"] == str(agent_id)
    (turn,) = children(finished, job)
    assert turn.name == "agentrecord.turn Tracked" and (turn.attributes or {})["agentrecord.job.id"] == "job-1"
