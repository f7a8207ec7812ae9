"""The pages: dashboard, agent (chat, history, schedules, limits, pause), approvals, portfolio, orders, quote.

Thin: each route asks the application layer (`desk.Desk`) and renders a template. Forms post with
the CSRF token; HTMX requests get fragments, plain posts a redirect back.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from sqlalchemy.orm import Session

from tradedesk.app import OPEN_ORDER_STATUSES, ORDER_STATUSES, Bar, UnknownSymbol, desk, quotes
from tradedesk.web import chart, live, stream
from tradedesk.web.account_pages import render
from tradedesk.web.account_pages import router as account_router
from tradedesk.web.api import start_turn
from tradedesk.web.auth import Viewer, current, db

router = APIRouter(include_in_schema=False)
router.include_router(account_router)
Db = Annotated[Session, Depends(db)]
Me = Annotated[Viewer, Depends(current)]
Text = Annotated[str, Form()]
"""A prompt, as typed: `Desk.check_prompt` alone refuses it (empty, too long...), in the CLI's and the API's words."""
Short = Annotated[str, Form(max_length=200)]
PAGE = 30
"""Messages per page of an agent's history."""


def _back(request: Request, url: str) -> Response:
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _page(request: Request, me: Viewer, name: str, **context: Any) -> HTMLResponse:
    return render(request, name, {"viewer": me, **context})


@router.get("/")
def dashboard(request: Request, session: Db, me: Me) -> Response:
    d = desk.Desk(session, me.user)
    rows = [d.agent_row(a, schedules=True) for a in d.agents()]
    book = d.portfolio()
    history = d.equity_history()
    pending = sum(r["pending_approvals"] for r in rows)
    return _page(
        request, me, "dashboard.html", agents=rows, book=book, today=d.today_pnl(book),
        pending=pending, waiting=pending, curve=chart.equity(history),
        kinds=list(desk.KINDS), default_provider=desk.default_provider(),
    )  # fmt: skip


@router.post("/agents")
def new_agent(request: Request, session: Db, me: Me, kind: Short, provider: Short = "", model: Short = "") -> Response:
    made = desk.Desk(session, me.user).new_agent(kind, provider or None, model or None)
    return _back(request, f"/agents/{made.kind}/{made.id}")


@router.get("/agents/{kind}/{agent_id}")
def agent(request: Request, kind: str, agent_id: int, session: Db, me: Me, before: int | None = None) -> Response:
    d = desk.Desk(session, me.user)
    record = d.agent(kind, agent_id)
    page = record.history(before=None if before is None else max(0, min(before, desk.MAX_ID)), limit=PAGE)
    parts = live.agent_parts(d, record)  # after the history: a turn that lands in between is followed, not lost
    return _page(
        request, me, "agent.html", messages=[stream.message_json(seq, m) for seq, m in page],
        older=page[0][0] if page and page[0][0] > 0 else None, newest=before is None,
        schedules=d.schedules(record), in_flight=before is None and live.in_flight(record, parts["jobs"]), **parts,
    )  # fmt: skip


@router.get("/agents/{kind}/{agent_id}/live")
def agent_live(request: Request, kind: str, agent_id: int, session: Db, me: Me) -> Response:
    """The page's parts a turn changes, as out-of-band swaps (fetched when a turn's stream ends)."""
    d = desk.Desk(session, me.user)
    return _page(request, me, "_live.html", **live.agent_parts(d, d.agent(kind, agent_id)))


@router.post("/agents/{kind}/{agent_id}/messages")
async def talk(request: Request, kind: str, agent_id: int, session: Db, me: Me, prompt: Text = "") -> Response:
    """Start the turn as a job and answer with the exchange's fragment (the page then streams it) and,
    out of band, the page's parts the queued turn changed (status, recent jobs)."""
    streamed = bool(request.headers.get("hx-request"))  # the page then follows the turn's events as they come
    d = desk.Desk(session, me.user)
    record, job = await run_in_threadpool(start_turn, d, kind, agent_id, prompt, streamed)
    if not streamed:
        return RedirectResponse(f"/agents/{kind}/{agent_id}", status_code=303)
    parts = await run_in_threadpool(live.agent_parts, d, record)
    turn = live.follower(record, job.id)
    return _page(request, me, "_turn.html", prompt=prompt.strip(), label=record.label, **turn, **parts)


