"""The CLI's account: `portfolio` (with its "By agent" table), `orders` (and one's audit trail), `quote`, and
`agent allocate`, the capital per agent (see `allocations`).

Registered on `common.app`; like the rest of the CLI they parse, call the application (`Desk`), and render.
"""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

from typing import TYPE_CHECKING, Annotated

import typer

from tradedesk.app import presenters as ui
from tradedesk.cli.common import CliError, JsonOption, _desk, _session, _user, agent_app, app

if TYPE_CHECKING:
    pass


@app.command()
def portfolio(ctx: typer.Context, email: str, as_json: JsonOption = False) -> None:
    """A user's cash, positions, equity and P&L."""
    from tradedesk.app import desk

    with _session(ctx) as session:
        user = _user(session, email)
        book = desk.Desk(session, user).portfolio()
        by_agent = desk.Desk(session, user).portfolio_by_agent()
    if as_json:
        ui.print_json({"user": user.email, **ui.plain(book), "by_agent": by_agent})
        return
    ui.print_portfolio(user.email, book)
    ui.print_by_agent(by_agent)


@app.command()
def orders(
    ctx: typer.Context,
    email: str,
    explain: Annotated[
        str | None,
        typer.Option(
            "--explain", metavar="ORDER_ID", help="The order's audit trail: prompt, model, tool call, approval, fills."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """A user's orders, newest first."""
    from tradedesk.app import desk

    if explain is not None:
        from tradedesk.app.explanation import order_id, print_explanation

        with _session(ctx) as session:
            print_explanation(_desk(session, email).explain(order_id(explain)), as_json=as_json)
        return
    with _session(ctx) as session:
        user = _user(session, email)
        rows = desk.Desk(session, user).orders()
    if as_json:
        ui.print_json(rows)
    elif not rows:
        typer.echo(f"{user.email} has no orders.")
    else:
        ui.print_orders(user.email, rows)


@app.command()
def quote(symbol: str, as_json: JsonOption = False) -> None:
    """The latest quote for a symbol."""
    from tradedesk.app import quotes

    current = quotes.quote(symbol)
    if as_json:
        ui.print_json(current)
    else:
        ui.out().print(ui.pairs(None, ui.fields_of(current)))


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
    allowed = "none (it may use the whole account)" if book.allocation is None else ui.dollars(book.allocation)
    typer.echo(f"{book.agent} of {doc['user']}: allocation {allowed}; {ui.dollars(book.in_use)} in use.")
