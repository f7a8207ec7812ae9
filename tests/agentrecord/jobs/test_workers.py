"""Queued turns on real worker processes: order per agent, crash recovery, cancellation, approvals, shutdown."""

from __future__ import annotations

import itertools
import signal
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from .fleet import check_history, fleet, orders_of, prompts, traders, until, usage_matches
from .job_models import Execution, Trader

pytestmark = pytest.mark.timeout(240)


def workers_for(url: str) -> int:
    return 2 if url.startswith("sqlite") else 3


def load(engine: Engine, ids: list[int]) -> tuple[Session, list[Trader]]:
    session = Session(engine)
    return session, [session.get(Trader, i) for i in ids]  # type: ignore[misc]


def test_twenty_agents_five_turns_each_run_once_in_order(jobs_db: tuple[str, Engine], monkeypatch: Any) -> None:
    url, engine = jobs_db
    with fleet(url, monkeypatch) as (_, workers):
        workers.start(workers_for(url))
        session, agents = load(engine, traders(engine, 20))
        queued = {a.id: [a.enqueue(f"buy {n + 1} AAPL") for n in range(5)] for a in agents}
        for job in [j for js in queued.values() for j in js]:
            done = job.wait(120)
            assert done.status == "done", (done.status, done.error)
        for agent in agents:
            messages = agent.messages
            assert prompts(messages) == [f"buy {n + 1} AAPL" for n in range(5)]  # once each, in enqueue order
            check_history(messages)  # one turn at a time: never interleaved
            assert [o.quantity for o in sorted(orders_of(engine, agent.id), key=lambda o: o.id)] == [1, 2, 3, 4, 5]
            session.refresh(agent)
            assert usage_matches(agent)
        session.close()


def test_a_worker_killed_mid_turn_loses_and_repeats_nothing(jobs_db: tuple[str, Engine], monkeypatch: Any) -> None:
    url, engine = jobs_db
    with fleet(url, monkeypatch, delay=0.6) as (_, workers):
        procs = workers.start(workers_for(url))
        session, agents = load(engine, traders(engine, 8))
        queued = [a.enqueue(f"buy {n + 2} MSFT") for a in agents for n in range(2)]

        def running_on() -> Counter[int]:
            jobs_now = [j.refresh() for j in queued]
            return Counter(int(j.worker.split(":")[1]) for j in jobs_now if j.status == "running")

        until(lambda: _executed(engine) >= 1 and bool(running_on()), 60, "turns running, and tools executed")
        busiest = running_on().most_common(1)[0][0]
        workers.kill(next(p for p in procs if p.pid == busiest))  # kill -9 while its turns wait on the model
        for job in queued:
            done = job.wait(120)
            assert done.status == "done", (done.status, done.error)
        for agent in agents:
            messages = agent.messages
            assert prompts(messages) == [f"buy {n + 2} MSFT" for n in range(2)]
            check_history(messages)
            calls = [p.tool_call_id for m in messages for p in getattr(m, "parts", []) if p.part_kind == "tool-call"]
            orders = orders_of(engine, agent.id)
            assert sorted(o.call_id for o in orders) == sorted(calls)  # each call made exactly one order
            session.refresh(agent)
            assert usage_matches(agent)
        session.close()


def _executed(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count(Execution.id))) or 0)


def test_a_queued_job_cancelled_never_starts_and_a_running_one_stops_at_a_step(
    jobs_db: tuple[str, Engine], monkeypatch: Any
) -> None:
    url, engine = jobs_db
    with fleet(url, monkeypatch, delay=1.5) as (server, workers):
        workers.start(workers_for(url))
        session, (agent,) = load(engine, traders(engine, 1))
        running, queued = agent.enqueue("buy 3 NVDA"), agent.enqueue("buy 4 NVDA")
        assert queued.cancel().status == "cancelled"
        until(lambda: server.received == 1, 30, "the first job's model request")
        assert running.cancel().status == "cancelled"  # while the model is thinking
        time.sleep(3)
        assert running.refresh().status == "cancelled" and queued.refresh().status == "cancelled"
        messages = agent.messages
        assert prompts(messages) == ["buy 3 NVDA"]  # the queued job never started
        assert [m.kind for m in messages] == ["request", "response"]  # the tool call it had decided is kept
        assert orders_of(engine, agent.id) == []  # and stopped before the tools ran
        after = agent.enqueue("buy 5 NVDA").wait(30)  # the agent is free again
        assert after.status == "done", after.error
        session.close()


