"""The web platform under load, and whether its pages grow with an account's history.

Run:  .venv/bin/python benchmarks/web_load.py            (50 clients x 30 s per server setup; about 4 minutes)
      .venv/bin/python benchmarks/web_load.py --quick    (10 clients x 5 s, a 100-turn account; a smoke run)

Everything runs on loopback against a real `tradedesk serve` subprocess on a SQLite file, with the local
OpenAI-compatible test server (tests/agentrecord/openai_server.py) answering every model request at once
in a subprocess of its own. The market clock is simulated at a Tuesday 10:00 New York (TRADEDESK_CLOCK_*,
passed to every process), so the orders placed below fill as they are placed.

1. Load. Each of N clients is a user signed up through the pages (session cookie, CSRF token from the
   form) with an API token (`POST /api/login`) and a day trader (`POST /api/agents`). For D seconds every
   client loops: a dashboard GET with its cookie, or (with probability --post-share) a message POST to
   `/api/agents/daytrader/{id}/messages` with its bearer token, which runs the turn as a job on a worker
   and answers with the reply JSON. Printed per request kind: p50 and p99 latency, requests per second
   (completed inside the window), and every non-2xx or failed request. Setups (`--workers`): 0 = the
   server's in-process worker; k = `serve --no-worker` and k `tradedesk worker` subprocesses.

2. Page scaling. A user with 2 agents, 3,000 messages and 1,000 orders, built honestly before the server
   starts: 500 real `record.talk` turns (day trader 400, stock investor 100) against the test server, each
   one a prompt, two `order_entry` tool calls (buy 1 share of one symbol, sell 1 of the symbol bought the
   turn before) and an answer: 6 messages stored by agentrecord and 2 orders placed and filled by the
   broker. An empty account has the same 2 agents with no messages and no orders. On the same server,
   after the load, both users sign in and the dashboard and the day trader's page are fetched in
   interleaved rounds (order shuffled each round); medians, and full / empty. Goal <= 1.5x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.agentrecord.openai_server import OpenAIServer, Step, Text, ToolCall  # noqa: E402

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SEED = re.compile(r"(buy|sell) 1 (\w+); (buy|sell) 1 (\w+)")
PASSWORD = "correct horse battery staple"
MARKET_OPEN = "2025-03-04T10:00:00-05:00"  # a Tuesday morning: the NYSE is open, market orders fill at once
SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "JPM", "KO", "PEP", "WMT", "XOM", "DIS"]
FULL, EMPTY = "full@bench.test", "empty@bench.test"


# -- the model: the test server, in a process of its own ------------------------------------------------------


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def responder(body: dict[str, Any]) -> Step:
    """A seeding prompt ("seed: buy 1 X; sell 1 Y") gets two order_entry calls then an answer; anything else a line."""
    messages = body.get("messages") or []
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    prompt = _text(messages[last_user].get("content")) if last_user >= 0 else ""
    found = SEED.search(prompt)
    if found is None:
        return Text("Noted. The market is open; nothing to do right now.")
    done = sum(1 for m in messages[last_user + 1 :] if m.get("role") == "tool")
    if done < 2:
        side, symbol = found.group(1 + 2 * done), found.group(2 + 2 * done)
        return ToolCall("order_entry", {"symbol": symbol, "side": side, "quantity": 1})
    return Text(f"Done: {found.group(1)} 1 {found.group(2)}, {found.group(3)} 1 {found.group(4)}.")


def serve_model() -> None:
    """Entry of the model subprocess: print the base URL, answer until stdin closes."""
    with OpenAIServer(responder, keep_requests=False) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


# -- processes --------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Platform:
    """A `tradedesk serve` subprocess (with its in-process worker, or `--no-worker` and worker subprocesses)."""

    url: str
    workers: int
    logs: Path
    port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        out = (self.logs / log).open("ab")
        cmd = [str(Path(sys.executable).parent / "tradedesk"), "--db", self.url, *args]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def __enter__(self) -> Platform:
        serve = ["serve", "--port", str(self.port)] + (["--no-worker"] if self.workers else [])
        self._spawn(serve, "serve.log")
        for i in range(self.workers):
            self._spawn(["worker"], f"worker{i}.log")
        deadline = time.monotonic() + 60
        while True:
            if any(p.poll() is not None for p in self.procs):
                raise SystemExit(f"a platform process exited; see {self.logs}")
            try:
                if httpx.get(self.base + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not answer within 60 s; see {self.logs}")
            time.sleep(0.2)
        if self.workers:
            import agentrecord
            from agentrecord.jobs.dbos import fleet

            engine = agentrecord.create_engine(self.url)
            while len(fleet.live(engine)) < self.workers:
                if time.monotonic() > deadline:
                    raise SystemExit(f"the workers did not start within 60 s; see {self.logs}")
                time.sleep(0.2)
            engine.dispose()
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)


# -- the page-scaling account, built through agentrecord and the broker ---------------------------------------


ACCOUNTS = {"empty": "empty@bench.test", "one page": "onepage@bench.test", "full": "full@bench.test"}


def _play(trader: Any, investor: Any, turns: int) -> None:
    """`turns` real turns, 4 of 5 on the day trader: each buys 1 share and sells the one bought the turn before."""
    for i in range(turns):
        agent = investor if i % 5 == 4 else trader
        new, old = SYMBOLS[i % len(SYMBOLS)], SYMBOLS[(i - 1) % len(SYMBOLS)]
        agent.talk(f"seed {i}: buy 1 {new}; {'sell' if i else 'buy'} 1 {old}")


def _snapshots(session: Any, user_id: int, count: int) -> None:
    """`count` equity snapshots one minute apart ending now, as that many dashboard visits would store them."""
    from dataclasses import replace
    from datetime import timedelta
    from decimal import Decimal

    from tradedesk.brokerage import equity, services

    book = services.broker().portfolio(session, user_id)
    for k in range(count):
        moved = book.equity + Decimal(k % 97) - Decimal(48)
        at = book.as_of - timedelta(minutes=count - k)
        equity.snapshot(session, user_id, replace(book, as_of=at, equity=moved), force=True)
    session.commit()


def seed(url: str, turns: int, snapshots: int) -> dict[str, dict[str, Any]]:
    """Three accounts with 2 agents each: empty, one page (6 turns: 36 messages, 12 orders; 500 snapshots) and
    full (`turns` turns; `snapshots` snapshots). Returns what each holds, counted in the database."""
    from sqlalchemy import func, select, text
    from sqlalchemy.orm import Session

    import agentrecord
    from tradedesk.app import desk
    from tradedesk.brokerage.accounts import Order
    from tradedesk.brokerage.equity import EquitySnapshot

    engine = agentrecord.create_engine(url)
    plan = {"empty": (0, 0), "one page": (6, 500), "full": (turns, snapshots)}
    made: dict[str, dict[str, Any]] = {}
    with Session(engine, expire_on_commit=False) as session:
        for name, email in ACCOUNTS.items():
            user = desk.add_user(session, email, PASSWORD)
            session.commit()
            d = desk.Desk(session, user)
            for kind in ("daytrader", "stock_investor"):
                # 1,000 orders are more than a day's default cap of 20: lift the caps, as an active user would
                d.set_limits(d.new_agent(kind, "openai"), max_orders_per_day="", max_position_weight="")
            trader, investor = d.agents()
            count, shots = plan[name]
            start = time.perf_counter()
            _play(trader, investor, count)
            seconds = time.perf_counter() - start
            _snapshots(session, user.id, shots)

            def messages(agent: Any) -> int:
                table = f"{type(agent).__tablename__}_messages"
                return int(session.scalar(text(f"SELECT count(*) FROM {table} WHERE agent_id = :a"), {"a": agent.id}))

            query = select(Order.status, func.count()).where(Order.user_id == user.id).group_by(Order.status)
            made[name] = {
                "email": email,
                "turns": count,
                "seconds": seconds,
                "messages": messages(trader) + messages(investor),
                "trader": trader.label,
                "trader_messages": messages(trader),
                "orders": {status: n for status, n in session.execute(query).all()},
                "snapshots": session.scalar(select(func.count()).where(EquitySnapshot.user_id == user.id)),
            }
    engine.dispose()
    return made


# -- clients ----------------------------------------------------------------------------------------------


@dataclass
class Creds:
    email: str
    cookies: dict[str, str]
    token: str
    agent: str  # "daytrader/3"


async def sign_up(base: str, email: str) -> Creds:
    """Sign up through the pages (cookie + CSRF), then an API token and a day trader through the API."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        page = await http.get("/signup")
        csrf = CSRF.search(page.text)
        assert csrf, page.text[:200]
        made = await http.post("/signup", data={"csrf_token": csrf.group(1), "email": email, "password": PASSWORD})
        assert made.status_code == 303, (made.status_code, made.text[:300])
        login = await http.post("/api/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["token"]
        body = {"kind": "daytrader", "provider": "openai"}
        agent = await http.post("/api/agents", json=body, headers={"Authorization": f"Bearer {token}"})
        assert agent.status_code == 201, agent.text
        return Creds(email, dict(http.cookies.items()), token, agent.json()["agent"])


async def sign_up_all(base: str, count: int) -> list[Creds]:
    gate = asyncio.Semaphore(4)

    async def one(i: int) -> Creds:
        async with gate:
            return await sign_up(base, f"client{i}@bench.test")

    return list(await asyncio.gather(*(one(i) for i in range(count))))


@dataclass(frozen=True)
class Sample:
    kind: str
    start: float
    end: float
    status: str  # "200", "409", ..., or the exception's name

    @property
    def ok(self) -> bool:
        return self.status.isdigit() and 200 <= int(self.status) < 300


async def drive(base: str, creds: list[Creds], seconds: float, post_share: float) -> tuple[list[Sample], float]:
    """Every client loops until the window closes; samples of every request (in-flight ones finish)."""
    samples: list[Sample] = []
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(base_url=base, cookies=c.cookies, timeout=120, limits=limits) for c in creds]

    async def request(http: httpx.AsyncClient, c: Creds, kind: str) -> Sample:
        start = time.perf_counter()
        try:
            if kind == "dashboard":
                response = await http.get("/")
            else:
                response = await http.post(
                    f"/api/agents/{c.agent}/messages",
                    json={"prompt": "How is the market today?"},
                    headers={"Authorization": f"Bearer {c.token}"},
                )
            status = str(response.status_code)
        except httpx.HTTPError as error:
            status = type(error).__name__
        return Sample(kind, start, time.perf_counter(), status)

    async def loop(i: int, end: float) -> None:
        rng = random.Random(i)
        while time.perf_counter() < end:
            kind = "message POST" if rng.random() < post_share else "dashboard"
            samples.append(await request(clients[i], creds[i], kind))

    # warm-up (not recorded): every client's first dashboard and first turn
    await asyncio.gather(*(request(clients[i], c, k) for i, c in enumerate(creds) for k in ("dashboard", "post")))
    start = time.perf_counter()
    await asyncio.gather(*(loop(i, start + seconds) for i in range(len(creds))))
    for http in clients:
        await http.aclose()
    return samples, start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def load_table(samples: list[Sample], start: float, seconds: float) -> list[str]:
    end = start + seconds
    lines = ["| request | count | p50 ms | p99 ms | requests/s | non-2xx or failed |", "|---|---|---|---|---|---|"]
    for kind in ("dashboard", "message POST", "all"):
        mine = [s for s in samples if kind in ("all", s.kind)]
        if not mine:
            continue
        ms = [(s.end - s.start) * 1000 for s in mine]
        rps = sum(1 for s in mine if s.end <= end) / seconds
        bad = Counter(s.status for s in mine if not s.ok)
        errors = ", ".join(f"{n} x {status}" for status, n in bad.most_common()) or "0"
        p50, p99 = percentile(ms, 0.5), percentile(ms, 0.99)
        lines.append(f"| {kind} | {len(mine)} | {p50:,.1f} | {p99:,.1f} | {rps:.1f} | {errors} |")
    return lines


