"""Request encoding reuse: old turns are encoded for the provider once, not on every request.

A history is append-only, so the provider-format encoding of a finished turn never changes. For
OpenAI chat models a turn runs pydantic-ai on the open turn only (`split`) and a per-turn `ReusingModel`
puts the earlier turns' encoded messages back into the request body just before it is sent
(`ReusingAsyncOpenAI.post`). Each finished turn is encoded once, by the model's own request path
(`_encode` captures the body instead of sending it), so the body is the one the plain path sends.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from openai import AsyncOpenAI
from pydantic_ai.messages import (
    CompactionPart,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    ThinkingPart,
    ToolReturnPart,
    UserPromptPart,
    repair_messages,
)
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import RunContext

_CHAT_PATH = "/chat/completions"
_SYSTEM_ROLES = ("system", "developer")
ENV_SWITCH = "AGENTRECORD_REUSE_ENCODING"
"""Set to 0 to send every request through pydantic-ai's and the SDK's full encoding (for diagnosis)."""


class _Captured(Exception):
    """Raised by the client instead of sending, carrying the body a request would have sent."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__("captured request body")
        self.body = body


stats: Counter[str] = Counter()
"""Process-wide counts: `encoded_turns` (finished turns encoded), `spliced_requests` (requests sent with them)."""
_SPLICE: ContextVar[list[dict[str, Any]] | None] = ContextVar("agentrecord_splice", default=None)
"""Encoded earlier messages to put into the body of the request being sent, after its instructions."""
_CAPTURE: ContextVar[bool] = ContextVar("agentrecord_capture", default=False)


class ReusingAsyncOpenAI(AsyncOpenAI):
    """An AsyncOpenAI client that splices pre-encoded history into chat requests (see the module docstring)."""

    async def post(self, path: str, *args: Any, body: Any = None, **kwargs: Any) -> Any:
        if path.rstrip("/").endswith(_CHAT_PATH) and isinstance(body, dict):
            if _CAPTURE.get():
                raise _Captured(body)
            splice = _SPLICE.get()
            if splice:
                sent = list(body.get("messages") or [])
                at = 0
                while at < len(sent) and isinstance(sent[at], dict) and sent[at].get("role") in _SYSTEM_ROLES:
                    at += 1
                body = {**body, "messages": [*sent[:at], *splice, *sent[at:]]}
                stats["spliced_requests"] += 1
        return await super().post(path, *args, body=body, **kwargs)


def enable(client: Any) -> None:
    """Make a provider's AsyncOpenAI client a `ReusingAsyncOpenAI` (same state, one extra method)."""
    if type(client) is AsyncOpenAI:
        client.__class__ = ReusingAsyncOpenAI


def reusable(model: Model) -> bool:
    """True when `model` sends through a client that can take pre-encoded history."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if not isinstance(model, OpenAIChatModel):
        return False
    try:
        return isinstance(model.client, ReusingAsyncOpenAI)
    except Exception:
        return False


def _opens_turn(history: Sequence[ModelMessage], i: int) -> bool:
    """A user's request that starts a turn: it answers no tool call, and it does not follow a summary (pydantic-ai
    merges consecutive requests and notes the summary's frame at the end of the merged one)."""
    message = history[i]
    before = history[i - 1] if i > 0 else None
    if not isinstance(message, ModelRequest) or (
        isinstance(before, ModelRequest) and any(isinstance(p, CompactionPart) for p in before.parts)
    ):
        return False
    parts = message.parts
    return any(isinstance(p, UserPromptPart) for p in parts) and not any(
        isinstance(p, ToolReturnPart | RetryPromptPart) for p in parts
    )


def split(history: list[ModelMessage]) -> tuple[list[ModelMessage], list[ModelMessage]]:
    """(finished turns, open turn): the history before the last turn that still waits for something."""
    last = history[-1] if history else None
    if isinstance(last, ModelResponse) and not last.tool_calls:
        return history, []
    cut = next((i for i in range(len(history) - 1, 0, -1) if _opens_turn(history, i)), 0)
    return history[:cut], history[cut:]


@dataclass(frozen=True)
class _Encoded:
    """One finished turn's messages in provider format, and whether that encoding stands on its own."""

    messages: list[dict[str, Any]]
    standalone: bool
    """False when pydantic-ai added parts (notes on lookalike frames, announced once per history): appended
    to earlier turns, such an encoding could differ from the plain path's."""


CHAINS = 1024
"""How many encoded finished histories (one per agent that talked lately) a model keeps."""
_SCAN = 512
"""How far back from the end a finished history is searched for the end of the one encoded before."""


