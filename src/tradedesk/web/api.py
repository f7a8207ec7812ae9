"""The JSON API under `/api`: the pages' operations for scripts and clients (a contract: keep the names).

Auth is a bearer token (`POST /api/login` or settings) or the session cookie (with `X-CSRF-Token`
on changes). Errors are `{"error": "..."}` with 400/422 bad input, 401 unauthenticated, 404 not
yours, 409 decided or busy, 502/504 when the model provider fails or a turn takes too long.
Prompts are checked by the application layer alone (`Desk.check_prompt`), so a refusal reads as on the CLI.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field, SkipValidation
from sqlalchemy.orm import Session

from agentrecord import jobs
from tradedesk.app import TradingAgent, account, desk
from tradedesk.app.presenters import plain, reply_json
from tradedesk.web import stream
from tradedesk.web.auth import Viewer, current, db

router = APIRouter(prefix="/api", tags=["api"])
Db = Annotated[Session, Depends(db)]
Me = Annotated[Viewer, Depends(current)]
TURN_TIMEOUT = 300.0
"""Seconds a `POST .../messages` (or a decision) waits for its job before answering 504 (the job goes on)."""
PromptText = Annotated[
    SkipValidation[str],
    Field(description="What to ask: text of 1 to 20,000 characters once stripped (checked as everywhere else)."),
]
"""A prompt goes to `Desk.check_prompt` as sent: its refusals (empty, too long, not UTF-8) read as on the CLI."""


class Credentials(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    token: str


class NewAgent(BaseModel):
    kind: Literal["daytrader", "stock_investor"]
    provider: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)


class Prompt(BaseModel):
    prompt: PromptText


class Denial(BaseModel):
    reason: str = Field(default="The owner denied this call.", max_length=2_000)


class Replacement(BaseModel):
    """What to change in an open order (leave out what stays)."""

    quantity: int | None = Field(default=None, ge=1, le=1_000_000_000)
    limit_price: Decimal | None = Field(default=None, gt=0, lt=1_000_000_000)
    stop_price: Decimal | None = Field(default=None, gt=0, lt=1_000_000_000)
    trail_amount: Decimal | None = Field(default=None, gt=0, lt=1_000_000_000)
    trail_percent: Decimal | None = Field(default=None, gt=0, lt=100)
    time_in_force: Literal["day", "gtc", "ioc", "fok"] | None = None


class NewSchedule(BaseModel):
    prompt: PromptText
    every: str | None = Field(default=None, max_length=32)
    cron: str | None = Field(default=None, max_length=200)
    tz: str | None = Field(default=None, max_length=64)
    market_hours: bool = False


def _desk(session: Session, me: Viewer) -> desk.Desk:
    return desk.Desk(session, me.user)


@router.post("/signup", status_code=201, response_model=TokenOut)
def signup(body: Credentials, session: Db) -> dict[str, str]:
    """Create an account and return an API token for it."""
    user = desk.add_user(session, body.email, body.password)
    secret = account.issue_token(session, user, "signup")
    session.commit()
    return {"token": secret}


@router.post("/login", response_model=TokenOut)
def login(body: Credentials, session: Db) -> dict[str, str]:
    """Exchange email and password for a new API token."""
    user = account.sign_in(session, body.email, body.password)
    secret = account.issue_token(session, user, "login")
    session.commit()
    return {"token": secret}


@router.get("/agents")
def agents(session: Db, me: Me) -> list[dict[str, Any]]:
    d = _desk(session, me)
    return [plain(d.agent_row(a, schedules=True)) for a in d.agents()]


@router.post("/agents", status_code=201)
def new_agent(body: NewAgent, session: Db, me: Me) -> dict[str, Any]:
    d = _desk(session, me)
    return dict(plain(d.agent_row(d.new_agent(body.kind, body.provider, body.model))))


@router.get("/agents/{kind}/{agent_id}")
def agent(kind: str, agent_id: int, session: Db, me: Me) -> dict[str, Any]:
    d = _desk(session, me)
    return dict(plain(d.agent_row(d.agent(kind, agent_id), schedules=True)))


@router.get("/agents/{kind}/{agent_id}/messages")
def messages(kind: str, agent_id: int, session: Db, me: Me, before: int | None = None, limit: int = 50) -> Any:
    """One page of the conversation, oldest first; `next_before` pages further back (null at the start)."""
    record = _desk(session, me).agent(kind, agent_id)
    start = None if before is None else max(0, min(before, desk.MAX_ID))
    page = record.history(before=start, limit=max(1, min(limit, 200)))
    return {
        "messages": [stream.message_json(seq, m) for seq, m in page],
        "next_before": page[0][0] if page and page[0][0] > 0 else None,
    }


@router.post("/agents/{kind}/{agent_id}/messages")
async def post_message(kind: str, agent_id: int, body: Prompt, request: Request, session: Db, me: Me) -> Any:
    """Run a turn as a job; the reply as JSON, or with `Accept: text/event-stream` an SSE stream then the reply."""
    live = "text/event-stream" in request.headers.get("accept", "")
    record, job = await run_in_threadpool(start_turn, _desk(session, me), kind, agent_id, body.prompt, live)
    return await _job_answer(job, record, live)


async def _job_answer(job: jobs.Job, record: TradingAgent, live: bool, extra: dict[str, Any] | None = None) -> Response:
    """A turn's job as the API answers it: its SSE stream (`live`), else its reply once it settles, with `extra`."""
    if live:
        events = stream.sse(job, record.label, stream.pending_of(record), TURN_TIMEOUT)
        return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    done = await stream.settle(job, TURN_TIMEOUT)
    held = await run_in_threadpool(stream.pending_of(record)) if done.status == "waiting_approval" else None
    return JSONResponse(plain(stream.job_reply(done, record.label, held) | (extra or {})))


