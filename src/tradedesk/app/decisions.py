"""Decisions on held tool calls: what waits for the owner's approval, and approving or denying it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agentrecord import ApprovalError, PendingApproval, Reply
from tradedesk.agents.models import AGENT_KINDS, TradingAgent
from tradedesk.agents.orders import order_notional
from tradedesk.app.errors import Conflict, NotFound
from tradedesk.app.scope import Scope
from tradedesk.users import User

if TYPE_CHECKING:
    pass


def approval_row(agent: TradingAgent, held: PendingApproval) -> dict[str, Any]:
    notional = order_notional(held.args) if held.tool == "order_entry" else None
    return {
        "agent": agent.label,
        "call_id": held.call_id,
        "tool": held.tool,
        "args": held.args,
        "notional": notional,
        "requested_at": held.requested_at,
    }


@dataclass(frozen=True)
class Decision:
    """What deciding a held call did: the resumed turn's reply, or the job that resumes it, or neither yet."""

    agent: TradingAgent
    call: PendingApproval
    verb: str
    reply: Reply[Any] | None
    job: str | None
    still_pending: list[PendingApproval]


def holder(session: Session, call_id: str, user: User | None = None) -> TradingAgent:
    """The agent (of `user`, when given) holding tool call `call_id`; held calls live in the agent's state."""
    candidates: list[TradingAgent] = []
    for cls in AGENT_KINDS.values():
        query = select(cls).where(cls.data.contains(call_id, autoescape=True)).order_by(cls.id)
        if user is not None:
            query = query.where(cls.user_id == user.id)
        candidates.extend(session.scalars(query))
    for agent in candidates:
        if any(p.call_id == call_id for p in agent.pending_approvals):
            return agent
    if candidates:
        return candidates[0]  # it decided the call already: approve/deny say so
    hint = "" if user is not None else ": list pending calls with `tradedesk approvals EMAIL`"
    raise NotFound(f"No agent is holding tool call {call_id}{hint}.")


def decide(agent: TradingAgent, call_id: str, reason: str | None) -> Decision:
    """Approve (`reason` None) or deny a held call; the turn resumes (here, or as its job on a worker).

    A call decided already is a `Conflict` (a decision is final).
    """
    held = next((p for p in agent.pending_approvals if p.call_id == call_id), None)
    try:
        by = agent.user.email  # only the owner decides (the audit trail records who approved an order)
        reply = agent.approve(call_id, by=by) if reason is None else agent.deny(call_id, reason, by=by)
    except ApprovalError as error:
        raise Conflict(" ".join(str(error).split())) from None
    assert held is not None  # the library refuses a call that is not pending
    job_id = agent.held_job if reply is None else None
    still = [] if reply is not None or job_id else agent.pending_approvals
    return Decision(agent, held, "approved" if reason is None else "denied", reply, job_id, still)


class ApprovalDesk(Scope):
    """The calls one user's agents hold for approval."""

    def approvals(self) -> list[dict[str, Any]]:
        return [approval_row(agent, p) for agent in self.agents() for p in agent.pending_approvals]

    def decide(self, call_id: str, reason: str | None) -> Decision:
        if reason is not None and not reason.strip():
            reason = "The owner denied this call."
        return decide(holder(self.session, call_id, self.user), call_id, reason)
