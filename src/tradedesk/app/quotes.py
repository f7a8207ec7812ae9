"""Market data for the interfaces: the symbols, a symbol's quote and its recent bars, from the process's market.

Imports no database code, so `tradedesk quote` and `tradedesk chart` stay quick.
"""

from __future__ import annotations

from tradedesk.brokerage import services
from tradedesk.market import Bar, Quote
from tradedesk.market.bars import MAX_BARS, Bars, recent

__all__ = ["MAX_BARS", "Bars", "quote", "quote_and_bars", "recent_bars", "symbols"]

SYMBOL_CHARS = 16
"""The longest symbol the quote page looks up (what is typed beyond it is cut)."""


def quote(symbol: str) -> Quote:
    """The latest quote for `symbol` as typed (stripped, in any case)."""
    return services.market().quote(symbol.strip().upper())


def recent_bars(symbol: str, interval: str = "1d", count: int = 30) -> Bars:
    """The last `count` bars of `symbol` by `interval` (`market.bars.recent`); ValueError on bad input."""
    return recent(services.market(), symbol, interval, count)


def symbols() -> list[str]:
    """The symbols the market lists."""
    return services.market().symbols()


def quote_and_bars(symbol: str, count: int = 48) -> tuple[Quote, list[Bar]]:
    """The quote page's lookup: the latest quote for `symbol` as typed (cut to 16 characters) and its last `count`
    bars at the market's default interval; `UnknownSymbol` for a symbol the market does not list."""
    market = services.market()
    found = market.quote(symbol.strip().upper()[:SYMBOL_CHARS])
    return found, market.bars(found.symbol, count=count)