class _EncodedHistories:
    """One model's latest encoded finished histories (one per agent that talked lately), keyed by the
    identity of their last message (held weakly), so the next turn encodes only the turns added since."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chains: OrderedDict[int, tuple[weakref.ref[ModelMessage], int, list[dict[str, Any]]]] = OrderedDict()

    def resume(self, finished: Sequence[ModelMessage]) -> tuple[int, list[dict[str, Any]]]:
        """(messages already encoded, their encoding): the longest earlier encoded prefix of `finished`."""
        with self._lock:
            for i in range(len(finished) - 1, max(-1, len(finished) - 1 - _SCAN), -1):
                hit = self._chains.get(id(finished[i]))
                if hit is not None and hit[0]() is finished[i] and hit[1] == i + 1:
                    del self._chains[id(finished[i])]  # superseded by the longer one about to be stored
                    return i + 1, list(hit[2])
        return 0, []

    def remember(self, finished: Sequence[ModelMessage], messages: list[dict[str, Any]]) -> None:
        last = finished[-1]
        with self._lock:
            self._chains[id(last)] = (weakref.ref(last), len(finished), messages)
            self._chains.move_to_end(id(last))
            while len(self._chains) > CHAINS:
                self._chains.popitem(last=False)


_caches_lock = threading.Lock()
_CACHE_ATTR = "_agentrecord_encoded_turns"


def _cache_for(model: Model) -> _EncodedHistories:
    """The model's own cache (models are pooled per provider and model name, so it outlives turns)."""
    with _caches_lock:
        cache: _EncodedHistories | None = getattr(model, _CACHE_ATTR, None)
        if cache is None:
            cache = _EncodedHistories()
            setattr(model, _CACHE_ATTR, cache)
        return cache


async def _encode(model: Model, segment: list[ModelMessage]) -> _Encoded:
    """Finished turns in provider format, as the model's own request path builds them."""
    params = ModelRequestParameters(instruction_parts=[])
    repaired = repair_messages(segment)  # as the agent graph does before every request
    prepared = model.prepare_messages(repaired, params)
    standalone = _part_count(prepared) == _part_count(repaired)
    token = _CAPTURE.set(True)
    try:
        await model.request(prepared, None, params)
    except _Captured as captured:
        return _Encoded(list(captured.body.get("messages") or []), standalone)
    finally:
        _CAPTURE.reset(token)
    raise RuntimeError("the model sent a request instead of handing its body over")  # pragma: no cover


def _part_count(messages: list[ModelMessage]) -> int:
    return sum(len(m.parts) for m in messages)


def _has_reasoning(segment: Sequence[ModelMessage]) -> bool:
    return any(isinstance(p, ThinkingPart) for m in segment if isinstance(m, ModelResponse) for p in m.parts)


async def encoded(model: Model, finished: list[ModelMessage]) -> list[dict[str, Any]] | None:
    """Encoded messages for `finished` (whole turns), or None when they must go the plain way (reasoning to
    replay, or a turn whose encoding depends on the turns before it: see `_Encoded.standalone`).

    A history seen for the first time is encoded in one pass, as the plain path would; after that, each turn
    added since is encoded on its own and appended."""
    cache = _cache_for(model)
    start, out = cache.resume(finished)
    if 0 < start < len(finished) and not _opens_turn(finished, start):
        start, out = 0, []
    if start == 0:
        bounds = [0, len(finished)] if finished else [0]
        stats["encoded_turns"] += 1 + sum(_opens_turn(finished, i) for i in range(1, len(finished)))
    else:
        bounds = [start, *(i for i in range(start + 1, len(finished)) if _opens_turn(finished, i)), len(finished)]
        stats["encoded_turns"] += len(bounds) - 1 if start < len(finished) else 0
    for lo, hi in itertools.pairwise(bounds):
        if lo >= hi:
            continue
        segment = finished[lo:hi]
        if _has_reasoning(segment):
            return None
        part = await _encode(model, segment)
        if lo > 0 and not part.standalone:
            return None
        out.extend(part.messages)
    cache.remember(finished, out)
    return out


def _framed(model: Model, messages: list[ModelMessage]) -> bool:
    """True when pydantic-ai notes text in `messages` that looks like a framework frame: where such notes go
    depends on the requests before them, so that turn goes the plain way."""
    repaired = repair_messages(messages)
    return _part_count(model.prepare_messages(repaired, ModelRequestParameters(instruction_parts=[]))) != _part_count(
        repaired
    )


async def plan(
    model: Model, history: list[ModelMessage], prompt: str | None
) -> tuple[Model, list[ModelMessage], list[ModelMessage]]:
    """(model to run, history to hand pydantic-ai, finished turns going out pre-encoded) for one turn."""
    if not history or not reusable(model):
        return model, history, []
    finished, open_turn = split(history)
    if not finished:
        return model, history, []
    opening = [ModelRequest(parts=[UserPromptPart(prompt)])] if prompt is not None else []
    if _framed(model, [*open_turn, *opening]):
        return model, history, []
    messages = await encoded(model, finished)
    if messages is None:
        return model, history, []
    return ReusingModel(model, messages), open_turn, finished


class ReusingModel(WrapperModel):
    """Wraps a shared OpenAI chat model for one turn: every request carries the turn's finished history."""

    def __init__(self, wrapped: Model, encoded: list[dict[str, Any]]) -> None:
        super().__init__(wrapped)
        self.encoded = encoded

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        token = _SPLICE.set(self.encoded)
        try:
            return await self.wrapped.request(messages, model_settings, model_request_parameters)
        finally:
            _SPLICE.reset(token)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncGenerator[StreamedResponse]:
        token = _SPLICE.set(self.encoded)
        try:
            stream = self.wrapped.request_stream(messages, model_settings, model_request_parameters, run_context)
            response = await stream.__aenter__()  # the request is sent here, while the splice is set
        finally:
            _SPLICE.reset(token)
        try:
            yield response
        except BaseException as exc:
            if not await stream.__aexit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            await stream.__aexit__(None, None, None)