def start_turn(
    d: desk.Desk, kind: str, agent_id: int, prompt: str, live: bool = False
) -> tuple[TradingAgent, jobs.Job]:
    """The caller's agent and the job now running its turn (`live`: its text streams as the model writes)."""
    record = d.agent(kind, agent_id)
    job = d.enqueue(record, prompt, stream=live)
    d.session.commit()  # end the read transaction: waiting for the reply must not hold a pooled connection
    return record, job


@router.get("/approvals")
def approvals(session: Db, me: Me) -> list[dict[str, Any]]:
    return list(plain(_desk(session, me).approvals()))


def _decision(result: desk.Decision) -> dict[str, Any]:
    reply = result.reply
    return dict(
        plain(
            {
                "call_id": result.call.call_id,
                "decision": result.verb,
                "agent": result.agent.label,
                "call": result.call,
                "job": result.job,
                "reply": None if reply is None else reply.text,
                "still_pending": result.still_pending,
            }
        )
    )


DECIDED = """Deciding a held call resumes its turn, and the answer is that turn's, as `POST .../messages` gives it:
`reply`, `tool_calls` (with their results), `pending` (calls still waiting), `usage`, `cost`, `status` and `job`,
plus `call_id` and `decision`. It waits for the resumed turn (up to 300 s, then 504 while the job goes on). With
`Accept: text/event-stream` the resumed turn streams as SSE (`delta`, `tool_call`, `tool_result`, then `reply` or
`error`). With `?wait=false` it answers at once: the decision and the `job` that resumes the turn on a worker
(`GET /api/jobs/{id}` follows it). A call decided already is 409; another user's is 404."""
Wait = Annotated[
    bool, Query(description="false: answer at once with the job resuming the turn, instead of the resumed reply.")
]


@router.post(
    "/approvals/{call_id}/approve", summary="Approve a held call; answer the resumed turn", description=DECIDED
)
async def approve(call_id: str, request: Request, session: Db, me: Me, wait: Wait = True) -> Response:
    d = _desk(session, me)
    return await _resumed(d, await run_in_threadpool(decide_now, d, call_id, None), request, wait)


