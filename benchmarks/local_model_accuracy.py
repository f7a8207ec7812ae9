"""How well the embedded model decides, fills arguments and answers, on the trading and general evaluation sets.

Run:  .venv/bin/python benchmarks/local_model_accuracy.py                   (default vs alternatives, both sets)
      .venv/bin/python benchmarks/local_model_accuracy.py --configs default  (the default alone)
      .venv/bin/python benchmarks/local_model_accuracy.py --quick            (a few cases of each kind)
      .venv/bin/python benchmarks/local_model_accuracy.py --set general --verbose
      .venv/bin/python benchmarks/local_model_accuracy.py --configs default --fields  (field cases, both splits)

Trading set (tests/agentrecord/local_eval_set.py): every case is a real turn of tradedesk's own agents
(`tradedesk.agents.models.Daytrader` / `StockInvestor`: their instructions, tools and skills) on persisted
records in a SQLite file, over the simulated market frozen at a weekday morning. Single requests get a
fresh agent each; each conversation runs its 10 turns in order on one agent. General set
(tests/agentrecord/local_general_eval_set.py): a pydantic-ai Agent with the case's app tools.

Scores, per configuration:
  tool      the first tool called is the expected one (or none, for small talk, concepts and tools that fit nothing)
  args      tool right and every key argument right
  declined  (general set) irrelevant-tool requests answered without a call
  faithful  replies whose every number appears in the turn's tool results or the user's message
  quoted    (trading) number-quoting requests whose reply quotes a number of the tool's result
  right     requests naming one field of the tool's result (`--fields`) whose reply's first number is that
            field's value; reported apart for the split tuned on and the held-out split
  degenerate  replies with a sentence three times or more
  crashes   turns that raised
  unasked   orders placed when the request did not ask to buy or sell
  median    median wall time of a whole turn (configurations interleaved per case: same machine load)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart, ToolReturnPart
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if "--src" in sys.argv:  # measure another checkout's agentrecord and tradedesk (e.g. the code before a change)
    sys.path.insert(0, sys.argv[sys.argv.index("--src") + 1])

try:
    from agentrecord.local import LocalModel
except ImportError:  # before the embedded model moved into agentrecord.local
    from agentrecord.local_model import LocalModel  # type: ignore[no-redef]
NUMBER = re.compile(r"\d+(?:\.\d+)?")
from tests.agentrecord import local_general_eval_set as general  # noqa: E402
from tests.agentrecord.local_eval_set import CONVERSATIONS, SINGLES, Case  # noqa: E402

from agentrecord.testing import scripted  # noqa: E402

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 in New York: the exchange is open

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "channel": {"routing": "channel"},
    "context-2": {"context_turns": 2},
    "free-strings": {"copy_strings": False},
    "json": {"prompt_format": "json", "tool_hint": True},
}
"""The default and the alternatives tried: LocalModel keyword arguments."""


@dataclass
class Score:
    n: int = 0
    tool: int = 0
    args: int = 0
    irrelevant: int = 0
    declined: int = 0
    replies: int = 0
    faithful: int = 0
    quoting: int = 0
    quoted: int = 0
    degenerate: int = 0
    crashes: int = 0
    unasked: int = 0
    asking: int = 0
    right: int = 0
    times: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


@dataclass
class Turn:
    calls: list[tuple[str, dict[str, Any]]]
    results: list[str]
    text: str
    seconds: float
    error: str | None = None


def turn_of(messages: list[ModelMessage], text: str, seconds: float) -> Turn:
    calls = [
        (p.tool_name, p.args_as_dict())
        for m in messages
        if isinstance(m, ModelResponse)
        for p in m.parts
        if isinstance(p, ToolCallPart)
    ]
    results = [
        p.model_response_str()
        for m in messages
        if not isinstance(m, ModelResponse)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    ]
    return Turn(calls, results, text, seconds)


def unfaithful(text: str, sources: list[str]) -> list[str]:
    """Numbers of `text` that no source contains (compared by value)."""
    known = {float(n) for s in sources for n in NUMBER.findall(s)}
    odd = [c for c in text if not c.isascii() and unicodedata.numeric(c, None) is not None]  # ⅛, ², ٣
    return [n for n in NUMBER.findall(text) if n.isascii() and float(n) not in known] + odd


def field_values(results: list[str], key: str) -> set[float]:
    """The numbers of every value under `key` in the JSON tool results."""
    found: set[float] = set()

    def walk(value: Any, at: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, at)
        elif at == key and value is not None and not isinstance(value, bool):
            found.update(float(n) for n in NUMBER.findall(str(value)))

    for result in results:
        try:
            walk(json.loads(result), "")
        except ValueError:
            continue
    return found


def right_field(text: str, results: list[str], key: str) -> bool:
    """The reply's first number is the value of the field `key` of the tool results."""
    numbers = NUMBER.findall(text)
    return bool(numbers) and float(numbers[0]) in field_values(results, key)


