"""Binding an answer's numbers to the fields of tool results (`agentrecord.local.fields`), without the model."""

from __future__ import annotations

import json

import pytest

from agentrecord.local.fields import Bound, asked_fields, focus_facts, key_words, result_fields
from agentrecord.local.grammar import numbers_in

FUNDAMENTALS = json.dumps(
    {
        "symbol": "MSFT",
        "name": "Microsoft",
        "eps": 12.4,
        "pe_ratio": 32.73,
        "revenue_growth": 0.15,
        "operating_margin": 0.45,
        "net_margin": 0.36,
        "debt_to_equity": 0.31,
        "dividend_yield": 0.0072,
    }
)
QUOTE = json.dumps({"symbol": "AAPL", "bid": 189.9, "ask": 190.1, "last": 190.0, "volume": 51234000})
STATS = json.dumps({"ticker": "IBM", "marketCap": 2870.5, "UVIndex": 5, "week52High": 201.4})
PORTFOLIO = json.dumps(
    {
        "cash": 100000.0,
        "buying_power": 98000.0,
        "equity": 101500.0,
        "unrealized_pnl": 1500.0,
        "positions": [{"symbol": "AAPL", "quantity": 10, "last": 190.0}, {"symbol": "KO", "quantity": 5, "last": 61.2}],
    }
)


def test_key_words_split_snake_and_camel_case_and_drop_stop_words() -> None:
    assert key_words("pe_ratio") == ("pe", "ratio")
    assert key_words("marketCap") == ("market", "cap")
    assert key_words("debt_to_equity") == ("debt", "equity")
    assert key_words("earnings-per-share") == ("earnings", "share")


@pytest.mark.parametrize(
    ("request_text", "keys"),
    [
        ("What is the P/E ratio of MSFT?", {"pe_ratio"}),
        ("Give me the P/E of NVDA.", {"pe_ratio"}),
        ("What is the price to earnings ratio of KO?", {"pe_ratio"}),
        ("What are the earnings per share of XOM?", {"eps"}),
        ("What is the EPS of MSFT?", {"eps"}),
        ("What's the dividend yield on PG?", {"dividend_yield"}),
        ("How big is its yield?", {"dividend_yield"}),
        ("What is XOM's debt-to-equity ratio?", {"debt_to_equity"}),
        ("What are the profit margins of GOOGL?", {"operating_margin", "net_margin"}),
        ("Show me the fundamentals for MSFT.", set()),
        ("What does the company do?", set()),
    ],
)
def test_a_request_names_fields_by_words_initials_plurals_and_distinctive_words(
    request_text: str, keys: set[str]
) -> None:
    assert asked_fields(request_text, result_fields([FUNDAMENTALS])) == keys


def test_fields_come_from_any_result_shape_camel_case_lists_and_key_value_text() -> None:
    stats = result_fields([STATS])
    assert asked_fields("What is the market capitalization of IBM?", stats) == {"marketCap"}
    assert asked_fields("What's the UV index?", stats) == {"UVIndex"}
    assert asked_fields("What is the 52 week high?", stats) == {"week52High"}
    book = result_fields([PORTFOLIO])
    assert book["last"].values == {"190.0", "190", "61.2"}
    assert asked_fields("List my P&L.", book) == {"unrealized_pnl"}
    assert asked_fields("What's my buying power?", book) == {"buying_power"}
    text = result_fields(["eps=12.40, pe_ratio=32.73"])
    assert text["pe_ratio"].values == {"32.73"} and "12.4" in text["eps"].values


def bound(request: str, *results: str) -> Bound:
    return Bound(numbers_in([*results, request]), result_fields(results), request)


def test_a_number_after_a_named_field_must_be_that_fields_value() -> None:
    allow = bound("What is the P/E ratio of MSFT?", FUNDAMENTALS)
    assert not allow("The P/E ratio of MSFT is 12.4", False)
    assert not allow("The P/E ratio of MSFT is 1", False)  # not even the start of another field's value
    assert allow("The P/E ratio of MSFT is 3", False)
    assert allow("The P/E ratio of MSFT is 32.73, and its EPS is 12.4.", True)
    assert not allow("The P/E ratio of MSFT is 32.73, and its EPS is 0.45.", True)


