"""Guards that stop a runaway turn: the loop guard, and per-turn token and cost limits."""

from __future__ import annotations

import pytest
from pydantic_ai.messages import ModelRequest, ModelResponse, ToolReturnPart
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from agentrecord import TurnLimitExceeded
from agentrecord.testing import Say, ScriptedModel, call, scripted
from tests.agentrecord.approval_models import ApprovalBase, CostLimitedTrader, GuardedTrader, LimitedTrader, Quote

TABLES = ApprovalBase.metadata  # the tables `db` makes (conftest.py)


def tool_returns(messages: list) -> list[object]:
    return [
        p.content for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)
    ]


def test_loop_guard_answers_the_third_identical_call_with_a_note_instead_of_running_it(db: Engine) -> None:
    with Session(db) as session:
        trader = GuardedTrader(owner="a@example.com", provider="openai")
        session.add(trader)
        session.commit()
        Quote.runs = 0
        same = [call("quote", symbol="AAPL") for _ in range(4)]
        model = ScriptedModel([*same, call("quote", symbol="MSFT"), "AAPL is 100."])
        with scripted(GuardedTrader, model):
            reply = trader.talk("AAPL?")
        assert reply.text == "AAPL is 100."
        assert Quote.runs == 3  # AAPL twice, then MSFT: the 3rd and 4th identical AAPL calls did not run
        results = tool_returns(trader.messages)
        assert results[:2] == [{"symbol": "AAPL", "last": 100}] * 2
        assert all("Not run: you already called quote" in str(r) for r in results[2:4])
        assert results[4] == {"symbol": "MSFT", "last": 100}  # a different call still runs


def test_loop_guard_counts_per_turn(db: Engine) -> None:
    with Session(db) as session:
        trader = GuardedTrader(owner="b@example.com", provider="openai")
        session.add(trader)
        session.commit()
        Quote.runs = 0
        for _ in range(3):  # the same call once per turn, three turns: always runs
            with scripted(GuardedTrader, ScriptedModel([call("quote", symbol="AAPL"), "ok"])):
                trader.talk("AAPL?")
        assert Quote.runs == 3


def test_token_limit_stops_the_turn_and_keeps_what_it_did(db: Engine) -> None:
    with Session(db) as session:
        trader = LimitedTrader(provider="openai")
        session.add(trader)
        session.commit()
        steps = [Say("thinking", input_tokens=300, output_tokens=10)]
        model = ScriptedModel([call("quote", symbol="AAPL"), *steps, "never reached"])
        original = model._respond

        def heavy(messages: list, info: object) -> ModelResponse:  # every request costs 300 tokens
            response = original(messages, info)  # type: ignore[arg-type]
            response.usage.input_tokens = 300
            return response

        model.function = heavy
        with scripted(LimitedTrader, model), pytest.raises(TurnLimitExceeded, match="max_tokens_per_turn of 500"):
            trader.talk("AAPL?")
        saved = trader.messages
        assert len(saved) >= 3 and tool_returns(saved) == [{"symbol": "AAPL", "last": 100}]
        assert trader.lease_owner is None
        assert trader.input_tokens >= 300


def test_cost_limit_stops_the_turn_once_spent_and_keeps_what_it_did(db: Engine) -> None:
    with Session(db) as session:
        trader = CostLimitedTrader(provider="openai")
        session.add(trader)
        session.commit()
        # gpt-4o-mini input is $0.15 per million tokens: 400k tokens = $0.06 > the $0.05 limit
        model = ScriptedModel(
            [call("quote", symbol="AAPL"), Say("second", input_tokens=100, output_tokens=1)], model_name="gpt-4o-mini"
        )
        original = model._respond
        sizes = iter([400_000, 100])

        def priced(messages: list, info: object) -> ModelResponse:
            response = original(messages, info)  # type: ignore[arg-type]
            response.usage.input_tokens = next(sizes)
            return response

        model.function = priced
        with (
            scripted(CostLimitedTrader, model),
            pytest.raises(TurnLimitExceeded, match=r"max_cost_per_turn of \$0.05"),
        ):
            trader.talk("AAPL?")
        assert trader.cost is not None and trader.cost > 0
        assert len(trader.messages) >= 2 and trader.lease_owner is None
