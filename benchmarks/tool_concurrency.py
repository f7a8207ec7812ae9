"""How long one response's tool calls take under each `concurrency` mode (call, thread, async, process).

Run:  .venv/bin/python benchmarks/tool_concurrency.py            (full run, about a minute)
      .venv/bin/python benchmarks/tool_concurrency.py --quick    (smoke run, about 15 s)

(a) Sleeping tools: the scripted model asks for four calls at once of a tool that sleeps 0.5 s, then
    answers. Timed: the whole `record.talk()` turn on a SQLite file (agentrecord.create_engine), once with
    a sync tool (`time.sleep`) and once with an async tool (`await asyncio.sleep`). Goals: <= 0.6 s under
    thread and async, about 2 s under call.
(b) CPU-bound tools: two calls at once of a pure-Python loop calibrated to about 1 s. Goal: process at
    least 1.7x faster than call on 2 cores.

The process pool is warmed up (every worker started, modules imported) before timing. Variants run
interleaved, one turn each per round in a rotating order, and are summarised by their medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelRequest, ToolReturnPart
from sqlalchemy import Engine
from sqlalchemy.orm import DeclarativeBase, Session

import agentrecord
from agentrecord import AgentRecord, Tool, concurrency
from agentrecord.testing import ScriptedModel, call, scripted

NAP = 0.5
CALLS = 4
CPU_SECONDS = 1.0
CPU_CALLS = 2
SLEEP_GOAL = 0.6
CALL_EXPECTED = CALLS * NAP
CPU_GOAL = 1.7


# -- tools and agents (module level: the worker processes import them from here) -----------------------------------
class Base(DeclarativeBase):
    pass


class Nap(Tool):
    """Sleep for a while (blocking)."""

    def call(self, seconds: float, seat: int) -> int:
        time.sleep(seconds)
        return seat


class AsyncNap(Tool):
    """Sleep for a while (awaiting)."""

    async def call(self, seconds: float, seat: int) -> int:
        await asyncio.sleep(seconds)
        return seat


def spin(iterations: int) -> int:
    """Pure-Python CPU work: holds the GIL throughout."""
    x = 0
    for i in range(iterations):
        x = (x * 31 + i) & 0xFFFFFFFF
    return x


class Crunch(Tool):
    """Burn CPU for a while."""

    def call(self, iterations: int, seat: int) -> dict[str, int]:
        return {"seat": seat, "pid": os.getpid(), "x": spin(iterations)}


class _Options:
    model = "bench"
    tools = [Nap, AsyncNap, Crunch]


class CallBot(AgentRecord, Base):
    __tablename__ = "call_bots"

    class Agent(_Options):
        concurrency = "call"


class ThreadBot(AgentRecord, Base):
    __tablename__ = "thread_bots"

    class Agent(_Options):
        concurrency = "thread"


class AsyncBot(AgentRecord, Base):
    __tablename__ = "async_bots"

    class Agent(_Options):
        concurrency = "async"


class ProcessBot(AgentRecord, Base):
    __tablename__ = "process_bots"

    class Agent(_Options):
        concurrency = "process"


BOTS: dict[str, type[AgentRecord]] = {"call": CallBot, "thread": ThreadBot, "async": AsyncBot, "process": ProcessBot}


# -- measuring -----------------------------------------------------------------------------------------------------
@dataclass
class Variant:
    mode: str
    kind: str  # "sync", "async" or "cpu"
    turn: Callable[[], list[Any]]
    times: list[float] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)

    def once(self, keep: bool) -> None:
        t0 = time.perf_counter()
        results = self.turn()
        elapsed = time.perf_counter() - t0
        if keep:
            self.times.append(elapsed)
            self.results = results

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def turn(record: AgentRecord, tool_name: str, count: int, **args: Any) -> Callable[[], list[Any]]:
    """One talk() turn in which the model asks for `count` calls of `tool_name` at once, then answers."""

    def run() -> list[Any]:
        steps = [[call(tool_name, seat=i, **args) for i in range(count)], "done"]
        with scripted(type(record), ScriptedModel(steps, model_name="bench")):
            reply = record.talk("go")
        returns = [
            p for m in reply.messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)
        ]
        assert reply.text == "done" and len(returns) == count, returns
        assert all(p.outcome != "retried" for p in returns), returns
        return [p.content for p in returns]

    return run


def interleave(variants: list[Variant], rounds: int, warmup: int) -> None:
    for r in range(warmup + rounds):
        k = r % len(variants)
        for v in variants[k:] + variants[:k]:
            v.once(keep=r >= warmup)


def calibrate(seconds: float) -> int:
    """Iterations of `spin` that take about `seconds` here (best of three, so a busy moment does not inflate it)."""
    probe = 300_000
    best = min(_timed(spin, probe) for _ in range(3))
    iterations = int(probe * seconds / best)
    check = min(_timed(spin, iterations) for _ in range(2))
    return int(iterations * seconds / check)


def _timed(fn: Callable[[int], Any], arg: int) -> float:
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0


_sessions: list[Session] = []  # the records' sessions, kept open for their turns


def new_record(engine: Engine, cls: type[AgentRecord]) -> AgentRecord:
    session = Session(engine, expire_on_commit=False)
    _sessions.append(session)
    record = cls(provider="openai")
    session.add(record)
    session.commit()
    return record


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def loadavg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run: one timed round")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 5, --quick 1)")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 5)
    warmup = 1
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    started = time.perf_counter()
    load_before = loadavg()
    busy_before = hasattr(os, "getloadavg") and os.getloadavg()[0] > 0.5

    workers = concurrency.warm_up(*BOTS.values())
    iterations = calibrate(CPU_SECONDS)
    with tempfile.TemporaryDirectory(prefix="agentrecord-bench-") as tmp:
        engine = agentrecord.create_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        Base.metadata.create_all(engine)
        records = {mode: new_record(engine, cls) for mode, cls in BOTS.items()}
        sleeping = [
            Variant(mode, kind, turn(records[mode], "nap" if kind == "sync" else "async_nap", CALLS, seconds=NAP))
            for mode in BOTS
            for kind in ("sync", "async")
        ]
        cpu = [
            Variant(mode, "cpu", turn(records[mode], "crunch", CPU_CALLS, iterations=iterations))
            for mode in ("call", "process")
        ]
        interleave(sleeping, rounds, warmup)
        interleave(cpu, rounds, warmup)
        for session in _sessions:
            session.close()
        engine.dispose()
    load_after = loadavg()

    by = {(v.mode, v.kind): v for v in [*sleeping, *cpu]}
    print(f"agentrecord tool concurrency benchmark{' (--quick smoke run)' if args.quick else ''}")
    print(f"command: {command}")
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, process pool of {workers} workers, "
        f"scripted model, SQLite file; medians of {rounds} interleaved rounds after {warmup} warm-up round"
    )
    print(f"load average (1/5/15 min) before: {load_before}, after: {load_after}")
    if busy_before:
        print("note: other processes were using the CPU; the CPU-bound ratio (b) is pessimistic, rerun when quiet")
    print()
    print(f"(a) {CALLS} calls at once of a tool that sleeps {NAP} s; seconds per talk() turn")
    print()
    print("| concurrency | sync tool (time.sleep) | async tool (asyncio.sleep) | goal | verdict |")
    print("|---|---|---|---|---|")
    for mode in BOTS:
        s, a = by[mode, "sync"].median, by[mode, "async"].median
        if mode == "call":
            goal, ok = f"about {CALL_EXPECTED:.0f} s", all(CALL_EXPECTED <= t <= CALL_EXPECTED * 1.15 for t in (s, a))
        elif mode in ("thread", "async"):
            goal, ok = f"<= {SLEEP_GOAL} s", s <= SLEEP_GOAL and a <= SLEEP_GOAL
        else:
            goal, ok = f"sync: {-(-CALLS // workers)} x {NAP} s ({workers} workers); async: on the loop", True
        print(f"| {mode} | {s:.3f} | {a:.3f} | {goal} | {verdict(ok) if mode != 'process' else 'info'} |")
    print()
    c, p = by["call", "cpu"], by["process", "cpu"]
    ratio = c.median / p.median
    pids = sorted({r["pid"] for r in p.results})
    print(f"(b) {CPU_CALLS} calls at once of a pure-Python loop of {iterations:,} iterations (~{CPU_SECONDS} s alone)")
    print()
    print("| concurrency | seconds per turn | call / process | goal | verdict |")
    print("|---|---|---|---|---|")
    print(f"| call | {c.median:.3f} | | | |")
    print(f"| process | {p.median:.3f} | **{ratio:.2f}x** | >= {CPU_GOAL}x | {verdict(ratio >= CPU_GOAL)} |")
    print()
    print(f"process-mode calls ran in worker pids {pids} (this process: {os.getpid()})")
    print(f"total benchmark time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