def test_a_sentence_naming_no_field_gives_the_asked_fields_value_or_the_requests_own_numbers() -> None:
    allow = bound("What is the P/E ratio of MSFT?", FUNDAMENTALS)
    assert allow("MSFT trades at 32.73 times earnings.", True)
    assert not allow("MSFT trades at 12.4 times earnings.", True)
    with_number = bound("Is the P/E above 30?", FUNDAMENTALS)
    assert with_number("No, 30 is below 32.73.", True)


def test_several_named_fields_take_their_values_in_either_order() -> None:
    allow = bound("Show me the bid and ask for AAPL.", QUOTE)
    assert allow("The bid and ask are 189.9 and 190.1.", True)
    assert allow("The bid and ask are 190.1 and 189.9.", True)
    assert not allow("The bid and ask are 189.9 and 190.0.", True)  # the last, named by neither


def test_without_a_named_field_any_number_of_the_context_is_allowed_as_before() -> None:
    allow = bound("How is AAPL doing?", QUOTE)
    assert allow("AAPL is at 190.0, with 51234000 shares traded.", True)
    assert not allow("AAPL is at 191.0.", True)  # still faithful: only numbers of the context
    order = bound("Buy 10 shares of AAPL.", json.dumps({"order_id": 7, "quantity": 10, "filled_price": 190.1}))
    assert order("Your order for 10 shares of AAPL filled at 190.1.", True)


def test_facts_in_focus_are_the_asked_fields_and_the_names_of_list_items() -> None:
    pairs = [("symbol", "JPM"), ("name", "JPMorgan Chase"), ("eps", "19.8"), ("debt_to_equity", "1.6")]
    assert focus_facts(pairs, frozenset({"debt_to_equity"})) == [("debt_to_equity", "1.6")]
    rows = [("positions symbol", "AAPL"), ("positions last", "190.0"), ("positions symbol", "KO"), ("cash", "5.0")]
    assert focus_facts(rows, frozenset({"last"})) == rows[:3]


def test_the_first_sentence_gives_the_asked_value_before_it_ends() -> None:
    allow = bound("What's the ask for MSFT?", QUOTE)
    assert not allow("The quote feed tool provided the requested quote. ", False)
    assert not allow("The quote feed tool provided the requested quote.", False)
    assert not allow("The quote feed tool provided the requested quote.", True)
    assert allow("The quote feed tool provided the requested quote, which is 190.1. ", False)
    unasked = bound("How is AAPL doing?", QUOTE)
    assert unasked("AAPL is doing fine. ", False)
    assert allow("The ask of MSFT is 190.", False)  # a decimal point, not yet the sentence's end


def test_a_tools_description_names_a_field_with_one_word_more() -> None:
    described = result_fields([QUOTE], ["Get the latest quote for a ticker: bid, ask, last price and volume."])
    assert asked_fields("What is the price of AAPL?", described) == {"last"}
    assert asked_fields("What is the price of AAPL?", result_fields([QUOTE])) == set()
    allow = Bound(numbers_in([QUOTE]), described, "What is the price of AAPL?")
    assert allow("The price of AAPL is 190.0.", True)
    assert not allow("The price of AAPL is 190.1.", True)


def test_a_request_naming_a_word_field_binds_no_number_but_a_null_one_allows_none() -> None:
    order = json.dumps({"id": 1, "quantity": 10, "order_type": "market", "fill_price": 229.25})
    allow = bound("Place an order to buy 10 shares of AAPL.", order)
    assert allow("Your market order for 10 shares of AAPL filled at 229.25.", True)
    loss = json.dumps({"symbol": "INTC", "eps": 1.2, "pe_ratio": None})
    no_pe = bound("What is the P/E ratio of INTC?", loss)
    assert no_pe("INTC has no P/E ratio.", True)
    assert not no_pe("The P/E ratio of INTC is 1.2.", True)
