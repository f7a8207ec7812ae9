"""A job's events, read in this process while a worker process runs the turn: live, late, held, resumed."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from agentrecord import jobs
from agentrecord.jobs import JobEvent

from .fleet import fleet, traders, until
from .job_models import Execution, Trader

pytestmark = pytest.mark.timeout(180)


def agent_of(engine: Engine) -> tuple[Session, Trader]:
    session = Session(engine)
    (agent_id,) = traders(engine, 1)
    agent = session.get(Trader, agent_id)
    assert agent is not None
    return session, agent


def text_of(events: list[JobEvent]) -> str:
    return "".join(e.text for e in events if e.kind == "text")


def test_events_stream_the_turn_live_from_another_process_and_replay_to_a_late_reader(
    jobs_db: tuple[str, Engine], monkeypatch: Any
) -> None:
    url, engine = jobs_db
    with fleet(url, monkeypatch, delay=1.0) as (_, workers):
        workers.start(1)
        session, agent = agent_of(engine)
        job = agent.enqueue("buy 3 AAPL", stream=True)
        live: list[JobEvent] = []
        status_at_first_event = None
        for event in job.events(timeout=60):
            if not live:
                status_at_first_event = job.refresh().status
            live.append(event)
        assert status_at_first_event == "running"  # followed while the turn ran, not read afterwards
        done = job.refresh()
        assert done.status == "done"  # the iteration ends once the job itself is settled
        call, result, *texts, last = live
        assert (call.kind, call.tool, call.args) == ("tool_call", "trade", {"symbol": "AAPL", "quantity": 3})
        assert (result.kind, result.tool, result.call_id) == ("tool_result", "trade", call.call_id)
        assert result.result["status"] == "filled" and result.result["quantity"] == 3
        assert {e.kind for e in texts} == {"text"} and len(texts) > 1  # deltas as the model streamed them
        assert text_of(texts) == done.reply.text == "Done: buy 3 AAPL."  # type: ignore[union-attr]
        assert (last.kind, last.status) == ("status", "done")
        stored = [p.tool_call_id for m in agent.messages for p in getattr(m, "parts", []) if p.part_kind == "tool-call"]
        assert stored == [call.call_id]
        assert list(job.events()) == live  # a late reader gets everything from the beginning
        assert asyncio.run(_collect(job)) == live
        session.close()


def test_a_job_not_asked_to_stream_gives_each_response_text_as_one_event(
    jobs_db: tuple[str, Engine], monkeypatch: Any
) -> None:
    url, engine = jobs_db
    with fleet(url, monkeypatch) as (_, workers):
        workers.start(1)
        session, agent = agent_of(engine)
        job = agent.enqueue("buy 4 NVDA")
        events = list(job.events(timeout=60))
        assert [e.kind for e in events] == ["tool_call", "tool_result", "text", "status"]
        assert events[2].text == job.refresh().reply.text == "Done: buy 4 NVDA."  # type: ignore[union-attr]
        assert events[-1].status == "done"
        session.close()


async def _collect(job: jobs.Job) -> list[JobEvent]:
    return [e async for e in job.aevents(timeout=30)]


def test_a_job_held_for_approval_ends_its_events_there_and_continues_them_once_decided(
    jobs_db: tuple[str, Engine], monkeypatch: Any
) -> None:
    url, engine = jobs_db
    with fleet(url, monkeypatch, env={"JOBS_TEST_APPROVAL_AT": "100"}) as (_, workers):
        workers.start(1)
        session, agent = agent_of(engine)
        job = agent.enqueue("buy 500 AMD")
        held = list(job.events(timeout=60))
        assert [e.kind for e in held] == ["tool_call", "status"]
        assert held[0].args == {"symbol": "AMD", "quantity": 500} and held[1].status == "waiting_approval"
        assert job.refresh().status == "waiting_approval"
        (pending,) = agent.pending_approvals
        assert pending.call_id == held[0].call_id
        agent.approve(pending.call_id)
        after = list(job.events(timeout=60))  # the same stream, continued by the resumed turn
        assert [e.kind for e in after[:2]] == ["tool_call", "tool_result"] and after[:1] == held[:1]
        assert after[1].call_id == pending.call_id and after[1].result["quantity"] == 500
        assert text_of(after) == "Done: buy 500 AMD." and (after[-1].kind, after[-1].status) == ("status", "done")
        assert all(e.status != "waiting_approval" for e in after)  # a hold that is over is not reported
        session.close()


def test_a_resumed_job_appends_to_its_stream_without_repeating_tool_events(
    sqlite_db: tuple[str, Engine], monkeypatch: Any
) -> None:
    url, engine = sqlite_db
    with fleet(url, monkeypatch, delay=1.0) as (_, workers):
        (first,) = workers.start(1)
        session, agent = agent_of(engine)
        job = agent.enqueue("buy 2 MSFT")
        # the call ran and its result is journaled (a kill between the two runs it again, by design: at least once)
        until(lambda: _executed(engine) >= 1 and _journaled(engine, agent.id), 60, "the tool to run and be journaled")
        workers.kill(first)  # kill -9 while the model writes the answer
        workers.start(1)
        events = list(job.events(timeout=60))
        assert job.refresh().status == "done"
        counts = Counter((e.kind, e.call_id) for e in events if e.call_id)
        assert sorted(k for k, _ in counts) == ["tool_call", "tool_result"] and set(counts.values()) == {1}
        # an answer cut off mid-stream (a slow machine lets the kill land late) stays; the whole answer follows
        assert text_of(events).endswith("Done: buy 2 MSFT.") and events[-1].status == "done"
        assert _executed(engine) == 1  # the call answered from its journal on the new worker
        session.close()


def _journaled(engine: Engine, agent_id: int) -> bool:
    """The agent's saved state holds a tool result in its turn's journal."""
    with Session(engine) as session:
        data = session.scalar(select(Trader.data).where(Trader.id == agent_id))
    return '"results"' in (data or "")


def _executed(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count(Execution.id))) or 0)


def test_events_of_a_job_no_worker_picks_up_time_out_saying_so(sqlite_db: tuple[str, Engine]) -> None:
    session, agent = agent_of(sqlite_db[1])
    job = agent.enqueue("buy 1 AAPL")
    with pytest.raises(jobs.JobTimeout, match="no worker is running: start one"):
        list(job.events(timeout=0.3))
    job.cancel()
    assert list(job.events(timeout=5)) == [JobEvent("status", status="cancelled")]  # settled with no worker
    session.close()
