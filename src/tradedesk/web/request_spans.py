"""One span per web request (method, route, status), parent of the turns and jobs the request starts.

A plain ASGI middleware (streamed responses pass through untouched); it does nothing while tracing is off.
Only the route template and the path are recorded: never query strings, headers or bodies.
"""

from __future__ import annotations

from typing import Any

from agentrecord import tracing

Scope = dict[str, Any]
Receive = Any
Send = Any


class TracedRequests:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not tracing.enabled():
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET"))
        attributes = {"http.request.method": method, "url.path": str(scope.get("path", ""))}
        with tracing.span(f"{method}", attributes) as span:

            async def sending(message: dict[str, Any]) -> None:
                if message.get("type") == "http.response.start":
                    span.set_attribute("http.response.status_code", int(message.get("status", 0)))
                await send(message)

            try:
                await self.app(scope, receive, sending)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", str(route))