def degenerate(text: str) -> bool:
    sentences = [re.sub(r"\W+", " ", s).strip().lower() for s in re.split(r"(?<=[.!?])\s+", text)]
    sentences = [s for s in sentences if s]
    return any(sentences.count(s) >= 3 for s in set(sentences))


def score(
    s: Score,
    prompt: str,
    want_tool: str | None,
    args_match: Callable[[dict[str, Any]], bool],
    t: Turn,
    *,
    quotes: bool = False,
    irrelevant: bool = False,
    field: str | None = None,
) -> None:
    s.n += 1
    s.times.append(t.seconds)
    if t.error is not None:
        s.crashes += 1
        s.misses.append(f"CRASH {prompt!r}: {t.error}")
        return
    tool, args = t.calls[0] if t.calls else (None, {})
    ok = tool == want_tool
    if ok:
        s.tool += 1
        if args_match(args):
            s.args += 1
        else:
            s.misses.append(f"ARGS {prompt!r} -> {tool} {args}")
    else:
        s.misses.append(f"TOOL {prompt!r} -> {tool} {args} (want {want_tool})")
    if irrelevant:
        s.irrelevant += 1
        s.declined += tool is None
    if want_tool != "order_entry" and any(name == "order_entry" for name, _ in t.calls):
        s.unasked += 1
        s.misses.append(f"UNASKED ORDER {prompt!r} -> {t.calls}")
    if t.text:
        s.replies += 1
        bad = unfaithful(t.text, [*t.results, prompt])
        if bad:
            s.misses.append(f"NUMBERS {prompt!r}: {bad} in {t.text!r}")
        else:
            s.faithful += 1
        if degenerate(t.text):
            s.degenerate += 1
            s.misses.append(f"DEGENERATE {prompt!r}: {t.text!r}")
    if field is not None:
        s.asking += 1
        if right_field(t.text, t.results, field):
            s.right += 1
        else:
            s.misses.append(f"FIELD {prompt!r} ({field}): {t.text!r} under {t.results}")
    if quotes:
        s.quoting += 1
        in_results = {float(n) for r in t.results for n in NUMBER.findall(r)}
        if any(float(n) in in_results for n in NUMBER.findall(t.text)):
            s.quoted += 1


# -- trading: tradedesk's agents on a SQLite file ---------------------------------------------------


class Desk:
    def __init__(self) -> None:
        import agentrecord
        from tradedesk import migrations
        from tradedesk.brokerage import services
        from tradedesk.market import SimulatedMarket

        services.use_market(SimulatedMarket(seed=7, clock=lambda: NOW))
        os.environ.setdefault("TRADEDESK_EXCHANGE_HOURS", "always")
        url = f"sqlite:///{tempfile.mkdtemp(prefix='local-eval-')}/eval.db"
        migrations.upgrade(url)
        self.engine = agentrecord.create_engine(url)
        self.users = 0

    def agent(self, kind: str) -> tuple[type[Any], int]:
        from tradedesk.agents.models import AGENT_KINDS
        from tradedesk.app import desk

        with Session(self.engine) as session:
            self.users += 1
            user = desk.add_user(session, f"eval{self.users}@example.com")
            session.commit()
            agent = desk.Desk(session, user).new_agent(kind, "local", None)
            agent.approval_threshold = Decimal("1000000000")
            agent.max_order_notional = Decimal("1000000000")
            agent.max_position_weight = None
            agent.max_orders_per_day = None
            session.commit()
            return AGENT_KINDS[kind], agent.id

    def talk(self, model: LocalModel, cls: type[Any], agent_id: int, prompt: str) -> Turn:
        start = time.perf_counter()
        with scripted(cls, model), Session(self.engine) as session:
            record = session.get(cls, agent_id)
            try:
                reply = record.talk(prompt)
            except Exception as exc:  # counted as a crash
                return Turn([], [], "", time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
            return turn_of(reply.messages, reply.text, time.perf_counter() - start)


def run_trading(
    models: dict[str, LocalModel], singles: list[Case], conversations: list[Any], scores: dict[str, Score]
) -> None:
    desk = Desk()
    total = len(singles) + sum(len(c.turns) for c in conversations)
    done = 0
    for case in singles:
        for name, model in models.items():
            cls, agent_id = desk.agent(case.kind)
            t = desk.talk(model, cls, agent_id, case.prompt)
            score(scores[name], case.prompt, case.tool, case.args_match, t, quotes=case.quotes, field=case.field)
        done += 1
        print(f"  trading {done}/{total}", end="\r", flush=True, file=sys.stderr)
    if singles:
        table(f"Trading singles ({len(singles)}), so far", scores, False)
    for conversation in conversations:
        agents = {name: desk.agent(conversation.kind) for name in models}
        for case in conversation.turns:
            for name, model in models.items():
                cls, agent_id = agents[name]
                t = desk.talk(model, cls, agent_id, case.prompt)
                score(
                    scores[name],
                    f"[{conversation.name}] {case.prompt}",
                    case.tool,
                    case.args_match,
                    t,
                    quotes=case.quotes,
                )
            done += 1
            print(f"  trading {done}/{total}", end="\r", flush=True, file=sys.stderr)


def run_general(models: dict[str, LocalModel], cases: list[general.GeneralCase], scores: dict[str, Score]) -> None:
    for i, case in enumerate(cases, 1):
        for name, model in models.items():
            agent = Agent(model, instructions=general.INSTRUCTIONS, tools=general.APPS[case.app])
            start = time.perf_counter()
            try:
                result = agent.run_sync(case.prompt)
                t = turn_of(result.all_messages(), str(result.output), time.perf_counter() - start)
            except Exception as exc:
                t = Turn([], [], "", time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
            score(
                scores[name],
                f"[{case.app}] {case.prompt}",
                case.tool,
                case.args_match,
                t,
                irrelevant=case.tool is None,
                field=case.field,
            )
        print(f"  general {i}/{len(cases)}", end="\r", flush=True, file=sys.stderr)


def pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.0f}%)" if b else "-"