@router.post("/approvals/{call_id}/deny", summary="Deny a held call; answer the resumed turn", description=DECIDED)
async def deny(call_id: str, body: Denial, request: Request, session: Db, me: Me, wait: Wait = True) -> Response:
    d = _desk(session, me)
    return await _resumed(d, await run_in_threadpool(decide_now, d, call_id, body.reason), request, wait)


def decide_now(d: desk.Desk, call_id: str, reason: str | None) -> desk.Decision:
    """Approve (`reason` None) or deny; then end the read transaction, so waiting holds no pooled connection."""
    result = d.decide(call_id, reason)
    d.session.commit()
    return result


async def _resumed(d: desk.Desk, result: desk.Decision, request: Request, wait: bool) -> Response:
    """The resumed turn's reply (or SSE stream) for a decision; with `wait` false, the decision and its job."""
    label = result.agent.label
    if not wait:
        return JSONResponse(_decision(result))
    live = "text/event-stream" in request.headers.get("accept", "")
    decided = {"call_id": result.call.call_id, "decision": result.verb}
    if result.job is not None:
        job = await run_in_threadpool(jobs.job, d.engine, result.job)
        return await _job_answer(job, result.agent, live, decided)
    if result.reply is not None:  # the turn was not a job's: it resumed here, in this request
        status = "waiting_approval" if result.reply.pending else "done"
        doc = reply_json(label, result.reply, job=None, status=status)
    else:  # other calls of the turn still wait for a decision
        doc = reply_json(label, None, job=None, status="waiting_approval") | {"pending": result.still_pending}
    doc = plain(doc | decided)
    if live:
        whole = f"event: reply\ndata: {json.dumps(doc)}\n\n"
        return StreamingResponse(iter([whole]), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    return JSONResponse(doc)


@router.get("/portfolio")
def portfolio(session: Db, me: Me) -> dict[str, Any]:
    d = _desk(session, me)
    book = d.portfolio()
    return dict(plain(book)) | {"today_pnl": str(d.today_pnl(book)), "by_agent": plain(d.portfolio_by_agent())}


@router.get("/orders")
def orders(session: Db, me: Me, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    return list(plain(_desk(session, me).orders(status, max(1, min(limit, 500)))))


@router.get("/orders/{order_id}")
def order(order_id: int, session: Db, me: Me) -> dict[str, Any]:
    """One order's audit trail: the prompt, the model's words, the tool call, the approval, the fills."""
    return dict(plain(_desk(session, me).explain(order_id)))


@router.post("/orders/{order_id}/cancel")
def cancel_order(order_id: int, session: Db, me: Me) -> dict[str, Any]:
    return dict(plain(_desk(session, me).cancel_order(order_id)))


@router.post("/orders/{order_id}/replace")
def replace_order(order_id: int, body: Replacement, session: Db, me: Me) -> dict[str, Any]:
    changes = desk.OrderChanges(**body.model_dump())
    return dict(plain(_desk(session, me).replace_order(order_id, changes)))


@router.get("/agents/{kind}/{agent_id}/schedules")
def schedules(kind: str, agent_id: int, session: Db, me: Me) -> list[dict[str, Any]]:
    d = _desk(session, me)
    return [dict(s.to_json()) for s in d.schedules(d.agent(kind, agent_id))]


@router.post("/agents/{kind}/{agent_id}/schedules", status_code=201)
def add_schedule(kind: str, agent_id: int, body: NewSchedule, session: Db, me: Me) -> dict[str, Any]:
    d = _desk(session, me)
    made = d.add_schedule(
        d.agent(kind, agent_id), body.prompt, every=body.every, cron=body.cron, tz=body.tz,
        market_hours=body.market_hours,
    )  # fmt: skip
    return dict(made.to_json())


@router.delete("/schedules/{schedule_id}")
def remove_schedule(schedule_id: str, session: Db, me: Me) -> dict[str, str]:
    _desk(session, me).schedule(schedule_id).remove()
    return {"id": schedule_id, "status": "removed"}


@router.get("/jobs/{job_id}")
def job(job_id: str, session: Db, me: Me) -> dict[str, Any]:
    return dict(_desk(session, me).job(job_id).to_json())
