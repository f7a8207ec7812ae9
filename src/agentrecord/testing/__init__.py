"""Test helpers for applications: a scripted model that plays back replies and tool calls, and an in-memory
implementation of the runtime's ports (`MemoryStore`, `MemorySpend`, `MemoryBinding`).

from agentrecord.testing import ScriptedModel, call, scripted

model = ScriptedModel([call("quote_feed", symbol="AAPL"), "AAPL trades at 190."])
with scripted(Daytrader, model):
    reply = trader.talk("What is AAPL at?")
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel
from pydantic_ai.usage import RequestUsage

from ..sqlalchemy.record import AgentRecord, _overrides
from .binding import MemoryBinding as MemoryBinding
from .binding import MemoryUnit as MemoryUnit
from .memory import MemorySpend as MemorySpend
from .memory import MemoryStore as MemoryStore

_counter = iter(range(1, 1 << 62))
_run = uuid.uuid4().hex[:8]  # ids stay unique across processes, like a real provider's (they key orders)


@dataclass(frozen=True)
class ToolCall:
    """One scripted tool call."""

    name: str
    args: dict[str, Any]
    id: str = field(default_factory=lambda: f"call_{_run}_{next(_counter)}")


@dataclass(frozen=True)
class Output:
    """A scripted structured final answer (sent through the agent's output tool)."""

    value: dict[str, Any]


@dataclass(frozen=True)
class Say:
    """A scripted text reply with explicit usage."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0


def call(name: str, /, **args: Any) -> ToolCall:
    """A scripted call of tool `name` with keyword arguments."""
    return ToolCall(name, args)


def output(**value: Any) -> Output:
    """A scripted structured answer."""
    return Output(value)


Step = str | Say | ToolCall | Output | Sequence[ToolCall] | Callable[[list[ModelMessage], AgentInfo], ModelResponse]


class ScriptExhausted(AssertionError):
    """The agent asked the scripted model for more replies than the script holds."""


class ScriptedModel(FunctionModel):
    """A model that answers each request with the next scripted step.

    A step is text (`"..."` or `Say(...)`), a tool call (`call(name, **args)`), several parallel calls
    (a list), a structured answer (`output(**fields)`), or a function `(messages, info) -> ModelResponse`.
    """

    def __init__(self, steps: Sequence[Step], *, model_name: str = "scripted") -> None:
        self.steps: list[Step] = list(steps)
        self.requests: list[list[ModelMessage]] = []
        super().__init__(self._respond, stream_function=self._stream, model_name=model_name)

    def _next(self, messages: list[ModelMessage]) -> Step:
        self.requests.append(list(messages))
        if not self.steps:
            raise ScriptExhausted(f"the script ran out after {len(self.requests) - 1} replies")
        return self.steps.pop(0)

    def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = self._next(messages)
        if callable(step) and not isinstance(step, str | Say | ToolCall | Output):
            return step(messages, info)
        if isinstance(step, str):
            return ModelResponse(parts=[TextPart(step)])
        if isinstance(step, Say):
            usage = RequestUsage(input_tokens=step.input_tokens, output_tokens=step.output_tokens)
            return ModelResponse(parts=[TextPart(step.text)], usage=usage)
        if isinstance(step, Output):
            name = info.output_tools[0].name if info.output_tools else "final_result"
            return ModelResponse(parts=[ToolCallPart(name, json.dumps(step.value))])
        calls = [step] if isinstance(step, ToolCall) else list(step)
        return ModelResponse(parts=[ToolCallPart(c.name, json.dumps(c.args), tool_call_id=c.id) for c in calls])

    async def _stream(
        self, messages: list[ModelMessage], info: AgentInfo
    ) -> AsyncIterator[str | dict[int, DeltaToolCall]]:
        response = self._respond(messages, info)
        for i, part in enumerate(response.parts):
            if isinstance(part, TextPart):
                for word in _chunks(part.content):
                    yield word
            elif isinstance(part, ToolCallPart):
                yield {
                    i: DeltaToolCall(
                        name=part.tool_name, json_args=part.args_as_json_str(), tool_call_id=part.tool_call_id
                    )
                }


def _chunks(text: str) -> Iterator[str]:
    start = 0
    for i, ch in enumerate(text):
        if ch == " ":
            yield text[start : i + 1]
            start = i + 1
    if start < len(text):
        yield text[start:]


@contextmanager
def scripted(agent_class: type[AgentRecord], model: Model) -> Iterator[Model]:
    """Make every record of `agent_class` (and its subclasses) talk to `model` inside the block."""
    previous = _overrides.get(agent_class)
    _overrides[agent_class] = model
    try:
        yield model
    finally:
        if previous is None:
            _overrides.pop(agent_class, None)
        else:
            _overrides[agent_class] = previous
