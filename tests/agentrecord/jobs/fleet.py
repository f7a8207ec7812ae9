"""Real worker processes for the job tests, a scripted model server they share, and what to check afterwards."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart, UserPromptPart
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from agentrecord import Usage
from tests.agentrecord.openai_server import Responder, Step, ToolCall, served
from tests.preforked import Forked

from .job_models import Order, Owner, Trader

ROOT = Path(__file__).resolve().parents[3]
MODELS = "tests.agentrecord.jobs.job_models"
_BUY = re.compile(r"buy (\d+) ([A-Z]+)")


def buyer(tool: str, **fixed: Any) -> Responder:
    """A model that answers "buy N SYM" with one `tool` call (symbol, quantity and `fixed` arguments),
    then with "Done: <prompt>." once the tool answered."""

    def decide(body: dict[str, Any]) -> Step:
        messages = body["messages"]
        if messages[-1]["role"] == "tool":
            prompt = next(m["content"] for m in reversed(messages) if m["role"] == "user")
            return f"Done: {prompt}."
        found = _BUY.search(str(messages[-1].get("content") or ""))
        quantity, symbol = (int(found.group(1)), found.group(2)) if found else (1, "AAPL")
        return ToolCall(tool, {"symbol": symbol, "quantity": quantity, **fixed})

    return decide


trader_model = buyer("trade")
"""The job test agents' model: one trade call per "buy N SYM", then a sentence."""


class Workers:
    """Worker subprocesses (`python -m agentrecord.jobs worker`) on one database."""

    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url = url
        self.env = env
        self.procs: list[Forked] = []
        self.log = os.environ.get("JOBS_TEST_WORKER_LOG")

    def start(self, count: int = 1, concurrency: int = 100) -> list[Forked]:
        started = []
        for _ in range(count):
            args = ["worker", self.url, "--import", MODELS, "--concurrency", str(concurrency)]
            proc = Forked("agentrecord.jobs", args, env=self.env, cwd=ROOT, log=self.log)
            self.procs.append(proc)
            started.append(proc)
        return started

    def kill(self, proc: Forked) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@contextmanager
def fleet(url: str, monkeypatch: Any, *, delay: float = 0.0, env: dict[str, str] | None = None) -> Iterator[Any]:
    """A model server and a `Workers` pool on `url`; the workers are stopped (SIGTERM) at the end."""
    with served(monkeypatch, trader_model, delay=delay, keep_requests=False) as server:
        child_env = dict(os.environ, **(env or {}))
        child_env["PYTHONPATH"] = str(ROOT)
        workers = Workers(url, child_env)
        try:
            yield server, workers
        finally:
            workers.stop_all()


def traders(engine: Engine, count: int) -> list[Trader]:
    """`count` traders on the openai provider (the test server), one owner each, committed."""
    with Session(engine) as session:
        made = []
        for _ in range(count):
            owner = Owner()
            session.add(owner)
            session.flush()
            made.append(Trader(owner_id=owner.id, provider="openai"))
        session.add_all(made)
        session.commit()
        return [t.id for t in made]  # type: ignore[return-value]


def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def _parts(messages: list[Any], kind: type, of: type) -> list[Any]:
    return [p for m in messages if isinstance(m, kind) for p in m.parts if isinstance(p, of)]


def prompts(messages: list[Any]) -> list[str]:
    return [str(p.content) for p in _parts(messages, ModelRequest, UserPromptPart)]


def check_history(messages: list[Any]) -> None:
    """Every tool call answered exactly once, turns never interleaved: prompt, call, result, answer, prompt..."""
    calls = [p.tool_call_id for p in _parts(messages, ModelResponse, ToolCallPart)]
    returns = [p.tool_call_id for p in _parts(messages, ModelRequest, ToolReturnPart)]
    assert len(calls) == len(set(calls)) and sorted(calls) == sorted(returns), (calls, returns)
    kinds = []
    for m in messages:
        if isinstance(m, ModelRequest):
            kinds.append("prompt" if any(isinstance(p, UserPromptPart) for p in m.parts) else "result")
        else:
            kinds.append("call" if m.tool_calls else "answer")
    assert kinds == ["prompt", "call", "result", "answer"] * (len(kinds) // 4), kinds


def orders_of(engine: Engine, agent_id: int) -> list[Order]:
    with Session(engine) as session:
        return list(session.scalars(select(Order).where(Order.agent_id == agent_id)))


def usage_matches(trader: Trader) -> bool:
    usage = Usage.of(trader.messages)
    return (trader.input_tokens, trader.output_tokens) == (usage.input_tokens, usage.output_tokens)
