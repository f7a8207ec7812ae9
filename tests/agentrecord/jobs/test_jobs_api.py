"""The jobs API from a process with no worker: keys, errors, schedules' timing, and the catch-up rule."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

import agentrecord
from agentrecord import jobs
from agentrecord.errors import AgentRecordError
from agentrecord.jobs.backend import backend_for
from agentrecord.jobs.dbos import index
from agentrecord.jobs.dbos.fleet import live as fleet_live
from agentrecord.jobs.timing import cron_of, previous_tick

from .fleet import fleet, prompts, traders, until
from .job_models import Base, Trader


def one(engine: Engine) -> tuple[Session, Trader]:
    session = Session(engine)
    (agent_id,) = traders(engine, 1)
    agent = session.get(Trader, agent_id)
    assert agent is not None
    return session, agent


def test_the_same_key_twice_makes_one_job(sqlite_db: tuple[str, Engine]) -> None:
    session, agent = one(sqlite_db[1])
    first = agent.enqueue("buy 1 AAPL", key="morning")
    again = agent.enqueue("buy 1 AAPL", key="morning")
    other = agent.enqueue("buy 1 AAPL", key="evening")
    assert first.id == again.id != other.id
    assert [j.id for j in agent.jobs()] == [other.id, first.id]
    assert first.status == "queued" and first.prompt == "buy 1 AAPL" and first.reply is None
    session.close()


def test_an_agents_jobs_come_from_the_job_index_which_install_backfills(sqlite_db: tuple[str, Engine]) -> None:
    url, engine = sqlite_db
    session, agent = one(engine)
    (other_id,) = traders(engine, 1)
    other = session.get(Trader, other_id)
    assert other is not None
    first, second = agent.enqueue("buy 1 AAPL"), agent.enqueue("buy 2 AAPL")
    other.enqueue("buy 3 AAPL")
    assert [j.id for j in agent.jobs()] == [second.id, first.id]
    assert [j.id for j in agent.jobs(limit=1)] == [second.id]
    with engine.begin() as conn:  # a database whose jobs predate the index
        conn.execute(delete(index.jobs))
    assert agent.jobs() == []
    jobs.install(url)
    assert [j.id for j in agent.jobs()] == [second.id, first.id]
    assert len(other.jobs()) == 1
    session.close()


async def test_aenqueue_queues_from_async_code(sqlite_db: tuple[str, Engine]) -> None:
    session, agent = one(sqlite_db[1])
    job = await agent.aenqueue("buy 2 AAPL")
    assert job.refresh().status == "queued"
    with pytest.raises(jobs.JobTimeout):
        await asyncio.wait_for(job.wait_async(0.2), 5)
    session.close()


def test_waiting_on_a_job_no_worker_picks_up_says_no_worker_is_running(sqlite_db: tuple[str, Engine]) -> None:
    session, agent = one(sqlite_db[1])
    job = agent.enqueue("buy 1 AAPL")
    with pytest.raises(jobs.JobTimeout, match="no worker is running: start one"):
        job.wait(0.3)
    session.close()


def test_an_unknown_job_id_is_a_clear_error(sqlite_db: tuple[str, Engine]) -> None:
    with pytest.raises(jobs.UnknownJob, match=r"No job traders\.1\.nope"):
        jobs.job(sqlite_db[1], "traders.1.nope")


def test_enqueueing_without_the_job_tables_says_how_to_create_them(tmp_path: Path) -> None:
    engine = agentrecord.create_engine(f"sqlite:///{tmp_path}/bare.db")
    Base.metadata.create_all(engine)
    session, agent = one(engine)
    with pytest.raises(jobs.JobsNotConfigured, match=r"agentrecord.jobs.install\(engine\)"):
        agent.enqueue("buy 1 AAPL")
    session.close()
    engine.dispose()


def test_a_prompt_must_be_text(sqlite_db: tuple[str, Engine]) -> None:
    session, agent = one(sqlite_db[1])
    with pytest.raises(AgentRecordError, match="non-empty prompt"):
        agent.enqueue("  ")
    session.close()


@pytest.mark.parametrize(
    ("every", "cron", "expected"),
    [
        ("10s", None, "*/10 * * * * *"),
        ("1s", None, "* * * * * *"),
        ("15m", None, "0 */15 * * * *"),
        ("1h", None, "0 0 * * * *"),
        ("6h", None, "0 0 */6 * * *"),
        ("1d", None, "0 0 0 * * *"),
        (None, "*/15 9-16 * * 1-5", "0 */15 9-16 * * 1-5"),
        (None, "*/5 * * * * *", "*/5 * * * * *"),
    ],
)
def test_intervals_and_cron_expressions_become_six_field_crons(
    every: str | None, cron: str | None, expected: str
) -> None:
    assert cron_of(every, cron) == expected


@pytest.mark.parametrize(
    ("every", "cron", "message"),
    [
        ("7s", None, "must divide 60"),
        ("5h", None, "must divide 24"),
        ("2d", None, "only '1d'"),
        ("soon", None, "Not an interval"),
        (None, "every day", "Not a cron expression"),
        (None, "* * * *", "Not a cron expression"),
        ("1m", "* * * * *", "exactly one"),
        (None, None, "exactly one"),
    ],
)
def test_bad_schedules_are_refused_saying_what_to_write(
    sqlite_db: tuple[str, Engine], every: str | None, cron: str | None, message: str
) -> None:
    session, agent = one(sqlite_db[1])
    with pytest.raises(jobs.ScheduleError, match=message):
        agent.schedule("hi", every=every, cron=cron)
    with pytest.raises(jobs.ScheduleError, match="Unknown time zone"):
        agent.schedule("hi", every="1h", tz="Mars/Olympus")
    with pytest.raises(jobs.ScheduleError, match="No calendar 'lunar'"):
        agent.schedule("hi", every="1h", calendar="lunar")
    assert agent.schedules() == []  # nothing half-made
    session.close()


def test_schedules_are_stored_and_changed_from_any_handle(sqlite_db: tuple[str, Engine]) -> None:
    url, engine = sqlite_db
    session, agent = one(engine)
    made = agent.schedule("Look for a trade", cron="*/15 9-16 * * 1-5", tz="America/New_York")
    assert (made.cron, made.tz, made.active, made.prompt) == (
        "0 */15 9-16 * * 1-5",
        "America/New_York",
        True,
        "Look for a trade",
    )
    elsewhere = agentrecord.create_engine(url)  # as another process would see it
    assert jobs.schedule(elsewhere, made.id).pause().active is False
    assert [s.active for s in agent.schedules()] == [False]
    assert jobs.schedule(elsewhere, made.id).resume().active is True
    made.remove()
    assert agent.schedules() == []
    with pytest.raises(jobs.ScheduleError, match="No schedule"):
        made.pause()
    elsewhere.dispose()
    session.close()


def test_ticks_missed_while_no_worker_ran_make_one_catch_up_run_not_a_burst(
    sqlite_db: tuple[str, Engine], monkeypatch: Any
) -> None:
    url, engine = sqlite_db
    session, agent = one(engine)
    made = agent.schedule("buy 1 IBM", cron="0 */10 * * * *")  # every ten minutes: none fires during the test
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    backend_for(engine)._client._sys_db.update_last_fired_at(made.id, two_hours_ago.isoformat())  # type: ignore[attr-defined]
    with fleet(url, monkeypatch) as (_, workers):
        workers.start(1)
        until(lambda: any(j.status == "done" for j in agent.jobs()), 60, "the catch-up run")
        due = previous_tick(made.cron, "UTC", datetime.now(UTC))
        (caught_up,) = agent.jobs()  # twelve ticks were missed; one run, for the latest of them
        assert caught_up.id.endswith(f"-{int(due.timestamp())}") and caught_up.schedule == made.id
        assert prompts(agent.messages) == ["buy 1 IBM"]
        for proc in workers.procs:
            proc.terminate()
            proc.wait(30)
        workers.start(1)  # a second start finds the catch-up made already: no second run
        until(lambda: len(fleet_live(engine)) == 1, 60, "the second worker")
        time.sleep(3)
        crossed = previous_tick(made.cron, "UTC", datetime.now(UTC)) != due  # a regular tick may have come due
        assert len(agent.jobs()) == 1 or crossed
    session.close()


def test_a_worker_on_a_database_without_job_tables_says_so_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path}/bare.db"
    agentrecord.create_engine(url).dispose()
    done = subprocess.run(
        [sys.executable, "-m", "agentrecord.jobs", "worker", url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("Error: ") and "agentrecord.jobs.install(engine)" in done.stderr


def test_a_job_enqueued_under_a_span_stores_that_trace_for_its_worker(
    sqlite_db: tuple[str, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from agentrecord import tracing

    provider = TracerProvider()
    monkeypatch.setattr(tracing, "_config", tracing._Config())
    session, agent = one(sqlite_db[1])
    untraced = agent.enqueue("no trace while tracing is off")
    tracing.enable(tracer_provider=provider)
    with provider.get_tracer("test").start_as_current_span("web request") as span:
        traced = agent.enqueue("buy 1 AAPL")
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert trace_id in traced._info.request["trace"]["traceparent"]
    assert "trace" not in untraced._info.request
    session.close()
    provider.shutdown()
