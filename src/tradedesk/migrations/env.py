"""Alembic environment: the target is every tradedesk table (users, agents and their messages, brokerage)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from agentrecord import create_engine
from tradedesk.agents import models  # noqa: F401
from tradedesk.backtests import runs  # noqa: F401  (the backtest tables)
from tradedesk.brokerage import broker, equity  # noqa: F401  (their tables register on Base)
from tradedesk.brokerage.db import Base, database_url
from tradedesk.users import identity  # noqa: F401

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs: object) -> None:
    # SQLite cannot ALTER most things in place: batch mode rebuilds the table instead.
    context.configure(target_metadata=target_metadata, render_as_batch=True, compare_type=True, **kwargs)  # type: ignore[arg-type]


def run_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url") or database_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or database_url())
    try:
        with engine.connect() as conn:
            run_on(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
