"""`tradedesk --trace otlp|console`: export agentrecord's spans (turns, model requests, tools, jobs, web requests).

Needs the OpenTelemetry SDK (`pip install 'agentrecord[tracing]'`). `otlp` sends to the collector named by the
standard OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318); `console` prints each span to stderr (stdout
stays the command's own output).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from agentrecord import tracing
from tradedesk.app.errors import Invalid

EXPORTERS = ("otlp", "console")


def export(kind: str) -> Callable[[], None]:
    """Turn tracing on with an exporter of `kind`; returns what flushes and stops it (call it before exiting)."""
    if kind not in EXPORTERS:
        raise Invalid(f"--trace must be one of {', '.join(EXPORTERS)} (got {kind!r}).")
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise Invalid("--trace needs the OpenTelemetry SDK: pip install 'agentrecord[tracing]'.") from None
    exporter: Any
    if kind == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise Invalid("--trace otlp needs the OTLP exporter: pip install 'agentrecord[tracing]'.") from None
        exporter = OTLPSpanExporter()
    else:
        exporter = ConsoleSpanExporter(out=sys.stderr)
    provider = TracerProvider(resource=Resource.create({"service.name": "tradedesk"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracing.enable(tracer_provider=provider)

    def stop() -> None:
        provider.shutdown()
        tracing.reset()

    return stop
