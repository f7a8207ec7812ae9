"""Shared fixtures: real databases (a SQLite file and a PostgreSQL database), created fresh per test."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine, create_engine, text

from agentrecord import tracing

if "AGENTRECORD_CACHE_DIR" not in os.environ:  # the embedded model's stored scoring states: this run's own
    os.environ["AGENTRECORD_CACHE_DIR"] = tempfile.mkdtemp(prefix="agentrecord-cache-")
    atexit.register(shutil.rmtree, os.environ["AGENTRECORD_CACHE_DIR"], True)

PG_ADMIN_URL = os.environ.get("AGENTRECORD_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session (dropped at the end)."""
    if os.environ.get("AGENTRECORD_SKIP_POSTGRES") == "1":
        pytest.skip("AGENTRECORD_SKIP_POSTGRES=1")
    name = f"agentrecord_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem, reported loudly
        pytest.fail(
            f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({exc}). Start it, point AGENTRECORD_PG_ADMIN_URL "
            "at one, or set AGENTRECORD_SKIP_POSTGRES=1 to skip the PostgreSQL half of the suite."
        )
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """A database URL: a SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/agents.db"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a freshly created schema of the seed models."""
    from agentrecord import create_engine as agent_engine
    from tests.agentrecord.seed import Base

    eng = agent_engine(db_url)
    Base.metadata.drop_all(eng)
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


@contextlib.contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str]:
    """The URL of a PostgreSQL database of its own (for code that owns a schema, like DBOS), dropped after."""
    if os.environ.get("AGENTRECORD_SKIP_POSTGRES") == "1":
        pytest.skip("AGENTRECORD_SKIP_POSTGRES=1")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one test process per core and one more, since much of the suite waits on real time (worker
    ticks, schedules, servers) while another process computes. On 2 cores: 2 took 359 s, 3 took 313 s, 4 took
    327 s (BENCHMARKS.md). PYTEST_XDIST_AUTO_NUM_WORKERS still decides when set."""
    named = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "").strip()
    if named.isdigit():
        return int(named)
    return (os.cpu_count() or 1) + 1


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "battery: a case of the bad-input battery (tests/tradedesk/app/test_bad_input.py)"
    )
    # pytest-xdist starts its workers with COLUMNS=80, which would make the CLI's piped tables 80 wide instead of
    # 160 (see tradedesk.app.presenters): the tests see the same output on one process as on several.
    os.environ.pop("COLUMNS", None)


# The modules whose tests take longest (`--durations`), longest first. pytest-xdist hands out tests in collection
# order, so a long test collected last keeps one process busy after the others have finished: started first, it
# runs while the short ones fill the other processes.
LONG_FIRST = (
    "tests/agentrecord/local/test_local_model.py",
    "tests/tradedesk/app/test_worker.py",
    "tests/agentrecord/local/test_local_trust.py",
    "tests/tradedesk/app/test_soak.py",
    "tests/tradedesk/web/test_schemathesis.py",
    "tests/tradedesk/app/test_secret_scan.py",
    "tests/agentrecord/jobs/test_workers.py",
    "tests/tradedesk/brokerage/test_broker_stop_properties.py",
    "tests/tradedesk/brokerage/test_bracket_properties.py",
    "tests/tradedesk/cli/test_cli.py",
)


def _check_long_first() -> None:
    root = Path(__file__).resolve().parents[1]
    moved = [p for p in LONG_FIRST if not (root / p).is_file()]
    if moved:
        raise pytest.UsageError(f"tests/conftest.py LONG_FIRST names test files that do not exist: {moved}")


def _start_early(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return LONG_FIRST.index(path) if path in LONG_FIRST else len(LONG_FIRST)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`--dist loadgroup`), keep a module's tests on one worker when they share a fixture
    wider than a test (a served platform, a browser, a warm process pool), so it is set up once, not per worker."""
    _check_long_first()
    items.sort(key=_start_early)
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else ()
        if any(d.scope in ("class", "module", "package") for chain in defs for d in chain):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Report how many bad-input cases ran (and passed), when the battery was part of the run."""
    ran = [
        r
        for kind in ("passed", "failed")
        for r in terminalreporter.stats.get(kind, [])
        if getattr(r, "when", "") == "call" and "test_bad_input[" in r.nodeid
    ]
    if ran:
        passed = sum(r.passed for r in ran)
        terminalreporter.write_line(f"bad-input battery: {len(ran)} cases run, {passed} passed")


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """agentrecord's tracing on, into an in-memory exporter, for this test only."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_config", tracing._Config())  # restored after the test
    tracing.enable(tracer_provider=provider)
    yield exporter
    provider.shutdown()
