"""The market and broker the platform's tools and CLI act on: the seeded simulation unless swapped.

The broker (and with it the ORM) is imported by `broker()`, so asking the market for a quote loads no database code.

`simulated(market, calendar)` swaps both for the current context only (a backtest's steps): the tools a turn runs
inside it see that market and trade on that calendar, while the rest of the process keeps the live ones. A turn's
tool calls run on agentrecord's loop and worker threads, which start from the caller's context (asyncio copies it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from tradedesk.market import Market, default_market

if TYPE_CHECKING:
    from tradedesk.brokerage.broker import Broker
    from tradedesk.market.calendar import Calendar

_lock = threading.Lock()
_market: Market | None = None
_simulated: ContextVar[tuple[Market, Calendar] | None] = ContextVar("tradedesk_simulated_market", default=None)


def market() -> Market:
    """The process's market (created on first use), or the simulated one of the current context."""
    global _market
    if (simulation := _simulated.get()) is not None:
        return simulation[0]
    with _lock:
        if _market is None:
            _market = default_market()
        return _market


def use_market(replacement: Market | None) -> None:
    """Swap the market (tests, CSV replays); None goes back to the default simulation."""
    global _market
    with _lock:
        _market = replacement


def broker() -> Broker:
    """A broker over the current market, keeping the hours TRADEDESK_EXCHANGE_HOURS names (NYSE by default)."""
    from tradedesk.brokerage.broker import Broker
    from tradedesk.market.calendar import calendar_from_env

    if (simulation := _simulated.get()) is not None:
        return Broker(simulation[0], calendar=simulation[1])
    return Broker(market(), calendar=calendar_from_env())


@contextmanager
def simulated(replacement: Market, calendar: Calendar) -> Iterator[None]:
    """Inside the block, in this context only, `market()` is `replacement` and `broker()` trades on `calendar`."""
    token = _simulated.set((replacement, calendar))
    try:
        yield
    finally:
        _simulated.reset(token)
