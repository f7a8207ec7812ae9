"""OpenTelemetry tracing of turns, model requests, tool calls, approvals and jobs: off unless turned on.

Turn it on with `agentrecord.tracing.enable()` or `AGENTRECORD_TRACING=1`. Spans go to the tracer provider given to
`enable` (else OpenTelemetry's global one; agentrecord depends on the OpenTelemetry API only, the SDK and exporters
are the `tracing` extra). A turn is one `agentrecord.turn` span (the agent's class and id, model, provider, tokens,
cost, outcome); pydantic-ai's instrumentation adds the agent run, each model request and each tool call under it,
skills' sub-agents included. Prompts, replies and tool arguments and results are recorded only with
`enable(content=True)` or `AGENTRECORD_TRACING_CONTENT=1`; keys never are (they are not part of any span).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

if TYPE_CHECKING:
    from pydantic_ai.models.instrumented import InstrumentationSettings

ENV = "AGENTRECORD_TRACING"
CONTENT_ENV = "AGENTRECORD_TRACING_CONTENT"


@dataclass
class _Config:
    enabled: bool | None = None
    """None: follow AGENTRECORD_TRACING."""
    content: bool | None = None
    tracer_provider: Any = None
    settings: InstrumentationSettings | None = None


_config = _Config()


def _env_on(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def enable(*, content: bool = False, tracer_provider: Any = None) -> None:
    """Emit spans from now on, to `tracer_provider` (default: the global one); `content` adds prompts and replies."""
    global _config
    _config = _Config(enabled=True, content=content, tracer_provider=tracer_provider)


def disable() -> None:
    """Emit no spans (whatever AGENTRECORD_TRACING says)."""
    global _config
    _config = _Config(enabled=False)


def reset() -> None:
    """Back to the default: follow AGENTRECORD_TRACING and AGENTRECORD_TRACING_CONTENT, to the global provider."""
    global _config
    _config = _Config()


def enabled() -> bool:
    return _env_on(ENV) if _config.enabled is None else _config.enabled


def include_content() -> bool:
    return _env_on(CONTENT_ENV) if _config.content is None else _config.content


def tracer() -> trace.Tracer:
    return trace.get_tracer("agentrecord", tracer_provider=_config.tracer_provider)


def instrumentation() -> InstrumentationSettings | None:
    """pydantic-ai's instrumentation settings for a run (None while tracing is off)."""
    if not enabled():
        return None
    content = include_content()
    if _config.settings is None or _config.settings.include_content != content:
        from pydantic_ai.models.instrumented import InstrumentationSettings

        _config.settings = InstrumentationSettings(
            tracer_provider=_config.tracer_provider, include_content=content, include_binary_content=content
        )
    return _config.settings


def current() -> otel_context.Context | None:
    """The caller's trace context, to parent a turn that runs on the runtime loop (None while tracing is off)."""
    return otel_context.get_current() if enabled() else None


@contextlib.contextmanager
def span(name: str, attributes: dict[str, Any], parent: otel_context.Context | None = None) -> Iterator[trace.Span]:
    """A span named `name` (a non-recording one while tracing is off); an escaping exception marks it failed."""
    if not enabled():
        yield trace.INVALID_SPAN
        return
    clean = {k: v for k, v in attributes.items() if v is not None}
    with tracer().start_as_current_span(name, context=parent, attributes=clean) as opened:
        yield opened


def content(opened: trace.Span, key: str, value: str) -> None:
    """Set a content attribute (a prompt, a reply) only when content recording is on."""
    if include_content() and opened.is_recording():
        opened.set_attribute(key, value)


def carrier() -> dict[str, str]:
    """The current span as W3C trace headers, for work that runs later elsewhere (a job); empty when off."""
    if not enabled() or not trace.get_current_span().get_span_context().is_valid:
        return {}
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


def extract(headers: object) -> otel_context.Context | None:
    """The context `carrier()` wrote (None when there is none)."""
    if not isinstance(headers, dict) or not headers:
        return None
    return propagate.extract({str(k): str(v) for k, v in headers.items()})