def table(title: str, scores: dict[str, Score], general_set: bool) -> None:
    print(f"\n{title}\n", flush=True)
    extra = "declined" if general_set else "quoted"
    print(f"| config | tool | args | {extra} | faithful numbers | degenerate | crashes | unasked orders | median (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, s in scores.items():
        third = pct(s.declined, s.irrelevant) if general_set else pct(s.quoted, s.quoting)
        median = statistics.median(s.times) if s.times else 0.0
        print(
            f"| {name} | {pct(s.tool, s.n)} | {pct(s.args, s.n)} | {third} | {pct(s.faithful, s.replies)} "
            f"| {s.degenerate} | {s.crashes} | {s.unasked} | {median:.2f} |"
        )


def fields_table(title: str, scores: dict[str, Score]) -> None:
    print(f"\n{title}\n", flush=True)
    print("| config | tool | args | right field | faithful numbers | degenerate | crashes | median (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, s in scores.items():
        median = statistics.median(s.times) if s.times else 0.0
        print(
            f"| {name} | {pct(s.tool, s.n)} | {pct(s.args, s.n)} | **{pct(s.right, s.asking)}** "
            f"| {pct(s.faithful, s.replies)} | {s.degenerate} | {s.crashes} | {median:.2f} |"
        )


def run_fields(models: dict[str, LocalModel], split: str) -> dict[str, Score]:
    """The field cases of both sets for `split` ("tune" or "heldout")."""
    from tests.agentrecord.local_eval_set import FIELDS, FIELDS_HELDOUT

    held = split == "heldout"
    scores = {name: Score() for name in models}
    run_trading(models, FIELDS_HELDOUT if held else FIELDS, [], scores)
    run_general(models, general.FIELDS_HELDOUT if held else general.FIELDS, scores)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--set", choices=["trading", "general", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="a few cases of each kind")
    parser.add_argument("--singles-only", action="store_true", help="the trading set's single requests only")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument(
        "--fields",
        nargs="?",
        const="both",
        choices=["tune", "heldout", "both"],
        help="only the requests naming one field (both sets), per split",
    )
    parser.add_argument("--verbose", action="store_true", help="print each miss")
    parser.add_argument("--src", help="import agentrecord and tradedesk from this src directory instead")
    opts = parser.parse_args()
    singles, conversations, cases = SINGLES, CONVERSATIONS, general.CASES
    if opts.singles_only:
        conversations = []
    if opts.quick:
        singles, conversations, cases = SINGLES[::8], CONVERSATIONS[:1], general.CASES[::6]
    models = {name: LocalModel(opts.model, **CONFIGS[name]) for name in opts.configs}
    print(f"$ {shlex.join(['python', *sys.argv])}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs", flush=True)
    warm = Agent(models[opts.configs[0]], tools=general.APPS["math"])
    warm.run_sync("Add 1 and 2.")
    if opts.fields:
        for split in ("tune", "heldout") if opts.fields == "both" else (opts.fields,):
            found = run_fields(models, split)
            fields_table(f"Field requests, {split} split (trading and general sets)", found)
            if opts.verbose:
                for name, s in found.items():
                    for miss in s.misses:
                        print("  ", name, miss)
        return
    trading = {name: Score() for name in models}
    general_scores = {name: Score() for name in models}
    started = time.perf_counter()
    if opts.set in ("trading", "both"):
        run_trading(models, singles, conversations, trading)
        n_conv = sum(len(c.turns) for c in conversations)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        title = f"Trading set: {len(singles)} single requests + {len(conversations)} conversations ({n_conv} turns)"
        table(f"{title}; load average now {load}", trading, False)
    if opts.set in ("general", "both"):
        run_general(models, cases, general_scores)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        title = f"General set: {len(cases)} cases ({sum(c.tool is None for c in cases)} with no fitting tool)"
        table(f"{title}; load average now {load}", general_scores, True)
    print(
        f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {time.perf_counter() - started:.0f} s"
    )
    if opts.verbose:
        for title, scores in (("trading", trading), ("general", general_scores)):
            for name, s in scores.items():
                if s.misses:
                    print(f"\n{title} / {name} misses:")
                    for miss in s.misses:
                        print("  ", miss)


if __name__ == "__main__":
    main()
