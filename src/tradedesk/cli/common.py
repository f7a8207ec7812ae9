"""What every `tradedesk` command module shares: the Typer apps, the one-line errors, the database and lookups.

Importing it costs Typer alone. The database, the application layer and agentrecord are imported by
the helpers that use them, so `tradedesk --help` and `tradedesk quote` never load pydantic-ai, alembic
or DBOS (tests/tradedesk/cli/test_cli_startup.py checks it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from tradedesk.app.errors import REFUSALS

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from agentrecord import Reply
    from tradedesk.app import TradingAgent, User, desk


class CliError(Exception):
    """A failure the user can fix; its message is the one line the CLI prints."""


_DATABASE_ERRORS = (("sqlalchemy.exc", "OperationalError"), ("sqlalchemy.exc", "ArgumentError"))
_EXPECTED = (
    *REFUSALS,  # the application's, and the lower layers' it lets through (an unknown symbol, a broker's refusal)
    *_DATABASE_ERRORS,
    ("alembic.util", "CommandError"),  # alembic: e.g. a database migrated by a newer tradedesk
)
"""The errors a user can act on, by module: named, not imported, so that a command pays only for its own imports."""


def _loaded(names: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    """The classes among `names` whose module is imported: one never imported cannot have raised anything."""
    return tuple(getattr(sys.modules[module], name) for module, name in names if module in sys.modules)


class _Commands(TyperGroup):
    """Turns the errors a user can act on into one line on stderr and exit status 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            if not isinstance(error, (CliError, *_loaded(_EXPECTED))):
                raise
            typer.echo(f"Error: {_one_line(error, ctx)}", err=True)
            ctx.exit(1)


def _one_line(error: BaseException, ctx: typer.Context) -> str:
    if isinstance(error, _loaded(_DATABASE_ERRORS)):
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        return f"Database error on {_shown(_root(ctx).url)}: {detail}"
    return " ".join(str(error).split())


def _plain_strings() -> None:
    """Let a `str` or `bool` parameter given a value of its type (or none) skip Typer's pydantic coercion.

    Typer 0.29 validates every parameter but a flag with a pydantic `TypeAdapter`, built when the
    command runs: pydantic and importlib.metadata, ~1.3x `import typer`, before `tradedesk quote` does
    anything. A str or a bool stays the same value there, so that path is skipped for them alone; every
    other type and value keeps Typer's own coercion (and so does everything if Typer's internals change).
    """
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer.core import _TyperParameter
    except ImportError:  # pragma: no cover - another Typer: its own coercion, only slower
        return
    original = getattr(_TyperParameter, "get_runtime_param", None)
    if original is None:  # pragma: no cover
        return

    @dataclass(frozen=True)
    class _Plain(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if type(value) is self.annotation:
                return value
            return build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self: Any) -> Any:
        described = self.type_descriptor
        if (
            getattr(self, "_runtime_param", None) is None
            and described.annotation in (str, bool)
            and described.file_annotation is None
            and described.parameter_info.parser is None
        ):
            self._runtime_param = _Plain(parameter_info=described.parameter_info, annotation=described.annotation)
        return original(self)

    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]


_plain_strings()

app: typer.Typer = typer.Typer(
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    help="Personal AI trading agents on a paper brokerage.",
    rich_markup_mode=None,  # click's plain help: Rich's would import rich.markdown and rich.traceback first (~0.3 s)
    context_settings={"max_content_width": 120},
)
user_app = typer.Typer(no_args_is_help=True, help="Manage users.")
agent_app: typer.Typer = typer.Typer(no_args_is_help=True, help="Manage agents.")
app.add_typer(user_app, name="user")
app.add_typer(agent_app, name="agent")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@dataclass
class _Root:
    """Options of the whole command line."""

    db: str | None

    @property
    def url(self) -> str:
        from tradedesk.app.setup import database_url

        return database_url(self.db)

    @property
    def db_given(self) -> bool:
        return bool(self.db or os.environ.get("TRADEDESK_DATABASE_URL"))


def _root(ctx: typer.Context) -> _Root:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, _Root) else _Root(None)


# -- database ------------------------------------------------------------------------------------


def _shown(url: str) -> str:
    from sqlalchemy import exc, make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return url


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return None
    return None if parsed.database.startswith("file:") else Path(parsed.database)


@contextmanager
def _database(url: str) -> Iterator[Engine]:
    """An engine on an initialized, up-to-date database (else a CliError saying to run `tradedesk init`)."""
    import agentrecord
    from tradedesk.app import setup

    missing = _sqlite_file(url)
    if missing is not None and not missing.exists():
        raise CliError(f"No database at {_shown(url)}: run `tradedesk init` to create it.")
    engine = agentrecord.create_engine(url)
    try:
        state = setup.revision(engine)
        if state.current is None:
            raise CliError(f"The database {_shown(url)} is not initialized: run `tradedesk init`.")
        if not state.up_to_date:
            raise CliError(
                f"The database {_shown(url)} is at revision {state.current}, this tradedesk needs {state.head}: "
                "run `tradedesk init` to migrate it."
            )
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _session(ctx: typer.Context) -> Iterator[Session]:
    from sqlalchemy.orm import Session

    with _database(_root(ctx).url) as engine, Session(engine, expire_on_commit=False) as session:
        yield session


def _initialize(url: str) -> dict[str, Any]:
    from tradedesk.app import setup

    return {"database": _shown(url)} | setup.initialize(url)


def _stream(d: desk.Desk, agent: TradingAgent, prompt: str, *, echo: bool) -> Reply[Any]:
    """Run a turn (once the desk's one check lets it through), a spinner on stderr until the first words arrive,
    then `label> words` as they come."""
    from tradedesk.app import presenters as ui

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


# -- lookups (the application layer does the work; these keep the CLI's names) -------------------


def _user(session: Session, email: str) -> User:
    from tradedesk.app import desk

    return desk.user_by_email(session, email)


def _kind(name: str) -> type[TradingAgent]:
    from tradedesk.app import desk

    return desk.kind_of(name)


def _agents(user: User) -> list[TradingAgent]:
    """The user's agents, day traders first."""
    from tradedesk.app import desk

    return desk.Desk(_session_of(user), user).agents()


def _desk(session: Session, email: str) -> desk.Desk:
    from tradedesk.app import desk

    return desk.Desk(session, _user(session, email))


def _agent(user: User, ref: str) -> TradingAgent:
    """`daytrader/3`, or `daytrader` when the user has exactly one."""
    from tradedesk.app import desk

    return desk.Desk(_session_of(user), user).agent_by_ref(ref)


def _agent_row(agent: TradingAgent) -> dict[str, Any]:
    from tradedesk.app import desk

    row = desk.Desk(_session_of(agent), agent.user).agent_row(agent)
    columns = ("agent", "kind", "id", "provider", "model", "input_tokens", "output_tokens", "total_tokens", "cost")
    return {k: row[k] for k in (*columns, "today_tokens", "today_usd", "pending_approvals")}


def _session_of(obj: object) -> Session:
    from sqlalchemy.orm import object_session

    session = object_session(obj)
    assert session is not None
    return session
