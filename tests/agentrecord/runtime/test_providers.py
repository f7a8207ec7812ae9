"""Providers: names, aliases and secrets from the environment; real HTTP against a local OpenAI-compatible server."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic_ai.messages import ModelRequest, ModelResponse, ToolReturnPart, UserPromptPart
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from agentrecord import AgentRecord, ProviderNotConfigured, UnknownProvider
from agentrecord.providers import canonical, default_options, provider_names, secret_env_vars
from tests.agentrecord.openai_server import OpenAIServer, Text, ToolCall
from tests.agentrecord.seed import Base, Daytrader, User


class Scout(AgentRecord, Base):
    """An agent whose provider options are the defaults read from the environment."""

    __tablename__ = "scouts"

    class Agent:
        model = "gpt-4o-mini"
        instructions = "You scout the market."


SECRET_VARS = ("OPENAI_SECRET", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_SECRET", "ANTHROPIC_API_KEY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in SECRET_VARS:
        monkeypatch.delenv(var, raising=False)


def make_scout(engine: Engine, provider: str, model: str | None = None) -> int:
    with Session(engine) as session:
        scout = Scout(provider=provider, model=model)
        session.add(scout)
        session.commit()
        return scout.id


def make_trader(engine: Engine, model: str | None = None, email: str = "alice@example.com") -> int:
    with Session(engine) as session:
        trader = Daytrader(user=User(email=email), provider="openai", model=model)
        session.add(trader)
        session.commit()
        return trader.id


def user_prompts(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


# -- names, aliases and the environment ---------------------------------------------------------


def test_unknown_provider_in_the_column_lists_the_valid_names(engine: Engine) -> None:
    scout_id = make_scout(engine, "openia")
    with Session(engine) as session:
        scout = session.get(Scout, scout_id)
        assert scout is not None
        with pytest.raises(UnknownProvider) as info:
            scout.talk("hi")
    message = str(info.value)
    assert "'openia'" in message
    for name in ("openai", "anthropic", "google", "gemini"):
        assert name in message
    assert info.value.valid == provider_names()
    with Session(engine) as session:
        scout = session.get(Scout, scout_id)
        assert scout is not None
        assert scout.lease_owner is None
        assert scout.messages == []


def test_unknown_provider_is_rejected_even_when_provider_options_are_overridden(engine: Engine) -> None:
    with Session(engine) as session:
        trader = Daytrader(user=User(email="bob@example.com"), provider="chatgpt")
        session.add(trader)
        session.commit()
        with pytest.raises(UnknownProvider, match=r"Valid providers: .*anthropic.*openai"):
            trader.talk("hi")


def test_missing_secret_names_the_env_var_to_set(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_SECRET", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    scout_id = make_scout(engine, "anthropic", model="claude-sonnet-4-5")
    with Session(engine) as session:
        scout = session.get(Scout, scout_id)
        assert scout is not None
        with pytest.raises(ProviderNotConfigured) as info:
            scout.talk("hi")
    assert info.value.env_var == "ANTHROPIC_SECRET"
    assert "ANTHROPIC_SECRET" in str(info.value)
    assert "ANTHROPIC_API_KEY" in str(info.value)  # the usual variable is mentioned as also read
    with Session(engine) as session:
        scout = session.get(Scout, scout_id)
        assert scout is not None
        assert scout.lease_owner is None
        assert scout.messages == []


def test_provider_secret_takes_precedence_over_the_usual_env_var() -> None:
    env = {"OPENAI_SECRET": "sk-secret", "OPENAI_API_KEY": "sk-api-key", "OPENAI_BASE_URL": "http://h:1/v1"}
    assert default_options("openai", env) == {"api_key": "sk-secret", "base_url": "http://h:1/v1"}
    assert default_options("openai", {"OPENAI_API_KEY": "sk-api-key"}) == {"api_key": "sk-api-key"}
    assert default_options("OpenAI", {"OPENAI_SECRET": "sk-secret"}) == {"api_key": "sk-secret"}
    assert default_options("anthropic", {"ANTHROPIC_SECRET": "a", "ANTHROPIC_API_KEY": "b"})["api_key"] == "a"
    assert default_options("anthropic", {}) == {}
    assert secret_env_vars("openai")[:2] == ["OPENAI_SECRET", "OPENAI_API_KEY"]


def test_keyless_local_providers_have_a_default_base_url_the_env_overrides() -> None:
    assert default_options("ollama", {}) == {"base_url": "http://127.0.0.1:11434/v1"}
    assert default_options("ollama", {"OLLAMA_BASE_URL": "http://gpu:11434/v1"}) == {"base_url": "http://gpu:11434/v1"}


def test_aliases_resolve_to_canonical_providers() -> None:
    assert canonical("gemini") == "google"
    assert canonical("Gemini") == "google"
    assert canonical(" google ") == "google"
    assert canonical("grok") == "xai"
    assert canonical("llama.cpp") == "llamacpp"
    assert canonical("openai-responses") == "openai_responses"
    assert "gemini" in provider_names() and "google" in provider_names()
    assert default_options("gemini", {"GEMINI_SECRET": "g-key"})["api_key"] == "g-key"
    with pytest.raises(UnknownProvider, match="gemini"):
        canonical("gemeni")


# -- real HTTP against the local server ---------------------------------------------------------


def test_provider_secret_is_the_key_sent_over_http(
    engine: Engine, server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_SECRET", "sk-from-OPENAI_SECRET")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-OPENAI_API_KEY")
    server.script = ["Scouting done."]
    scout_id = make_scout(engine, "openai")
    with Session(engine) as session:
        scout = session.get(Scout, scout_id)
        assert scout is not None
        assert scout.talk("scout NVDA").text == "Scouting done."
    assert server.authorizations == ["Bearer sk-from-OPENAI_SECRET"]
    assert server.requests[0]["model"] == "gpt-4o-mini"
    assert user_prompts(server.requests[0]) == ["scout NVDA"]


def test_multi_turn_conversation_with_a_tool_call_over_http(engine: Engine, server: OpenAIServer) -> None:
    server.script = [
        ToolCall("quote_feed", {"symbol": "aapl"}),
        "AAPL is at 190.",
        "You asked about AAPL.",
    ]
    trader_id = make_trader(engine)
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        first = trader.talk("quote apple")
        owner = trader.user_id
    assert first.text == "AAPL is at 190."
    assert first.usage.requests == 2
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert trader.talk("what did I ask?").text == "You asked about AAPL."
        saved = trader.messages
    assert server.remaining == 0
    assert len(server.requests) == 3
    # the tool's result went back to the model as a tool message, produced for the record's owner
    tool_messages = [m for m in server.requests[1]["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 1
    quote = json.loads(tool_messages[0]["content"])
    assert (quote["symbol"], quote["for_user"]) == ("AAPL", owner)
    assigned = next(m for m in server.requests[1]["messages"] if m["role"] == "assistant")["tool_calls"][0]
    assert tool_messages[0]["tool_call_id"] == assigned["id"]
    assert assigned["function"]["name"] == "quote_feed"
    # every request declared the trader's tools; the later turn carried the whole history
    assert {t["function"]["name"] for t in server.requests[0]["tools"]} == {
        "quote_feed",
        "order_entry",
        "position_book",
    }
    assert user_prompts(server.requests[2]) == ["quote apple", "what did I ask?"]
    assert [m["role"] for m in server.requests[2]["messages"] if m["role"] != "system"] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert [m.kind for m in saved] == ["request", "response", "request", "response", "request", "response"]
    returns = [p for m in saved if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)]
    assert returns[0].content["for_user"] == owner
    assert all(a == "Bearer sk-test-local" for a in server.authorizations)


async def test_sync_and_async_turns_share_one_tcp_connection(engine: Engine, server: OpenAIServer) -> None:
    server.script = ["one", "two", "three"]
    trader_id = make_trader(engine)
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert trader.talk("a").text == "one"
        assert trader.talk("b").text == "two"
        assert (await trader.atalk("c")).text == "three"
    assert len(server.requests) == 3
    assert user_prompts(server.requests[2]) == ["a", "b", "c"]
    assert server.connections == 1


def test_stream_over_http_yields_text_chunks_and_persists_the_turn(engine: Engine, server: OpenAIServer) -> None:
    answer = "AAPL trades at 190 dollars right now, up a little today."
    server.script = [ToolCall("quote_feed", {"symbol": "AAPL"}), answer]
    trader_id = make_trader(engine)
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        stream = trader.stream("AAPL?")
        chunks = list(stream)
    assert len(chunks) >= 5
    assert "".join(chunks) == answer
    assert stream.reply is not None and stream.reply.text == answer
    assert all(body.get("stream") is True for body in server.requests)
    assert all((body.get("stream_options") or {}).get("include_usage") for body in server.requests)
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        saved = trader.messages
        assert len(saved) == 4
        assert saved[-1].kind == "response" and isinstance(saved[-1], ModelResponse)
        assert saved[-1].text == answer
        # usage from the stream's final chunk is counted
        assert (trader.input_tokens, trader.output_tokens) == (2 * server.prompt_tokens, 2 * server.completion_tokens)
        assert trader.lease_owner is None
    assert server.connections == 1


async def test_astream_over_http_yields_text_chunks_and_persists_the_turn(engine: Engine, server: OpenAIServer) -> None:
    server.script = ["streaming over the async path works"]
    trader_id = make_trader(engine)
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        chunks = [c async for c in trader.astream("go")]
    assert len(chunks) > 3
    assert "".join(chunks) == "streaming over the async path works"
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert len(trader.messages) == 2


def test_cost_and_tokens_match_what_the_server_reported_and_pydantic_ai_prices(
    engine: Engine, server: OpenAIServer
) -> None:
    server.script = [
        ToolCall("quote_feed", {"symbol": "MSFT"}, prompt_tokens=1200, completion_tokens=40),
        Text("MSFT is at 190.", prompt_tokens=1300, completion_tokens=25),
        Text("Nothing else to report.", prompt_tokens=1500, completion_tokens=9),
    ]
    trader_id = make_trader(engine, model="gpt-4o-mini")
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        replies = [trader.talk("quote msft"), trader.talk("anything else?")]
        assert trader.cost is not None  # reflected on the caller's instance too
        instance_cost = trader.cost
    assert all(r.cost is not None and r.cost > 0 for r in replies)
    assert replies[0].usage.input_tokens == 2500 and replies[0].usage.output_tokens == 65
    assert server.usages == [(1200, 40), (1300, 25), (1500, 9)]
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        cost = trader.cost
        assert isinstance(cost, Decimal)
        assert cost > 0
        assert cost == instance_cost == sum((r.cost for r in replies if r.cost is not None), Decimal(0))
        responses = [m for m in trader.messages if isinstance(m, ModelResponse)]
        assert len(responses) == 3
        assert all(r.model_name == "gpt-4o-mini" for r in responses)
        priced = sum((Decimal(r.cost().total_price) for r in responses), Decimal(0))
        assert cost == priced
        assert trader.input_tokens == sum(p for p, _ in server.usages) == 4000
        assert trader.output_tokens == sum(c for _, c in server.usages) == 74
        assert trader.total_tokens == 4074
        assert [(r.usage.input_tokens, r.usage.output_tokens) for r in responses] == server.usages


def test_secrets_never_reach_the_database(
    engine: Engine, server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-SECRET-123"
    monkeypatch.setenv("OPENAI_SECRET", secret)
    server.script = [ToolCall("quote_feed", {"symbol": "AAPL"}), "AAPL is at 190."]
    trader_id = make_trader(engine)
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        trader.talk("quote AAPL")
    assert server.authorizations == [f"Bearer {secret}"] * 2  # the secret was really used
    messages = Base.metadata.tables["daytraders_messages"]
    with engine.connect() as conn:
        agent_rows = conn.execute(select(Daytrader.__table__)).all()
        message_rows = conn.execute(select(messages)).all()
    assert len(agent_rows) == 1
    assert len(message_rows) == 4
    for row in [*agent_rows, *message_rows]:
        for column, value in row._mapping.items():
            assert secret not in str(value), f"the secret leaked into {column}"
            assert "SECRET-123" not in str(value), f"the secret leaked into {column}"
    # the message bodies are real content (the check above looked at something)
    assert any("AAPL is at 190." in str(r._mapping["body"]) for r in message_rows)
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        requests = [m for m in trader.messages if isinstance(m, ModelRequest)]
        assert [p.content for p in requests[0].parts if isinstance(p, UserPromptPart)] == ["quote AAPL"]


def test_aliases_and_stray_whitespace_read_the_canonical_env_vars() -> None:
    from agentrecord.providers import default_options, secret_env_vars

    assert secret_env_vars("gemini")[:2] == ["GOOGLE_SECRET", "GEMINI_SECRET"]
    assert default_options("gemini", {"GOOGLE_SECRET": "g", "GOOGLE_BASE_URL": "http://x"}) == {
        "api_key": "g",
        "base_url": "http://x",
    }
    assert default_options("grok", {"XAI_SECRET": "x"}) == {"api_key": "x"}
    assert default_options(" openai", {"OPENAI_SECRET": "s"}) == {"api_key": "s"}
