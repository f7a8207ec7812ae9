"""The application layer: one service module per area behind the `Desk` façade, errors, presenters and setup.

The CLI and the web come in here, and only here: they import nothing of the layers below (import-linter).
Besides `Desk` and its errors, the root names the few types, constants and errors of those layers that an
interface has to name itself: to annotate (`TradingAgent`, `User`, `Bar`), to show (the order statuses, the
equity report's longest span) or to catch and answer (`UnknownSymbol`, `BrokerError`: many operations raise
them; the sign-in errors are `account`'s). Its names load on first use, so a CLI command importing the
presenters pays for nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradedesk.agents.models import TradingAgent
    from tradedesk.app.desk import Desk
    from tradedesk.app.errors import Conflict, DeskError, Invalid, NotFound
    from tradedesk.brokerage.accounts import OPEN_STATUSES as OPEN_ORDER_STATUSES
    from tradedesk.brokerage.accounts import STATUSES as ORDER_STATUSES
    from tradedesk.brokerage.broker import BrokerError
    from tradedesk.brokerage.equity_report import MAX_DAYS as MAX_EQUITY_DAYS
    from tradedesk.market.protocol import Bar, UnknownSymbol
    from tradedesk.users.users import User

_HOMES = {
    "Desk": ("tradedesk.app.desk", "Desk"),
    "Conflict": ("tradedesk.app.errors", "Conflict"),
    "DeskError": ("tradedesk.app.errors", "DeskError"),
    "Invalid": ("tradedesk.app.errors", "Invalid"),
    "NotFound": ("tradedesk.app.errors", "NotFound"),
    # the lower layers' names an interface has to name
    "TradingAgent": ("tradedesk.agents.models", "TradingAgent"),
    "User": ("tradedesk.users.users", "User"),
    "Bar": ("tradedesk.market.protocol", "Bar"),
    "ORDER_STATUSES": ("tradedesk.brokerage.accounts", "STATUSES"),
    "OPEN_ORDER_STATUSES": ("tradedesk.brokerage.accounts", "OPEN_STATUSES"),
    "MAX_EQUITY_DAYS": ("tradedesk.brokerage.equity_report", "MAX_DAYS"),  # light: the CLI's help reads it
    "UnknownSymbol": ("tradedesk.market.protocol", "UnknownSymbol"),
    "BrokerError": ("tradedesk.brokerage.broker", "BrokerError"),
}

__all__ = [
    "MAX_EQUITY_DAYS",
    "OPEN_ORDER_STATUSES",
    "ORDER_STATUSES",
    "Bar",
    "BrokerError",
    "Conflict",
    "Desk",
    "DeskError",
    "Invalid",
    "NotFound",
    "TradingAgent",
    "UnknownSymbol",
    "User",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = home
    return getattr(importlib.import_module(module), attribute)
