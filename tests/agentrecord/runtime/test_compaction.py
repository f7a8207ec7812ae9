"""Context compaction: a summary stands in for older messages; the database keeps them all."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RequestUsage,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from agentrecord import Compaction, DeclarationError
from agentrecord.compaction import boundary, due, summary_message, transcript
from tests.agentrecord.declare import declare
from tests.agentrecord.long_models import (
    SUMMARY,
    SUMMARY_USAGE,
    Compactor,
    LongBase,
    ThriftyCompactor,
    respond,
    tool_pairs_intact,
)
from tests.agentrecord.openai_server import OpenAIServer, Text, served
from tests.preforked import run_code

ROOT = Path(__file__).resolve().parents[3]
PROMPTS = [f"quote T{i}" if i % 2 else f"turn {i}" for i in range(12)]
STORED = 6 * 2 + 6 * 4  # six plain turns (prompt, answer) and six tool turns (prompt, call, result, answer)


TABLES = LongBase.metadata  # the tables `db` makes (conftest.py)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIServer]:  # stays local: it answers with `respond`
    with served(monkeypatch, respond) as srv:
        yield srv


def summary_requests(server: OpenAIServer) -> list[dict]:
    return [b for b in server.requests if not b.get("tools")]


def agent_requests(server: OpenAIServer) -> list[dict]:
    return [b for b in server.requests if b.get("tools")]


def talk_all(engine: Engine, prompts: list[str] = PROMPTS) -> tuple[int, list]:
    with Session(engine) as session:
        record = Compactor(provider="openai")
        session.add(record)
        session.commit()
        replies = [record.talk(p) for p in prompts]
        return record.id, replies


# -- declaration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("lots", "must be a Compaction(...), True or a message count"),
        (Compaction(messages=0), "compaction.messages must be a positive integer"),
        (Compaction(keep=1), "compaction.keep must be an integer >= 2"),
        (Compaction(messages=4, keep=8), "must be larger than keep (8)"),
        (Compaction(context_share=0.5), "context_share needs context_window"),
        (Compaction(context_share=1.5, context_window=8000), "context_share must be a fraction in (0, 1]"),
        (Compaction(instructions=" "), "compaction.instructions must be a non-empty string"),
        (Compaction(model=""), "compaction.model must be a model name"),
    ],
)
def test_a_bad_compaction_setting_fails_when_the_class_is_declared(value: object, message: str) -> None:
    body = type("Agent", (), {"model": "gpt-4o-mini", "compaction": value})
    with pytest.raises(DeclarationError) as info:
        declare(body)
    assert "Broken.Agent.compaction" in str(info.value)
    assert message in str(info.value)


def test_compaction_shorthands_read_as_settings() -> None:
    on = declare(type("Agent", (), {"model": "m", "compaction": True}), "On")
    counted = declare(type("Agent", (), {"model": "m", "compaction": 30}), "Counted")
    off = declare(type("Agent", (), {"model": "m"}), "Off")
    assert on.agent_spec().compaction == Compaction()
    assert counted.agent_spec().compaction == Compaction(messages=30)
    assert off.agent_spec().compaction is None


# -- thresholds and the boundary ---------------------------------------------------------------------


def plain_turn(i: int, tokens: int = 0) -> list[ModelMessage]:
    return [
        ModelRequest(parts=[UserPromptPart(f"turn {i}")]),
        ModelResponse(parts=[TextPart(f"answer {i}")], usage=RequestUsage(input_tokens=tokens)),
    ]


def tool_turn(i: int, calls: int, steps: int = 1) -> list[ModelMessage]:
    out: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart(f"quote {i}")])]
    for step in range(steps):
        ids = [f"c{i}_{step}_{k}" for k in range(calls)]
        out.append(ModelResponse(parts=[ToolCallPart("quote", {"symbol": "X"}, tool_call_id=c) for c in ids]))
        out.append(ModelRequest(parts=[ToolReturnPart("quote", {"last": 1}, tool_call_id=c) for c in ids]))
    out.append(ModelResponse(parts=[TextPart(f"quoted {i}")]))
    return out


def opens_turn(m: ModelMessage) -> bool:
    return isinstance(m, ModelRequest) and isinstance(m.parts[0], UserPromptPart)


turns = st.lists(st.one_of(st.just((0, 0)), st.tuples(st.integers(1, 3), st.integers(1, 3))), min_size=1, max_size=12)


@given(turns, st.integers(2, 12))
def test_the_boundary_never_splits_a_tool_call_from_its_result(shape: list[tuple[int, int]], keep: int) -> None:
    history: list[ModelMessage] = []
    for i, (calls, steps) in enumerate(shape):
        history += tool_turn(i, calls, steps) if calls else plain_turn(i)
    cut = boundary(history, keep)
    starts = [i for i, m in enumerate(history) if opens_turn(m)]
    eligible = [i for i in starts if 0 < i <= len(history) - keep]
    assert cut == (max(eligible) if eligible else None)  # the latest turn start leaving `keep` messages
    if cut is not None:
        kept_calls = {p.tool_call_id for m in history[cut:] for p in m.parts if isinstance(p, ToolCallPart)}
        kept_returns = {p.tool_call_id for m in history[cut:] for p in m.parts if isinstance(p, ToolReturnPart)}
        assert kept_calls == kept_returns


def test_compaction_is_due_past_a_message_or_token_threshold() -> None:
    history = plain_turn(0, tokens=500) + plain_turn(1, tokens=900)
    assert due(Compaction(messages=3, keep=2), history)
    assert not due(Compaction(messages=4, keep=2), history)
    assert not due(Compaction(messages=4, keep=2), [summary_message("s"), *history])  # the summary is not counted
    assert due(Compaction(tokens=900), history)  # the last request's context
    assert not due(Compaction(tokens=901), history)
    assert due(Compaction(context_share=0.5, context_window=1800), history)
    assert not due(Compaction(context_share=0.5, context_window=2000), history)
    assert Compaction().message_threshold() == 40 and Compaction(tokens=10).message_threshold() is None


def test_the_transcript_names_who_said_what_and_what_tools_returned() -> None:
    text = transcript([summary_message("Earlier: bought AAPL."), *tool_turn(7, 1)])
    assert text.splitlines() == [
        "Summary of the conversation before this point: Earlier: bought AAPL.",
        "User: quote 7",
        'Assistant called quote({"symbol":"X"})',
        'Tool quote returned: {"last":1}',
        "Assistant: quoted 7",
    ]


# -- compaction in turns ---------------------------------------------------------------------------


def test_older_messages_are_summarized_and_the_full_history_stays(db: Engine, server: OpenAIServer) -> None:
    agent_id, _ = talk_all(db)
    with Session(db) as session:
        record = session.get(Compactor, agent_id)
        assert record is not None
        assert len(record.messages) == STORED  # nothing deleted
        assert record.summary == SUMMARY
    summaries = summary_requests(server)
    assert len(summaries) >= 2
    first, later = summaries[0]["messages"][-1]["content"], summaries[-1]["messages"][-1]["content"]
    assert "User: turn 0" in first and "Assistant called quote" in first and "Tool quote returned" in first
    assert f"Summary of the conversation before this point: {SUMMARY}" in later  # the summary rolls forward
    assert "User: turn 0" not in later
    requests = agent_requests(server)
    for body in requests:
        assert tool_pairs_intact(body)
    last = requests[-1]["messages"]
    assert "conversation_summary" in last[1]["content"] and SUMMARY in last[1]["content"]
    assert not any(m.get("content") == "turn 0" for m in last)
    assert len(last) <= 16  # instructions, summary, at most `messages` kept and the open turn


def test_summary_calls_count_in_the_agents_usage_and_the_turns_reply(db: Engine, server: OpenAIServer) -> None:
    agent_id, replies = talk_all(db)
    with Session(db) as session:
        record = session.get(Compactor, agent_id)
        assert record is not None
        assert record.input_tokens == sum(p for p, _ in server.usages)
        assert record.output_tokens == sum(c for _, c in server.usages)
    compacting = [r for r in replies if r.usage.input_tokens >= SUMMARY_USAGE[0]]
    assert len(compacting) == len(summary_requests(server)) >= 2
    assert sum(r.usage.input_tokens for r in replies) == record.input_tokens
    usage = Compactor._store().usage  # each summary call is a ledger row of its own, and the counters its sum
    with db.connect() as conn:
        rows = conn.execute(
            select(usage.c.source, usage.c.input_tokens).where(usage.c.agent_id == agent_id).order_by(usage.c.id)
        ).all()
    assert [source for source, _ in rows].count("compaction") == len(summary_requests(server))
    assert sum(tokens for _, tokens in rows) == record.input_tokens


def test_a_turn_loads_only_the_summary_and_the_messages_after_it(db: Engine, server: OpenAIServer) -> None:
    agent_id, _ = talk_all(db)
    store = Compactor._store()
    store._cache.clear()  # as in a fresh process
    import asyncio

    lease = asyncio.run(store.acquire(db, agent_id, wait=1, ttl=30))
    try:
        assert lease.history[0].parts[0].content == SUMMARY  # type: ignore[union-attr]
        assert 1 < len(lease.history) <= 1 + 8 + 4 < STORED
        assert lease.history[1:] == store.load_all(db, agent_id)[-(len(lease.history) - 1) :]
    finally:
        store.release(db, agent_id, lease)


def test_a_cheaper_model_writes_the_summaries(db: Engine, server: OpenAIServer) -> None:
    with Session(db) as session:
        record = ThriftyCompactor(provider="openai")
        session.add(record)
        session.commit()
        for prompt in PROMPTS[:6]:
            record.talk(prompt)
    assert {b["model"] for b in agent_requests(server)} == {"gpt-4o"}
    assert {b["model"] for b in summary_requests(server)} == {"gpt-4o-mini"}
    assert summary_requests(server)


def test_a_compacted_record_continues_from_a_fresh_process(
    db: Engine, db_url: str, server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_id, _ = talk_all(db)
    in_process = agent_requests(server)[-1]["messages"]
    script = textwrap.dedent(
        f"""
        import json
        from sqlalchemy.orm import Session
        from agentrecord import create_engine
        from tests.agentrecord.long_models import Compactor
        engine = create_engine({db_url!r})
        with Session(engine) as session:
            record = session.get(Compactor, {agent_id})
            reply = record.talk("quote NEXT")
            print(json.dumps({{"text": reply.text, "stored": len(record.messages), "summary": record.summary}}))
        """
    )
    env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_SECRET": "sk-test-local"}
    out = run_code(script, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["text"].startswith("Noted") and child["stored"] == STORED + 4 and child["summary"] == SUMMARY
    sent = agent_requests(server)[-2]["messages"]  # the child's first request: the history and the new prompt
    assert sent[-1] == {"role": "user", "content": "quote NEXT"}
    assert sent[1] == in_process[1]  # the same summary, sent the same way
    spoken, spoken_before = ([m for m in ms if m["role"] != "system"] for ms in (sent, in_process))
    assert spoken[-5:-2] == spoken_before[-3:]  # the last turn as the first process sent it, then its answer
    assert spoken[-2]["role"] == "assistant" and spoken[-2]["content"].startswith("Noted")
    assert tool_pairs_intact(agent_requests(server)[-1])


def test_the_summary_model_may_name_another_provider(server: OpenAIServer) -> None:
    record = ThriftyCompactor(provider="openai")
    assert record._summary_model("gpt-4.1-nano").model_name == "gpt-4.1-nano"
    other = record._summary_model("llamacpp:qwen2.5-0.5b")
    assert other.model_name == "qwen2.5-0.5b" and "8080" in str(other.base_url)
    assert record._summary_model("llama3:8b").model_name == "llama3:8b"  # a colon inside a model name


def test_a_failed_summary_call_loses_nothing_and_the_next_turn_compacts(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = {"on": True}

    def respond_or_fail(body: dict) -> object:
        if not body.get("tools") and failing["on"]:
            return None  # the server answers 500
        return respond(body)

    with served(monkeypatch, respond_or_fail), Session(db) as session:
        record = Compactor(provider="openai")
        session.add(record)
        session.commit()
        for prompt in PROMPTS[:4]:
            record.talk(prompt)
        stored, tokens = len(record.messages), record.input_tokens
        with pytest.raises(ModelHTTPError, match=r"status_code: 500"):
            record.talk("turn 4")
        assert len(record.messages) == stored and record.summary is None
        session.refresh(record)
        assert record.input_tokens == tokens and record.lease_owner is None
        failing["on"] = False
        reply = record.talk("turn 4")
        assert record.summary == SUMMARY and len(record.messages) == stored + 2
        assert reply.usage.input_tokens >= SUMMARY_USAGE[0]


def test_an_empty_summary_keeps_the_history_and_still_counts_its_tokens(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def respond_blank(body: dict) -> object:
        if body.get("tools"):
            return respond(body)
        return Text("   ", prompt_tokens=SUMMARY_USAGE[0], completion_tokens=1)

    with served(monkeypatch, respond_blank) as srv, Session(db) as session:
        record = Compactor(provider="openai")
        session.add(record)
        session.commit()
        replies = [record.talk(p) for p in PROMPTS[:6]]
        assert record.summary is None
        assert not any("conversation_summary" in str(b["messages"]) for b in agent_requests(srv))
        assert record.input_tokens == sum(p for p, _ in srv.usages) == sum(r.usage.input_tokens for r in replies)
        assert summary_requests(srv)  # it was asked, and asked again on later turns
