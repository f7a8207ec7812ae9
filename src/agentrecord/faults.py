"""Provider faults: request deadlines, bounded retries, and one error type for everything a provider can do wrong.

The mechanisms are pydantic-ai's and the provider SDKs': `ModelSettings["request_timeout"]` is a deadline on one
model request (every attempt, and reading a streamed response through its last chunk), and
`ModelSettings["max_retries"]` sets how often the SDK retries a 429, a 5xx or a connection error, with exponential
backoff and jitter, honouring `Retry-After` (OpenAI, Anthropic, Groq, Google, ...). This module picks their values
for a turn and turns whatever escapes a turn from the model's side into `ProviderTimeout` or `ProviderError`, each
naming the provider, the status and what to do, with anything that looks like a key redacted.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRequestTimeout,
    ModelTimeoutError,
    UnexpectedModelBehavior,
)
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.settings import ModelSettings

from .errors import ProviderError, ProviderTimeout
from .redaction import redact

if TYPE_CHECKING:
    from .declaration import AgentSpec

DEFAULT_REQUEST_TIMEOUT = 60.0
DEFAULT_RETRIES = 2
TIMEOUT_ENV = "AGENTRECORD_REQUEST_TIMEOUT"
RETRIES_ENV = "AGENTRECORD_REQUEST_RETRIES"

_TRANSPORT_MODULES = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "anthropic", "groq", "h11", "ssl")


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value > 0 else default


def request_timeout(spec: AgentSpec) -> float:
    """Seconds one model request may take: the class's `request_timeout`, else the environment's, else 60."""
    return spec.request_timeout or _env_number(TIMEOUT_ENV, DEFAULT_REQUEST_TIMEOUT)


def retries(spec: AgentSpec) -> int:
    """Retries of a failed request: the class's `request_retries`, else the environment's, else 2."""
    if spec.request_retries is not None:
        return spec.request_retries
    raw = os.environ.get(RETRIES_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) <= 10 else DEFAULT_RETRIES


def model_settings(spec: AgentSpec, *, in_process: bool = False) -> ModelSettings:
    """The per-turn model settings that bound a request: its deadline and its retry count.

    An in-process model (the embedded `local` one: no network to hang on, and a first request that loads it)
    gets a deadline only when its class sets `request_timeout`.
    """
    if in_process and spec.request_timeout is None:
        return {"max_retries": retries(spec)}
    return {"request_timeout": request_timeout(spec), "max_retries": retries(spec)}


def _detail(error: BaseException) -> str:
    text = " ".join(str(getattr(error, "message", None) or error).split()) or type(error).__name__
    return redact(text[:300])


def _from_transport(error: BaseException) -> bool:
    return type(error).__module__.split(".")[0] in _TRANSPORT_MODULES


_ADVICE = {
    400: "the provider refused the request: check the model name and the prompt (it may be too long for the model)",
    401: "the key was refused: check the provider key (settings, or {var})",
    403: "the key may not use this model: check the key's permissions, or pick another model",
    404: "the model or endpoint does not exist: check the model name and the base URL",
    413: "the request is too large for the model: shorten the prompt or enable compaction",
    422: "the provider could not process the request: check the model name and the prompt",
    429: "the provider's rate limit held after the retries: wait a minute, or lower how often the agent runs",
}


def translate(
    error: BaseException, provider: str, model: str, *, timeout: float, tries: int, cut: bool = False
) -> ProviderError | None:
    """The `ProviderError`/`ProviderTimeout` for a failure from the model's side of a turn; None if it is not one.

    `cut`: the provider had begun its response (a stream broke off), so a connection error is not "unreachable".
    """
    where = f"Provider {provider!r} (model {model})"
    var = f"{provider.upper()}_SECRET"
    if isinstance(error, ModelRequestTimeout | ModelTimeoutError):
        return ProviderTimeout(
            f"{where} did not answer within {timeout:g}s (request_timeout). Nothing of the unanswered request was "
            f"saved. Try again; if the provider is slow, raise `request_timeout` or set {TIMEOUT_ENV}.",
            provider=provider,
        )
    if isinstance(error, ModelHTTPError):
        status = error.status_code
        if status == 429 or status >= 500:
            advice = _ADVICE.get(status) or (
                "the provider is failing: try again later, or check its status page and the base URL"
            )
            return ProviderError(
                f"{where} answered HTTP {status} after {tries} attempt(s): {_detail(error)}. {advice}.",
                provider=provider,
                status=status,
            )
        advice = _ADVICE.get(status, "the provider refused the request: check the model name, the key and the prompt")
        return ProviderError(
            f"{where} answered HTTP {status}: {_detail(error)}. {advice.format(var=var)}.",
            provider=provider,
            status=status,
        )
    if isinstance(error, ModelConnectionError) and (cut or error.in_stream):
        return ProviderError(
            f"{where}: the connection broke mid-response ({_detail(error)}). The partial response was not saved; "
            "try again.",
            provider=provider,
        )
    if isinstance(error, ModelConnectionError):
        return ProviderError(
            f"{where} could not be reached after {tries} attempt(s): {_detail(error)}. Check the network and the "
            "provider's base URL, then try again.",
            provider=provider,
        )
    if isinstance(error, ModelAPIError):
        return ProviderError(
            f"{where} sent a response that could not be used: {_detail(error)}. The unusable response was not "
            "saved; try again, and check the base URL points at a compatible API if it persists.",
            provider=provider,
            status=200,
        )
    if isinstance(error, UnexpectedModelBehavior) and "retries" not in error.message.lower():
        return ProviderError(
            f"{where} sent a response that could not be used: {_detail(error)}. The unusable response was not "
            "saved; try again, and check the base URL points at a compatible API if it persists.",
            provider=provider,
            status=200,
        )
    if _from_transport(error):
        return ProviderError(
            f"{where}: the connection failed mid-response ({type(error).__name__}: {_detail(error)}). The partial "
            "response was not saved; try again.",
            provider=provider,
        )
    return None


def complete(messages: list[ModelMessage]) -> list[ModelMessage]:
    """`messages` without a trailing response the provider never finished (pydantic-ai keeps it, `interrupted`)."""
    end = len(messages)
    while end and isinstance(messages[end - 1], ModelResponse) and messages[end - 1].state == "interrupted":
        end -= 1
    return messages[:end]


def cut_off(messages: list[ModelMessage]) -> bool:
    """True when the provider had begun its answer and stopped mid-way (an unfinished response with content)."""
    last = messages[-1] if messages else None
    return isinstance(last, ModelResponse) and last.state == "interrupted" and bool(last.parts)


def turn_timeout_error(spec: AgentSpec, label: str, provider: str) -> ProviderTimeout:
    return ProviderTimeout(
        f"{label} stopped: the turn passed its turn_timeout of {spec.turn_timeout:g}s. Everything up to that "
        "point is saved; raise `turn_timeout` if the task really needs longer.",
        provider=provider,
    )
