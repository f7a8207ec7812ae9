"""Trading requests with the tool (and key arguments) a good agent picks for each; scores local models.

Used by `benchmarks/local_model_accuracy.py`, which puts every case to tradedesk's own agents (their
instructions, tools and skills, persisted records on a SQLite file, a fixed simulated market), and by
the tests to keep the set itself well-formed. `tool=None` means the request needs no tool: the agent
should answer in words. Three kinds of cases:

- `SINGLES`: one request each, on a fresh agent: quotes, orders with side and quantity, positions,
  portfolio, fundamentals, small talk, conceptual questions and requests that should use a skill;
- `CONVERSATIONS`: 10-turn conversations, each run in order on one persisted agent, so that what
  the agent said before can help or harm the next turn;
- requests whose honest answer quotes a tool's numbers (`quotes=True`, among both);
- `FIELDS` and `FIELDS_HELDOUT`: requests naming one field of a tool's result (`field`: its key), whose
  answer must give that field's value, not another number of the result. The held-out split is never
  used to tune the model's answers: it is only measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

Kind = Literal["daytrader", "stock_investor"]

# The tools and skills each tradedesk agent kind offers (tradedesk.models), which the cases name.
TOOLS: dict[Kind, tuple[str, ...]] = {
    "daytrader": ("quote_feed", "order_entry", "position_book", "find_trade", "enter_trade", "exit_trade"),
    "stock_investor": (
        "fundamentals_feed",
        "portfolio_book",
        "order_entry",
        "find_investment",
        "start_position",
        "rebalance",
    ),
}
TOOL_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "quote_feed": ("symbol",),
    "fundamentals_feed": ("symbol",),
    "order_entry": ("symbol", "side", "quantity"),
}
SKILLS = frozenset({"find_trade", "enter_trade", "exit_trade", "find_investment", "start_position", "rebalance"})


@dataclass(frozen=True)
class Case:
    """One request, the agent kind it is put to, and what a correct first step looks like."""

    kind: Kind
    prompt: str
    tool: str | None
    args: dict[str, Any] = field(default_factory=dict)
    category: str = ""
    quotes: bool = False
    """The honest answer quotes a number from the tool's result."""
    field: str | None = None
    """The key of the tool result's field the request names: the answer's number must be its value."""
    heldout: bool = False
    """In the held-out split of the field cases (measured, never tuned on)."""

    def args_match(self, got: dict[str, Any]) -> bool:
        """True when every expected key argument is present with the expected value (symbols and sides ignore case)."""
        for key, want in self.args.items():
            have = got.get(key)
            if isinstance(want, str):
                if not isinstance(have, str) or have.strip().upper() != want.upper():
                    return False
            elif isinstance(want, int):
                try:
                    if have is None or float(have) != float(want):
                        return False
                except (TypeError, ValueError):
                    return False
        return True


@dataclass(frozen=True)
class Conversation:
    """Turns put in order to one persisted agent."""

    name: str
    kind: Kind
    turns: list[Case]


def _quote(prompt: str, symbol: str, quotes: bool = True) -> Case:
    return Case("daytrader", prompt, "quote_feed", {"symbol": symbol}, "quote", quotes)


def _order(prompt: str, symbol: str, side: str, quantity: int, kind: Kind = "daytrader") -> Case:
    return Case(kind, prompt, "order_entry", {"symbol": symbol, "side": side, "quantity": quantity}, "order")


def _positions(prompt: str) -> Case:
    return Case("daytrader", prompt, "position_book", {}, "positions")


def _portfolio(prompt: str, quotes: bool = False) -> Case:
    return Case("stock_investor", prompt, "portfolio_book", {}, "portfolio", quotes)


def _fundamentals(prompt: str, symbol: str, quotes: bool = True) -> Case:
    return Case("stock_investor", prompt, "fundamentals_feed", {"symbol": symbol}, "fundamentals", quotes)


