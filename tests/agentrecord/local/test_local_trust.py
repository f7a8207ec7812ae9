"""The embedded model users can trust: no crash, no invented numbers, no babble, sound after many turns.

Real llama.cpp inference on the packaged SmolLM2-135M, on a persisted agent whose class names no model
(provider "local" alone picks the packaged default). The pure parts (grammars, argument planning, the
answer gate) are tested without the model at the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field
from pydantic_ai.messages import ModelResponse, ToolCallPart, ToolReturnPart
from pydantic_ai.tools import Tool as PydanticTool
from sqlalchemy import Engine, ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from agentrecord import AgentRecord, Tool
from agentrecord.local import LocalModel, arguments
from agentrecord.local.answers import SentenceGate
from agentrecord.local.context import facts_of
from agentrecord.local.drafting import without_repeats
from agentrecord.local.grammar import ArgumentsGrammar, Bounds, NumbersFrom
from tests.agentrecord import local_general_eval_set as general
from tests.factories import sqlite_engine

LISTED = ["AAPL", "MSFT", "NVDA", "TSLA", "KO", "JNJ", "AMZN", "GOOGL", "META", "JPM"]
Symbol = Annotated[str, Field(json_schema_extra={"enum": LISTED})]
NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class Base(DeclarativeBase):
    pass


class Owner(Base):
    __tablename__ = "trust_owners"
    id: Mapped[int] = mapped_column(primary_key=True)


class QuoteFeed(Tool):
    """Get the latest quote for a stock ticker symbol (e.g. AAPL): bid, ask, last price and volume."""

    def call(self, symbol: Symbol) -> dict[str, Any]:
        last = {"AAPL": 231.42, "MSFT": 418.07, "NVDA": 148.92, "TSLA": 251.3, "KO": 64.18}.get(symbol, 156.7)
        return {"symbol": symbol, "bid": round(last - 0.02, 2), "ask": round(last + 0.02, 2), "last": last}


class FundamentalsFeed(Tool):
    """Get a company's fundamentals by ticker: P/E, revenue growth, margins, debt/equity, dividend yield."""

    def call(self, symbol: Symbol) -> dict[str, Any]:
        return {"symbol": symbol, "pe_ratio": 33.29, "revenue_growth": 0.15, "dividend_yield": 0.0078}


class OrderEntry(Tool):
    """Place an order to buy or sell shares for the user: market or limit, day or good-till-cancelled."""

    def call(self, symbol: Symbol, side: Literal["buy", "sell"], quantity: int) -> dict[str, Any]:
        if side == "sell":
            return {"status": "rejected", "reason": f"Not allowed to sell {quantity} {symbol}: only 0 held."}
        return {"status": "filled", "symbol": symbol, "side": side, "quantity": quantity, "price": 190.05}


class PositionBook(Tool):
    """List the user's open positions: quantity, average cost, last price, market value, unrealized P&L."""

    def call(self) -> list[dict[str, Any]]:
        return [{"symbol": "AAPL", "quantity": 10, "average_cost": 180.0}]


class Trader(AgentRecord, Base):
    """An agent class that names no model: provider "local" runs the packaged default."""

    __tablename__ = "trust_traders"
    owner_id: Mapped[int] = mapped_column(ForeignKey("trust_owners.id"))

    class Agent:
        instructions = "You are a day trader. You can watch the market and place trades for the user."
        tools = [QuoteFeed, FundamentalsFeed, OrderEntry, PositionBook]


@pytest.fixture(scope="module")  # stays local: module scope, one file the module's tests share
def trust_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = sqlite_engine(tmp_path_factory.mktemp("trust"), Base.metadata)
    yield engine
    engine.dispose()


def new_trader(engine: Engine) -> int:
    with Session(engine) as session:
        owner = Owner()
        trader = Trader(owner_id=0, provider="local")  # no model: neither here nor on the class
        session.add(owner)
        session.flush()
        trader.owner_id = owner.id
        session.add(trader)
        session.commit()
        return trader.id


