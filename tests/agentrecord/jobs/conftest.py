"""A database with the job test agents and the job tables: a SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

import agentrecord
from agentrecord import jobs
from tests.conftest import PG_ADMIN_URL

from .job_models import Base


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def jobs_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """(url, engine) of an installed database; PostgreSQL gets a database of its own (DBOS uses its schema)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/jobs.db"
        yield from _installed(url)
        return
    if os.environ.get("AGENTRECORD_SKIP_POSTGRES") == "1":
        pytest.skip("AGENTRECORD_SKIP_POSTGRES=1")
    name = f"ar_jobs_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield from _installed(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _installed(url: str) -> Iterator[tuple[str, Engine]]:
    engine = agentrecord.create_engine(url)
    Base.metadata.create_all(engine)
    jobs.install(engine)
    yield url, engine
    engine.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    yield from _installed(f"sqlite:///{tmp_path}/jobs.db")
