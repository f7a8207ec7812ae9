"""Provider faults over real HTTP: retries, deadlines and one error type, each leaving the agent whole.

Every test runs a turn against the local OpenAI-compatible server misbehaving one way, checks the error (or the
retried answer), what was persisted (completed steps only, no tokens for a failed request, the lease released) and
that the next turn works.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from agentrecord import AgentRecord, DeclarationError, ProviderError, ProviderTimeout
from agentrecord.faults import redact
from tests.agentrecord.openai_server import Fault, OpenAIServer, ToolCall
from tests.agentrecord.seed import Base, QuoteFeed


class Courier(AgentRecord, Base):
    """A plain agent with a short request deadline, so a hang costs the suite two seconds."""

    __tablename__ = "couriers"

    class Agent:
        model = "gpt-4o-mini"
        instructions = "You answer briefly."
        tools = [QuoteFeed]
        request_timeout = 2
        request_retries = 2


class Sprinter(AgentRecord, Base):
    """A whole-turn deadline shorter than its request deadline."""

    __tablename__ = "sprinters"

    class Agent:
        model = "gpt-4o-mini"
        tools = [QuoteFeed]
        request_timeout = 30
        turn_timeout = 1


class Plain(AgentRecord, Base):
    """No deadline of its own: AGENTRECORD_REQUEST_TIMEOUT, else 60 s."""

    __tablename__ = "plain_agents"

    class Agent:
        model = "gpt-4o-mini"


TABLES = Base.metadata  # the tables `sqlite_db` makes (conftest.py)


def new_agent(engine: Engine, cls: type[AgentRecord] = Courier) -> int:
    with Session(engine) as session:
        agent = cls(provider="openai")
        session.add(agent)
        session.commit()
        return agent.id


def state(engine: Engine, agent_id: int, cls: type[AgentRecord] = Courier) -> tuple[list[str], int, str | None]:
    """(message kinds, total tokens, lease owner) as stored."""
    with Session(engine) as session:
        agent = session.get(cls, agent_id)
        assert agent is not None
        return [m.kind for m in agent.messages], agent.total_tokens, agent.lease_owner


def talk(engine: Engine, agent_id: int, prompt: str, *, stream: bool = False, cls: type[AgentRecord] = Courier) -> str:
    with Session(engine) as session:
        agent = session.get(cls, agent_id)
        assert agent is not None
        return "".join(agent.stream(prompt)) if stream else agent.talk(prompt).text


def next_turn_works(engine: Engine, server: OpenAIServer, agent_id: int, cls: type[AgentRecord] = Courier) -> None:
    """After a failure: the agent takes a new turn, and the model sees the conversation so far."""
    before = len(state(engine, agent_id, cls)[0])
    server.script.append("Back to normal.")
    assert talk(engine, agent_id, "are you there?", cls=cls) == "Back to normal."
    kinds, tokens, lease = state(engine, agent_id, cls)
    assert kinds[before:] == ["request", "response"]
    assert lease is None and tokens >= 18
    users = [m for m in server.requests[-1]["messages"] if m["role"] == "user"]
    assert users[-1]["content"] == "are you there?"


def failed_turn_left(engine: Engine, agent_id: int, cls: type[AgentRecord] = Courier) -> None:
    """A turn whose only request failed keeps the prompt (a completed step) and nothing else."""
    kinds, tokens, lease = state(engine, agent_id, cls)
    assert kinds == ["request"]
    assert tokens == 0
    assert lease is None


def test_429_with_retry_after_waits_that_long_then_answers(sqlite_db: Engine, server: OpenAIServer) -> None:
    server.script = [Fault("status", 429, retry_after=1), "Rate limit passed."]
    agent_id = new_agent(sqlite_db)
    start = time.monotonic()
    assert talk(sqlite_db, agent_id, "hi") == "Rate limit passed."
    assert time.monotonic() - start >= 1.0  # Retry-After: 1 was honoured
    assert server.received == 2
    assert state(sqlite_db, agent_id)[:2] == (["request", "response"], 18)
    next_turn_works(sqlite_db, server, agent_id)


def test_500_on_every_attempt_is_a_provider_error_naming_provider_and_status(
    sqlite_db: Engine, server: OpenAIServer
) -> None:
    server.script = [Fault("status", 500)] * 3
    agent_id = new_agent(sqlite_db)
    with pytest.raises(ProviderError) as caught:
        talk(sqlite_db, agent_id, "hi")
    error = caught.value
    assert type(error) is ProviderError
    assert (error.provider, error.status) == ("openai", 500)
    assert "'openai'" in str(error) and "HTTP 500" in str(error) and "3 attempt(s)" in str(error)
    assert "try again later" in str(error)
    assert server.received == 3  # bounded: 1 + request_retries
    failed_turn_left(sqlite_db, agent_id)
    next_turn_works(sqlite_db, server, agent_id)


def test_503_once_is_retried_with_backoff_and_answered(sqlite_db: Engine, server: OpenAIServer) -> None:
    server.script = [Fault("status", 503), "Recovered."]
    agent_id = new_agent(sqlite_db)
    assert talk(sqlite_db, agent_id, "hi") == "Recovered."
    assert server.received == 2
    assert state(sqlite_db, agent_id)[0] == ["request", "response"]
    next_turn_works(sqlite_db, server, agent_id)


def test_400_is_not_retried_and_says_what_to_check(sqlite_db: Engine, server: OpenAIServer) -> None:
    server.script = [Fault("status", 400)]
    agent_id = new_agent(sqlite_db)
    with pytest.raises(ProviderError, match=r"HTTP 400.*check the model name") as caught:
        talk(sqlite_db, agent_id, "hi")
    assert caught.value.status == 400
    assert server.received == 1
    failed_turn_left(sqlite_db, agent_id)
    next_turn_works(sqlite_db, server, agent_id)


def test_a_key_echoed_in_an_error_body_is_redacted(sqlite_db: Engine, server: OpenAIServer) -> None:
    server.script = [Fault("status", 401, echo_key=True)]
    agent_id = new_agent(sqlite_db)
    with pytest.raises(ProviderError, match="HTTP 401") as caught:
        talk(sqlite_db, agent_id, "hi")
    assert server.authorizations == ["Bearer sk-test-local"]
    assert "sk-test-local" not in str(caught.value)
    assert "OPENAI_SECRET" in str(caught.value)
    assert redact("key sk-abcdef123456 and Bearer xyz") == "key *** and Bearer ***"


def test_connection_reset_on_every_attempt_is_a_provider_error(sqlite_db: Engine, server: OpenAIServer) -> None:
    server.script = [Fault("reset")] * 3
    agent_id = new_agent(sqlite_db)
    with pytest.raises(ProviderError, match="could not be reached after 3 attempt") as caught:
        talk(sqlite_db, agent_id, "hi")
    assert caught.value.status is None
    assert server.received == 3
    failed_turn_left(sqlite_db, agent_id)
    next_turn_works(sqlite_db, server, agent_id)


def test_one_connection_reset_is_retried(sqlite_db: Engine, server: OpenAIServer) -> None:
    server.script = [Fault("reset"), "Reconnected."]
    agent_id = new_agent(sqlite_db)
    assert talk(sqlite_db, agent_id, "hi") == "Reconnected."
    assert server.received == 2


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_body_that_is_not_json_is_a_provider_error(sqlite_db: Engine, server: OpenAIServer, stream: bool) -> None:
    server.script = [Fault("not_json")]
    agent_id = new_agent(sqlite_db)
    with pytest.raises(ProviderError, match="could not be used") as caught:
        talk(sqlite_db, agent_id, "hi", stream=stream)
    assert type(caught.value) is ProviderError
    assert server.received == 1
    failed_turn_left(sqlite_db, agent_id)
    next_turn_works(sqlite_db, server, agent_id)


def test_an_sse_stream_cut_halfway_is_a_provider_error_and_the_partial_answer_is_not_saved(
    sqlite_db: Engine, server: OpenAIServer
) -> None:
    server.script = [Fault("cut")]
    agent_id = new_agent(sqlite_db)
    with Session(sqlite_db) as session:
        agent = session.get(Courier, agent_id)
        assert agent is not None
        chunks: list[str] = []
        with pytest.raises(ProviderError, match="connection broke mid-response"):
            for chunk in agent.stream("tell me a story"):
                chunks.append(chunk)
    assert "".join(chunks).startswith("This answer")  # half the answer did arrive
    failed_turn_left(sqlite_db, agent_id)  # ... and none of it was saved as the agent's answer
    next_turn_works(sqlite_db, server, agent_id)


def test_a_hung_provider_ends_the_turn_with_provider_timeout(sqlite_db: Engine, server: OpenAIServer) -> None:
    server.script = [Fault("hang")]
    agent_id = new_agent(sqlite_db)
    start = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"within 2s \(request_timeout\)") as caught:
        talk(sqlite_db, agent_id, "hi")
    assert time.monotonic() - start < 5
    assert caught.value.provider == "openai"
    failed_turn_left(sqlite_db, agent_id)
    next_turn_works(sqlite_db, server, agent_id)


def test_a_slow_drip_hits_the_same_deadline(sqlite_db: Engine, server: OpenAIServer) -> None:
    server.script = [Fault("drip", interval=0.1)]
    agent_id = new_agent(sqlite_db)
    start = time.monotonic()
    with pytest.raises(ProviderTimeout):
        talk(sqlite_db, agent_id, "hi")
    assert time.monotonic() - start < 5
    failed_turn_left(sqlite_db, agent_id)
    next_turn_works(sqlite_db, server, agent_id)


def test_request_timeout_from_the_environment(
    sqlite_db: Engine, server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTRECORD_REQUEST_TIMEOUT", "0.5")
    server.script = [Fault("hang")]
    agent_id = new_agent(sqlite_db, Plain)
    with pytest.raises(ProviderTimeout, match=r"within 0.5s"):
        talk(sqlite_db, agent_id, "hi", cls=Plain)


def test_turn_timeout_stops_the_turn_and_keeps_its_completed_steps(sqlite_db: Engine, server: OpenAIServer) -> None:
    server.script = [ToolCall("quote_feed", {"symbol": "AAPL"}), Fault("hang")]
    agent_id = new_agent(sqlite_db, Sprinter)
    start = time.monotonic()
    with pytest.raises(ProviderTimeout, match="turn_timeout of 1s"):
        talk(sqlite_db, agent_id, "quote AAPL", cls=Sprinter)
    assert time.monotonic() - start < 5
    kinds, tokens, lease = state(sqlite_db, agent_id, Sprinter)
    assert kinds[:2] == ["request", "response"]  # the tool call the model made is saved
    assert tokens == 18 and lease is None
    next_turn_works(sqlite_db, server, agent_id, Sprinter)


def test_fault_options_are_validated() -> None:
    from agentrecord.declaration import parse

    for option, value in [("request_timeout", 0), ("turn_timeout", -1), ("request_retries", 11)]:
        agent_cls = type("Agent", (), {option: value})
        with pytest.raises(DeclarationError, match=option):
            parse(type("Bad", (), {"Agent": agent_cls}))
