"""How well each embedded model and prompt format picks tools on the trading evaluation set, and how fast.

Run:  .venv/bin/python benchmarks/local_model_accuracy.py            (every model and format, ~15 min)
      .venv/bin/python benchmarks/local_model_accuracy.py --quick    (first 8 cases, default config)
      .venv/bin/python benchmarks/local_model_accuracy.py --models smollm2-135m --formats channel

Each case of tests/agentrecord/local_eval_set.py is one full agent turn (pydantic-ai Agent on
agentrecord's LocalModel, the seed's day-trader or investor instructions and tools, which return
canned data): the model decides, the tool runs, the model answers. Scored on the turn's first tool
call (or none):
  tool   = the expected tool was called first (or no tool, for small talk)
  args   = tool right and every key argument right (symbols and sides ignore case)
  median = median wall time of a whole turn on this machine (both models run in the same process,
           interleaved per case, so they see the same machine load)
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, ToolCallPart

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "agentrecord"))

from local_eval_set import CASES, INSTRUCTIONS, TOOLS, Case

from agentrecord._tool_prompt import FORMATS
from agentrecord.local_model import LocalModel

MODELS = ("smollm2-135m", "gemma3-270m")


@dataclass
class Score:
    tool: int = 0
    args: int = 0
    times: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


def first_call(messages: list[Any]) -> tuple[str | None, dict[str, Any]]:
    for message in messages:
        if isinstance(message, ModelResponse):
            for part in message.parts:
                if isinstance(part, ToolCallPart):
                    return part.tool_name, part.args_as_dict()
    return None, {}


def run_case(model: LocalModel, case: Case, score: Score) -> None:
    agent = Agent(model, instructions=INSTRUCTIONS[case.kind], tools=TOOLS[case.kind])
    start = time.perf_counter()
    result = agent.run_sync(case.prompt)
    score.times.append(time.perf_counter() - start)
    tool, args = first_call(result.all_messages())
    if tool == case.tool:
        score.tool += 1
        if case.args_match(args):
            score.args += 1
            return
    score.misses.append(f"{case.prompt!r} -> {tool} {json.dumps(args)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    hinted = [f"{f}+hint" for f in FORMATS if f != "channel"]
    parser.add_argument("--formats", nargs="*", default=hinted + list(FORMATS))
    parser.add_argument("--quick", action="store_true", help="first 8 cases, smollm2-135m with the channel format")
    parser.add_argument("--verbose", action="store_true", help="print each miss")
    opts = parser.parse_args()
    cases = CASES
    if opts.quick:
        cases, opts.models, opts.formats = CASES[:8], ["smollm2-135m"], ["channel"]
    configs = [(m, f) for f in opts.formats for m in opts.models]
    models = {
        (m, f): LocalModel(m, prompt_format=f.removesuffix("+hint"), tool_hint=f.endswith("+hint")) for m, f in configs
    }
    scores = {key: Score() for key in configs}
    print(f"$ {shlex.join(['python', *sys.argv])}")
    print(f"{len(cases)} cases; configs: {', '.join(f'{m}/{f}' for m, f in configs)}", flush=True)
    for key in configs:  # warm up: load each model once outside the timing
        run_case(models[key], cases[0], Score())
    for i, case in enumerate(cases, 1):
        for key in configs:
            run_case(models[key], case, scores[key])
        print(f"  {i}/{len(cases)}", end="\r", flush=True, file=sys.stderr)
    print("\n| model | format | tool selection | arguments | median turn (s) |")
    print("|---|---|---|---|---|")
    n = len(cases)
    for (m, f), s in scores.items():
        print(
            f"| {m} | {f} | {s.tool}/{n} ({100 * s.tool / n:.0f}%) | {s.args}/{n} ({100 * s.args / n:.0f}%) "
            f"| {statistics.median(s.times):.2f} |"
        )
    if opts.verbose:
        for (m, f), s in scores.items():
            print(f"\n{m}/{f} misses:")
            for miss in s.misses:
                print("  ", miss)


if __name__ == "__main__":
    main()
