"""Market data for the interfaces: a symbol's quote and its recent bars, from the process's market.

Imports no database code, so `tradedesk quote` and `tradedesk chart` stay quick.
"""

from __future__ import annotations

from tradedesk.brokerage import services
from tradedesk.market import Quote
from tradedesk.market.bars import MAX_BARS, Bars, recent

__all__ = ["MAX_BARS", "Bars", "quote", "recent_bars"]


def quote(symbol: str) -> Quote:
    """The latest quote for `symbol` as typed (stripped, in any case)."""
    return services.market().quote(symbol.strip().upper())


def recent_bars(symbol: str, interval: str = "1d", count: int = 30) -> Bars:
    """The last `count` bars of `symbol` by `interval` (`market.bars.recent`); ValueError on bad input."""
    return recent(services.market(), symbol, interval, count)
