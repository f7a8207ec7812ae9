"""Why a turn stops short, as agentrecord's errors: its per-turn limits, and a provider's faults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic_ai.exceptions import ModelAPIError, UsageLimitExceeded
from pydantic_ai.messages import ModelMessage

from . import faults
from .errors import RequestLimitExceeded, TurnLimitExceeded
from .reply import cost_of
from .target import Target

if TYPE_CHECKING:
    from .declaration import AgentSpec


def check_cost(spec: AgentSpec, label: str, messages: list[ModelMessage]) -> None:
    """Stop the turn once what it cost so far passes the class's `max_cost_per_turn`."""
    if spec.max_cost_per_turn is None:
        return
    spent = cost_of(messages)
    if spent is not None and spent > spec.max_cost_per_turn:
        raise TurnLimitExceeded(
            f"{label} stopped: this turn cost ${spent} so far, over its max_cost_per_turn of "
            f"${spec.max_cost_per_turn}. Everything up to that point is saved."
        )


def limit_error(exc: UsageLimitExceeded, spec: AgentSpec, label: str) -> Exception:
    """The error for a request or token limit pydantic-ai stopped the turn at."""
    if "request" in str(exc).lower():
        return RequestLimitExceeded(label, spec.max_requests)
    return TurnLimitExceeded(
        f"{label} stopped: this turn went over its max_tokens_per_turn of {spec.max_tokens_per_turn} ({exc}). "
        "Everything up to that point is saved."
    )


def fault(error: Exception, target: Target, run: Any) -> Exception | None:
    """The ProviderError/ProviderTimeout standing for a failure from the model's side (None: not one)."""
    spec, model = target.spec, target.model
    provider = str(getattr(model, "system", None) or target.record.provider)
    if isinstance(error, TimeoutError) and not isinstance(error, ModelAPIError) and spec.turn_timeout is not None:
        return faults.turn_timeout_error(spec, target.label, provider)
    timeout, tries = faults.request_timeout(spec), faults.retries(spec) + 1
    cut = faults.cut_off(run.new_messages() if run is not None else [])
    return faults.translate(error, provider, model.model_name, timeout=timeout, tries=tries, cut=cut)
