"""Whether a turn may start or resume: pending approvals, the decisions on them, and the job holding them."""

from __future__ import annotations

from typing import Any

from pydantic_ai import DeferredToolResults

from . import approvals, hooks, tracing
from .errors import ApprovalPending
from .state import Lease
from .target import Target


def admit(
    target: Target,
    lease: Lease,
    decisions: dict[str, bool | str] | None,
    *,
    record_only: bool = False,
    continuing: bool = False,
    by: str | None = None,
) -> DeferredToolResults | None:
    """Check a turn may start: a new prompt needs no pending approvals; decisions must match pending calls.

    With `record_only` the decisions are stored without resuming (the job holding the calls resumes).
    """
    if decisions is None:
        waiting = approvals.pending(lease.state)
        if waiting and not continuing:
            raise ApprovalPending(target.label, [p.call_id for p in waiting])
        return None
    return approvals.decide(lease.state, decisions, target.label, resume=not record_only, by=by)


def held_elsewhere(job: hooks.RunningJob | None, lease: Lease, engine: Any) -> bool:
    """True when the pending approvals belong to a live job's turn other than `job` (that job resumes it)."""
    holder = hooks.holding_job(lease.state, engine)
    return holder is not None and (job is None or holder != job.id)


def trace_approvals(kind: str, calls: list[approvals.PendingApproval], decisions: dict[str, bool | str]) -> None:
    """One short span per call held for approval (`held`), or per decided call a turn resumes on (`resumed`)."""
    for call in calls:
        attributes: dict[str, Any] = {"gen_ai.tool.name": call.tool, "gen_ai.tool.call.id": call.call_id}
        if kind == "resumed":
            if call.call_id not in decisions:
                continue
            attributes["agentrecord.approved"] = decisions[call.call_id] is True
        with tracing.span(f"agentrecord.approval.{kind} {call.tool}", attributes):
            pass
