"""A turn's progress for the web: Server-Sent Events from its job (any worker, any process), and the final reply.

Events: `delta` (text as the model writes it), `tool_call`, `tool_result`, then `reply` (the whole
reply as the JSON API returns it) or `error` (one line). The browser never holds the turn: closing
the page leaves the job running.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from sqlalchemy.orm import Session

from agentrecord import AgentRecord, AgentRecordError, jobs
from tradedesk.app.presenters import plain, reply_json

SETTLED = ("done", "failed", "cancelled", "waiting_approval")


class TurnFailed(AgentRecordError):
    """The job's turn failed (the provider, a tool, a limit); the web answers 502 with this line."""


class TurnTimedOut(AgentRecordError):
    """The job did not finish in time (504); it goes on, and its page shows the reply when it lands."""


def message_json(seq: int, message: ModelMessage) -> dict[str, Any]:
    """A stored message as the pages and the API show it: who, text, tool calls and results."""
    parts: list[dict[str, Any]] = []
    if isinstance(message, ModelRequest):
        for part in message.parts:
            if isinstance(part, UserPromptPart):
                content = part.content if isinstance(part.content, str) else str(part.content)
                parts.append({"type": "prompt", "text": content})
            elif isinstance(part, ToolReturnPart):
                parts.append({"type": "tool_result", "tool": part.tool_name, "call_id": part.tool_call_id,
                              "result": plain(part.content)})  # fmt: skip
    elif isinstance(message, ModelResponse):
        for answer in message.parts:
            if isinstance(answer, TextPart) and answer.content:
                parts.append({"type": "text", "text": answer.content})
            elif isinstance(answer, ToolCallPart):
                parts.append({"type": "tool_call", "tool": answer.tool_name, "call_id": answer.tool_call_id,
                              "args": plain(answer.args_as_dict())})  # fmt: skip
    role = "user" if isinstance(message, ModelRequest) else "agent"
    return {"seq": seq, "role": role, "parts": parts, "at": plain(getattr(message, "timestamp", None))}


def job_reply(job: jobs.Job, label: str, pending: list[Any] | None = None) -> dict[str, Any]:
    """A settled job as the API's reply document; a failed job raises TurnFailed."""
    if job.status == "failed" and (job.error or "").startswith("ProviderTimeout"):
        raise TurnTimedOut(f"The turn failed: {job.error}")  # 504: the provider did not answer in time
    if job.status == "failed":
        raise TurnFailed(f"The turn failed: {job.error or 'no reason recorded'}")
    doc = reply_json(label, job.reply, job=job.id, status=job.status)
    if job.status == "waiting_approval" and pending is not None:
        doc["pending"] = pending
    return doc


async def settle(job: jobs.Job, timeout: float) -> jobs.Job:
    """The job once done, failed, cancelled or held for approval (TurnTimedOut after `timeout` seconds)."""
    try:
        return await job.wait_async(timeout)
    except jobs.JobTimeout as error:
        raise TurnTimedOut(str(error)) from None


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(plain(data))}\n\n"


async def sse(
    job: jobs.Job, label: str, pending: Callable[[], list[Any]], timeout: float = 300.0
) -> AsyncIterator[str]:
    """The job's events as SSE text, ending with its reply (or one error line)."""
    yield ": stream of job " + job.id + "\n\n"
    try:
        async for event in job.aevents(timeout=timeout):
            if event.kind == "text" and event.text:
                yield _event("delta", {"text": event.text})
            elif event.kind == "tool_call":
                yield _event("tool_call", {"tool": event.tool, "args": event.args, "call_id": event.call_id})
            elif event.kind == "tool_result":
                yield _event("tool_result", {"tool": event.tool, "call_id": event.call_id, "result": event.result})
        done = await asyncio.to_thread(job.refresh)
        held = None
        if done.status == "waiting_approval":
            held = await asyncio.to_thread(pending)
        yield _event("reply", job_reply(done, label, held))
    except (AgentRecordError, TurnFailed, TurnTimedOut) as error:
        yield _event("error", {"error": " ".join(str(error).split())})


def pending_of(record: AgentRecord) -> Callable[[], list[Any]]:
    """A loader of `record`'s held calls in a session of its own (the request's may be closed mid-stream)."""
    cls, (engine, agent_id) = type(record), record._bound()

    def load() -> list[Any]:
        with Session(engine) as session:
            found = session.get(cls, agent_id)
            return [] if found is None else list(found.pending_approvals)

    return load