@router.get("/agents/{kind}/{agent_id}/jobs/{job_id}/events")
async def events(kind: str, agent_id: int, job_id: str, session: Db, me: Me) -> Response:
    def find() -> tuple[Any, Any]:
        d = desk.Desk(session, me.user)
        record = d.agent(kind, agent_id)
        return record, d.job(job_id)

    record, job = await run_in_threadpool(find)
    body = stream.sse(job, record.label, stream.pending_of(record))
    return StreamingResponse(body, media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.post("/agents/{kind}/{agent_id}/pause")
def pause(request: Request, kind: str, agent_id: int, session: Db, me: Me) -> Response:
    d = desk.Desk(session, me.user)
    d.set_paused(d.agent(kind, agent_id), True)
    return _back(request, f"/agents/{kind}/{agent_id}")


@router.post("/agents/{kind}/{agent_id}/resume")
def resume(request: Request, kind: str, agent_id: int, session: Db, me: Me) -> Response:
    d = desk.Desk(session, me.user)
    d.set_paused(d.agent(kind, agent_id), False)
    return _back(request, f"/agents/{kind}/{agent_id}")


@router.post("/agents/{kind}/{agent_id}/limits")
def limits(
    request: Request, kind: str, agent_id: int, session: Db, me: Me,
    approval_threshold: Short = "", max_order_notional: Short = "", max_position_weight: Short = "",
    max_orders_per_day: Short = "",
) -> Response:  # fmt: skip
    d = desk.Desk(session, me.user)
    d.set_limits(
        d.agent(kind, agent_id), approval_threshold=approval_threshold, max_order_notional=max_order_notional,
        max_position_weight=max_position_weight, max_orders_per_day=max_orders_per_day,
    )  # fmt: skip
    return _back(request, f"/agents/{kind}/{agent_id}")


@router.post("/agents/{kind}/{agent_id}/allocation")
def allocation(request: Request, kind: str, agent_id: int, session: Db, me: Me, allocation: Short = "") -> Response:
    """Set the capital the agent may use (blank: no allocation, the whole account)."""
    d = desk.Desk(session, me.user)
    d.set_allocation(d.agent(kind, agent_id), allocation.strip() or None)
    return _back(request, f"/agents/{kind}/{agent_id}")


@router.post("/agents/{kind}/{agent_id}/schedules")
def add_schedule(
    request: Request, kind: str, agent_id: int, session: Db, me: Me, prompt: Text = "", every: Short = "",
    cron: Short = "", tz: Short = "", market_hours: Short = "",
) -> Response:  # fmt: skip
    d = desk.Desk(session, me.user)
    d.add_schedule(
        d.agent(kind, agent_id), prompt, every=every or None, cron=cron or None, tz=tz or None,
        market_hours=bool(market_hours),
    )  # fmt: skip
    return _back(request, f"/agents/{kind}/{agent_id}")


@router.post("/schedules/{schedule_id}/{action}")
def change_schedule(request: Request, schedule_id: str, action: str, session: Db, me: Me) -> Response:
    d = desk.Desk(session, me.user)
    found = d.schedule(schedule_id)
    if action not in ("pause", "resume", "remove"):
        raise desk.NotFound(f"No action {action!r} on schedules.")
    if action == "remove":
        found.remove()
    else:
        found.pause() if action == "pause" else found.resume()
    return _back(request, request.headers.get("hx-current-url") or "/")


@router.get("/approvals")
def approvals(request: Request, session: Db, me: Me) -> Response:
    return _page(request, me, "approvals.html", approvals=desk.Desk(session, me.user).approvals())


@router.post("/approvals/{call_id}/{verdict}")
def decide(request: Request, call_id: str, verdict: str, session: Db, me: Me, reason: Short = "") -> Response:
    if verdict not in ("approve", "deny"):
        raise desk.NotFound(f"No decision {verdict!r}: approve or deny.")
    result = desk.Desk(session, me.user).decide(call_id, None if verdict == "approve" else reason)
    if request.headers.get("hx-request"):
        return _page(request, me, "_decided.html", result=result)
    return RedirectResponse("/approvals", status_code=303)


@router.get("/portfolio")
def portfolio(request: Request, session: Db, me: Me) -> Response:
    d = desk.Desk(session, me.user)
    book = d.portfolio()
    history = d.equity_report(days=30, book=book)
    return _page(
        request,
        me,
        "portfolio.html",
        book=book,
        today=d.today_pnl(book),
        curve=chart.equity(d.equity_history()),
        drawdown=history.drawdown,
        days=list(reversed(history.days[-10:])),
        agents=d.portfolio_by_agent(),
    )


@router.get("/orders")
def orders(request: Request, session: Db, me: Me, status: str = "") -> Response:
    rows = desk.Desk(session, me.user).orders(status or None, limit=200)
    shown = {"statuses": ORDER_STATUSES, "open_statuses": OPEN_ORDER_STATUSES}
    return _page(request, me, "orders.html", orders=rows, status=status, **shown)


@router.get("/orders/{order_id}")
def order(request: Request, order_id: int, session: Db, me: Me) -> Response:
    """One order's audit trail: the prompt, the model's words, the tool call, the approval, the fills."""
    return _page(request, me, "order.html", found=desk.Desk(session, me.user).explain(order_id))


@router.post("/orders/{order_id}/cancel")
def cancel_order(request: Request, order_id: int, session: Db, me: Me) -> Response:
    desk.Desk(session, me.user).cancel_order(order_id)
    return _back(request, "/orders")


@router.get("/quote")
def quote(request: Request, me: Me, symbol: str = "") -> Response:
    found, error = None, None
    bars: list[Bar] = []
    if symbol.strip():
        try:
            found, bars = quotes.quote_and_bars(symbol, count=48)
        except UnknownSymbol as problem:
            error = str(problem)
    return _page(
        request, me, "quote.html", symbol=symbol.strip().upper(), quote=found, candles=chart.candles(bars),
        error=error, symbols=quotes.symbols(),
    )  # fmt: skip
