"""The CLI's agents: `agent add`, `agents`, `talk`, and deciding held calls (`approvals`, `approve`, `deny`).

Registered on `common.app`; like the rest of the CLI they parse, call the application (`Desk`), and render.
"""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

from typing import TYPE_CHECKING, Annotated

import typer

from tradedesk.app import presenters as ui
from tradedesk.cli.common import (
    JsonOption,
    _agent_row,
    _agents,
    _desk,
    _kind,
    _session,
    _stream,
    _user,
    agent_app,
    app,
)

if TYPE_CHECKING:
    pass


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
                ui.print_json(ui.job_view(job))
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