def talk(engine: Engine, trader_id: int, prompt: str) -> tuple[str, list[ToolCallPart], list[str]]:
    with Session(engine) as session:
        trader = session.get(Trader, trader_id)
        assert trader is not None
        reply = trader.talk(prompt)
    calls = [p for m in reply.messages if isinstance(m, ModelResponse) for p in m.parts if isinstance(p, ToolCallPart)]
    results = [
        p.model_response_str()
        for m in reply.messages
        if not isinstance(m, ModelResponse)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    ]
    return reply.text, calls, results


def invented(text: str, sources: list[str]) -> list[str]:
    known = {float(n) for s in sources for n in NUMBER.findall(s)}
    return [n for n in NUMBER.findall(text) if float(n) not in known]


def sentences(text: str) -> list[str]:
    return [re.sub(r"\W+", " ", s).strip().lower() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def test_a_record_with_no_model_name_talks_on_the_packaged_default(trust_engine: Engine) -> None:
    trader_id = new_trader(trust_engine)
    with Session(trust_engine) as session:
        trader = session.get(Trader, trader_id)
        assert trader is not None and trader.model is None and Trader.agent_spec().model is None
        assert trader.agent_model_name() == "smollm2-135m"
        reply = trader.talk("Hello!")
    assert reply.text.strip()
    assert reply.messages[-1].model_name == "smollm2-135m"  # type: ignore[union-attr]


def test_the_nvda_question_that_crashed_is_answered_from_the_quote(trust_engine: Engine) -> None:
    # it ended the turn with "arguments for quote_feed were cut off: '{ "symbol": "NVDA trading at 1.25000…'"
    text, calls, results = talk(trust_engine, new_trader(trust_engine), "How much is NVDA trading at?")
    assert [(c.tool_name, c.args_as_dict()) for c in calls] == [("quote_feed", {"symbol": "NVDA"})]
    assert text and invented(text, [*results, "How much is NVDA trading at?"]) == []
    assert "148.9" in text  # it quotes the tool's numbers (bid 148.9, last 148.92 or ask 148.94)


def test_every_number_in_an_answer_comes_from_the_tool_or_the_question(trust_engine: Engine) -> None:
    # the model once wrote "The P/E ratio of MSFT is 1.00" when the tool said 33.29
    trader_id = new_trader(trust_engine)
    for prompt in ("What is the P/E ratio of MSFT?", "Buy 7 shares of KO."):
        text, calls, results = talk(trust_engine, trader_id, prompt)
        assert calls and results, prompt
        assert NUMBER.search(text), (prompt, text)
        assert invented(text, [*results, prompt]) == [], (prompt, text)


def test_ten_turns_on_one_agent_stay_short_and_never_repeat(trust_engine: Engine) -> None:
    # babble used to repeat a sentence to the token cap and carry over into later turns about other symbols
    trader_id = new_trader(trust_engine)
    turns = [
        "Hi!",
        "Sell 5 shares of TSLA.",
        "What is AAPL trading at?",
        "What is MSFT trading at?",
        "Buy 3 shares of NVDA.",
        "What is a limit order?",
        "Show my positions.",
        "What is the price of KO?",
        "What is JNJ trading at?",
        "Thanks, that's all.",
    ]
    replies: list[str] = []
    for prompt in turns:
        text, calls, results = talk(trust_engine, trader_id, prompt)
        said = sentences(text)
        assert text and len(said) == len(set(said)) and len(said) <= 2, (prompt, text)
        assert invented(text, [*results, prompt]) == [], (prompt, text)
        replies.append(text)
        if "trading at" in prompt or "price of" in prompt:
            symbol = next(w.strip("?") for w in prompt.split() if w.strip("?") in LISTED)
            assert [c.args_as_dict().get("symbol") for c in calls] == [symbol], (prompt, calls)
            assert "TSLA" not in text or symbol == "TSLA", text  # no carry-over of the rejected TSLA sale
        if prompt in ("Hi!", "What is a limit order?", "Thanks, that's all."):
            assert [c.tool_name for c in calls] != ["order_entry"], (prompt, calls)
    later = [s for r in replies[3:] for s in sentences(r)]
    assert not any(s in later for s in sentences(replies[1])), replies  # the rejection is not copied on


# -- the parts without the model -------------------------------------------------------------------


def schema_of(fn: Any) -> dict[str, Any]:
    return dict(PydanticTool(fn).tool_def.parameters_json_schema)


@pytest.mark.parametrize("bounds", [Bounds(), Bounds().tight()])
def test_every_general_schema_compiles_to_a_bounded_grammar_llama_cpp_accepts(bounds: Bounds) -> None:
    engine = LocalModel().engine
    prompt = [{"role": "user", "content": "Write the arguments as JSON."}]
    for tools in general.APPS.values():
        for fn in tools:
            schema = schema_of(fn)
            text = ArgumentsGrammar(schema, bounds).compile(list(schema["properties"]))
            assert "*" not in text.replace("[^", "") and "+" not in text, (fn.__name__, text)  # nothing unbounded
            # llama.cpp parses the grammar when sampling starts (an invalid one fails there): one token is enough
            assert engine.generate(prompt, grammar=text, max_tokens=1, temperature=0).text.startswith("{")


def test_arguments_are_copied_from_the_request() -> None:
    plan = arguments.plan(schema_of(OrderEntry().call), "Please sell 12 shares of KO now.")
    assert plan.fixed == {"symbol": "KO", "side": "sell", "quantity": 12} and plan.unsupported == []
    plan = arguments.plan(schema_of(OrderEntry().call), "What is a limit order?")
    assert set(plan.unsupported) == {"symbol", "quantity"} and plan.unchosen == ["side"]
    flight = arguments.plan(schema_of(general.book_flight), "Book a flight from SFO to ORD for 2 passengers.")
    assert flight.choose["origin"] == ["SFO", "ORD"] and flight.shared == [["origin", "destination"]]
    assert flight.fixed == {"passengers": 2}  # tied to the number by its name
    table = arguments.plan(schema_of(general.book_table), "Book a table at Luigi's for 4 people on 2025-06-14.")
    assert table.fixed == {"date": "2025-06-14", "party_size": 4}  # the date's digits are not party sizes
    thanks = arguments.plan(schema_of(general.stock_price), "Thanks for your help!")
    assert thanks.unsupported == ["ticker"]  # "for" is not the ticker FOR


def test_a_synonym_the_schema_declares_names_an_enum_value() -> None:
    side = {"enum": ["buy", "sell"], "x-synonyms": {"buy": ["long", "add"], "sell": ["trim"]}}
    schema = {"type": "object", "properties": {"side": side, "quantity": {"type": "integer"}}, "required": ["side"]}
    assert arguments.plan(schema, "Go long 15 shares of META.").fixed == {"side": "buy"}
    assert arguments.plan(schema, "Trim my KO position.").fixed == {"side": "sell"}
    assert arguments.plan(schema, "Go long 15 shares of META.").supported == ["side"]
    undeclared = arguments.plan({**schema, "properties": {"side": {"enum": ["buy", "sell"]}}}, "Go long on META.")
    assert undeclared.unchosen == ["side"] and "side" not in undeclared.fixed  # left to likelihood


def test_an_optional_number_is_written_only_when_the_request_ties_it_to_the_property() -> None:
    flight = arguments.plan(schema_of(general.book_flight), "Book a flight from SFO to ORD for 2 passengers.")
    assert flight.fixed == {"passengers": 2}
    search = arguments.plan(schema_of(general.web_search), "Search for reviews of the Pixel 9.")
    assert "max_results" not in search.properties  # the 9 names a phone: the default count stays
    forecast = arguments.plan(schema_of(general.get_forecast), "Give me the 5 day forecast for Berlin.")
    assert forecast.fixed == {"days": 5}


def test_shared_candidates_are_in_the_request_s_order_or_not() -> None:
    assert arguments.in_order(["ft", "m"], "Convert 100 ft to m.")
    assert not arguments.in_order(["m", "ft"], "Convert 100 ft to m.")
    assert not arguments.in_order(["SFO", "LAX"], "Fly from SFO to ORD.")


def test_a_listed_identifier_the_request_names_is_marked_as_identified() -> None:
    def quote(symbol: Symbol) -> None: ...

    schema = schema_of(quote)
    assert arguments.plan(schema, "Where is GOOGL trading?").identified == ["symbol"]
    assert arguments.plan(schema, "What is a ticker symbol?").identified == []
    side = {"type": "object", "properties": {"side": {"enum": ["buy", "sell"]}}, "required": ["side"]}
    assert arguments.plan(side, "buy it").identified == []  # a choice among a few, not an identifier


def test_a_string_the_request_names_by_its_property_is_the_words_after_the_name() -> None:
    request = "Send an email to bob@example.com with the subject Lunch tomorrow."
    assert arguments.spans_after_name("subject", request, None) == ["Lunch", "Lunch tomorrow"]
    assert arguments.spans_after_name("email_subject", request, 5) == ["Lunch"]  # its last word; within maxLength
    assert arguments.spans_after_name("query", "Search the web for hiking trails.", None) == []


def test_an_optional_value_the_request_names_is_evidence_but_does_not_lift_the_veto() -> None:
    weather = schema_of(general.get_weather)
    assert arguments.plan(weather, "What's the temperature in Chicago in fahrenheit?").given_optional == ["unit"]
    assert arguments.plan(weather, "What's the temperature in Chicago?").given_optional == []
    forecast = arguments.plan(schema_of(general.get_forecast), "Give me the 5 day forecast for Berlin.")
    assert forecast.given_optional == ["days"]

    def order(symbol: Symbol, quantity: int, order_type: Literal["market", "limit"] = "market") -> None: ...

    concept = arguments.plan(schema_of(order), "What's the difference between a market order and a limit order?")
    assert concept.given_optional == ["order_type"] and concept.unsupported and not concept.supported


def test_a_generated_list_does_not_hold_the_same_item_twice() -> None:
    twice = {"items": [{"product": "apples", "quantity": 3}, {"product": "apples", "quantity": 3}], "n": [1, 2, 1]}
    assert without_repeats(twice) == {"items": [{"product": "apples", "quantity": 3}], "n": [1, 2]}


def test_a_skill_counts_the_words_of_its_name_that_the_request_uses() -> None:
    assert arguments.name_words("find_trade", "Find me a good trade for today.") == 2
    assert arguments.name_words("exit_trade", "Which of my positions should I exit now?") == 1
    assert arguments.name_words("exitTrade", "Review my open trades against their stops.") == 1
    assert arguments.name_words("exit_trade", "Where is GOOGL trading?") == 0  # a word, not a prefix
    assert arguments.name_words("find_trade", "What does P/E mean?") == 0


@pytest.mark.parametrize(
    "prompt", ["What's the difference between a market order and a limit order?", "What does P/E mean?"]
)
def test_a_tool_the_request_gives_none_of_its_values_is_not_called(trust_engine: Engine, prompt: str) -> None:
    # the first once sold 1 META: the order tool's description fits "market order" better than words do
    text, calls, _ = talk(trust_engine, new_trader(trust_engine), prompt)
    needing_values = {"quote_feed", "fundamentals_feed", "order_entry"}  # each needs a ticker (and an order more)
    assert [c.tool_name for c in calls if c.tool_name in needing_values] == [] and text.strip()


def test_list_results_are_shown_without_item_numbers_the_tool_did_not_write() -> None:
    rows = json.dumps([{"symbol": "AAPL", "quantity": 10}, {"symbol": "KO", "quantity": 3}])
    assert NUMBER.findall(facts_of("position_book", rows, "What am I holding?")) == ["10", "3"]


def test_answers_may_only_write_numbers_of_the_context() -> None:
    allow = NumbersFrom(["33.29", "190.0", "190"])
    assert allow("The P/E ratio is 33.29.", True)
    assert allow("The P/E ratio is 33.2", False)  # on its way to 33.29
    assert not allow("The P/E ratio is 1.00", True)
    assert not allow("The price is 1900", False) and not allow("It is ⅛ of it", False)
    assert not allow("line one\nline two", False)


def test_the_answer_gate_stops_at_a_repeated_sentence_and_streams_what_it_returns() -> None:
    chunks: list[str] = []
    gate = SentenceGate(2, chunks.append)
    babble = "The reason is not allowed to sell 5 TSLA: only 0 held. " * 8
    for i in range(0, len(babble), 3):
        gate.push(babble[i : i + 3])
    text = gate.finish(cut=True)
    assert text == "The reason is not allowed to sell 5 TSLA: only 0 held." == "".join(chunks)
    runon = SentenceGate(2, None)
    runon.push("The id is 1, the symbol is SPY, the reason is none, the fill is 5, the reason is none, the")
    assert runon.finish(cut=True) == "The id is 1, the symbol is SPY, the reason is none, the fill is 5."
    sums = SentenceGate(2, None)
    sums.push("The bid is 148.9. So the total is 148.9 + 148.9 + 148.92 = 148.9 + 148.9 + 148.92 = 148.9 + 14")
    assert sums.finish(cut=True) == "The bid is 148.9."


def test_eval_sets_are_large_and_varied() -> None:
    from tests.agentrecord.local_eval_set import CASES, CONVERSATIONS, TOOL_ARGUMENTS, TOOLS

    assert len(CASES) >= 120 and len(general.CASES) >= 40
    assert len(CONVERSATIONS) >= 6 and all(len(c.turns) >= 10 for c in CONVERSATIONS)
    kinds = {c.category for c in CASES}
    assert {"quote", "order", "positions", "portfolio", "fundamentals", "small talk", "concept", "skill"} <= kinds
    assert sum(c.quotes for c in CASES) >= 20
    for case in CASES:
        assert case.tool is None or case.tool in TOOLS[case.kind], case
        assert set(case.args) <= set(TOOL_ARGUMENTS.get(case.tool or "", ())), case
        assert case.args_match(json.loads(json.dumps(case.args)))
    for gcase in general.CASES:
        names = [fn.__name__ for fn in general.APPS[gcase.app]]
        assert gcase.tool is None or gcase.tool in names, gcase
    assert sum(c.tool is None for c in general.CASES) >= 10


def test_field_cases_name_a_field_their_tool_returns_and_keep_a_held_out_split() -> None:
    from tests.agentrecord.local_eval_set import FIELDS, FIELDS_HELDOUT, TOOLS

    assert len(FIELDS_HELDOUT) >= 10 and len(general.FIELDS_HELDOUT) >= 5
    assert all(c.heldout for c in [*FIELDS_HELDOUT, *general.FIELDS_HELDOUT])
    assert not any(c.heldout for c in [*FIELDS, *general.FIELDS])
    assert not {c.prompt for c in [*FIELDS, *general.FIELDS]} & {
        c.prompt for c in [*FIELDS_HELDOUT, *general.FIELDS_HELDOUT]
    }
    for case in [*FIELDS, *FIELDS_HELDOUT]:
        assert case.field and case.tool in TOOLS[case.kind] and case.quotes, case
    for gcase in [*general.FIELDS, *general.FIELDS_HELDOUT]:
        (tool,) = [fn for fn in general.APPS[gcase.app] if fn.__name__ == gcase.tool]
        assert gcase.field in tool(**gcase.args), gcase
