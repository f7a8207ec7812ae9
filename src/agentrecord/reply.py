"""What a turn returns: the reply text, structured output and the turn's usage."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic_ai.messages import ModelMessage, ModelResponse

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
        """The summed usage of the model responses among `messages`."""
        responses = [m for m in messages if isinstance(m, ModelResponse)]
        return cls(
            sum(r.usage.input_tokens for r in responses),
            sum(r.usage.output_tokens for r in responses),
            len(responses),
        )


def cost_of(messages: list[ModelMessage]) -> Decimal | None:
    """The summed price of the responses among `messages`; None when no response has a known price."""
    total: Decimal | None = None
    for m in messages:
        if not isinstance(m, ModelResponse) or not m.model_name:
            continue
        if m.provider_name == "local":  # the embedded model costs nothing to run
            total = total or Decimal(0)
            continue
        try:
            price = m.cost().total_price
        except (LookupError, ValueError, AssertionError):
            continue
        total = (total or Decimal(0)) + Decimal(price)
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

    def __str__(self) -> str:
        return self.text


def output_text(output: Any, response: ModelResponse | None) -> str:
    if isinstance(output, str):
        return output
    dump = getattr(output, "model_dump_json", None)
    if callable(dump):
        return str(dump())
    return response.text or "" if response is not None and response.text else str(output)
