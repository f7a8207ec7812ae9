"""Crash soak: N processes run turns on 5 agents while a random one is killed with SIGKILL every few seconds and
restarted; afterwards every agent's conversation is checked.

    python benchmarks/soak.py --db postgresql+psycopg://postgres@127.0.0.1:5432/soak --processes 4 --turns 50
    python benchmarks/soak.py --db sqlite:////tmp/soak.db --processes 2 --turns 50

Each turn is a real one: the day trader asks the local OpenAI-compatible test server (real HTTP), which answers
with an order (a real broker order, keyed by the tool call id) and then with text. Checks: every conversation is
valid (each tool call answered by its result in the next request; only a conversation's very end may hold the
unanswered calls of a killed turn, which the next turn repairs), the usage columns equal the sum of the stored
messages' usage, no order is duplicated (one per tool call id, each the id of a stored tool call), and no lease
is held past its ttl. Prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test server lives in tests/
AGENTS = 5
TTL = 300.0
"""The agents' lease_ttl (the default): a held lease must expire within it."""


def _worker(url: str, quota: int, counter: str, seed: int) -> None:
    """One process: `quota` turns on random agents, each completed turn appended to `counter`."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    import agentrecord
    from agentrecord import AgentBusy
    from tradedesk.agents.models import Daytrader

    rng = random.Random(seed)
    engine = agentrecord.create_engine(url)
    with Session(engine) as session:
        ids = list(session.scalars(select(Daytrader.id).order_by(Daytrader.id)))
    done = 0
    while done < quota:
        agent_id = rng.choice(ids)
        with Session(engine) as session:
            agent = session.get(Daytrader, agent_id)
            assert agent is not None
            try:
                agent.talk(f"turn {os.getpid()}-{done}: buy something", wait=30)
            except AgentBusy:
                continue
        done += 1
        with open(counter, "a") as f:
            f.write("1\n")
            f.flush()
            os.fsync(f.fileno())


def _model(body: dict[str, Any]) -> Any:
    from tests.agentrecord.openai_server import ToolCall

    last = body["messages"][-1]
    if last.get("role") == "tool":
        return "Bought."
    return ToolCall("order_entry", {"symbol": "AAPL", "side": "buy", "quantity": random.randint(1, 5)})


def setup(url: str) -> None:
    from sqlalchemy.orm import Session

    import agentrecord
    from tradedesk import migrations
    from tradedesk.agents.models import Daytrader
    from tradedesk.app import desk

    migrations.upgrade(url)
    engine = agentrecord.create_engine(url)
    with Session(engine) as session:
        user = desk.add_user(session, "soak@example.com")
        session.commit()
        session.add_all(Daytrader(user=user, provider="openai", model="gpt-4o-mini") for _ in range(AGENTS))
        session.commit()
    engine.dispose()


_CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); from benchmarks.soak import _worker; "
    "_worker(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))"
)
"""A soak process: `python -c _CHILD ROOT URL TURNS COUNTER SEED`."""

Spawn = Callable[[list[str], dict[str, str], Path], Any]
"""Starts `python -c _CHILD *args` with an environment, its stderr to a log file; returns a Popen-like handle."""


def _popen(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", _CHILD, *args], env=env, cwd=ROOT, stderr=open(log, "ab"))


def run(
    url: str, processes: int, turns: int, kill_every: tuple[float, float], limit: float, spawn: Spawn = _popen
) -> dict[str, Any]:
    """The soak; returns its figures and problems (empty when everything checks out). `spawn` starts a process
    (default: a fresh interpreter; the test suite forks them from a server that holds their imports)."""
    from tests.agentrecord.openai_server import OpenAIServer

    setup(url)
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    with OpenAIServer(_model, keep_requests=False, delay=0.02) as server:
        env = {
            **os.environ,
            "OPENAI_SECRET": "sk-soak",
            "OPENAI_BASE_URL": server.base_url,
            "TRADEDESK_EXCHANGE_HOURS": "always",
            "PYTHONPATH": str(ROOT),
        }
        counters = [workdir / f"p{i}.count" for i in range(processes)]
        for c in counters:
            c.write_text("")

        def start(i: int) -> Any:
            left = turns - len(counters[i].read_text().splitlines())
            args = [str(ROOT), url, str(left), str(counters[i]), str(random.randrange(1 << 30))]
            return spawn(args, env, workdir / f"p{i}.log")

        procs = [start(i) for i in range(processes)]
        since = [(time.monotonic(), 0)] * processes  # (started at, turns done then) per process

        def done(i: int) -> int:
            return len(counters[i].read_text().splitlines())

        def working(i: int) -> bool:
            """Killable: it finished a turn since it (re)started, so it is past its imports and mid-work."""
            _, before = since[i]
            return procs[i].poll() is None and done(i) > before

        kills = restarts = 0
        began = time.monotonic()
        next_kill = began + random.uniform(*kill_every)
        while any(p.poll() is None for p in procs) and time.monotonic() - began < limit:
            time.sleep(0.05)
            for i, p in enumerate(procs):  # a worker that died on its own (not killed) is restarted too
                if p.poll() not in (None, 0) and done(i) < turns:
                    procs[i], since[i] = start(i), (time.monotonic(), done(i))
                    restarts += 1
            if time.monotonic() >= next_kill:
                alive = [i for i in range(processes) if working(i)]
                if alive:  # else a kill is still due: the next process to be mid-work is killed
                    victim = random.choice(alive)
                    os.kill(procs[victim].pid, signal.SIGKILL)
                    procs[victim].wait()
                    kills += 1
                    procs[victim], since[victim] = start(victim), (time.monotonic(), done(victim))
                    restarts += 1
                    next_kill = time.monotonic() + random.uniform(*kill_every)
        timed_out = any(p.poll() is None for p in procs)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        elapsed = time.monotonic() - began
    completed = sum(done(i) for i in range(processes))
    figures = check(url)
    figures.update(
        processes=processes,
        turns_completed=completed,
        turns_target=processes * turns,
        kills=kills,
        restarts=restarts,
        seconds=round(elapsed, 1),
        timed_out=timed_out,
    )
    if timed_out:
        figures["problems"].append(f"the run did not finish within {limit:.0f} s")
    return figures


def check(url: str) -> dict[str, Any]:
    """The invariants after the storm."""
    from pydantic_ai.messages import ModelRequest, ModelResponse, ToolReturnPart
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    import agentrecord
    from agentrecord.reply import Usage
    from agentrecord.store import utcnow
    from tradedesk.agents.models import Daytrader
    from tradedesk.brokerage.accounts import Order

    engine = agentrecord.create_engine(url)
    problems: list[str] = []
    messages_checked = tool_calls = 0
    call_ids: set[str] = set()
    with Session(engine) as session:
        agents = list(session.scalars(select(Daytrader).order_by(Daytrader.id)))
        for agent in agents:
            history = agent.messages
            messages_checked += len(history)
            for i, message in enumerate(history):
                if isinstance(message, ModelResponse) and message.tool_calls:
                    ids = {c.tool_call_id for c in message.tool_calls}
                    tool_calls += len(ids)
                    call_ids |= ids
                    after = history[i + 1] if i + 1 < len(history) else None
                    if after is None:
                        continue  # a killed turn's last step: the next turn repairs it
                    answered = {
                        p.tool_call_id for p in getattr(after, "parts", []) if isinstance(p, ToolReturnPart)
                    } | {getattr(p, "tool_call_id", None) for p in getattr(after, "parts", [])}
                    if not isinstance(after, ModelRequest) or not ids <= answered:
                        shape = [(m.kind, [p.part_kind for p in m.parts]) for m in history[max(0, i - 1) : i + 3]]
                        problems.append(f"{agent.label}: tool calls at message {i} not answered by the next: {shape}")
                if i and isinstance(message, ModelResponse) and isinstance(history[i - 1], ModelResponse):
                    problems.append(f"{agent.label}: two responses in a row at message {i}")
            usage = Usage.of(history)
            if (agent.input_tokens, agent.output_tokens) != (usage.input_tokens, usage.output_tokens):
                problems.append(
                    f"{agent.label}: usage columns {agent.input_tokens}/{agent.output_tokens} != messages "
                    f"{usage.input_tokens}/{usage.output_tokens}"
                )
            expires = agent.lease_expires_at
            if agent.lease_owner is not None and expires is not None and expires > utcnow() + timedelta(seconds=TTL):
                problems.append(f"{agent.label}: lease held past its ttl ({expires})")
        keys = [k for k in session.scalars(select(Order.idempotency_key)) if k]
        dupes = [k for k, n in Counter(keys).items() if n > 1]
        if dupes:
            problems.append(f"duplicated orders: {dupes[:5]}")
        strays = [k for k in keys if k not in call_ids]
        if strays:
            problems.append(f"orders without a stored tool call: {strays[:5]}")
        orders = len(keys)
    engine.dispose()
    return {
        "agents": len(agents),
        "messages_checked": messages_checked,
        "tool_calls": tool_calls,
        "orders": orders,
        "problems": problems,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL [default: a fresh SQLite file]")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--turns", type=int, default=50, help="turns per process")
    parser.add_argument("--kill-every", type=float, nargs=2, default=(2.0, 5.0), metavar=("MIN", "MAX"))
    parser.add_argument("--limit", type=float, default=900.0, help="seconds before the run is called failed")
    args = parser.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='soak-')}/soak.db"
    figures = run(url, args.processes, args.turns, tuple(args.kill_every), args.limit)
    print(json.dumps(figures, indent=2))
    sys.exit(1 if figures["problems"] else 0)


if __name__ == "__main__":
    main()
