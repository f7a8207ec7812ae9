"""Turns: the tool loop, persistence across sessions and processes, usage, errors returned to the model."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_ai.messages import ModelRequest, ModelResponse, RetryPromptPart, ToolReturnPart, UserPromptPart
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from agentrecord import RecordNotSaved, RequestLimitExceeded, StateVersionError
from agentrecord.testing import Say, ScriptedModel, call, output, scripted
from tests.agentrecord.seed import Daytrader, Order, User
from tests.preforked import run_code

ROOT = Path(__file__).resolve().parents[3]


def make_trader(engine: Engine, email: str = "alice@example.com") -> int:
    with Session(engine) as session:
        trader = Daytrader(user=User(email=email), provider="openai")
        session.add(trader)
        session.commit()
        return trader.id


def prompts(messages: list) -> list[str]:
    return [
        p.content for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)
    ]


def test_multi_turn_conversation_continues_from_a_fresh_session(engine: Engine) -> None:
    trader_id = make_trader(engine)
    model = ScriptedModel(["Hello Alice.", "You said hi, then asked what you said."])
    with scripted(Daytrader, model), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert trader.talk("hi").text == "Hello Alice."
    with scripted(Daytrader, model), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        reply = trader.talk("what did I say?")
    assert reply.text == "You said hi, then asked what you said."
    # the second request carried the first turn's history
    assert prompts(model.requests[1]) == ["hi", "what did I say?"]
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert [m.kind for m in trader.messages] == ["request", "response", "request", "response"]
        assert '"messages":4' in (trader.data or "")


def test_conversation_continues_in_a_fresh_process(engine: Engine, db_url: str) -> None:
    trader_id = make_trader(engine)
    with scripted(Daytrader, ScriptedModel(["Noted: you like NVDA."])), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        trader.talk("I like NVDA")
    script = textwrap.dedent(
        f"""
        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session
        from pydantic_ai.messages import ModelRequest, UserPromptPart
        from agentrecord.testing import ScriptedModel, scripted
        from tests.agentrecord.seed import Daytrader

        def reply(messages, info):
            from pydantic_ai.messages import ModelResponse, TextPart
            said = [p.content for m in messages if isinstance(m, ModelRequest)
                    for p in m.parts if isinstance(p, UserPromptPart)]
            return ModelResponse(parts=[TextPart("history: " + " | ".join(said))])

        engine = create_engine({db_url!r})
        with scripted(Daytrader, ScriptedModel([reply])), Session(engine) as session:
            print(session.get(Daytrader, {trader_id}).talk("what do I like?").text)
        """
    )
    out = run_code(script, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "history: I like NVDA | what do I like?"


def test_usage_columns_equal_the_sum_of_reported_usage(engine: Engine) -> None:
    trader_id = make_trader(engine)
    model = ScriptedModel(
        [
            Say("one", input_tokens=100, output_tokens=7),
            Say("two", input_tokens=250, output_tokens=11),
            Say("three", input_tokens=400, output_tokens=13),
        ]
    )
    with scripted(Daytrader, model), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        replies = [trader.talk(p) for p in ("a", "b", "c")]
        assert [r.usage.input_tokens for r in replies] == [100, 250, 400]
        assert (trader.input_tokens, trader.output_tokens, trader.total_tokens) == (750, 31, 781)
        assert trader.usage.total_tokens == 781
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        reported = [m.usage for m in trader.messages if isinstance(m, ModelResponse)]
        assert trader.input_tokens == sum(u.input_tokens for u in reported) == 750
        assert trader.output_tokens == sum(u.output_tokens for u in reported) == 31
        assert trader.total_tokens == 781
        assert trader.cost is None  # the scripted model has no price


def test_tool_loop_runs_tools_for_the_records_owner(engine: Engine) -> None:
    trader_id = make_trader(engine)
    model = ScriptedModel(
        [
            call("quote_feed", symbol="aapl"),
            call("order_entry", symbol="AAPL", side="buy", quantity=5),
            "Bought 5 AAPL at 190.",
        ]
    )
    with scripted(Daytrader, model), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        reply = trader.talk("buy 5 apple")
        owner = trader.user_id
    assert reply.text == "Bought 5 AAPL at 190."
    assert reply.usage.requests == 3
    returns = [
        p for m in reply.messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)
    ]
    assert returns[0].content["for_user"] == owner
    with Session(engine) as session:
        (order,) = session.scalars(select(Order)).all()
        assert (order.user_id, order.symbol, order.quantity) == (owner, "AAPL", 5)
        assert order.key == returns[1].tool_call_id  # the call id is the idempotency key


def test_tool_errors_and_invalid_arguments_go_back_to_the_model(engine: Engine) -> None:
    trader_id = make_trader(engine)
    model = ScriptedModel(
        [
            call("quote_feed", symbol="BOOM"),
            call("order_entry", symbol="AAPL", side="buy", quantity="lots"),
            call("no_such_tool"),
            "Sorry, the quote service is down.",
        ]
    )
    with scripted(Daytrader, model), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        reply = trader.talk("quote BOOM and buy")
    assert reply.text == "Sorry, the quote service is down."
    retries = [
        p
        for m in reply.messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, RetryPromptPart) or getattr(p, "outcome", None) == "retried"
    ]
    assert len(retries) == 3
    assert "quote service exploded" in str(retries[0].content)
    assert "quantity" in str(retries[1].content)
    assert "no_such_tool" in str(retries[2].content)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0


def test_request_cap_ends_a_runaway_loop_and_keeps_what_happened(engine: Engine) -> None:
    trader_id = make_trader(engine)
    model = ScriptedModel([call("position_book") for _ in range(40)])
    with scripted(Daytrader, model), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        with pytest.raises(RequestLimitExceeded, match="25 model requests"):
            trader.talk("loop forever")
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        saved = trader.messages
        assert sum(isinstance(m, ModelResponse) for m in saved) == 25
        assert trader.lease_owner is None
    # the agent is usable again and its history is valid
    with scripted(Daytrader, ScriptedModel(["ok, stopping."])), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert trader.talk("stop").text == "ok, stopping."


def test_a_record_must_be_saved_before_it_talks(engine: Engine) -> None:
    with Session(engine) as session:
        trader = Daytrader(user=User(email="new@example.com"), provider="openai")
        with pytest.raises(RecordNotSaved, match="commit"):
            trader.talk("hi")
        session.add(trader)
        with pytest.raises(RecordNotSaved, match="commit"):
            trader.talk("hi")


def test_talking_never_commits_the_callers_pending_changes(engine: Engine) -> None:
    trader_id = make_trader(engine)
    with scripted(Daytrader, ScriptedModel(["hi"])), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        session.add(User(email="pending@example.com"))  # pending, never flushed
        trader.model = "gpt-other"  # dirty attribute on the record itself
        trader.talk("hello")
        assert trader in session.dirty
        session.rollback()
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(User).where(User.email == "pending@example.com")) == 0
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert trader.model is None
        assert trader.total_tokens > 0  # the turn itself was saved


def test_unknown_state_version_is_a_clear_error(engine: Engine) -> None:
    trader_id = make_trader(engine)
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        trader.data = '{"v": 99}'
        session.commit()
        with scripted(Daytrader, ScriptedModel(["x"])), pytest.raises(StateVersionError, match="version 99"):
            trader.talk("hi")
        session.refresh(trader)
        assert trader.lease_owner is None  # the failed load did not leave the agent locked


class Idea(BaseModel):
    symbol: str
    conviction: int


class Analyst(Daytrader):
    """A day trader subclass whose answers are structured."""

    class Agent(Daytrader.Agent):
        output_type = Idea


def test_structured_output(engine: Engine) -> None:
    trader_id = make_trader(engine)
    with scripted(Analyst, ScriptedModel([output(symbol="MSFT", conviction=4)])), Session(engine) as session:
        analyst = session.get(Analyst, trader_id)
        assert analyst is not None
        reply = analyst.talk("best idea?")
    assert reply.output == Idea(symbol="MSFT", conviction=4)
    assert '"MSFT"' in reply.text


def test_stream_yields_text_and_persists_at_the_end(engine: Engine) -> None:
    trader_id = make_trader(engine)
    script = ScriptedModel([call("quote_feed", symbol="AAPL"), "AAPL is at 190 right now."])
    with scripted(Daytrader, script), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        stream = trader.stream("AAPL?")
        chunks = list(stream)
    assert len(chunks) > 1
    assert "".join(chunks) == "AAPL is at 190 right now."
    assert stream.reply is not None and stream.reply.text == "AAPL is at 190 right now."
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert len(trader.messages) == 4


async def test_atalk_and_astream(engine: Engine) -> None:
    trader_id = make_trader(engine)
    with scripted(Daytrader, ScriptedModel(["first answer", "second answer here"])), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert (await trader.atalk("one")).text == "first answer"
        chunks = [c async for c in trader.astream("two")]
    assert "".join(chunks) == "second answer here"
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        assert len(trader.messages) == 4
