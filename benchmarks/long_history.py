"""Long-lived agents: ms per turn at the start and after 1,000 turns, compaction off and on, beside bare pydantic-ai.

Run:  .venv/bin/python benchmarks/long_history.py              (1,000 turns per variant, a few minutes)
      .venv/bin/python benchmarks/long_history.py --turns 100  (smoke run)

One persisted agent per variant (a SQLite file) talks to a local OpenAI-compatible server on 127.0.0.1 that
answers at once (tests/agentrecord/openai_server.py, real HTTP). Turns alternate: a plain question answered in
words, then a question answered after one tool call (two requests). The script prints the mean ms per turn of
the first 10 and the last 10 turns of each variant:

  agentrecord, compaction off   every request carries the whole history (earlier turns sent pre-encoded)
  agentrecord, compaction on    `compaction = Compaction(messages=40)`: the model sees a summary + the recent turns
  bare pydantic-ai              Agent.run(prompt, message_history=...) with the history in memory, no database,
                                timed for 10 turns on an empty history and 10 turns on the compaction-off
                                agent's final history (same server, same tool, same instructions)

It also times a new process's first turn on the old agent (caches dropped), with and without reuse.

Goals (issue 6): compaction off, last-10 below llm.rb's 116 ms and at least 7x below bare pydantic-ai;
compaction on, last-10 / first-10 <= 1.5.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage
from sqlalchemy.orm import DeclarativeBase, Session
from tests.agentrecord.openai_server import OpenAIServer, Step, Text, ToolCall

from agentrecord import AgentRecord, Compaction, Tool, create_engine

INSTRUCTIONS = "You are a day trader's assistant. Answer in one short sentence."
WINDOW = 10
LLM_RB_LAST10_MS = 116.0
BARE_GOAL = 7.0
COMPACTION_GOAL = 1.5


class Base(DeclarativeBase):
    pass


class QuoteFeed(Tool):
    """Get the latest quote for a ticker symbol."""

    def call(self, symbol: str) -> dict[str, Any]:
        return {"symbol": symbol.upper(), "bid": 189.9, "ask": 190.1, "last": 190.0}


class Watcher(AgentRecord, Base):
    __tablename__ = "watchers"

    class Agent:
        model = "bench-model"
        instructions = INSTRUCTIONS
        tools = [QuoteFeed]


class CompactingWatcher(AgentRecord, Base):
    __tablename__ = "compacting_watchers"

    class Agent:
        model = "bench-model"
        instructions = INSTRUCTIONS
        tools = [QuoteFeed]
        compaction = Compaction(messages=40)


def respond(body: dict[str, Any]) -> Step:
    """The model's side: summaries for summary requests, a tool call when asked for a quote, else words."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    if not body.get("tools"):
        return Text("The user watched AAPL all day; quotes were steady near 190.")
    if last.get("role") == "tool":
        return Text("AAPL trades at 190.0, bid 189.9, ask 190.1.")
    if "quote" in str(last.get("content", "")):
        return ToolCall("quote_feed", {"symbol": "AAPL"})
    return Text("The market is calm; nothing to do right now.")


def prompt(i: int) -> str:
    return f"Turn {i}: get me a quote for AAPL." if i % 2 else f"Turn {i}: how does the market look?"


def ms(samples: list[float]) -> float:
    return statistics.fmean(samples) * 1000


def run_record(cls: type[AgentRecord], turns: int, db: Path) -> tuple[list[float], list[ModelMessage], Any]:
    engine = create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        warm, record = cls(provider="openai"), cls(provider="openai")
        session.add_all([warm, record])
        session.commit()
        for i in range(2):  # process-wide first-use costs (imports, connections) stay out of the timings
            warm.talk(prompt(i))
        times = []
        for i in range(turns):
            start = time.perf_counter()
            record.talk(prompt(i))
            times.append(time.perf_counter() - start)
            if (i + 1) % 100 == 0:
                print(f"    {cls.__name__}: {i + 1}/{turns} turns, last 10 at {ms(times[-WINDOW:]):.1f} ms/turn")
        history = record.messages
        usage = (record.input_tokens, record.output_tokens, len(history))
        if cls is Watcher:
            cold_start(record, len(history))
    engine.dispose()
    return times, history, usage


