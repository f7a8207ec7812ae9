"""How fast worker processes get through a burst of queued turns, against one turn's latency alone.

Run:  .venv/bin/python benchmarks/jobs_throughput.py            (200 agents x 1 turn, 3 bursts each; about two minutes)
      .venv/bin/python benchmarks/jobs_throughput.py --quick    (40 agents; a smoke run)

Each turn is one tool call and an answer (two model requests) against the local OpenAI-compatible test
server, which holds every response 250 ms. On a SQLite file (or `--db URL`), N agents get one queued turn
each; the time from the first enqueue until every job is done is measured with 1 and with 2 worker
processes (`python -m agentrecord.jobs worker`, started and warmed up before timing; the median of
3 bursts), and divided by one turn's latency alone (the median of 5 single queued turns on an idle
worker, and of 3 direct `record.talk`s). A worker
must never serialize waits on the model: the goal is <= 8x with 2 workers. CPU ms per turn is the
workers' user+system CPU time over the burst divided by N.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.agentrecord.jobs.fleet import MODELS, trader_model, traders  # noqa: E402
from tests.agentrecord.jobs.job_models import Base, Trader  # noqa: E402
from tests.agentrecord.openai_server import OpenAIServer  # noqa: E402

import agentrecord  # noqa: E402
from agentrecord import jobs  # noqa: E402
from agentrecord.jobs.dbos import fleet  # noqa: E402

LATENCY = 0.25


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_workers(url: str, count: int, engine: object) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "agentrecord.jobs", "worker", url, "--import", MODELS, "--concurrency", "100"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    deadline = time.monotonic() + 60
    while len(fleet.live(engine)) < count:  # type: ignore[arg-type]
        if time.monotonic() > deadline:
            raise SystemExit("workers did not start within 60 s")
        time.sleep(0.2)
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(30)


def burst(engine: object, ids: list[int]) -> float:
    """Seconds from the first enqueue until every one of `ids` has a done job."""
    with Session(engine) as session:  # type: ignore[call-overload]
        records = [session.get(Trader, i) for i in ids]
        start = time.perf_counter()
        queued = [r.enqueue("buy 1 AAPL") for r in records if r is not None]
        for job in queued:
            done = job.wait(600)
            if done.status != "done":
                raise SystemExit(f"job {done.id} ended {done.status}: {done.error}")
        return time.perf_counter() - start


def run(url: str, engine: object, agents: int, workers: int, repeats: int) -> tuple[list[float], float, float]:
    """(each burst's seconds, median CPU ms per turn, median of one queued turn alone) with `workers` processes."""
    procs = start_workers(url, workers, engine)
    try:
        burst(engine, traders(engine, 20))  # warm up every worker: imports, pools, first connections
        alone = statistics.median(burst(engine, traders(engine, 1)) for _ in range(5))
        seconds, cpu = [], []
        for _ in range(repeats):  # this machine is noisy: the median of a few bursts, each on fresh agents
            ids = traders(engine, agents)
            before = sum(cpu_seconds(p.pid) for p in procs)
            seconds.append(burst(engine, ids))
            cpu.append((sum(cpu_seconds(p.pid) for p in procs) - before) * 1000 / agents)
        return seconds, statistics.median(cpu), alone
    finally:
        stop_workers(procs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="40 agents instead of 200")
    parser.add_argument("--agents", type=int, default=None)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--repeats", type=int, default=None, help="bursts per worker count (default 3; 1 with --quick)")
    args = parser.parse_args()
    agents = args.agents or (40 if args.quick else 200)
    with OpenAIServer(trader_model, delay=LATENCY, keep_requests=False) as server:
        os.environ.update(OPENAI_SECRET="sk-bench", OPENAI_BASE_URL=server.base_url)
        results = {}
        for count in (1, 2):
            url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='jobs-bench-')}/bench.db"
            engine = agentrecord.create_engine(url)
            Base.metadata.create_all(engine)
            jobs.install(engine)
            results[count] = run(url, engine, agents, count, args.repeats or (1 if args.quick else 3))
            engine.dispose()
        engine = agentrecord.create_engine(f"sqlite:///{tempfile.mkdtemp(prefix='jobs-bench-')}/talk.db")
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            (trader,) = [session.get(Trader, i) for i in traders(engine, 1)]
            assert trader is not None
            trader.talk("buy 1 AAPL")
            talk = statistics.median(_timed(lambda: trader.talk("buy 1 AAPL")) for _ in range(3))
    print(f"{agents} agents x 1 turn (a tool call and an answer; the model answers after {LATENCY * 1000:.0f} ms)")
    print(f"one turn alone: record.talk {talk * 1000:.0f} ms; one queued turn on an idle worker:")
    for count, (bursts, cpu, alone) in results.items():
        seconds = statistics.median(bursts)
        spread = f" (bursts: {', '.join(f'{b:.2f}' for b in bursts)} s)" if len(bursts) > 1 else ""
        print(
            f"  {count} worker(s): all done in {seconds:.2f} s = {seconds / alone:.1f}x one queued turn "
            f"({alone * 1000:.0f} ms) = {seconds / talk:.1f}x one talk; {cpu:.1f} CPU ms per turn{spread}"
        )
    goal = statistics.median(results[2][0]) / results[2][2]
    print(f"goal <= 8x with 2 workers: {'met' if goal <= 8 else 'NOT met'} ({goal:.1f}x)")


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
