"""Web request spans: one per request over real HTTP, named by its route, with no query string or header in it."""

from __future__ import annotations

import time

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentrecord import tracing


def finished(spans: InMemorySpanExporter, names: set[str]) -> dict[str, ReadableSpan]:
    """The finished spans by name, once `names` are among them: a span ends just after its response is sent."""
    deadline = time.monotonic() + 5
    while True:
        by_name = {s.name: s for s in spans.get_finished_spans()}
        if names <= set(by_name) or time.monotonic() > deadline:
            return by_name
        time.sleep(0.01)


def test_each_request_is_a_span_named_by_its_route(spans: InMemorySpanExporter, live: str) -> None:
    with httpx.Client(base_url=live) as client:
        assert (
            client.get("/login?next=/secret-token-123", headers={"Authorization": "Bearer sk-abc"}).status_code == 200
        )
        assert client.get("/api/agents").status_code == 401
    by_name = finished(spans, {"GET /login", "GET /api/agents"})
    login = by_name["GET /login"]
    assert dict(login.attributes or {}) == {
        "http.request.method": "GET",
        "url.path": "/login",
        "http.response.status_code": 200,
        "http.route": "/login",
    }
    assert (by_name["GET /api/agents"].attributes or {})["http.response.status_code"] == 401


def test_no_request_span_while_tracing_is_off(monkeypatch: pytest.MonkeyPatch, live: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_config", tracing._Config(enabled=False, tracer_provider=provider))
    with httpx.Client(base_url=live) as client:
        assert client.get("/login").status_code == 200
    time.sleep(0.2)  # as long as a span could take to end after its response
    assert exporter.get_finished_spans() == ()
