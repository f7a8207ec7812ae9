"""Context compaction: past a threshold, older messages are summarized; the model sees the summary and the
recent turns, the database keeps everything.

The summary is a request-side `CompactionPart` (pydantic-ai sends it as user-voice text saying a separate
model wrote it). It lives in the agent's state with the sequence number of the first message kept, so a
turn loads only the summary and the rows from there on.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic_ai import Agent as _PydanticAgent
from pydantic_ai.messages import (
    CompactionPart,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model

from .errors import DeclarationError
from .reply import Usage, cost_of

DEFAULT_MESSAGES = 40
DEFAULT_KEEP = 8
DEFAULT_INSTRUCTIONS = (
    "You keep the running summary of a long conversation between a user and their assistant agent. "
    "Write the updated summary: the user's goals and preferences, facts and figures learned (with their "
    "numbers), actions taken and their results, and anything still open. Plain prose, no preamble, at most "
    "250 words."
)
_TOOL_TEXT_LIMIT = 2_000


@dataclass(frozen=True)
class Compaction:
    """When an agent's older messages are summarized, and by what.

    Compacts before a turn when the history the model would see has more than `messages` messages, or when
    the last request's context passed `tokens` (or `context_share` of `context_window` tokens). The summary
    and the last `keep` messages (more if needed to keep a tool call with its result) are what the model
    sees from then on. `model` names a cheaper model for the summaries (same provider; "provider:model"
    for another); None uses the agent's own.
    """

    messages: int | None = None
    tokens: int | None = None
    context_share: float | None = None
    context_window: int | None = None
    keep: int = DEFAULT_KEEP
    model: str | None = None
    instructions: str = DEFAULT_INSTRUCTIONS

    def token_threshold(self) -> int | None:
        if self.context_share is not None and self.context_window is not None:
            limit = int(self.context_share * self.context_window)
            return limit if self.tokens is None else min(limit, self.tokens)
        return self.tokens

    def message_threshold(self) -> int | None:
        if self.messages is None and self.token_threshold() is None:
            return DEFAULT_MESSAGES
        return self.messages


def parse_compaction(owner: str, value: Any) -> Compaction | None:
    """The `compaction` option: a Compaction, True (defaults), a message count, or None/False (off)."""
    where = f"{owner}.Agent.compaction"
    if value is None or value is False:
        return None
    if value is True:
        return Compaction()
    if isinstance(value, int) and not isinstance(value, bool):
        value = Compaction(messages=value)
    if not isinstance(value, Compaction):
        raise DeclarationError(f"{where} must be a Compaction(...), True or a message count, got {value!r}.")
    for key in ("messages", "tokens", "context_window"):
        n = getattr(value, key)
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise DeclarationError(f"{where}.{key} must be a positive integer, got {n!r}.")
    if not isinstance(value.keep, int) or isinstance(value.keep, bool) or value.keep < 2:
        raise DeclarationError(f"{where}.keep must be an integer >= 2 (messages kept verbatim), got {value.keep!r}.")
    if value.messages is not None and value.messages <= value.keep:
        raise DeclarationError(
            f"{where}.messages ({value.messages}) must be larger than keep ({value.keep}), or nothing is summarized."
        )
    share = value.context_share
    if share is not None:
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise DeclarationError(f"{where}.context_share must be a fraction in (0, 1], got {share!r}.")
        if value.context_window is None:
            raise DeclarationError(
                f"{where}.context_share needs context_window: the number of tokens the model accepts."
            )
    if not isinstance(value.instructions, str) or not value.instructions.strip():
        raise DeclarationError(f"{where}.instructions must be a non-empty string.")
    if value.model is not None and (not isinstance(value.model, str) or not value.model.strip()):
        raise DeclarationError(f"{where}.model must be a model name (or 'provider:model'), got {value.model!r}.")
    return value


def summary_message(text: str) -> ModelRequest:
    """The request the model sees in place of everything the summary covers."""
    return ModelRequest(parts=[CompactionPart(content=text)])


def is_summary(message: ModelMessage) -> bool:
    return isinstance(message, ModelRequest) and any(isinstance(p, CompactionPart) for p in message.parts)


def due(config: Compaction, visible: list[ModelMessage]) -> bool:
    """True when the history the model would see has passed the configured threshold."""
    count = sum(not is_summary(m) for m in visible)
    limit = config.message_threshold()
    if limit is not None and count > limit:
        return True
    tokens = config.token_threshold()
    if tokens is not None:
        last = next((m for m in reversed(visible) if isinstance(m, ModelResponse)), None)
        if last is not None and last.usage.input_tokens + last.usage.output_tokens >= tokens:
            return True
    return False


def boundary(messages: list[ModelMessage], keep: int) -> int | None:
    """Index of the first message kept: at most len - keep, never between a tool call and its result.

    A message may open the kept window only if it is a request that answers no tool call and follows a
    response (or nothing); None when no such place leaves anything to summarize.
    """
    for i in range(len(messages) - keep, 0, -1):
        m, before = messages[i], messages[i - 1]
        if (
            isinstance(m, ModelRequest)
            and not any(isinstance(p, ToolReturnPart | RetryPromptPart) for p in m.parts)
            and isinstance(before, ModelResponse)
            and not before.tool_calls
        ):
            return i
    return None


def _clip(text: str) -> str:
    return text if len(text) <= _TOOL_TEXT_LIMIT else text[:_TOOL_TEXT_LIMIT] + " [...]"


def transcript(messages: list[ModelMessage]) -> str:
    """The messages as plain lines for the summarizer: who said what, which tools ran and what they returned."""
    lines: list[str] = []
    for m in messages:
        if isinstance(m, ModelRequest):
            for p in m.parts:
                if isinstance(p, CompactionPart) and p.content:
                    lines.append(f"Summary of the conversation before this point: {p.content}")
                elif isinstance(p, UserPromptPart):
                    content = p.content if isinstance(p.content, str) else " ".join(map(str, p.content))
                    lines.append(f"User: {content}")
                elif isinstance(p, ToolReturnPart):
                    lines.append(f"Tool {p.tool_name} returned: {_clip(p.model_response_str())}")
                elif isinstance(p, RetryPromptPart):
                    lines.append(f"Tool {p.tool_name or 'output'} failed: {_clip(p.model_response())}")
        else:
            for r in m.parts:
                if isinstance(r, TextPart) and r.content:
                    lines.append(f"Assistant: {r.content}")
                elif isinstance(r, ToolCallPart):
                    lines.append(f"Assistant called {r.tool_name}({r.args_as_json_str()})")
    return "\n".join(lines)


@dataclass
class Summary:
    """A finished summary call: the text, its messages' usage and cost."""

    text: str
    usage: Usage
    cost: Decimal | None


async def summarize(config: Compaction, model: Model, covered: list[ModelMessage]) -> Summary:
    """Ask `model` for the summary of `covered` (which may start with the previous summary)."""
    agent: _PydanticAgent[None, str] = _PydanticAgent(output_type=str, instructions=config.instructions)
    prompt = f"The conversation so far:\n\n{transcript(covered)}\n\nWrite the updated summary."
    result = await agent.run(prompt, model=model)
    new = result.new_messages()
    return Summary(text=result.output.strip(), usage=Usage.of(new), cost=cost_of(new))
