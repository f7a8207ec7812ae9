"""What an agentrecord turn costs over a bare pydantic-ai run, and whether persisting slows down as history grows.

Run:  .venv/bin/python benchmarks/turn_overhead.py            (full run, about a minute)
      .venv/bin/python benchmarks/turn_overhead.py --quick    (smoke run, a few seconds)

(a) Per-turn overhead: `record.talk(prompt)` (take the lease and load the history, run, persist, release) on a
    SQLite file database ÷ `Agent.run_sync(prompt, message_history=history)` with the history kept in memory.
    Both sides use the same scripted model (agentrecord.testing.ScriptedModel), the same instructions and the
    same tools (none, or one trivial tool called once per turn); both histories grow the same way. SQLite is
    measured with the default engine and with WAL + synchronous=NORMAL. Goal: ratio <= 1.3.

(b) History length: the time of the persist step (`Store.append` of a turn's request + response) on an agent with
    2,000 prior messages ÷ on one with 20 prior messages. Every measured turn sees exactly that many prior
    messages: the turn's two rows are deleted and the state JSON reset after each turn, outside the timing.
    Goal: ratio <= 1.5. The whole-turn ratio is printed too, for information only.

The machine is noisy, so variants run interleaved (one turn of each per round, in a rotating order) after a
warmup, and each variant is summarised by its median.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart
from sqlalchemy import Engine, create_engine, delete, update
from sqlalchemy.orm import DeclarativeBase, Session

import agentrecord
from agentrecord import AgentRecord, Tool
from agentrecord.ledger import Entry
from agentrecord.store import Lease, State, Store, new_owner
from agentrecord.testing import ScriptedModel, Step, call, scripted

INSTRUCTIONS = "You are a terse benchmark assistant. Answer in one short sentence."
PROMPT = "How is the market today?"
REPLY = "The market is calm today, with light volume and no big movers."
OVERHEAD_GOAL = 1.3
PERSIST_GOAL = 1.5
SHORT_HISTORY = 20
LONG_HISTORY = 2_000


# -- the agents --------------------------------------------------------------------------------------------------
class Base(DeclarativeBase):
    pass


class Ping(Tool):
    """Echo the given text back."""

    def call(self, text: str) -> str:
        return text


def ping(text: str) -> str:
    """Echo the given text back."""
    return text


class Bot(AgentRecord, Base):
    __tablename__ = "bots"

    class Agent:
        model = "bench"
        instructions = INSTRUCTIONS


class ToolBot(AgentRecord, Base):
    __tablename__ = "tool_bots"

    class Agent:
        model = "bench"
        instructions = INSTRUCTIONS
        tools = [Ping]


def script(turns: int, *, tool: bool) -> ScriptedModel:
    """A scripted model good for `turns` turns: a plain text reply, preceded by one `ping` call if `tool`."""
    steps: list[Step] = []
    for _ in range(turns):
        if tool:
            steps.append(call("ping", text="hi"))
        steps.append(REPLY)
    return ScriptedModel(steps, model_name="bench")


# -- databases ---------------------------------------------------------------------------------------------------
def sqlite_engine(path: Path, *, wal: bool) -> Engine:
    url = f"sqlite:///{path}"
    engine = agentrecord.create_engine(url) if wal else create_engine(url)
    Base.metadata.create_all(engine)
    return engine


def new_record(engine: Engine, cls: type[Bot | ToolBot]) -> tuple[Session, Bot | ToolBot]:
    """Insert an agent row and return a long-lived session holding it (connection back in the pool)."""
    session = Session(engine, expire_on_commit=False)
    record = cls(provider="openai")
    session.add(record)
    session.commit()
    return session, record


# -- timing hooks ------------------------------------------------------------------------------------------------
@dataclass
class Probe:
    """Seconds spent in Store._try_acquire (lease + history load) and Store.append (persist) during one turn."""

    load: float = 0.0
    persist: float = 0.0


PROBE = Probe()


@contextmanager
def probed_store() -> Iterator[None]:
    """Wrap Store._try_acquire and Store.append with timers that add to PROBE (this process only)."""
    acquire, append = Store._try_acquire, Store.append

    def timed_acquire(self: Store, *args: Any, **kwargs: Any) -> Lease | str | None:
        t0 = time.perf_counter()
        try:
            return acquire(self, *args, **kwargs)
        finally:
            PROBE.load += time.perf_counter() - t0

    def timed_append(
        self: Store, engine: Engine, agent_id: Any, lease: Lease, new: list[ModelMessage], **kw: Any
    ) -> Any:
        t0 = time.perf_counter()
        try:
            return append(self, engine, agent_id, lease, new, **kw)
        finally:
            PROBE.persist += time.perf_counter() - t0

    Store._try_acquire = timed_acquire  # type: ignore[method-assign]
    Store.append = timed_append  # type: ignore[method-assign]
    try:
        yield
    finally:
        Store._try_acquire = acquire  # type: ignore[method-assign]
        Store.append = append  # type: ignore[method-assign]


# -- variants ----------------------------------------------------------------------------------------------------
@dataclass
class Variant:
    label: str
    turn: Callable[[], None]
    total: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    persist: list[float] = field(default_factory=list)
    record: bool = False  # an agentrecord variant (has load/persist times)
    after: Callable[[], None] | None = None  # untimed bookkeeping after each turn

    def once(self, keep: bool) -> None:
        PROBE.load = PROBE.persist = 0.0
        t0 = time.perf_counter()
        self.turn()
        elapsed = time.perf_counter() - t0
        if self.after is not None:
            self.after()
        if keep:
            self.total.append(elapsed)
            if self.record:
                self.load.append(PROBE.load)
                self.persist.append(PROBE.persist)


def talk_turn(record: AgentRecord) -> Callable[[], None]:
    def turn() -> None:
        reply = record.talk(PROMPT)
        assert reply.text == REPLY, reply.text

    return turn


def bare_turn(agent: Agent[None, str]) -> Callable[[], None]:
    history: list[ModelMessage] = []

    def turn() -> None:
        nonlocal history
        result = agent.run_sync(PROMPT, message_history=history)
        assert result.output == REPLY, result.output
        history = result.all_messages()

    return turn


def interleave(variants: list[Variant], rounds: int, warmup: int) -> None:
    """One turn of every variant per round, rotating the order each round; the warmup rounds are not kept."""
    gc.collect()
    for r in range(warmup + rounds):
        k = r % len(variants)
        for v in variants[k:] + variants[:k]:
            v.once(keep=r >= warmup)


def ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def verdict(ratio: float, goal: float) -> str:
    return "ok" if ratio <= goal else "MISSED"


# -- (a) per-turn overhead ---------------------------------------------------------------------------------------
def overhead(tmp: Path, rounds: int, warmup: int) -> list[str]:
    turns = rounds + warmup
    engines = {"default": sqlite_engine(tmp / "default.db", wal=False), "WAL": sqlite_engine(tmp / "wal.db", wal=True)}
    out: list[str] = []
    with ExitStack() as stack:
        # One scripted model per agent class, shared by that class's two rows (turns never overlap).
        stack.enter_context(scripted(Bot, script(2 * turns, tool=False)))
        stack.enter_context(scripted(ToolBot, script(2 * turns, tool=True)))
        variants: dict[tuple[str, str], Variant] = {}
        for kind, cls, tools in (("text", Bot, []), ("tool", ToolBot, [ping])):
            bare = Agent(script(turns, tool=kind == "tool"), instructions=INSTRUCTIONS, tools=tools)
            variants[kind, "bare"] = Variant(f"bare pydantic-ai run_sync, {kind}", bare_turn(bare))
            for name, engine in engines.items():
                session, record = new_record(engine, cls)
                stack.callback(session.close)
                label = f"agentrecord talk, SQLite {'WAL+NORMAL' if name == 'WAL' else 'default'}, {kind}"
                variants[kind, name] = Variant(label, talk_turn(record), record=True)
        interleave(list(variants.values()), rounds, warmup)

    out.append(
        f"(a) per-turn overhead: SQLite file DB, {rounds} turns per variant (+{warmup} warmup), history growing "
        f"to {2 * turns} messages (text) / {4 * turns} (tool)"
    )
    header = (
        f"  {'variant':<46} {'median ms':>9} {'load ms':>8} {'persist ms':>10} {'ratio':>6}  goal <= {OVERHEAD_GOAL}"
    )
    out.append(header)
    ratios: dict[tuple[str, str], float] = {}
    for kind in ("text", "tool"):
        base = variants[kind, "bare"]
        out.append(f"  {base.label:<46} {ms(base.total):>9.2f} {'':>8} {'':>10} {'1.00':>6}")
        for name in engines:
            v = variants[kind, name]
            ratio = ratios[kind, name] = ms(v.total) / ms(base.total)
            out.append(
                f"  {v.label:<46} {ms(v.total):>9.2f} {ms(v.load):>8.2f} {ms(v.persist):>10.2f} "
                f"{ratio:>6.2f}  {verdict(ratio, OVERHEAD_GOAL)}"
            )
    best = min(engines, key=lambda name: ratios["text", name] + ratios["tool", name])
    out.append(
        "  recommended SQLite setup: "
        + ("agentrecord.create_engine (WAL + synchronous=NORMAL)" if best == "WAL" else "the default engine")
        + f" -- ratio text {ratios['text', best]:.2f}, tool {ratios['tool', best]:.2f}"
    )
    out.append("  (load = Store._try_acquire: lease + history read; persist = Store.append calls of the turn)")
    for engine in engines.values():
        engine.dispose()
    return out


# -- (b) persist time vs history length --------------------------------------------------------------------------
def prior_state(count: int) -> State:
    """The state JSON of an agent with `count` prior messages: count / 2 completed one-request turns."""
    return State(messages=count, requests=count // 2, turns=count // 2)


def prefill(engine: Engine, record: AgentRecord, count: int) -> None:
    """Give `record` `count` prior messages (alternating request / response), through Store.append in batches."""
    store = type(record)._store()
    lease = store._try_acquire(engine, record.id, new_owner(), 300.0)
    assert isinstance(lease, Lease)
    history: list[ModelMessage] = []
    for i in range(count // 2):
        history.append(ModelRequest(parts=[UserPromptPart(f"{PROMPT} (#{i})")], instructions=INSTRUCTIONS))
        history.append(ModelResponse(parts=[TextPart(REPLY)], model_name="bench"))
    batch = 500
    for start in range(0, len(history), batch):
        chunk = history[start : start + batch]
        last = start + batch >= len(history)
        usage = [LEDGER_ROW] * sum(isinstance(m, ModelResponse) for m in chunk)  # its ledger grows with it
        store.append(engine, record.id, lease, chunk, usage=usage, release=last, ttl=300.0)
    with engine.begin() as conn:
        conn.execute(update(store.agents).where(store.pk == record.id).values(data=prior_state(count).dump()))


LEDGER_ROW = Entry(status="ok", model="bench", input_tokens=11, output_tokens=7, cost=Decimal("0.0000021"))
"""The usage ledger row a response adds (the turns' own rows are left in place: an insert does not read them)."""


def reset(engine: Engine, record: AgentRecord, count: int) -> None:
    """Undo the last turn: drop its message rows and put the state JSON back to `count` messages."""
    store = type(record)._store()
    with engine.begin() as conn:
        dropped = conn.execute(
            delete(store.messages).where(store.messages.c.agent_id == record.id, store.messages.c.seq >= count)
        ).rowcount
        conn.execute(update(store.agents).where(store.pk == record.id).values(data=prior_state(count).dump()))
    assert dropped == 2, f"expected the turn to persist 2 messages, found {dropped}"


def isolated_appends(
    engine: Engine, records: dict[int, AgentRecord], rounds: int, warmup: int
) -> dict[int, list[float]]:
    """Control: Store.append of a request + response back to back under one held lease, with no turn around it."""
    store = Bot._store()
    owners = {count: new_owner() for count in records}
    for count, record in records.items():
        assert isinstance(store._try_acquire(engine, record.id, owners[count], 300.0), Lease)
    new: list[ModelMessage] = [
        ModelRequest(parts=[UserPromptPart(PROMPT)], instructions=INSTRUCTIONS),
        ModelResponse(parts=[TextPart(REPLY)], model_name="bench"),
    ]
    times: dict[int, list[float]] = {count: [] for count in records}
    order = list(records)
    for r in range(warmup + rounds):
        for count in order if r % 2 else order[::-1]:
            record = records[count]
            lease = Lease(owner=owners[count], state=prior_state(count), history=[])
            t0 = time.perf_counter()
            store.append(engine, record.id, lease, new, usage=[LEDGER_ROW], release=False, ttl=300.0)
            elapsed = time.perf_counter() - t0
            reset(engine, record, count)
            if r >= warmup:
                times[count].append(elapsed)
    for count, record in records.items():
        store.release(engine, record.id, Lease(owner=owners[count], state=prior_state(count), history=[]))
    return times


def history_length(tmp: Path, rounds: int, warmup: int) -> list[str]:
    engine = sqlite_engine(tmp / "history.db", wal=True)
    variants: dict[int, Variant] = {}
    records: dict[int, AgentRecord] = {}
    with ExitStack() as stack:
        stack.enter_context(scripted(Bot, script(2 * (rounds + warmup), tool=False)))
        for count in (SHORT_HISTORY, LONG_HISTORY):
            session, record = new_record(engine, Bot)
            stack.callback(session.close)
            prefill(engine, record, count)
            records[count] = record
            variants[count] = Variant(
                f"{count} prior messages",
                talk_turn(record),
                record=True,
                after=functools.partial(reset, engine, record, count),
            )
        interleave(list(variants.values()), rounds, warmup)
        isolated = isolated_appends(engine, records, rounds, warmup)
    engine.dispose()

    short, long = variants[SHORT_HISTORY], variants[LONG_HISTORY]
    persist_ratio = ms(long.persist) / ms(short.persist)
    turn_ratio = ms(long.total) / ms(short.total)
    load_ratio = ms(long.load) / ms(short.load)
    iso_short, iso_long = ms(isolated[SHORT_HISTORY]), ms(isolated[LONG_HISTORY])
    return [
        f"(b) history length: SQLite WAL+NORMAL file DB, {rounds} turns per row (+{warmup} warmup), text replies; "
        "each turn sees exactly this many prior messages",
        "  (persist inside a turn runs right after that turn's Python work, so it is measured cache-cold; the",
        "   isolated control times the same append back to back and shows what the store itself costs)",
        f"  {'median ms':<46} {SHORT_HISTORY:>9} {LONG_HISTORY:>8} {'ratio':>10}  goal",
        f"  {'persist: Store.append of request + response':<46} {ms(short.persist):>9.2f} {ms(long.persist):>8.2f} "
        f"{persist_ratio:>10.2f}  <= {PERSIST_GOAL} {verdict(persist_ratio, PERSIST_GOAL)}",
        f"  {'persist, isolated: Store.append, no turn around':<46} {iso_short:>9.2f} {iso_long:>8.2f} "
        f"{iso_long / iso_short:>10.2f}  (control: the SQL alone)",
        f"  {'load: lease + history read (informational)':<46} {ms(short.load):>9.2f} {ms(long.load):>8.2f} "
        f"{load_ratio:>10.2f}",
        f"  {'whole talk() turn (informational)':<46} {ms(short.total):>9.2f} {ms(long.total):>8.2f} "
        f"{turn_ratio:>10.2f}  (grows: the full history is loaded and sent)",
    ]


# -- main --------------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run: a few turns per variant")
    parser.add_argument("--rounds", type=int, default=None, help="turns per variant (default 200, --quick 10)")
    args = parser.parse_args()
    rounds = args.rounds or (10 if args.quick else 200)
    warmup = 3 if args.quick else 20
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="agentrecord-bench-") as tmp, probed_store():
        lines = overhead(Path(tmp), rounds, warmup)
        lines.append("")
        lines += history_length(Path(tmp), rounds, warmup)
    print(f"agentrecord turn overhead benchmark{' (--quick smoke run)' if args.quick else ''}")
    print(f"command: {command}")
    print(f"python {sys.version.split()[0]}, scripted model, medians of interleaved rounds")
    print()
    print("\n".join(lines))
    print()
    print(f"total benchmark time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