def test_a_job_held_for_approval_resumes_when_another_process_decides(
    jobs_db: tuple[str, Engine], monkeypatch: Any
) -> None:
    url, engine = jobs_db
    with fleet(url, monkeypatch, env={"JOBS_TEST_APPROVAL_AT": "100"}) as (_, workers):
        workers.start(1)
        session, (agent,) = load(engine, traders(engine, 1))
        big, after = agent.enqueue("buy 500 AMD"), agent.enqueue("buy 2 AMD")
        held = big.wait(60)
        assert held.status == "waiting_approval"
        assert after.refresh().status == "queued"  # the agent's next job waits behind the decision
        (pending,) = agent.pending_approvals
        assert agent.approve(pending.call_id, by="the owner") is None  # recorded here; the job resumes on its worker
        assert big.wait(60).status == "done"
        assert after.wait(60).status == "done"
        assert [o.quantity for o in orders_of(engine, agent.id)] == [500, 2]
        assert [o.approved_by for o in orders_of(engine, agent.id)] == ["the owner", None]  # the worker's tool saw it
        refused = agent.enqueue("buy 900 AMD").wait(60)
        assert refused.status == "waiting_approval"
        assert agent.deny(agent.pending_approvals[0].call_id, "too big") is None
        assert refused.wait(60).status == "done"  # the model was told, and answered
        assert [o.quantity for o in orders_of(engine, agent.id)] == [500, 2]  # nothing placed
        assert prompts(agent.messages) == ["buy 500 AMD", "buy 2 AMD", "buy 900 AMD"]
        session.close()


def test_sigterm_stops_turns_at_a_step_and_another_worker_finishes_them(
    sqlite_db: tuple[str, Engine], monkeypatch: Any
) -> None:
    url, engine = sqlite_db
    with fleet(url, monkeypatch, delay=1.0) as (_, workers):
        (first,) = workers.start(1)

        session, agents = load(engine, traders(engine, 3))
        queued = [a.enqueue("buy 7 TSLA") for a in agents]
        until(lambda: all(j.refresh().status == "running" for j in queued), 30, "all three running")
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
        assert all(j.refresh().status == "running" for j in queued)  # not failed, not done: handed back
        workers.start(1)
        for job in queued:
            assert job.wait(60).status == "done"
        for agent in agents:
            check_history(agent.messages)
            assert len(orders_of(engine, agent.id)) == 1
        session.close()


def test_a_schedule_every_two_seconds_over_three_workers_runs_once_per_tick(
    jobs_db: tuple[str, Engine], monkeypatch: Any
) -> None:
    url, engine = jobs_db
    with fleet(url, monkeypatch) as (_, workers):
        session, (agent,) = load(engine, traders(engine, 1))
        made = agent.schedule("buy 1 IBM", every="2s")
        assert made.cron == "*/2 * * * * *" and made.active
        workers.start(3)
        until(lambda: len([j for j in agent.jobs() if j.status == "done"]) >= 3, 60, "three ticks to run")
        made.pause()
        time.sleep(2.2)  # a tick already enqueued when paused may still finish
        ran = [j for j in agent.jobs() if j.status == "done"]
        ticks = sorted(int(j.id.rsplit("-", 1)[1]) for j in ran)
        assert len(ticks) == len(set(ticks)) and all(t % 2 == 0 for t in ticks)  # once per tick, on the tick
        assert all(b - a >= 2 for a, b in itertools.pairwise(ticks))
        assert prompts(agent.messages) == ["buy 1 IBM"] * len(ran)  # every turn ran exactly once
        assert {j.schedule for j in ran} == {made.id}
        count = len(agent.jobs())
        time.sleep(2.2)  # past the next even second: a tick would be due there
        assert len(agent.jobs()) == count  # paused: no new ticks
        made.remove()
        assert agent.schedules() == []
        session.close()


