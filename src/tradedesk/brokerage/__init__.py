"""The brokerage layer: the paper broker over the market, its tables, brackets, replaces, costs and equity.

Above `tradedesk.market`, below users, agents and the application. Its public names load on first use, so
`services.market()` (the CLI's `quote`) imports no database code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradedesk.brokerage.accounts import Account, Fill, Order, Position
    from tradedesk.brokerage.brackets import place_bracket, place_exits, place_oco
    from tradedesk.brokerage.broker import Broker, BrokerError, Holding, OrderNotFound, Portfolio, RiskLimits
    from tradedesk.brokerage.costs import Costs
    from tradedesk.brokerage.db import Base
    from tradedesk.brokerage.equity import EquitySnapshot
    from tradedesk.brokerage.exchange import TickResult, tick
    from tradedesk.brokerage.replace import replace_order

_HOMES = {
    "Account": "accounts",
    "Fill": "accounts",
    "Order": "accounts",
    "Position": "accounts",
    "place_bracket": "brackets",
    "place_exits": "brackets",
    "place_oco": "brackets",
    "Broker": "broker",
    "BrokerError": "broker",
    "Holding": "broker",
    "OrderNotFound": "broker",
    "Portfolio": "broker",
    "RiskLimits": "broker",
    "Costs": "costs",
    "Base": "db",
    "EquitySnapshot": "equity",
    "TickResult": "exchange",
    "tick": "exchange",
    "replace_order": "replace",
}

__all__ = [
    "Account",
    "Base",
    "Broker",
    "BrokerError",
    "Costs",
    "EquitySnapshot",
    "Fill",
    "Holding",
    "Order",
    "OrderNotFound",
    "Portfolio",
    "Position",
    "RiskLimits",
    "TickResult",
    "place_bracket",
    "place_exits",
    "place_oco",
    "replace_order",
    "tick",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
