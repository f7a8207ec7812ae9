"""Fixtures the runtime tests share: a test module's own tables on a real database.

A module names its tables once, `TABLES = SomeBase.metadata`, and its tests ask for `db` (a SQLite file, then
the session's PostgreSQL database) or `sqlite_db` (a SQLite file only, for subjects the database does not change:
provider faults, tracing, MCP servers).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData

from tests.factories import sqlite_engine


def module_tables(request: pytest.FixtureRequest) -> MetaData:
    """The requesting module's `TABLES`."""
    tables = getattr(request.module, "TABLES", None)
    if not isinstance(tables, MetaData):
        pytest.fail(f"{request.module.__name__} asks for a database: name its tables with `TABLES = <Base>.metadata`")
    return tables


@pytest.fixture
def db(engine: Engine, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """`engine` (a SQLite file, then PostgreSQL) with the module's tables made fresh, and dropped after the test
    (the PostgreSQL database is the session's: the next test finds none of them)."""
    tables = module_tables(request)
    tables.drop_all(engine)
    tables.create_all(engine)
    yield engine
    tables.drop_all(engine)


@pytest.fixture
def sqlite_db(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The module's tables on a fresh SQLite file only."""
    engine = sqlite_engine(tmp_path, module_tables(request))
    yield engine
    engine.dispose()
