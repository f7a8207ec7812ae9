"""The application layer's one door: everything done on behalf of one user, shared by the CLI and the web.

`Desk(session, user)` scopes every operation to `user`: an agent, approval, order, schedule or job
of anyone else is `NotFound`, exactly as one that does not exist. Errors are `DeskError`s whose
message is the one line to show; `status` is the HTTP status the web answers with.

Each area is a module of its own (roster, turns, safety, schedules, decisions, portfolio, trading); `Desk`
puts them together, and this module names the application's functions and errors in one place.
"""

from __future__ import annotations

from tradedesk.app.backtests import BacktestDesk
from tradedesk.app.decisions import ApprovalDesk, Decision, decide, holder
from tradedesk.app.errors import Conflict, DeskError, Invalid, NotFound
from tradedesk.app.people import add_user, find_user, user_by_email
from tradedesk.app.portfolio import PortfolioDesk
from tradedesk.app.roster import KINDS, default_provider, kind_of
from tradedesk.app.scope import MAX_ID
from tradedesk.app.trading import OrderChanges, TradingDesk
from tradedesk.app.turns import TurnDesk

__all__ = [
    "KINDS",
    "MAX_ID",
    "Conflict",
    "Decision",
    "Desk",
    "DeskError",
    "Invalid",
    "NotFound",
    "OrderChanges",
    "add_user",
    "decide",
    "default_provider",
    "find_user",
    "holder",
    "kind_of",
    "user_by_email",
]


class Desk(BacktestDesk, TurnDesk, ApprovalDesk, PortfolioDesk, TradingDesk):
    """Operations for one signed-in user; nothing here reaches another user's rows."""
