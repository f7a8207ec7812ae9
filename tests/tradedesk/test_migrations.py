"""The packaged migration creates exactly the tables of the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

import tradedesk
from agentrecord import create_engine
from tradedesk import migrations
from tradedesk.agents import models  # noqa: F401  (every table registers on Base)
from tradedesk.backtests import runs  # noqa: F401
from tradedesk.brokerage import broker, equity  # noqa: F401  (every table registers on Base)
from tradedesk.brokerage.db import Base
from tradedesk.users import identity  # noqa: F401

from .isolated import schema_url


@pytest.fixture
def empty(db_url: str) -> Iterator[tuple[str, Engine]]:
    """An empty database: a new SQLite file, or a new schema of the session's PostgreSQL database."""
    with ExitStack() as stack:
        url = stack.enter_context(schema_url(db_url)) if db_url.startswith("postgresql") else db_url
        engine = create_engine(url)
        stack.callback(engine.dispose)
        assert inspect(engine).get_table_names() == []
        yield url, engine


def test_the_migration_creates_exactly_the_models_tables(empty: tuple[str, Engine]) -> None:
    url, engine = empty
    state = migrations.upgrade(url)
    assert state.current == migrations.head() and state.up_to_date
    tables = set(inspect(engine).get_table_names())
    assert tables == {*Base.metadata.tables, "alembic_version"}
    expected = {"users", "daytraders", "stock_investors", "daytraders_messages", "stock_investors_messages"}
    assert expected | {"accounts", "positions", "orders"} <= tables
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diffs == []


def test_upgrading_twice_is_a_no_op_and_downgrade_removes_every_table(empty: tuple[str, Engine]) -> None:
    url, engine = empty
    first = migrations.upgrade(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (email) VALUES ('kept@example.com')"))
    assert migrations.upgrade(url) == first
    with engine.connect() as conn:
        assert conn.execute(text("SELECT email FROM users")).scalars().all() == ["kept@example.com"]
    command.downgrade(migrations.config(url), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert migrations.status(engine).current is None


def test_the_head_a_database_is_checked_against_is_the_newest_version_script() -> None:
    assert migrations.head() == migrations.HEAD


def test_the_status_reads_each_stage_the_same_as_alembic(empty: tuple[str, Engine]) -> None:
    url, engine = empty
    assert migrations.status(engine) == migrations.Status(None, migrations.HEAD)
    command.upgrade(migrations.config(url), "0010")
    state = migrations.status(engine)
    with engine.connect() as conn:
        assert state.current == MigrationContext.configure(conn).get_current_revision() == "0010"
    assert not state.up_to_date
    migrations.upgrade(url)
    assert migrations.status(engine).up_to_date


def test_the_migrations_ship_inside_the_package() -> None:
    location = Path(migrations.SCRIPT_LOCATION)
    assert location.parent == Path(tradedesk.__file__).resolve().parent
    assert (location / "env.py").is_file() and (location / "script.py.mako").is_file()
    assert list((location / "versions").glob("0001_*.py"))


def test_a_url_with_a_percent_sign_survives_the_alembic_config(tmp_path: Path) -> None:
    folder = tmp_path / "100%done"
    folder.mkdir()
    url = f"sqlite:///{folder}/t.db"
    assert migrations.config(url).get_main_option("sqlalchemy.url") == url
    assert migrations.upgrade(url).up_to_date


def test_downgrading_below_stop_orders_refuses_while_any_exist_and_keeps_them(empty: tuple[str, Engine]) -> None:
    url, engine = empty
    migrations.upgrade(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, email) VALUES (1, 'stops@example.com')"))
        conn.execute(
            text(
                "INSERT INTO orders (user_id, symbol, side, quantity, order_type, time_in_force, status, stop_price,"
                " created_at) VALUES (1, 'KO', 'sell', 5, 'stop', 'gtc', 'new', 60, CURRENT_TIMESTAMP)"
            )
        )
    with pytest.raises(RuntimeError, match="1 stop orders exist"):
        command.downgrade(migrations.config(url), "0004")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT order_type FROM orders")).scalars().all() == ["stop"]
        conn.execute(text("DELETE FROM orders"))
    command.downgrade(migrations.config(url), "0004")
    assert "stop_price" not in {c["name"] for c in inspect(engine).get_columns("orders")}


def test_order_states_migrate_open_orders_to_new_or_accepted_and_count_filled_shares(
    empty: tuple[str, Engine],
) -> None:
    url, engine = empty
    command.upgrade(migrations.config(url), "0007")
    insert = (
        "INSERT INTO orders (user_id, symbol, side, quantity, order_type, time_in_force, status, fill_price, reason,"
        " created_at) VALUES (1, 'KO', 'buy', :q, 'limit', 'gtc', :status, :price, :reason, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, email) VALUES (1, 'states@example.com')"))
        for q, status, price, reason in [
            (5, "open", None, None),
            (6, "open", None, "the exchange is closed: this order waits for the open (2025-03-03 14:30 UTC)"),
            (7, "filled", "61.37", None),
            (8, "rejected", None, "insufficient cash"),
        ]:
            conn.execute(text(insert), {"q": q, "status": status, "price": price, "reason": reason})
    migrations.upgrade(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT quantity, status, filled_quantity, filled_value FROM orders ORDER BY id"))
        got = [(q, status, filled, Decimal(str(value))) for q, status, filled, value in rows]
    assert got == [
        (5, "new", 0, 0),
        (6, "accepted", 0, 0),
        (7, "filled", 7, Decimal("429.59")),
        (8, "rejected", 0, 0),
    ]
    command.downgrade(migrations.config(url), "0007")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM orders ORDER BY id")).scalars().all() == [
            "open",
            "open",
            "filled",
            "rejected",
        ]
