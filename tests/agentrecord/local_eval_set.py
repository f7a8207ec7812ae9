"""Trading requests with the tool (and key arguments) a good agent picks for each; scores local models.

Used by `benchmarks/local_model_accuracy.py` to compare candidate models and prompt formats, and by
the tests to keep the set itself well-formed. `tool=None` means the request needs no tool: the agent
should answer in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["daytrader", "stock_investor"]

DAYTRADER_INSTRUCTIONS = "You are a day trader. You can watch the market and place trades for the user."
INVESTOR_INSTRUCTIONS = "You are a stock investor. You can review companies and invest for the user over time."


def quote_feed(symbol: str) -> dict[str, Any]:
    """Get the latest quote (bid, ask, last price, volume) for a stock ticker symbol such as AAPL."""
    return {"symbol": symbol.upper(), "bid": 189.95, "ask": 190.05, "last": 190.0, "volume": 51234000}


def order_entry(symbol: str, side: Literal["buy", "sell"], quantity: int) -> dict[str, Any]:
    """Place a market order to buy or sell shares of a stock for the user."""
    return {"status": "filled", "symbol": symbol.upper(), "side": side, "quantity": quantity, "price": 190.05}


def position_book() -> list[dict[str, Any]]:
    """List the user's open positions with quantity, average cost and unrealized P&L."""
    return [{"symbol": "AAPL", "quantity": 10, "average_cost": 180.0, "unrealized_pnl": 100.0}]


def fundamentals_feed(symbol: str) -> dict[str, Any]:
    """Get a company's fundamentals: P/E, revenue growth, margins, debt/equity, dividend yield."""
    return {"symbol": symbol.upper(), "pe": 28.4, "revenue_growth": 0.061, "net_margin": 0.25, "dividend_yield": 0.005}


def portfolio_book() -> dict[str, Any]:
    """Summarize the user's portfolio: cash, holdings, market value and total equity."""
    return {"cash": 81000.0, "market_value": 19000.0, "equity": 100000.0, "holdings": ["AAPL", "MSFT"]}


TOOLS: dict[Kind, list[Any]] = {
    "daytrader": [quote_feed, order_entry, position_book],
    "stock_investor": [fundamentals_feed, portfolio_book, order_entry],
}
INSTRUCTIONS: dict[Kind, str] = {"daytrader": DAYTRADER_INSTRUCTIONS, "stock_investor": INVESTOR_INSTRUCTIONS}


@dataclass(frozen=True)
class Case:
    """One request, the agent kind it is put to, and what a correct first step looks like."""

    kind: Kind
    prompt: str
    tool: str | None
    args: dict[str, Any] = field(default_factory=dict)
    category: str = ""

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


def _quote(prompt: str, symbol: str) -> Case:
    return Case("daytrader", prompt, "quote_feed", {"symbol": symbol}, "quote")


def _order(prompt: str, symbol: str, side: str, quantity: int, kind: Kind = "daytrader") -> Case:
    return Case(kind, prompt, "order_entry", {"symbol": symbol, "side": side, "quantity": quantity}, "order")


def _positions(prompt: str) -> Case:
    return Case("daytrader", prompt, "position_book", {}, "positions")


def _portfolio(prompt: str) -> Case:
    return Case("stock_investor", prompt, "portfolio_book", {}, "portfolio")


def _fundamentals(prompt: str, symbol: str) -> Case:
    return Case("stock_investor", prompt, "fundamentals_feed", {"symbol": symbol}, "fundamentals")


def _chat(prompt: str, kind: Kind = "daytrader") -> Case:
    return Case(kind, prompt, None, {}, "small talk")


CASES: list[Case] = [
    _quote("What is AAPL at?", "AAPL"),
    _quote("Get me a quote for MSFT.", "MSFT"),
    _quote("What's the price of NVDA right now?", "NVDA"),
    _quote("Show me the bid and ask for AMZN.", "AMZN"),
    _quote("Where is GOOGL trading?", "GOOGL"),
    _quote("Quote TSLA please.", "TSLA"),
    _quote("What's the last price of META?", "META"),
    _quote("Check the JPM stock price for me.", "JPM"),
    _quote("How much is one share of AMD?", "AMD"),
    _quote("What is the current quote on SPY?", "SPY"),
    _order("Buy 10 shares of AAPL.", "AAPL", "buy", 10),
    _order("Sell 5 shares of TSLA.", "TSLA", "sell", 5),
    _order("Place an order to buy 100 shares of MSFT.", "MSFT", "buy", 100),
    _order("I want to sell 20 shares of NVDA.", "NVDA", "sell", 20),
    _order("Purchase 3 shares of AMZN for me.", "AMZN", "buy", 3),
    _order("Sell 50 shares of KO now.", "KO", "sell", 50),
    _order("Buy 1 share of GOOGL.", "GOOGL", "buy", 1),
    _order("Go long 15 shares of META.", "META", "buy", 15),
    _order("Get rid of 30 shares of INTC, sell them.", "INTC", "sell", 30),
    _order("Please buy 25 shares of JPM.", "JPM", "buy", 25),
    _order("Buy 40 shares of JNJ for my portfolio.", "JNJ", "buy", 40, "stock_investor"),
    _order("Sell 12 shares of PG.", "PG", "sell", 12, "stock_investor"),
    _positions("What positions do I have open?"),
    _positions("Show my positions."),
    _positions("What am I holding right now?"),
    _positions("List my open positions and their P&L."),
    _positions("Do I have any open positions?"),
    _portfolio("How is my portfolio doing?"),
    _portfolio("Summarize my portfolio."),
    _portfolio("How much cash do I have in my account?"),
    _portfolio("Show me my holdings and total equity."),
    _portfolio("What is my account worth?"),
    _fundamentals("What is the P/E ratio of AAPL?", "AAPL"),
    _fundamentals("Show me the fundamentals for MSFT.", "MSFT"),
    _fundamentals("How fast is NVDA growing its revenue?", "NVDA"),
    _fundamentals("What's the dividend yield of KO?", "KO"),
    _fundamentals("How much debt does JNJ carry relative to equity?", "JNJ"),
    _fundamentals("What are the profit margins of GOOGL?", "GOOGL"),
    _chat("Hello!"),
    _chat("Thanks, that's all for today."),
    _chat("Who are you?"),
    _chat("Good morning!", "stock_investor"),
    _chat("What is a limit order?"),
    _chat("Explain what a stop loss is."),
    _chat("Thank you for the help.", "stock_investor"),
]