def _field(prompt: str, symbol: str | None, field: str, heldout: bool = False) -> Case:
    """A request naming one field of a quote, of the fundamentals, or (no symbol) of the portfolio."""
    if symbol is None:
        return Case("stock_investor", prompt, "portfolio_book", {}, "field", True, field, heldout)
    if field in ("bid", "ask", "last", "volume"):
        return Case("daytrader", prompt, "quote_feed", {"symbol": symbol}, "field", True, field, heldout)
    return Case("stock_investor", prompt, "fundamentals_feed", {"symbol": symbol}, "field", True, field, heldout)


def _chat(prompt: str, kind: Kind = "daytrader") -> Case:
    return Case(kind, prompt, None, {}, "small talk")


def _concept(prompt: str, kind: Kind = "daytrader") -> Case:
    return Case(kind, prompt, None, {}, "concept")


def _skill(prompt: str, skill: str) -> Case:
    kind: Kind = "daytrader" if skill in ("find_trade", "enter_trade", "exit_trade") else "stock_investor"
    return Case(kind, prompt, skill, {}, "skill")


SINGLES: list[Case] = [
    _quote("What is AAPL at?", "AAPL"),
    _quote("Get me a quote for MSFT.", "MSFT"),
    _quote("What's the price of NVDA right now?", "NVDA"),
    _quote("How much is NVDA trading at?", "NVDA"),
    _quote("What is MSFT trading at?", "MSFT"),
    _quote("Show me the bid and ask for AMZN.", "AMZN"),
    _quote("Where is GOOGL trading?", "GOOGL"),  # a listed ticker named: a lookup, not words
    _quote("Quote TSLA please.", "TSLA"),
    _quote("What's the last price of META?", "META"),
    _quote("Check the JPM stock price for me.", "JPM"),
    _quote("How much is one share of AMD?", "AMD"),
    _quote("What is the current quote on SPY?", "SPY"),
    _quote("price of tsla?", "TSLA"),
    _quote("How is Netflix (NFLX) trading today?", "NFLX"),
    _order("Buy 10 shares of AAPL.", "AAPL", "buy", 10),  # went to the quote when order_entry's doc grew
    _order("Sell 5 shares of TSLA.", "TSLA", "sell", 5),
    _order("Place an order to buy 100 shares of MSFT.", "MSFT", "buy", 100),
    _order("I want to sell 20 shares of NVDA.", "NVDA", "sell", 20),
    _order("Purchase 3 shares of AMZN for me.", "AMZN", "buy", 3),
    _order("Sell 50 shares of KO now.", "KO", "sell", 50),
    _order("Buy 1 share of GOOGL.", "GOOGL", "buy", 1),
    _order("Go long 15 shares of META.", "META", "buy", 15),
    _order("Get rid of 30 shares of INTC, sell them.", "INTC", "sell", 30),
    _order("Please buy 25 shares of JPM.", "JPM", "buy", 25),
    _order("Buy ten shares of PEP.", "PEP", "buy", 10),
    _order("Dump 8 shares of BAC.", "BAC", "sell", 8),
    _order("Buy 40 shares of JNJ for my portfolio.", "JNJ", "buy", 40, "stock_investor"),
    _order("Sell 12 shares of PG.", "PG", "sell", 12, "stock_investor"),
    _order("Add 6 shares of COST to my holdings.", "COST", "buy", 6, "stock_investor"),
    _positions("What positions do I have open?"),
    _positions("Show my positions."),
    _positions("What am I holding right now?"),
    _positions("List my open positions and their P&L."),
    _positions("Do I have any open positions?"),
    _positions("How many shares do I own of each stock?"),
    _portfolio("How is my portfolio doing?"),
    _portfolio("Summarize my portfolio."),
    _portfolio("How much cash do I have in my account?", quotes=True),
    _portfolio("Show me my holdings and total equity.", quotes=True),
    _portfolio("What is my account worth?", quotes=True),
    _portfolio("What's my buying power?", quotes=True),
    _fundamentals("What is the P/E ratio of AAPL?", "AAPL"),
    _fundamentals("What is the P/E ratio of MSFT?", "MSFT"),
    _fundamentals("Show me the fundamentals for MSFT.", "MSFT", quotes=False),
    _fundamentals("How fast is NVDA growing its revenue?", "NVDA"),
    _fundamentals("What's the dividend yield of KO?", "KO"),
    _fundamentals("How much debt does JNJ carry relative to equity?", "JNJ"),
    _fundamentals("What are the profit margins of GOOGL?", "GOOGL"),
    _fundamentals("What are the earnings per share of XOM?", "XOM"),
    _chat("Hello!"),
    _chat("Thanks, that's all for today."),
    _chat("Who are you?"),
    _chat("Good morning!", "stock_investor"),
    _chat("Thank you for the help.", "stock_investor"),
    _chat("Have a nice evening."),
    _chat("Hi there, how are you?", "stock_investor"),
    _concept("What is a limit order?"),
    _concept("Explain what a stop loss is."),
    _concept("What does P/E mean?", "stock_investor"),
    _concept("What's the difference between a market order and a limit order?"),
    _concept("Why does diversification matter?", "stock_investor"),
    _concept("What is a dividend?", "stock_investor"),
    _concept("What does the spread between bid and ask tell me?"),
    _skill("Find me a good trade for today.", "find_trade"),
    _skill("Screen the market for an intraday trade setup.", "find_trade"),
    _skill("Size a trade for me from my risk budget.", "enter_trade"),
    _skill("Which of my positions should I exit now?", "exit_trade"),
    _skill("Review my open trades against their stops and targets.", "exit_trade"),
    _skill("Find me a good long-term investment.", "find_investment"),
    _skill("Screen companies and rank the best long-term buys.", "find_investment"),
    _skill("Rebalance my portfolio.", "rebalance"),
    _skill("Bring my drifted positions back to their target weights.", "rebalance"),
    _skill("Plan a new long-term position with dollar-cost averaging.", "start_position"),
]