# -- pages ------------------------------------------------------------------------------------------------


def signed_in(base: str, email: str) -> httpx.Client:
    http = httpx.Client(base_url=base, timeout=60)
    page = http.get("/login")
    csrf = CSRF.search(page.text)
    assert csrf, page.text[:200]
    done = http.post("/login", data={"csrf_token": csrf.group(1), "email": email, "password": PASSWORD})
    assert done.status_code == 303, (done.status_code, done.text[:300])
    return http


def page_rounds(base: str, accounts: dict[str, dict[str, Any]], rounds: int) -> list[str]:
    """Median ms of each page of each account over interleaved rounds (order shuffled each round)."""
    http = {name: signed_in(base, info["email"]) for name, info in accounts.items()}
    full = accounts["full"]
    pages: dict[tuple[str, str], str] = {}
    for name, info in accounts.items():
        pages[("dashboard", name)] = "/"
        pages[("agent page", name)] = f"/agents/{info['trader']}"
    older = int(full["trader_messages"]) // 2
    pages[("agent page, older", "full")] = f"/agents/{full['trader']}?before={older}"
    times: dict[tuple[str, str], list[float]] = {key: [] for key in pages}
    sizes: dict[tuple[str, str], int] = {}
    rng = random.Random(7)
    keys = list(pages)
    for r in range(rounds + 3):  # 3 warm-up rounds
        rng.shuffle(keys)
        for key in keys:
            begin = time.perf_counter()
            response = http[key[1]].get(pages[key])
            took = time.perf_counter() - begin
            if response.status_code != 200:
                raise SystemExit(f"GET {pages[key]} as {key[1]}: {response.status_code} {response.text[:300]}")
            sizes[key] = len(response.content)
            if r >= 3:
                times[key].append(took * 1000)
    for client in http.values():
        client.close()
    med = {key: statistics.median(values) for key, values in times.items()}
    lines = [
        "| page | empty ms | one page ms | full ms | full ÷ empty | full ÷ one page | bytes (empty / 1 page / full) |",
        "|---|---|---|---|---|---|---|",
    ]
    for page in ("dashboard", "agent page"):
        e, o, f = (med[(page, n)] for n in ("empty", "one page", "full"))
        size = " / ".join(f"{sizes[(page, n)]:,}" for n in ("empty", "one page", "full"))
        lines.append(f"| {page} | {e:.2f} | {o:.2f} | {f:.2f} | **{f / e:.2f}** | **{f / o:.2f}** | {size} |")
    back = med[("agent page, older", "full")]
    lines.append(
        f"| agent page `?before={older}` (full) | | | {back:.2f} | {back / med[('agent page', 'empty')]:.2f} | "
        f"{back / med[('agent page', 'one page')]:.2f} | {sizes[('agent page, older', 'full')]:,} |"
    )
    return lines


