"""The CLI's capital per agent: `agent allocate`, and the portfolio's "By agent" table (see `allocations`).

Registered on `cli_common.agent_app`; like the rest of the CLI it parses, calls one `Desk` method, and renders.
"""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradedesk.app import presenters as ui
from tradedesk.cli_common import CliError, JsonOption, _desk, _session, agent_app
from tradedesk.market.money import dollars

if TYPE_CHECKING:
    from tradedesk.brokerage.allocations import AgentBook


@agent_app.command("allocate")
def allocate(
    ctx: typer.Context,
    email: str,
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="daytrader/ID or stock_investor/ID.")],
    amount: Annotated[
        str | None, typer.Argument(metavar="[AMOUNT]", help="Dollars the agent may have in use; 'none' removes it.")
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove the allocation: the agent may use the account.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Set the capital an agent may trade with; the broker rejects its buys beyond it."""
    if clear == (amount is not None):
        raise CliError("give an AMOUNT in dollars (e.g. 5000) or --clear, not both or neither")
    with _session(ctx) as session:
        desk = _desk(session, email)
        book = desk.set_allocation(desk.agent_by_ref(agent), None if clear else amount)
        doc = {"user": desk.user.email, **ui.plain(book)}
    if as_json:
        ui.print_json(doc)
        return
    allowed = "none (it may use the whole account)" if book.allocation is None else dollars(book.allocation)
    typer.echo(f"{book.agent} of {doc['user']}: allocation {allowed}; {dollars(book.in_use)} in use.")


def by_agent_rows(books: "list[AgentBook]") -> list[dict[str, Any]]:
    """One row per book for the "By agent" table."""
    return [
        {
            "agent": b.agent,
            "allocation": "none" if b.allocation is None else b.allocation,
            "in_use": b.in_use,
            "positions": ", ".join(f"{p.quantity} {p.symbol}" for p in b.positions) or "-",
            "market_value": b.market_value,
            "realized_pnl": b.realized_pnl,
            "unrealized_pnl": b.unrealized_pnl,
        }
        for b in books
    ]


def print_by_agent(books: "list[AgentBook]") -> None:
    """The portfolio's "By agent" table (nothing if no agent traded or has an allocation)."""
    if books:
        ui.out().print(ui.table("By agent", by_agent_rows(books)))