def _conv(name: str, kind: Kind, *turns: Case) -> Conversation:
    return Conversation(name, kind, [replace(t, kind=kind) for t in turns])


CONVERSATIONS: list[Conversation] = [
    _conv(
        "a day of quotes",
        "daytrader",
        _chat("Hi!"),
        _quote("What is AAPL trading at?", "AAPL"),
        _quote("And MSFT?", "MSFT"),
        _quote("What's the price of NVDA?", "NVDA"),
        _quote("Give me a quote for TSLA.", "TSLA"),
        _quote("How about AMD?", "AMD"),
        _quote("What is the last price of META?", "META"),
        _quote("Quote AMZN.", "AMZN"),
        _quote("Where is SPY now?", "SPY"),
        _chat("Thanks, bye."),
    ),
    _conv(
        "quotes and orders",
        "daytrader",
        _quote("What is the price of AAPL?", "AAPL"),
        _order("Buy 10 shares of AAPL.", "AAPL", "buy", 10),
        _positions("Show my positions."),
        _quote("How much is NVDA trading at?", "NVDA"),
        _order("Buy 5 shares of NVDA.", "NVDA", "buy", 5),
        _positions("What am I holding now?"),
        _order("Sell 5 shares of AAPL.", "AAPL", "sell", 5),
        _quote("What is MSFT trading at?", "MSFT"),
        _concept("What is a limit order?"),
        _chat("Thanks, that's all."),
    ),
    _conv(
        "a rejected sale, then other symbols",
        "daytrader",
        _order("Sell 5 shares of TSLA.", "TSLA", "sell", 5),
        _quote("What is the price of TSLA?", "TSLA"),
        _quote("What is MSFT trading at?", "MSFT"),
        _positions("Do I have any open positions?"),
        _order("Buy 2 shares of MSFT.", "MSFT", "buy", 2),
        _quote("How much is GOOGL?", "GOOGL"),
        _order("Sell 2 shares of MSFT.", "MSFT", "sell", 2),
        _positions("List my positions."),
        _quote("Quote JPM please.", "JPM"),
        _chat("Good night!"),
    ),
    _conv(
        "looking for trades",
        "daytrader",
        _chat("Good morning!"),
        _skill("Find me a good trade for today.", "find_trade"),
        _quote("What is the price of AMD?", "AMD"),
        _skill("Size a trade for me from my risk budget.", "enter_trade"),
        _order("Buy 20 shares of AMD.", "AMD", "buy", 20),
        _positions("What positions do I have?"),
        _skill("Which of my positions should I exit?", "exit_trade"),
        _quote("What's NVDA at?", "NVDA"),
        _concept("Explain what a stop loss is."),
        _chat("Thank you."),
    ),
    _conv(
        "an investor's review",
        "stock_investor",
        _chat("Hello!"),
        _portfolio("How is my portfolio doing?"),
        _fundamentals("What is the P/E ratio of MSFT?", "MSFT"),
        _fundamentals("And the P/E of AAPL?", "AAPL"),
        _fundamentals("What's the dividend yield of KO?", "KO"),
        _order("Buy 10 shares of KO.", "KO", "buy", 10, "stock_investor"),
        _portfolio("How much cash do I have left?", quotes=True),
        _concept("What is a dividend?", "stock_investor"),
        _fundamentals("How fast is NVDA growing its revenue?", "NVDA"),
        _chat("Thanks, goodbye.", "stock_investor"),
    ),
    _conv(
        "building positions",
        "stock_investor",
        _skill("Find me a good long-term investment.", "find_investment"),
        _fundamentals("Show me the fundamentals of JNJ.", "JNJ", quotes=False),
        _order("Buy 15 shares of JNJ.", "JNJ", "buy", 15, "stock_investor"),
        _fundamentals("What is the P/E ratio of PG?", "PG"),
        _order("Buy 12 shares of PG.", "PG", "buy", 12, "stock_investor"),
        _portfolio("Summarize my portfolio."),
        _skill("Rebalance my portfolio.", "rebalance"),
        _fundamentals("What are the profit margins of V?", "V"),
        _order("Sell 5 shares of PG.", "PG", "sell", 5, "stock_investor"),
        _portfolio("What is my account worth?", quotes=True),
    ),
]

