"""The market and broker the platform's tools and CLI act on: the seeded simulation unless swapped.

The broker (and with it the ORM) is imported by `broker()`, so asking the market for a quote loads no database code.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from tradedesk.market import Market, default_market

if TYPE_CHECKING:
    from tradedesk.brokerage.broker import Broker

_lock = threading.Lock()
_market: Market | None = None


def market() -> Market:
    """The process's market (created on first use)."""
    global _market
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

    return Broker(market(), calendar=calendar_from_env())
