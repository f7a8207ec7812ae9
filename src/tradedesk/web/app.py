"""The web app: FastAPI with server-rendered pages, the JSON API, vendored static files, one error policy.

Every failure a user can meet is one readable line: JSON `{"error"}` under `/api` (with the right
status), a page or an HTMX fragment elsewhere. Unexpected errors are logged and answered 500 without
a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.exceptions import HTTPException

import agentrecord
from agentrecord import AgentRecordError, ProviderNotConfigured, UnknownProvider, jobs
from tradedesk.app import BrokerError, UnknownSymbol, account, desk, setup
from tradedesk.web import api, pages, stream
from tradedesk.web.auth import CsrfRefused, Unauthenticated
from tradedesk.web.request_spans import TracedRequests

HERE = Path(__file__).resolve().parent
log = logging.getLogger("tradedesk.web")
templates = Jinja2Templates(directory=str(HERE / "templates"))


def _money(value: Any, signed: bool = False) -> str:
    if value is None:
        return "—"
    amount = Decimal(str(value))
    text = f"${abs(amount):,.2f}"
    if amount < 0:
        return "-" + text
    return ("+" + text) if signed and amount > 0 else text


def _usd(value: Any) -> str:
    """A token cost: exact to the micro-dollar, "n/a" when the model's price is unknown."""
    if value is None:
        return "n/a"
    amount = Decimal(str(value))
    return "$0" if amount == 0 else f"${amount:,.6f}".rstrip("0").rstrip(".")


def _sign(value: Any) -> str:
    amount = Decimal(str(value or 0))
    return "up" if amount > 0 else "down" if amount < 0 else ""


def _when(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    stamp: datetime = value if value.tzinfo else value.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _state(value: Any) -> str:
    """An agent's or a job's status in words ("waiting_approval": "waiting for approval")."""
    text = str(value)
    return "waiting for approval" if text == "waiting_approval" else text.replace("_", " ")


templates.env.filters.update(money=_money, usd=_usd, sign=_sign, when=_when, state=_state)


def _status(error: Exception) -> int:
    if isinstance(error, desk.DeskError):
        return error.status
    if isinstance(error, account.Throttled):
        return 429
    if isinstance(error, account.IdentityError):
        return 401
    if isinstance(error, stream.TurnTimedOut | jobs.JobTimeout) or type(error).__name__ == "ProviderTimeout":
        return 504
    if isinstance(error, stream.TurnFailed) or type(error).__name__ == "ProviderError":
        return 502
    if isinstance(error, UnknownProvider | ProviderNotConfigured | UnknownSymbol | BrokerError):
        return 422
    if isinstance(error, jobs.JobsNotConfigured):
        return 503
    return 400


def _line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api")


def error_response(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """One line as JSON `{error}` (API) or a small page / HTMX fragment (pages)."""
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    if request.headers.get("hx-request"):
        html = templates.get_template("_error.html").render(message=message)
        return HTMLResponse(html, status_code=status, headers={"HX-Reswap": "innerHTML", "HX-Retarget": "#flash"})
    return templates.TemplateResponse(
        request, "error.html", {"message": message, "status": status, "viewer": None}, status_code=status
    )


THREADS = 16
"""Sync routes running at once (anyio's thread limiter; 40 by default). A route can hold two pooled connections at
once (the request's session, and agentrecord's own short read of a state or a history page), so the engine's pool
allows two per thread and some for job polling: with fewer, busy threads can hold every connection while each
waits for a second one (the pool's 30 s timeout, then 500s; seen at 50 concurrent clients with the default pool)."""


@asynccontextmanager
async def _threads(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
    yield


def create_app(target: str | Engine | None = None) -> FastAPI:
    """The platform's web app on `target` (a database URL or engine; default TRADEDESK_DATABASE_URL / tradedesk.db)."""
    pool = {"pool_size": THREADS, "max_overflow": THREADS + 8}
    engine = target if isinstance(target, Engine) else agentrecord.create_engine(setup.database_url(target), **pool)
    app = FastAPI(
        lifespan=_threads,
        title="tradedesk",
        summary="Personal AI trading agents on a paper brokerage.",
        version="0.1.0",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.add_middleware(TracedRequests)
    app.state.engine = engine
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(request: Request, error: Unauthenticated) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": _line(error)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(CsrfRefused)
    async def csrf(request: Request, error: CsrfRefused) -> Response:
        return error_response(request, 403, _line(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        problems = []
        for item in error.errors()[:3]:
            where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path"))
            problems.append(f"{where or 'request'}: {item.get('msg', 'invalid')}")
        return error_response(request, 422, "Invalid request: " + "; ".join(problems) + ".")

    @app.exception_handler(HTTPException)
    async def http(request: Request, error: HTTPException) -> Response:
        message = {404: "Not found.", 405: "Method not allowed."}.get(error.status_code, str(error.detail))
        return error_response(request, error.status_code, message, getattr(error, "headers", None))

    async def expected(request: Request, error: Exception) -> Response:
        extra = {"Retry-After": str(error.retry_after)} if isinstance(error, account.Throttled) else None
        return error_response(request, _status(error), _line(error), extra)

    for known in (desk.DeskError, account.IdentityError, AgentRecordError, UnknownSymbol, BrokerError):
        app.add_exception_handler(known, expected)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.error("unexpected error on %s %s: %s", request.method, request.url.path, type(error).__name__)
        return error_response(request, 500, "Something went wrong on the server (it is logged): try again.")

    return app