FIELDS: list[Case] = [
    _field("What is the P/E ratio of MSFT?", "MSFT", "pe_ratio"),
    _field("What is the bid on AAPL?", "AAPL", "bid"),
    _field("What's the ask for MSFT?", "MSFT", "ask"),
    _field("What was the last trade price of NVDA?", "NVDA", "last"),
    _field("What is the volume of TSLA today?", "TSLA", "volume"),
    _field("What is the EPS of MSFT?", "MSFT", "eps"),
    _field("What's the dividend yield on PG?", "PG", "dividend_yield"),
    _field("What is the revenue growth of AMZN?", "AMZN", "revenue_growth"),
    _field("What is the debt to equity of JPM?", "JPM", "debt_to_equity"),
    _field("What's the operating margin of AAPL?", "AAPL", "operating_margin"),
    _field("What is the net margin of META?", "META", "net_margin"),
    _field("How much cash do I have?", None, "cash"),
]
"""Requests naming one field: the split the answers' number binding was developed on."""

FIELDS_HELDOUT: list[Case] = [
    _field("Tell me the bid price for GOOGL.", "GOOGL", "bid", True),
    _field("What's the ask price on AMD?", "AMD", "ask", True),
    _field("What did NFLX last trade at?", "NFLX", "last", True),
    _field("What's today's trading volume for AAPL?", "AAPL", "volume", True),
    _field("Give me the P/E of NVDA.", "NVDA", "pe_ratio", True),
    _field("What are MSFT's earnings per share?", "MSFT", "eps", True),
    _field("What is KO's dividend yield?", "KO", "dividend_yield", True),
    _field("What is the revenue growth rate of GOOGL?", "GOOGL", "revenue_growth", True),
    _field("What is XOM's debt-to-equity ratio?", "XOM", "debt_to_equity", True),
    _field("What is the operating margin for MSFT?", "MSFT", "operating_margin", True),
    _field("What is the price to earnings ratio of KO?", "KO", "pe_ratio", True),
    _field("What is the net margin of NVDA?", "NVDA", "net_margin", True),
    _field("What is my buying power?", None, "buying_power", True),
    _field("What is the EPS of PEP?", "PEP", "eps", True),
]
"""Requests naming one field, never used to tune the binding: the rate reported is this split's."""

CASES: list[Case] = [*SINGLES, *(turn for conversation in CONVERSATIONS for turn in conversation.turns)]
