"""The arguments of a chosen tool: copied from the request, chosen by likelihood among a few allowed values, or
written under a grammar that copies the request's strings and numbers (retried once tighter)."""

from __future__ import annotations

import itertools
import json
import logging
import re
from typing import Any

from pydantic_ai.models.function import AgentInfo
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.usage import RequestUsage

from . import arguments, llama
from .formats import PromptFormat
from .grammar import ArgumentsGrammar, Bounds
from .usage import scoring_usage, usage_of

DECISION_TOKENS = 192
"""The most tokens a decision or an arguments object is generated in (twice that on the first try)."""

log = logging.getLogger("agentrecord.local")


class CannotCall(Exception):
    """No call could be formed; the message is the answer in words the user gets instead."""


class CopyingGrammar(ArgumentsGrammar):
    """The arguments grammar where free strings are spans of the request and numbers its numbers, when it has any."""

    def __init__(self, schema: dict[str, Any], bounds: Bounds, request: str | None) -> None:
        super().__init__(schema, bounds)
        self.request = request

    def string(self, schema: dict[str, Any], name: str) -> str:
        if self.request is None or "pattern" in schema or schema.get("format"):
            return super().string(schema, name)
        limit = None if schema.get("maxLength") is None else int(schema["maxLength"])
        prop = next((part for part in reversed(name.split("-")) if not part.isdigit()), name)
        found = arguments.spans_after_name(prop, self.request, limit) or arguments.spans(self.request, limit)
        found = [s for s in found if len(s) >= int(schema.get("minLength", 1))]
        if not found:
            return super().string(schema, name)
        return self.r.add(name, " | ".join(json.dumps(json.dumps(s)) for s in found))

    def visit(self, schema: dict[str, Any], name: str, depth: int) -> str:
        kind = self._resolve(schema).get("type")
        if self.request is not None and kind in ("integer", "number") and "enum" not in schema:
            spec = self._resolve(schema)
            fits = [
                arguments._number_value(w, spec)
                for w, v in arguments.numbers(self.request)
                if arguments._in_bounds(v, spec)
            ]
            if fits:
                return self.r.add(name, " | ".join(json.dumps(json.dumps(v)) for v in dict.fromkeys(fits)))
        return super().visit(schema, name, depth)


def without_repeats(value: Any) -> Any:
    """Generated arguments with no list holding the same item twice (a small model writes its one item again)."""
    if isinstance(value, dict):
        return {k: without_repeats(v) for k, v in value.items()}
    if isinstance(value, list):
        kept: list[Any] = []
        for item in map(without_repeats, value):
            if item not in kept:
                kept.append(item)
        return kept
    return value


def violation(schema: dict[str, Any], args: Any) -> str | None:
    """What the grammar could not guarantee: ranges and patterns of the top-level arguments."""
    if not isinstance(args, dict):
        return "not an object"
    defs = {**schema.get("$defs", {}), **schema.get("definitions", {})}
    for name, value in args.items():
        spec = arguments.resolve(schema.get("properties", {}).get(name, {}), defs)
        if isinstance(value, int | float) and not isinstance(value, bool) and not arguments._in_bounds(value, spec):
            return f"{name}={value} out of range"
        pattern = spec.get("pattern")
        if isinstance(value, str) and isinstance(pattern, str):
            try:
                if not re.search(pattern, value):
                    return f"{name}={value!r} does not match {pattern}"
            except re.error:
                pass
    return None


def statement(name: str, value: Any) -> str:
    shown = "not given" if value is arguments.OMIT else json.dumps(value) if isinstance(value, bool) else value
    return f"The {name.replace('_', ' ')} is {shown}."


class Drafting:
    """Writing a chosen tool's arguments (a mixin of `LocalModel`)."""

    engine: llama.Engine
    format: PromptFormat
    tool_hint: bool
    routing: str
    context_turns: int
    copy_strings: bool
    ORDERED: float

    def _arguments(
        self, tool: ToolDefinition, request: str, info: AgentInfo, temperature: float, usage: list[RequestUsage]
    ) -> dict[str, Any]:
        schema = dict(tool.parameters_json_schema or {"type": "object", "properties": {}})
        planned = arguments.plan(schema, request)
        fixed = dict(planned.fixed)
        fixed.update(self._choose_values(planned, request, usage))
        properties = [p for p in planned.properties if fixed.get(p) is not arguments.OMIT]
        fixed = {k: v for k, v in fixed.items() if v is not arguments.OMIT}
        if all(p in fixed for p in properties):
            return {p: fixed[p] for p in properties}
        prompt = self._args_prompt(request, tool, properties)
        system = [{"role": "system", "content": info.instructions}] if info.instructions else []
        for attempt, bounds in enumerate((Bounds(), Bounds().tight())):
            copy = self.copy_strings or attempt > 0
            grammar = CopyingGrammar(schema, bounds, request if copy else None).compile(properties, fixed)
            gen = self.engine.generate(
                [*system, {"role": "user", "content": prompt}],
                grammar=grammar,
                max_tokens=DECISION_TOKENS * (2 - attempt),
                temperature=temperature,
            )
            usage[0] += usage_of(gen)
            try:
                args = json.loads(gen.text)
            except ValueError:
                log.info("local model: arguments for %s cut off (attempt %d): %r", tool.name, attempt + 1, gen.text)
                continue
            once = without_repeats(args)
            args = once if violation(schema, once) is None else args
            problem = violation(schema, args)
            if isinstance(args, dict) and problem is None:
                return args
            log.info("local model: arguments for %s invalid (%s): %r", tool.name, problem, gen.text)
        raise CannotCall(
            f"Sorry, I could not work out the details {tool.name} needs from that request. "
            "Could you say it again with the values spelled out?"
        )

    def _args_prompt(self, request: str, tool: ToolDefinition, properties: list[str]) -> str:
        return (
            f"Request: {request}\n\nCall {tool.name}: {tool.description or ''}\n"
            f"Write its arguments ({', '.join(properties)}) as JSON, taken from the request."
        )

    def _choose_values(self, planned: arguments.Plan, request: str, usage: list[RequestUsage]) -> dict[str, Any]:
        """Decide by likelihood the arguments the request leaves open among a few allowed values."""
        decided: dict[str, Any] = {}
        grouped = {name for group in planned.shared for name in group}
        for group in planned.shared:
            values = planned.choose[group[0]]
            if len(group) > 3 or len(values) > 5 or len(values) < len(group):
                grouped -= set(group)
                continue
            perms = list(itertools.permutations(values, len(group)))
            texts = [
                " ".join(statement(name, value) for name, value in zip(group, perm, strict=True)) for perm in perms
            ]
            scores = self._scores(texts, request, usage)
            for i, perm in enumerate(perms):  # "from ft to m": values usually come in the schema's order
                scores[i] += self.ORDERED * arguments.in_order([str(v) for v in perm], request)
            best = max(range(len(scores)), key=scores.__getitem__)
            decided.update(dict(zip(group, perms[best], strict=True)))
        for name, values in planned.choose.items():
            if name in grouped:
                continue
            best = self._best([statement(name, v) for v in values], request, usage)
            decided[name] = values[best]
        return decided

    def _best(self, statements: list[str], request: str, usage: list[RequestUsage]) -> int:
        scores = self._scores(statements, request, usage)
        return max(range(len(scores)), key=scores.__getitem__)

    def _scores(self, statements: list[str], request: str, usage: list[RequestUsage]) -> list[float]:
        options = [f"{s}\nThe user's message: " for s in statements]
        scored = self.engine.score("", options, request)
        usage[0] += scoring_usage(scored)
        return scored.scores
