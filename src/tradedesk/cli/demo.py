"""`tradedesk demo`: a demo user with one agent of each kind, real questions, orders, portfolio and usage."""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradedesk.app import presenters as ui
from tradedesk.cli.common import (
    JsonOption,
    _agent,
    _agent_row,
    _agents,
    _database,
    _initialize,
    _root,
    _stream,
    app,
)

if TYPE_CHECKING:
    pass


DEMO_EMAIL = "demo@tradedesk.local"
DEMO_QUESTIONS = {
    "daytrader": ["What is the price of AAPL?", "Place an order to buy 10 shares of AAPL."],
    "stock_investor": ["What is the P/E ratio of MSFT?"],
}


@app.command()
def demo(
    ctx: typer.Context,
    provider: Annotated[
        str | None, typer.Option(help="Provider [default: the first whose secret is set, else local].")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """A demo user with one agent of each kind, real questions, then orders, portfolio and token usage."""
    import tempfile

    from sqlalchemy.orm import Session

    from agentrecord import ProviderNotConfigured
    from agentrecord import providers as agent_providers
    from tradedesk.app import desk

    url = (
        _root(ctx).url
        if _root(ctx).db_given
        else f"sqlite:///{Path(tempfile.mkdtemp(prefix='tradedesk-')) / 'demo.db'}"
    )
    name = agent_providers.canonical(provider) if provider else desk.default_provider()
    if not agent_providers.is_configured(name):
        raise ProviderNotConfigured(name, agent_providers.secret_env_vars(name)[0])
    init_result = _initialize(url)
    console = ui.out()
    if not as_json:
        console.print(f"Database {init_result['database']} (revision {init_result['revision']}).", markup=False)
        if name == "local":
            console.print(
                "No provider secret set: the agents run on the embedded local model (SmolLM2-135M). It picks "
                "the right tool, but it is a small mind: trust the tool results under each reply over its words."
            )
    turns: list[dict[str, Any]] = []
    with _database(url) as engine, Session(engine) as session:
        user = desk.find_user(session, DEMO_EMAIL)
        if user is None:
            user = desk.add_user(session, DEMO_EMAIL)
            session.commit()
        for kind in desk.Desk(session, user).missing_kinds():
            desk.Desk(session, user).new_agent(kind, name, None)
        for kind, questions in DEMO_QUESTIONS.items():
            agent = _agent(user, kind)
            for question in questions:
                if agent.pending_approvals:
                    break  # a new turn would be refused until the held calls are decided
                if not as_json:
                    console.print(f"\n[bold]you → {agent.label}:[/bold] {question}")
                reply = _stream(desk.Desk(session, user), agent, question, echo=not as_json)
                if not as_json:
                    ui.print_turn_footer(reply, email=user.email)
                turns.append(ui.reply_json(agent.label, reply, prompt=question))
        session.expire_all()
        order_rows = desk.Desk(session, user).orders()
        book = desk.Desk(session, user).portfolio()
        usage = [_agent_row(a) for a in _agents(user)]
    if as_json:
        doc = {"database": init_result["database"], "user": DEMO_EMAIL, "provider": name, "turns": turns}
        ui.print_json(doc | {"orders": order_rows, "portfolio": book, "agents": usage})
        return
    console.print()
    if order_rows:
        ui.print_orders(DEMO_EMAIL, order_rows)
    else:
        console.print("No orders.")
    ui.print_portfolio(DEMO_EMAIL, book)
    console.print(ui.table("Token usage", usage, ["agent", "provider", "model", "total_tokens", "cost"]))
    console.print(
        f"Explore: tradedesk --db {init_result['database']} agents {DEMO_EMAIL}", markup=False, soft_wrap=True
    )
