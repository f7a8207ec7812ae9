"""The `tradedesk` command line: users, their agents, talking to them, approvals, the paper brokerage.

A thin layer over the models, the broker and agentrecord. Every command prints JSON with `--json`;
errors print one line on stderr and exit 1. The database is `--db URL`, else TRADEDESK_DATABASE_URL,
else sqlite:///tradedesk.db in the working directory.
"""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradedesk.app import presenters as ui
from tradedesk.cli_common import (
    CliError,
    JsonOption,
    _agent,
    _agent_row,
    _agents,
    _database,
    _desk,
    _kind,
    _Root,
    _root,
    _session,
    _shown,
    _user,
    agent_app,
    app,
    user_app,
)

if TYPE_CHECKING:
    from agentrecord import Reply
    from tradedesk.agents.models import TradingAgent
    from tradedesk.app import desk
    from tradedesk.brokerage.broker import Portfolio

__all__ = ["CliError", "app", "main"]

DEMO_EMAIL = "demo@tradedesk.local"
DEMO_QUESTIONS = {
    "daytrader": ["What is the price of AAPL?", "Place an order to buy 10 shares of AAPL."],
    "stock_investor": ["What is the P/E ratio of MSFT?"],
}


@app.callback()
def _options(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option("--db", metavar="URL", help="Database URL [default: $TRADEDESK_DATABASE_URL, else tradedesk.db]."),
    ] = None,
    trace: Annotated[
        str | None,
        typer.Option(
            "--trace", metavar="otlp|console", help="Export traces: OTLP (to OTEL_EXPORTER_OTLP_ENDPOINT), or stderr."
        ),
    ] = None,
) -> None:
    ctx.obj = _Root(db)
    if trace is not None:
        from tradedesk.app.telemetry import export

        ctx.call_on_close(export(trace.strip().lower()))
    # The CLI owns its terminal: no pydantic-ai first-run banner amid the reply (read when a turn starts).
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")


def main() -> None:
    """Console script entry point."""
    app()


def _initialize(url: str) -> dict[str, Any]:
    from tradedesk.app import setup

    return {"database": _shown(url)} | setup.initialize(url)


# -- turns ---------------------------------------------------------------------------------------


def _stream(d: "desk.Desk", agent: "TradingAgent", prompt: str, *, echo: bool) -> "Reply[Any]":
    """Run a turn (once the desk's one check lets it through), a spinner on stderr until the first words arrive,
    then `label> words` as they come."""
    stream = d.stream(agent, prompt)
    with ui.err().status(f"{agent.label} is thinking…"):
        first = next(stream, None)
    if echo and first is not None:
        sys.stdout.write(f"{agent.label}> {first}")
        sys.stdout.flush()  # the first words show now, not with the second chunk
        for chunk in stream:
            sys.stdout.write(chunk)
            sys.stdout.flush()
        sys.stdout.write("\n")
    else:
        for _ in stream:  # the rest of the turn
            pass
    assert stream.reply is not None
    return stream.reply


def _decide(ctx: typer.Context, call_id: str, reason: str | None, as_json: bool) -> None:
    from tradedesk.app import desk

    verb = "approved" if reason is None else "denied"
    with _session(ctx) as session:
        agent = desk.holder(session, call_id)
        label, email = agent.label, agent.user.email
        with ui.err().status(f"{verb.capitalize()} {call_id}; {label} is resuming…"):
            decision = desk.decide(agent, call_id, reason)
        held, reply, job_id, still = decision.call, decision.reply, decision.job, decision.still_pending
        result = ui.call_result(reply.messages if reply is not None else [], call_id)
    if as_json:
        doc = ui.reply_json(label, reply, user=email, call_id=call_id, decision=verb, reason=reason)
        ui.print_json(doc | {"call": held, "result": result, "still_pending": still, "job": job_id})
        return
    what = ui.call_line(held.tool, held.args) if held else call_id
    console = ui.out()
    console.print(f"{verb.capitalize()} {call_id} on {label}: {what}", markup=False, soft_wrap=True)
    if job_id:
        console.print(
            f"Job {job_id} resumes the turn on a worker once every held call is decided: "
            f"follow it with `tradedesk job {job_id} --wait`.",
            markup=False,
            soft_wrap=True,
        )
        return
    if result is not None:
        console.print(f"  result: {ui.show(result)}", markup=False, soft_wrap=True)
    if reply is None:
        console.print("The turn resumes once its other held calls are decided:", markup=False)
        ui.print_pending(still, email=email)
        return
    if reply.text:
        console.print(f"{label}> {reply.text}", markup=False, soft_wrap=True)
    ui.print_turn_footer(reply, email=email)


# -- commands ------------------------------------------------------------------------------------