def test_a_failed_job_says_why_and_a_cancelled_held_job_leaves_its_calls_to_the_owner(
    sqlite_db: tuple[str, Engine], monkeypatch: Any
) -> None:
    url, engine = sqlite_db
    with fleet(url, monkeypatch, env={"JOBS_TEST_APPROVAL_AT": "100"}) as (_, workers):
        workers.start(1)
        session, (broken, held) = load(engine, traders(engine, 2))
        broken.provider = "anthropic"  # no ANTHROPIC key anywhere
        session.commit()
        failed = broken.enqueue("buy 1 AAPL").wait(60)
        assert failed.status == "failed" and "ANTHROPIC" in (failed.error or ""), failed.error
        waiting = held.enqueue("buy 300 AAPL").wait(60)
        assert waiting.status == "waiting_approval" and held.held_job == waiting.id
        assert waiting.cancel().status == "cancelled"
        assert held.held_job is None  # the calls are the owner's to decide now, in this process
        (pending,) = held.pending_approvals
        reply = held.approve(pending.call_id)
        assert reply is not None and reply.text == "Done: buy 300 AAPL."
        assert [o.quantity for o in orders_of(engine, held.id)] == [300]
        session.close()


def test_a_dead_worker_on_another_host_is_found_by_its_heartbeat_and_its_leases_freed(
    sqlite_db: tuple[str, Engine], monkeypatch: Any
) -> None:
    url, engine = sqlite_db
    with fleet(url, monkeypatch, delay=1.0, env={"AGENTRECORD_WORKER_DEAD_AFTER": "3"}) as (_, workers):
        workers.env = {**workers.env, "AGENTRECORD_HOSTNAME": "another-machine"}  # no pid check can see it die
        (victim,) = workers.start(1)
        session, agents = load(engine, traders(engine, 3))
        queued = [a.enqueue("buy 6 ORCL") for a in agents]
        until(lambda: _executed(engine) >= 1, 60, "a tool to run on the other machine")
        workers.kill(victim)  # its leases stay behind; lease_ttl is 120 s
        workers.env = {k: v for k, v in workers.env.items() if k != "AGENTRECORD_HOSTNAME"}
        workers.start(1)
        started = time.monotonic()
        for job in queued:
            assert job.wait(60).status == "done"
        assert time.monotonic() - started < 60  # found by the heartbeat, not by waiting out the leases
        for agent in agents:
            check_history(agent.messages)
            assert len(orders_of(engine, agent.id)) == 1
        session.close()


def test_old_schedule_ticks_are_swept_while_their_turns_stay_listed(
    sqlite_db: tuple[str, Engine], monkeypatch: Any
) -> None:
    from dbos import DBOSClient

    from agentrecord.jobs.backend import APP, TICK_WORKFLOW

    url, engine = sqlite_db
    with fleet(url, monkeypatch, env={"AGENTRECORD_KEEP_TICKS": "2"}) as (_, workers):
        session, (agent,) = load(engine, traders(engine, 1))
        agent.schedule("buy 1 KO", every="1s")
        workers.start(1)
        until(lambda: len(agent.jobs()) >= 8, 60, "eight ticks")
        client = DBOSClient(system_database_url=url, application_name=APP)
        ticks = client.list_workflows(name=TICK_WORKFLOW, load_input=False, load_output=False)
        client.destroy()
        assert len(agent.jobs()) >= 8 and len(ticks) <= 5, len(ticks)  # ticks older than 2 s are gone
        session.close()
