"""A database with the job test agents and the job tables: a SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

import agentrecord
from agentrecord import jobs
from tests.conftest import fresh_pg_database

from .job_models import Base


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def jobs_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """(url, engine) of an installed database; PostgreSQL gets a database of its own (DBOS uses its schema)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/jobs.db"
        yield from _installed(url)
        return
    with fresh_pg_database("ar_jobs") as url:
        yield from _installed(url)


def _installed(url: str) -> Iterator[tuple[str, Engine]]:
    engine = agentrecord.create_engine(url)
    Base.metadata.create_all(engine)
    jobs.install(engine)
    yield url, engine
    engine.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    yield from _installed(f"sqlite:///{tmp_path}/jobs.db")