def workflows(url: str) -> int:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return int(db.execute("SELECT count(*) FROM workflow_status").fetchone()[0])


def age(url: str, ticks: int) -> None:
    """Add `ticks` copies of the newest finished exchange-clock workflow row, one a second back: the rows a worker's
    exchange clock (TRADEDESK_EXCHANGE_TICK=1, a DBOS scheduled workflow each second) leaves in `ticks` seconds."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        cursor = db.execute(
            "SELECT * FROM workflow_status WHERE name LIKE '%tradedesk.exchange' AND status = 'SUCCESS' "
            "ORDER BY created_at DESC LIMIT 1"
        )
        row = cursor.fetchone()
        if row is None:
            raise SystemExit("no exchange-clock workflow to copy: did the worker run?")
        columns = [d[0] for d in cursor.description]
        uuid, created = columns.index("workflow_uuid"), columns.index("created_at")
        rows = []
        for k in range(1, ticks + 1):
            copy = list(row)
            copy[uuid], copy[created] = f"{row[uuid]}-aged-{k}", int(row[created]) - 1000 * k
            rows.append(copy)
        db.executemany(f"INSERT INTO workflow_status VALUES ({', '.join('?' * len(columns))})", rows)
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # into the file: the pages then read no longer WAL


def pages_report(base: str, url: str, accounts: dict[str, dict[str, Any]], rounds: int, ticks: int) -> None:
    full = accounts["full"]
    print(
        f"\n## Pages: full account ({full['messages']:,} messages, {sum(full['orders'].values()):,} orders, "
        f"{full['snapshots']:,} equity snapshots, 2 agents) vs one page and empty; {rounds} interleaved rounds, "
        f"medians; {workflows(url):,} workflow rows; load average {load_average()}"
    )
    print("\n".join(page_rounds(base, accounts, rounds)), flush=True)
    if ticks:
        age(url, ticks)
        print(f"\n## The same pages after {ticks:,} exchange-clock workflows ({workflows(url):,} workflow rows)")
        print("\n".join(page_rounds(base, accounts, rounds)))


# -- main -------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 clients x 5 s, a 100-turn account, 15 rounds")
    parser.add_argument("--clients", type=int, default=None, help="concurrent clients (default 50; quick 10)")
    parser.add_argument("--seconds", type=float, default=None, help="load window per setup (default 30; quick 5)")
    parser.add_argument("--post-share", type=float, default=0.5, help="share of requests that are message POSTs")
    parser.add_argument("--workers", default="0,1", help="setups: 0 = in-process worker, k = --no-worker + k workers")
    parser.add_argument("--turns", type=int, default=None, help="turns of the full account (default 500; quick 100)")
    parser.add_argument("--rounds", type=int, default=None, help="page rounds (default 40; quick 15)")
    parser.add_argument("--snapshots", type=int, default=5000, help="equity snapshots of the full account")
    parser.add_argument("--ticks", type=int, default=86_400, help="exchange-clock workflows of the aged database")
    parser.add_argument("--serve-model", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_model:
        serve_model()
        return
    clients = args.clients or (10 if args.quick else 50)
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    turns = args.turns if args.turns is not None else (100 if args.quick else 500)
    rounds = args.rounds or (15 if args.quick else 40)
    setups = [int(w) for w in args.workers.split(",")]

    print(f"load average before: {load_average()}  ({os.cpu_count()} CPUs)", flush=True)
    model = subprocess.Popen(
        [sys.executable, __file__, "--serve-model"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT
    )
    assert model.stdout is not None and model.stdin is not None
    base_url = model.stdout.readline().decode().strip()
    os.environ.update(
        OPENAI_SECRET="sk-bench",
        OPENAI_BASE_URL=base_url,
        TRADEDESK_CLOCK_START=MARKET_OPEN,
        TRADEDESK_CLOCK_ANCHOR=str(time.time()),
        TRADEDESK_CLOCK_SPEED="1",
    )
    tmp = Path(tempfile.mkdtemp(prefix="web-bench-"))
    url = f"sqlite:///{tmp}/web.db"
    try:
        subprocess.run([str(Path(sys.executable).parent / "tradedesk"), "--db", url, "init"], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        accounts = seed(url, turns, args.snapshots)
        for name, info in accounts.items():
            print(
                f"{name} account: {info['turns']} turns in {info['seconds']:.1f} s -> {info['messages']:,} messages "
                f"({info['trader']}: {info['trader_messages']:,}), orders {json.dumps(info['orders'])}, "
                f"{info['snapshots']:,} equity snapshots",
                flush=True,
            )
        creds: list[Creds] = []
        for index, workers in enumerate(setups):
            with Platform(url, workers, tmp) as platform:
                if not creds:
                    creds = asyncio.run(sign_up_all(platform.base, clients))
                setup = "in-process worker" if workers == 0 else f"--no-worker + {workers} worker process(es)"
                model_cpu, server_cpu, own_cpu = cpu_seconds(model.pid), platform.cpu(), time.process_time()
                load_before = load_average()
                samples, start = asyncio.run(drive(platform.base, creds, seconds, args.post_share))
                took = time.perf_counter() - start
                server_cpu = platform.cpu() - server_cpu
                own_cpu, model_cpu = time.process_time() - own_cpu, cpu_seconds(model.pid) - model_cpu
                print(f"\n## {clients} clients x {seconds:.0f} s, {setup} (load average at start {load_before})")
                print("\n".join(load_table(samples, start, seconds)))
                print(
                    f"CPU over the {took:.1f} s run (cores busy): server{'' if workers == 0 else ' + workers'} "
                    f"{server_cpu / took:.2f}, benchmark clients {own_cpu / took:.2f}, model server "
                    f"{model_cpu / took:.2f}; load average after {load_average()}",
                    flush=True,
                )
                if index == len(setups) - 1:
                    time.sleep(1)
                    pages_report(platform.base, url, accounts, rounds, args.ticks)
    finally:
        model.stdin.close()
        model.wait(10)
        print(f"\n(database and logs in {tmp})")


if __name__ == "__main__":
    main()
