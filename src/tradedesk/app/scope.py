"""The scope every area of the desk shares: one user's session, their agents, checked ids and amounts."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from tradedesk.agents.models import AGENT_KINDS, TradingAgent
from tradedesk.app.errors import Invalid, NotFound
from tradedesk.users import User

if TYPE_CHECKING:
    pass


MAX_ID = 2**63 - 1
"""The largest id a database row can have (SQLite's INTEGER): a larger one in a URL is simply not found."""


class Scope:
    """One signed-in user's session: what every area of the desk acts within; nothing reaches another user's rows."""

    def __init__(self, session: Session, user: User) -> None:
        self.session = session
        self.user = user

    @property
    def engine(self) -> Any:
        return self.session.get_bind()

    def agents(self) -> list[TradingAgent]:
        """The user's agents, day traders first."""
        return [*self.user.daytraders, *self.user.stock_investors]

    def agent(self, kind: str, agent_id: int | str) -> TradingAgent:
        cls = AGENT_KINDS.get(kind)
        found = None
        if cls is not None and str(agent_id).isdigit() and int(agent_id) <= MAX_ID:
            found = self.session.get(cls, int(agent_id))
        if found is None or found.user_id != self.user.id:
            raise NotFound(f"No agent {kind}/{agent_id}.")
        return found


def number(value: object, name: str) -> Decimal | None:
    """A non-negative amount the user typed (blank: None), else Invalid naming the field."""
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid(f"{name} must be a number (got {value!r}).") from None
    if not amount.is_finite() or amount < 0:
        raise Invalid(f"{name} must be zero or more (got {value!r}).")
    return amount