def cold_start(record: AgentRecord, stored: int) -> None:
    """A new process's first turn on the old agent (history read from the database, every turn encoded
    once), beside the same turn on the plain path (AGENTRECORD_REUSE_ENCODING=0), 3 rounds each."""
    from agentrecord import _encoding, providers

    model = providers.model_for(record.provider, record.agent_model_name(), record.provider_options())
    reuse, plain = [], []
    for _ in range(3):
        for samples, switch in ((reuse, "1"), (plain, "0")):
            type(record)._store()._cache.clear()
            if hasattr(model, "_agentrecord_encoded_turns"):
                delattr(model, "_agentrecord_encoded_turns")
            os.environ[_encoding.ENV_SWITCH] = switch
            start = time.perf_counter()
            record.talk("How does the market look now?")
            samples.append(time.perf_counter() - start)
    os.environ[_encoding.ENV_SWITCH] = "1"
    print(
        f"  cold first turn on the {stored}-message agent (mean of 3): encoding reuse {ms(reuse):.0f} ms, "
        f"plain path {ms(plain):.0f} ms"
    )


def run_bare(base_url: str, history: list[ModelMessage]) -> list[float]:
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel("bench-model", provider=OpenAIProvider(base_url=base_url, api_key="sk-bench"))

    def quote_feed(symbol: str) -> dict[str, Any]:
        """Get the latest quote for a ticker symbol."""
        return QuoteFeed().call(symbol)

    agent = Agent(model, instructions=INSTRUCTIONS, tools=[quote_feed])
    times = []

    async def go() -> None:
        nonlocal history
        for i in range(WINDOW):
            start = time.perf_counter()
            result = await agent.run(prompt(i), message_history=history)
            times.append(time.perf_counter() - start)
            history = result.all_messages()

    asyncio.run(go())
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=1000)
    args = parser.parse_args()
    turns = max(args.turns, 2 * WINDOW)
    with OpenAIServer(respond, keep_requests=False) as server, tempfile.TemporaryDirectory() as tmp:
        os.environ["OPENAI_SECRET"] = "sk-bench"
        os.environ["OPENAI_BASE_URL"] = server.base_url
        print(f"{turns} alternating plain/tool turns per variant against {server.base_url}")
        off, history, off_usage = run_record(Watcher, turns, Path(tmp) / "off.db")
        on, _, on_usage = run_record(CompactingWatcher, turns, Path(tmp) / "on.db")
        print(f"  bare pydantic-ai: 10 turns on an empty history, 10 on the {len(history)}-message history")
        bare_first = run_bare(server.base_url, [])
        bare_last = run_bare(server.base_url, history)
    rows = [
        ("agentrecord, compaction off", ms(off[:WINDOW]), ms(off[-WINDOW:])),
        ("agentrecord, compaction on", ms(on[:WINDOW]), ms(on[-WINDOW:])),
        ("bare pydantic-ai (in memory)", ms(bare_first), ms(bare_last)),
    ]
    print(f"\n{'variant':<32}{'first 10':>12}{'last 10':>12}{'last/first':>12}")
    for name, first, last in rows:
        print(f"{name:<32}{first:>10.1f}ms{last:>10.1f}ms{last / first:>12.2f}")
    off_last, on_last, on_first, bare = rows[0][2], rows[1][2], rows[1][1], rows[2][2]
    print(
        f"\nmessages stored: off {off_usage[2]}, on {on_usage[2]}; "
        f"tokens (in/out): off {off_usage[:2]}, on {on_usage[:2]}"
    )
    print(
        f"compaction off, last 10: {off_last:.1f} ms (llm.rb anchor {LLM_RB_LAST10_MS:.0f} ms) -> "
        f"{'PASS' if off_last < LLM_RB_LAST10_MS else 'FAIL'}"
    )
    print(
        f"bare pydantic-ai last 10 / agentrecord last 10: {bare / off_last:.1f}x (goal >= {BARE_GOAL:.0f}x) -> "
        f"{'PASS' if bare / off_last >= BARE_GOAL else 'FAIL'}"
    )
    print(
        f"compaction on, last 10 / first 10: {on_last / on_first:.2f} (goal <= {COMPACTION_GOAL}) -> "
        f"{'PASS' if on_last / on_first <= COMPACTION_GOAL else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
