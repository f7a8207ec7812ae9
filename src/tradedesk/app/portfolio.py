"""The user's money: the portfolio as of now, by agent and allocation, trading costs, equity and P&L."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tradedesk.agents.models import TradingAgent
from tradedesk.app.errors import Invalid
from tradedesk.app.scope import Scope
from tradedesk.brokerage import allocations, costs, equity, equity_report, services
from tradedesk.brokerage.broker import Portfolio
from tradedesk.brokerage.costs import Costs

if TYPE_CHECKING:
    pass


NEW_YORK = ZoneInfo("America/New_York")


class PortfolioDesk(Scope):
    """One user's account: portfolio, allocations, costs and equity."""

    def portfolio(self) -> Portfolio:
        broker = services.broker()
        broker.work_orders(self.session, self.user.id)  # resting orders fill (or expire) as of now
        book = broker.portfolio(self.session, self.user.id)
        equity.snapshot(self.session, self.user.id, book)
        self.session.commit()
        return book

    def portfolio_by_agent(self) -> list[allocations.AgentBook]:
        """The account broken down by agent ("you": orders placed without one), with allocations and in use."""
        limits = {a.label: a.allocation for a in self.agents()}
        return allocations.by_agent(self.session, services.broker(), self.user.id, limits)

    def set_allocation(self, agent: TradingAgent, amount: str | None) -> allocations.AgentBook:
        """Set (or, with None, clear) the capital `agent` may use; all the user's allocations fit in equity."""
        try:
            value = allocations.parse(amount, agent.label, self.portfolio().equity, self._allocated(agent))
        except ValueError as error:
            raise Invalid(str(error)) from None
        agent.allocation = value
        self.session.commit()
        return next(b for b in self.portfolio_by_agent() if b.agent == agent.label)

    def _allocated(self, agent: TradingAgent) -> Decimal:
        return sum((a.allocation for a in self.agents() if a is not agent and a.allocation is not None), Decimal(0))

    def set_costs(
        self, commission_per_share: Decimal | None, commission_min: Decimal | None, impact_bps: Decimal | None
    ) -> Costs:
        """Change the account's trading costs (those given); returns them all. They apply to fills from now on."""
        account = services.broker().open_account(self.session, self.user.id)
        current = costs.of(account)
        try:
            new = Costs(
                current.commission_per_share if commission_per_share is None else commission_per_share,
                current.commission_min if commission_min is None else commission_min,
                current.impact_bps if impact_bps is None else impact_bps,
            )
        except ValueError as error:
            raise Invalid(str(error)) from None
        account.commission_per_share, account.commission_min, account.impact_bps = (
            new.commission_per_share,
            new.commission_min,
            new.impact_bps,
        )
        self.session.commit()
        return new

    def today_pnl(self, book: Portfolio) -> Decimal:
        """Equity now minus equity at the first snapshot of the market's day (New York)."""
        day_start = datetime.combine(book.as_of.astimezone(NEW_YORK).date(), time(0), NEW_YORK).astimezone(UTC)
        opening = equity.since(self.session, self.user.id, day_start)
        return book.equity - (opening if opening is not None else book.equity)

    def equity_history(self, limit: int = 500) -> list[tuple[datetime, Decimal]]:
        return equity.history(self.session, self.user.id, limit)

    def equity_report(self, days: int = 30, book: Portfolio | None = None) -> equity_report.EquityReport:
        """Drawdown and P&L per day over the last `days` days up to `book` (default: the portfolio as of now)."""
        if not 1 <= days <= equity_report.MAX_DAYS:
            raise Invalid(f"Ask for between 1 and {equity_report.MAX_DAYS} days (got {days}).")
        as_of = (book or self.portfolio()).as_of
        return equity_report.report(self.session, self.user.id, as_of, days)
