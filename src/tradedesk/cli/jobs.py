"""The CLI's commands for agents acting over time: the worker, jobs, and schedules.

Registered on `common.app`; like the rest of the CLI they parse, call agentrecord's jobs API, and render.
agentrecord's jobs, the ORM and the worker (DBOS) are imported by the commands that use them.
"""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

from typing import TYPE_CHECKING, Annotated

import typer

from tradedesk.app import presenters as ui
from tradedesk.cli.common import JsonOption, _agents, _database, _desk, _root, _session, _shown, _user, app

if TYPE_CHECKING:
    pass

schedule_app = typer.Typer(no_args_is_help=True, help="Run prompts on a clock.")
app.add_typer(schedule_app, name="schedule")


@app.command()
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option(min=1, help="Turns this worker runs at once.")] = 100,
) -> None:
    """Run queued and scheduled turns and the exchange clock until SIGINT/SIGTERM (start any number)."""
    from tradedesk.app import platform_worker

    url = _root(ctx).url
    with _database(url):
        pass  # an initialized, up-to-date database, or the error saying to run `tradedesk init`
    ui.err().print(f"Worker on {_shown(url)}: running turns (concurrency {concurrency}); Ctrl-C stops.", markup=False)
    platform_worker.build(url, concurrency).run()


@app.command("jobs")
def jobs_list(
    ctx: typer.Context,
    email: str,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List a user's jobs: status, agent, prompt, times and tokens."""
    from sqlalchemy.orm import Session

    from agentrecord import jobs

    with _database(_root(ctx).url) as engine, Session(engine) as session:
        user = _user(session, email)
        rows = [ui.job_view(j) for j in jobs.jobs_of(engine, list(_agents(user)), limit)]
    if as_json:
        ui.print_json(rows)
    elif not rows:
        typer.echo(
            f"{user.email} has no jobs: queue one with `tradedesk talk {user.email} daytrader '...' --background`."
        )
    else:
        columns = ["id", "status", "agent", "prompt", "created_at", "finished_at", "input_tokens", "output_tokens"]
        ui.out().print(ui.table(f"Jobs of {user.email}", rows, columns))


@app.command("job")
def job_show(
    ctx: typer.Context,
    job_id: str,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it is done, failed, cancelled or held.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits.")] = 300.0,
    as_json: JsonOption = False,
) -> None:
    """Show one job, with its reply once done."""
    from agentrecord import jobs

    with _database(_root(ctx).url) as engine:
        found = jobs.job(engine, job_id)
        if wait:
            with ui.err().status(f"Waiting for job {job_id}…"):
                found = found.wait(timeout)
        doc = ui.job_view(found)
    if as_json:
        ui.print_json(doc)
        return
    ui.out().print(ui.pairs(f"Job {job_id}", {k: v for k, v in doc.items() if k != "text"}))
    if doc.get("text"):
        ui.out().print(f"{doc['agent']}> {doc['text']}", markup=False, soft_wrap=True)


@app.command()
def cancel(ctx: typer.Context, job_id: str, as_json: JsonOption = False) -> None:
    """Cancel a job: a queued one never starts, a running turn stops at its next step."""
    from agentrecord import jobs

    with _database(_root(ctx).url) as engine:
        doc = ui.job_view(jobs.job(engine, job_id).cancel())
    if as_json:
        ui.print_json(doc)
    else:
        typer.echo(f"Job {job_id} is {doc['status']}.")


@schedule_app.command("add")
def schedule_add(
    ctx: typer.Context,
    email: str,
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="daytrader/ID, stock_investor/ID, or just the kind.")],
    prompt: str,
    every: Annotated[str | None, typer.Option(help="An aligned interval: 10s, 5m, 1h, 1d.")] = None,
    cron: Annotated[str | None, typer.Option(help="A cron expression, e.g. '*/15 9-16 * * 1-5'.")] = None,
    tz: Annotated[
        str | None, typer.Option(help="Time zone of the cron [default: UTC; New York with --market-hours].")
    ] = None,
    market_hours: Annotated[
        bool, typer.Option("--market-hours", help="Skip ticks while the exchange is closed (NYSE session).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a prompt for an agent on a clock; each tick runs once however many workers run."""
    with _session(ctx) as session:
        d = _desk(session, email)
        made = d.add_schedule(d.agent_by_ref(agent), prompt, every=every, cron=cron, tz=tz, market_hours=market_hours)
        doc = ui.schedule_view(made)
    if as_json:
        ui.print_json(doc)
    else:
        typer.echo(f"Added schedule {doc['id']} for {doc['agent']}: {doc['cron']} ({doc['tz']}).")


@schedule_app.command("list")
def schedule_list(ctx: typer.Context, email: str, as_json: JsonOption = False) -> None:
    """List a user's schedules."""
    from sqlalchemy.orm import Session

    with _database(_root(ctx).url) as engine, Session(engine) as session:
        del engine
        user = _user(session, email)
        rows = [ui.schedule_view(s) for a in _agents(user) for s in a.schedules()]
    if as_json:
        ui.print_json(rows)
    elif not rows:
        typer.echo(
            f"{user.email} has no schedules: add one with `tradedesk schedule add {user.email} AGENT '...' --every 1h`."
        )
    else:
        ui.out().print(ui.table(f"Schedules of {user.email}", rows))


def _change(ctx: typer.Context, schedule_id: str, action: str, as_json: bool) -> None:
    from agentrecord import jobs

    with _database(_root(ctx).url) as engine:
        found = jobs.schedule(engine, schedule_id)
        if action == "remove":
            found.remove()
            doc = ui.schedule_view(found) | {"status": "removed"}
        else:
            doc = ui.schedule_view(found.pause() if action == "pause" else found.resume())
    if as_json:
        ui.print_json(doc)
    else:
        typer.echo(f"Schedule {schedule_id} is {doc['status']}.")


@schedule_app.command("pause")
def schedule_pause(ctx: typer.Context, schedule_id: str, as_json: JsonOption = False) -> None:
    """Pause a schedule: no ticks until it is resumed."""
    _change(ctx, schedule_id, "pause", as_json)


@schedule_app.command("resume")
def schedule_resume(ctx: typer.Context, schedule_id: str, as_json: JsonOption = False) -> None:
    """Resume a paused schedule (missed ticks are not replayed)."""
    _change(ctx, schedule_id, "resume", as_json)


@schedule_app.command("remove")
def schedule_remove(ctx: typer.Context, schedule_id: str, as_json: JsonOption = False) -> None:
    """Remove a schedule."""
    _change(ctx, schedule_id, "remove", as_json)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve pages only; separate `tradedesk worker` processes run turns.")
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, help="Turns the in-process worker runs at once.")] = 100,
) -> None:
    """Serve the web app (and, unless --no-worker, a worker in the same process) until Ctrl-C."""
    import uvicorn

    from tradedesk.app import platform_worker
    from tradedesk.web import create_app

    url = _root(ctx).url
    with _database(url):
        pass  # an initialized, up-to-date database, or the error saying to run `tradedesk init`
    running = None
    if not no_worker:
        running = platform_worker.build(url, concurrency)
        running.start()
    where = f"http://{host}:{port}/"
    ui.err().print(
        f"tradedesk on {where} ({_shown(url)}){'' if no_worker else ', with a worker'}; Ctrl-C stops.", markup=False
    )
    try:
        uvicorn.run(
            create_app(url), host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=5
        )
    finally:
        if running is not None:
            running.shutdown()  # turns stop at a step boundary; unfinished jobs resume on the next worker
