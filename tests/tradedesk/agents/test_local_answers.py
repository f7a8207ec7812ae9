"""The embedded model's answers give the asked field's number: each field of a quote and of the fundamentals.

Real turns of tradedesk's own agents on the embedded model (SmolLM2-135M via llama.cpp), their real tools on
the simulated market; the check is behaviour, not text: the first number of the answer is the value of the
field the question names in the tool's result, not another number of that result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.factories import frozen_market, sqlite_engine
from tradedesk.agents.models import AGENT_KINDS
from tradedesk.app import desk
from tradedesk.brokerage.db import Base

NUMBER = re.compile(r"\d+(?:\.\d+)?")


@pytest.fixture(scope="module")  # stays local: module scope, one file on a market frozen for them all
def desk_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with frozen_market():
        engine = sqlite_engine(tmp_path_factory.mktemp("answers"), Base.metadata, "desk")
        yield engine
        engine.dispose()


def ask(engine: Engine, kind: str, prompt: str) -> tuple[str, list[tuple[str, dict[str, Any]]], list[Any]]:
    """One turn of a fresh agent of `kind` on the local provider: its reply, tool calls and tool results."""
    with Session(engine) as session:
        user = desk.add_user(session, f"{kind}-{abs(hash(prompt))}@example.com")
        session.commit()
        agent = desk.Desk(session, user).new_agent(kind, "local", None)
        session.commit()
        record = session.get(AGENT_KINDS[kind], agent.id)
        assert record is not None
        reply = record.talk(prompt)
    calls = [
        (p.tool_name, p.args_as_dict())
        for m in reply.messages
        if isinstance(m, ModelResponse)
        for p in m.parts
        if isinstance(p, ToolCallPart)
    ]
    results = [
        p.content
        for m in reply.messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    ]
    return reply.text, calls, results


@pytest.mark.parametrize(
    ("kind", "prompt", "tool", "field"),
    [
        ("daytrader", "What is the bid for AAPL?", "quote_feed", "bid"),
        ("daytrader", "What is the ask price of MSFT?", "quote_feed", "ask"),
        ("daytrader", "What is the last price of NVDA?", "quote_feed", "last"),
        ("daytrader", "What is the volume of TSLA?", "quote_feed", "volume"),
        ("stock_investor", "What is the P/E ratio of MSFT?", "fundamentals_feed", "pe_ratio"),
        ("stock_investor", "What is the EPS of AAPL?", "fundamentals_feed", "eps"),
        ("stock_investor", "What is the dividend yield of KO?", "fundamentals_feed", "dividend_yield"),
        ("stock_investor", "What is the revenue growth of AMZN?", "fundamentals_feed", "revenue_growth"),
        ("stock_investor", "What is the operating margin of MSFT?", "fundamentals_feed", "operating_margin"),
        ("stock_investor", "What is the net margin of META?", "fundamentals_feed", "net_margin"),
        ("stock_investor", "What is the debt to equity of JPM?", "fundamentals_feed", "debt_to_equity"),
    ],
)
def test_the_local_model_answers_with_the_value_of_the_field_asked_for(
    desk_db: Engine, kind: str, prompt: str, tool: str, field: str
) -> None:
    text, calls, results = ask(desk_db, kind, prompt)
    assert [name for name, _ in calls] == [tool], calls
    (result,) = results
    numbers = NUMBER.findall(text)
    assert numbers, f"no number in {text!r}"
    assert float(numbers[0]) == float(result[field]), f"{field}={result[field]} in {result}, answered {text!r}"
