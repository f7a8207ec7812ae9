"""How long the `tradedesk` command line takes to start, against `python -c "import typer"` on the same machine.

Run:  .venv/bin/python benchmarks/cli_startup.py              (full run, about 5 minutes; most of it is (c))
      .venv/bin/python benchmarks/cli_startup.py --quick      (smoke run, about a minute)
      .venv/bin/python benchmarks/cli_startup.py --no-talk    ((a) and (b) only, about 30 s)

(a) `tradedesk --help` ÷ `python -c "import typer"`: a fresh process each, wall time from spawn to exit.
    Goal <= 1.5.
(b) `tradedesk quote AAPL` ÷ the same baseline (the simulated market, no database). Goal <= 2.5.
(c) `tradedesk talk EMAIL daytrader PROMPT` on the embedded model (provider local, a new agent each time):
    wall time from spawn to the first token of the reply on its stdout (a pipe, read as it comes) ÷ one
    in-process turn (`record.talk(PROMPT)` on a new agent of the same kind) after a warm-up turn in this
    process. Goal <= 2.

The machine is noisy, so the variants of (a)/(b) and the two sides of (c) run interleaved (one of each per
round, in a rotating order), and each variant is summarised by its median. (a) and (b) also show each
process's CPU time (user + system) and its ratio: on a loaded machine wall times stretch with the queue
for the cores, CPU times much less. The processes may cache bytecode (as an installed package has it), even
where PYTHONDONTWRITEBYTECODE is set: without it every start compiles tradedesk's modules again.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HELP_GOAL = 1.5
QUOTE_GOAL = 2.5
TALK_GOAL = 2.0
PROMPT = "What is the price of AAPL?"


ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def tradedesk(*args: str) -> list[str]:
    """The installed console script beside this interpreter (what a user runs), else `python -m tradedesk.cli`."""
    script = Path(sys.executable).with_name("tradedesk")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "tradedesk.cli", *args]


def wall(command: Sequence[str]) -> tuple[float, float]:
    """Seconds from spawning `command` to its exit (output discarded), and the CPU seconds it used; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def first_token(command: Sequence[str], label: str) -> tuple[float, None]:
    """Seconds from spawning `command` to the first character after `label> ` on its stdout; it must succeed."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV)
    assert process.stdout is not None
    marker, seen, at = f"{label}> ".encode(), b"", None
    while at is None:
        chunk = os.read(process.stdout.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
        found = seen.find(marker)
        if found >= 0 and len(seen) > found + len(marker):
            at = time.perf_counter() - start
    while os.read(process.stdout.fileno(), 4096):
        pass
    if process.wait() != 0 or at is None:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode} without a reply:\n{seen.decode()}")
    return at, None


Sample = tuple[float, float | None]
"""Wall seconds, and CPU seconds where measured."""


def interleaved(variants: dict[str, Callable[[], Sample]], rounds: int) -> dict[str, list[Sample]]:
    """`rounds` runs of each variant, one of each per round in a rotating order."""
    names = list(variants)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            samples[name].append(variants[name]())
    return samples


def report(title: str, samples: dict[str, list[Sample]], base: str, goals: dict[str, float]) -> None:
    """Per variant: median and least wall time, the ratio of medians to `base`'s against its goal, and CPU time."""
    walls = {name: [w for w, _ in values] for name, values in samples.items()}
    cpus = {name: [c for _, c in values if c is not None] for name, values in samples.items()}
    median = {name: statistics.median(values) for name, values in walls.items()}
    print(f"\n{title}")
    print(f"{'variant':<36} {'median ms':>10} {'min ms':>8} {'ratio':>6}  {'goal':<13} {'cpu ms':>7} {'cpu ratio':>9}")
    for name, values in walls.items():
        ratio = median[name] / median[base]
        goal = goals.get(name)
        verdict = "" if goal is None else f"<= {goal} {'met' if ratio <= goal else 'MISSED'}"
        cpu = ""
        if cpus[name] and cpus[base]:
            used = statistics.median(cpus[name])
            cpu = f"{used * 1000:>7.1f} {used / statistics.median(cpus[base]):>9.2f}"
        print(f"{name:<36} {median[name] * 1000:>10.1f} {min(values) * 1000:>8.1f} {ratio:>6.2f}  {verdict:<13} {cpu}")


def startup(rounds: int) -> None:
    """(a) and (b)."""
    for warm in (["--help"], ["quote", "AAPL"]):  # the page cache and .pyc files, not measured
        wall(tradedesk(*warm))
    variants = {
        'python -c "import typer"': lambda: wall([sys.executable, "-c", "import typer"]),
        "tradedesk --help": lambda: wall(tradedesk("--help")),
        "tradedesk quote AAPL": lambda: wall(tradedesk("quote", "AAPL")),
    }
    samples = interleaved(variants, rounds)
    goals = {"tradedesk --help": HELP_GOAL, "tradedesk quote AAPL": QUOTE_GOAL}
    report(f"(a), (b): {rounds} interleaved rounds, a fresh process each", samples, 'python -c "import typer"', goals)


def talk(rounds: int) -> None:
    """(c): the CLI's time to its first token against one warm in-process turn, each on a new agent."""
    from sqlalchemy.orm import Session

    import agentrecord
    from tradedesk.app import desk

    with tempfile.TemporaryDirectory(prefix="cli-startup-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        subprocess.run(tradedesk("--db", url, "init"), check=True, stdout=subprocess.DEVNULL, env=ENV)
        engine = agentrecord.create_engine(url)
        session = Session(engine, expire_on_commit=False)
        count = 0

        def new_agent() -> tuple[str, desk.TradingAgent]:
            nonlocal count
            count += 1
            user = desk.add_user(session, f"bench{count}@example.com")
            session.commit()
            return user.email, desk.Desk(session, user).new_agent("daytrader", "local", None)

        def cli() -> Sample:
            email, agent = new_agent()
            return first_token(tradedesk("--db", url, "talk", email, agent.label, PROMPT), agent.label)

        def in_process() -> Sample:
            _, agent = new_agent()
            start = time.perf_counter()
            agent.talk(PROMPT)
            return time.perf_counter() - start, None

        (warm_turn, _), (warm_cli, _) = in_process(), cli()  # the model loads here; the page cache for the CLI
        print(f"\nwarm-up: first in-process turn {warm_turn * 1000:.0f} ms, first CLI talk {warm_cli * 1000:.0f} ms")
        samples = interleaved({"in-process turn (warm)": in_process, "tradedesk talk: first token": cli}, rounds)
        session.close()
        engine.dispose()
    goals = {"tradedesk talk: first token": TALK_GOAL}
    report(f"(c): {rounds} interleaved rounds, embedded model, {PROMPT!r}", samples, "in-process turn (warm)", goals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Few rounds: a smoke run.")
    parser.add_argument("--rounds", type=int, help="Rounds of (a)/(b) [default 30, quick 5].")
    parser.add_argument("--talk-rounds", type=int, help="Rounds of (c) [default 7, quick 2].")
    parser.add_argument("--no-talk", action="store_true", help="Skip (c).")
    args = parser.parse_args()
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    startup(args.rounds or (5 if args.quick else 30))
    if not args.no_talk:
        talk(args.talk_rounds or (2 if args.quick else 7))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