@app.command()
def init(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Create the database, or migrate it to this version's schema."""
    result = _initialize(_root(ctx).url)
    if as_json:
        ui.print_json(result)
    elif result["previous"] is None:
        typer.echo(f"Created the database {result['database']} (revision {result['revision']}).")
    elif result["changed"]:
        typer.echo(f"Migrated {result['database']} from revision {result['previous']} to {result['revision']}.")
    else:
        typer.echo(f"The database {result['database']} is up to date (revision {result['revision']}).")


@user_app.command("add")
def user_add(ctx: typer.Context, email: str, as_json: JsonOption = False) -> None:
    """Add a user (with a paper brokerage account)."""
    from tradedesk.app import desk

    with _session(ctx) as session:
        user = desk.add_user(session, email)
        session.commit()
        doc = {"id": user.id, "email": user.email}
    if as_json:
        ui.print_json(doc)
    else:
        typer.echo(f"Added user {doc['email']} (id {doc['id']}).")


@user_app.command("password")
def user_password(
    ctx: typer.Context,
    email: str,
    password: Annotated[
        str | None,
        typer.Option(help="The new password [default: asked for, hidden]; or set TRADEDESK_PASSWORD.", hidden=True),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Set a user's password for signing in on the web."""
    from tradedesk.users import identity

    secret = password or os.environ.get("TRADEDESK_PASSWORD")
    if secret is None:
        if not sys.stdin.isatty():
            secret = sys.stdin.readline().rstrip("\n")
        else:
            secret = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    with _session(ctx) as session:
        user = _user(session, email)
        try:
            identity.set_password(session, user, secret)
        except identity.IdentityError as error:
            raise CliError(str(error)) from None
        session.commit()
        doc = {"id": user.id, "email": user.email, "password": "set"}
    if as_json:
        ui.print_json(doc)
    else:
        typer.echo(f"Set the password of {doc['email']}.")


@agent_app.command("add")
def agent_add(
    ctx: typer.Context,
    email: str,
    kind: Annotated[str, typer.Argument(metavar="daytrader|stock_investor")],
    provider: Annotated[
        str | None, typer.Option(help="Provider [default: the first whose secret is set, else local].")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model [default: the kind's, or smollm2-135m on local].")] = None,
    as_json: JsonOption = False,
) -> None:
    """Give a user a day trader or a stock investor."""
    from agentrecord import ProviderNotConfigured
    from agentrecord import providers as agent_providers
    from tradedesk.app import desk

    _kind(kind)
    name = agent_providers.canonical(provider) if provider else desk.default_provider()
    with _session(ctx) as session:
        user = _user(session, email)
        if not desk.Desk(session, user).provider_ready(name):
            raise ProviderNotConfigured(name, agent_providers.secret_env_vars(name)[0])
        agent = desk.Desk(session, user).new_agent(kind, name, model)
        row = _agent_row(agent)
    if as_json:
        ui.print_json(row | {"user": user.email})
    else:
        typer.echo(f"Added {row['agent']} for {user.email} on {row['provider']} ({row['model']}).")


@app.command()
def agents(ctx: typer.Context, email: str, as_json: JsonOption = False) -> None:
    """List a user's agents with provider, model, tokens and cost."""
    with _session(ctx) as session:
        user = _user(session, email)
        rows = [_agent_row(a) for a in _agents(user)]
    if as_json:
        ui.print_json(rows)
    elif not rows:
        typer.echo(f"{user.email} has no agents: add one with `tradedesk agent add {user.email} daytrader`.")
    else:
        columns = ["agent", "provider", "model", "input_tokens", "output_tokens", "total_tokens", "cost"]
        today = ["today_tokens", "today_usd"]  # spent since 00:00 UTC, what the daily budgets count
        ui.out().print(ui.table(f"Agents of {user.email}", rows, [*columns, *today, "pending_approvals"]))


@app.command()
def talk(
    ctx: typer.Context,
    email: str,
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="daytrader/ID, stock_investor/ID, or just the kind.")],
    prompt: str,
    background: Annotated[
        bool, typer.Option("--background", help="Queue the turn for a worker and print the job id.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Talk to an agent: one turn, tools included; the reply streams in (or runs on a worker)."""
    with _session(ctx) as session:
        d = _desk(session, email)
        user, record = d.user, d.agent_by_ref(agent)
        if background:
            job = d.enqueue(record, prompt)
            if as_json:
                ui.print_json(job_view(job))
            else:
                typer.echo(job.id)
            return
        reply = _stream(d, record, prompt, echo=not as_json)
        if as_json:
            ui.print_json(ui.reply_json(record.label, reply, user=user.email, prompt=prompt))
        else:
            ui.print_turn_footer(reply, email=user.email)


@app.command()
def approvals(ctx: typer.Context, email: str, as_json: JsonOption = False) -> None:
    """List the tool calls waiting for a user's approval."""
    from tradedesk.app import desk

    with _session(ctx) as session:
        user = _user(session, email)
        rows = desk.Desk(session, user).approvals()
    if as_json:
        ui.print_json(rows)
    elif not rows:
        typer.echo(f"Nothing is waiting for {user.email}'s approval.")
    else:
        ui.out().print(ui.table(f"Waiting for {user.email}'s approval", rows))
        typer.echo("Approve with `tradedesk approve CALL_ID`, deny with `tradedesk deny CALL_ID --reason ...`.")


@app.command()
def approve(ctx: typer.Context, call_id: str, as_json: JsonOption = False) -> None:
    """Approve a held tool call: it runs and the agent's turn resumes."""
    _decide(ctx, call_id, None, as_json)


@app.command()
def deny(
    ctx: typer.Context,
    call_id: str,
    reason: Annotated[str, typer.Option(help="Told to the agent.")] = "The owner denied this call.",
    as_json: JsonOption = False,
) -> None:
    """Deny a held tool call: the agent is told why and its turn resumes."""
    _decide(ctx, call_id, reason, as_json)


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
    _print_portfolio(user.email, book)
    from tradedesk.cli_allocations import print_by_agent

    print_by_agent(by_agent)


def _print_portfolio(email: str, book: "Portfolio") -> None:
    values = ui.fields_of(book)
    positions = [ui.fields_of(p) for p in values.pop("positions", [])]
    console = ui.out()
    console.print(ui.pairs(f"Portfolio of {email}", {k: v for k, v in values.items() if not isinstance(v, list)}))
    if positions:
        console.print(ui.table("Positions", positions))
    else:
        console.print("No positions.")


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
        from tradedesk.cli_explain import order_id, print_explanation

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
        _print_orders(user.email, rows)


def _trail(row: dict[str, Any]) -> str | None:
    """A trailing stop's distance behind its water mark, in dollars or percent."""
    amount, percent = row.get("trail_amount"), row.get("trail_percent")
    if amount is not None:
        return f"${amount:,.2f}"
    return None if percent is None else f"{percent:g}%"


def _print_orders(email: str, rows: list[dict[str, Any]]) -> None:
    """The orders as a table; columns only some orders have (stops, trails, brackets, commissions) show if any does."""
    rows = [
        row
        | {
            "trail": _trail(row),
            "class": row.get("order_class"),
            "parent": row.get("parent_id"),
            "filled": row.get("filled_quantity", 0),
            "commission": row.get("commission"),
        }
        for row in rows
    ]
    columns = ["id", "agent", "class", "parent", "symbol", "side", "quantity", "order_type", "limit_price"]
    columns += ["stop_price", "trail", "time_in_force", "status", "filled", "fill_price", "commission", "reason"]
    optional = {"class", "parent", "stop_price", "trail", "commission"}
    shown = [c for c in columns if c not in optional or any(row.get(c) for row in rows)]
    ui.out().print(ui.table(f"Orders of {email}", rows, shown))


@app.command()
def quote(symbol: str, as_json: JsonOption = False) -> None:
    """The latest quote for a symbol."""
    from tradedesk.brokerage import services

    current = services.market().quote(symbol.strip().upper())
    if as_json:
        ui.print_json(current)
    else:
        ui.out().print(ui.pairs(None, ui.fields_of(current)))


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

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from agentrecord import ProviderNotConfigured
    from agentrecord import providers as agent_providers
    from tradedesk.agents.models import AGENT_KINDS
    from tradedesk.app import desk
    from tradedesk.users import User

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
        user = session.scalar(select(User).where(User.email == DEMO_EMAIL))
        if user is None:
            user = desk.add_user(session, DEMO_EMAIL)
            session.commit()
        for kind, cls in AGENT_KINDS.items():
            if not any(isinstance(a, cls) for a in _agents(user)):
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
        _print_orders(DEMO_EMAIL, order_rows)
    else:
        console.print("No orders.")
    _print_portfolio(DEMO_EMAIL, book)
    console.print(ui.table("Token usage", usage, ["agent", "provider", "model", "total_tokens", "cost"]))
    console.print(
        f"Explore: tradedesk --db {init_result['database']} agents {DEMO_EMAIL}", markup=False, soft_wrap=True
    )


# The other modules' commands, registered after this module's so that `--help` lists them in the same order.
from tradedesk import cli_allocations, cli_chart, cli_costs, cli_equity, cli_jobs, cli_orders, cli_safety, cli_usage  # noqa: E402, F401
from tradedesk.cli_jobs import job_view  # noqa: E402

if __name__ == "__main__":  # `python -m tradedesk.cli`
    main()
