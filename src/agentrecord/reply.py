"""What a turn returns: the reply text, structured output and the turn's usage."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic_ai import DeferredToolRequests
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolReturnPart

from .approvals import PendingApproval

T = TypeVar("T")


@dataclass(frozen=True)
class Usage:
    """Token counts as the provider reported them."""

    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.requests + other.requests,
        )

    @classmethod
    def of(cls, messages: list[ModelMessage]) -> Usage:
        """The summed usage of the model responses among `messages`, and of the skill sub-agents they ran."""
        responses = [m for m in messages if isinstance(m, ModelResponse)]
        calls = skill_calls(messages)
        return cls(
            sum(r.usage.input_tokens for r in responses) + sum(int(c.get("input_tokens") or 0) for c in calls),
            sum(r.usage.output_tokens for r in responses) + sum(int(c.get("output_tokens") or 0) for c in calls),
            len(responses) + sum(int(c.get("requests") or 0) for c in calls),
        )


def skill_calls(messages: list[ModelMessage]) -> list[dict[str, Any]]:
    """The metadata of the skill calls answered among `messages` (skill, sha256, tokens, requests, cost)."""
    return [
        p.metadata
        for m in messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart) and isinstance(p.metadata, dict) and {"skill", "sha256"} <= p.metadata.keys()
    ]


def response_cost(response: ModelResponse) -> Decimal | None:
    """The price of one response (0 for the embedded model); None when its model has no known price."""
    if not response.model_name:
        return None
    if response.provider_name == "local":  # the embedded model costs nothing to run
        return Decimal(0)
    try:
        return Decimal(response.cost().total_price)
    except (LookupError, ValueError, AssertionError):
        return None


def cost_of(messages: list[ModelMessage]) -> Decimal | None:
    """The summed price of the responses (and skill sub-agents) among `messages`; None when none has a price."""
    total: Decimal | None = None
    for m in messages:
        if isinstance(m, ModelResponse) and (price := response_cost(m)) is not None:
            total = (total or Decimal(0)) + price
    for call in skill_calls(messages):  # what a skill's sub-agent spent is part of this turn
        if call.get("cost") is not None:
            total = (total or Decimal(0)) + Decimal(str(call["cost"]))
    return total


@dataclass(frozen=True)
class Reply(Generic[T]):
    """The outcome of one turn."""

    text: str
    """The final answer as text (for structured output, its JSON)."""
    output: T
    """The final answer: a `str`, or an instance of the agent's `output_type`."""
    usage: Usage
    """Tokens this turn used (all its model requests)."""
    cost: Decimal | None
    """What this turn cost in USD; None when the model has no known price."""
    messages: list[ModelMessage] = field(default_factory=list, repr=False)
    """The messages this turn added to the conversation."""
    pending: list[PendingApproval] = field(default_factory=list)
    """Tool calls this turn stopped on, waiting for the owner's approval (then `text` is empty)."""

    @property
    def skills(self) -> list[tuple[str, str]]:
        """The skills this turn used, as (name, sha256 of the skill's content), in order of first use."""
        return list(dict.fromkeys((str(c["skill"]), str(c["sha256"])) for c in skill_calls(self.messages)))

    def __str__(self) -> str:
        return self.text


def output_text(output: Any, response: ModelResponse | None) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, DeferredToolRequests):
        return ""
    dump = getattr(output, "model_dump_json", None)
    if callable(dump):
        return str(dump())
    return response.text or "" if response is not None and response.text else str(output)
