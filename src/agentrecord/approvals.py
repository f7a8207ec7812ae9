"""Durable approvals: tool calls held for the owner's decision, kept in the agent's state until decided.

A turn that reaches a call needing approval stops with the call persisted as pending (in the
`data` column's state, beside the messages); `approve`/`deny` — from any process, any time later —
record the decision and, once every pending call of that turn is decided, resume the turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic_ai import DeferredToolRequests, DeferredToolResults, RunContext, ToolDenied
from pydantic_ai.tools import ToolDefinition

from .errors import ApprovalError

if TYPE_CHECKING:
    from .state import State

log = logging.getLogger("agentrecord.approvals")

_KEEP_DECIDED = 500
"""How many decided call ids a record remembers, to tell 'decided already' from 'unknown'."""

Rule = Callable[..., bool] | str | None
"""When a confirm-listed tool needs approval: always (None), a callable `(record, args) -> bool`, or the
name of a method on the record taking the call's arguments dict."""


@dataclass(frozen=True)
class Approval:
    """The decision that let a held call run: when it was approved, and by whom (if the approver said)."""

    at: datetime
    by: str | None = None


@dataclass(frozen=True)
class PendingApproval:
    """A tool call waiting for the owner's decision."""

    call_id: str
    tool: str
    args: dict[str, Any]
    requested_at: str

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "tool": self.tool, "args": self.args, "requested_at": self.requested_at}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PendingApproval:
        return cls(str(doc["call_id"]), str(doc["tool"]), dict(doc.get("args") or {}), str(doc.get("requested_at")))


def approval_check(rules: dict[str, Rule]) -> Callable[[RunContext[Any], ToolDefinition, dict[str, Any]], bool]:
    """pydantic-ai's per-call question 'does this call need approval?', answered from the declaration."""

    def needs_approval(ctx: RunContext[Any], tool_def: ToolDefinition, args: dict[str, Any]) -> bool:
        rule = rules.get(tool_def.name)
        if rule is None:
            return True
        record = ctx.deps.record
        try:
            return bool(getattr(record, rule)(args) if isinstance(rule, str) else rule(record, args))
        except Exception:  # a broken rule must not let the call through
            log.exception("approval rule for %s failed; holding the call for approval", tool_def.name)
            return True

    return needs_approval


def pending(state: State) -> list[PendingApproval]:
    """The calls waiting for a decision on this agent."""
    return [PendingApproval.from_json(d) for d in state.extra.get("pending", [])]


def hold(state: State, requests: DeferredToolRequests) -> list[PendingApproval]:
    """Record the calls a turn stopped on as pending; returns them."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    held = [PendingApproval(c.tool_call_id, c.tool_name, c.args_as_dict(), now) for c in requests.approvals]
    state.extra["pending"] = [p.to_json() for p in held]
    state.extra.pop("decisions", None)
    return held


def decide(
    state: State, decisions: dict[str, bool | str], label: str, *, resume: bool = True, by: str | None = None
) -> DeferredToolResults | None:
    """Record `decisions` (True = approve, a string = deny with that reason) for pending calls, when, and `by` whom.

    Returns the results to resume the turn with once every pending call is decided, else None;
    always None with `resume=False` (a job holding the calls resumes the turn from what is recorded).
    """
    waiting = {p.call_id for p in pending(state)}
    decided: dict[str, str] = state.extra.get("decided", {})
    recorded: dict[str, bool | str] = dict(state.extra.get("decisions", {}))
    for call_id in decisions:
        if call_id in recorded or (call_id in decided and call_id not in waiting):
            verdict = decided.get(call_id) or ("approved" if recorded.get(call_id) is True else "denied")
            raise ApprovalError(f"Tool call {call_id} on {label} was already {verdict}; a decision is final.")
        if call_id not in waiting:
            listed = ", ".join(sorted(waiting)) or "none"
            raise ApprovalError(
                f"Tool call {call_id} is not awaiting approval on {label} (its pending calls: {listed}). "
                "Check the call id, and that it belongs to this agent."
            )
    recorded.update(decisions)
    _stamp(state, decisions, by)
    if waiting - set(recorded) or not resume:
        state.extra["decisions"] = recorded
        return None
    for call_id, choice in recorded.items():
        decided[call_id] = "approved" if choice is True else "denied"
    state.extra["decided"] = dict(list(decided.items())[-_KEEP_DECIDED:])
    state.extra.pop("pending", None)
    state.extra.pop("decisions", None)
    approvals: dict[str, bool | ToolDenied] = {
        call_id: True if verdict is True else ToolDenied(str(verdict) or "The owner denied this call.")
        for call_id, verdict in recorded.items()
    }
    return DeferredToolResults(approvals=approvals)  # type: ignore[arg-type]


def undecided(state: State) -> list[str]:
    """The pending call ids that no decision has been recorded for yet."""
    recorded = state.extra.get("decisions", {})
    return [p.call_id for p in pending(state) if p.call_id not in recorded]


def _stamp(state: State, decisions: dict[str, bool | str], by: str | None) -> None:
    """Remember when (and by whom) each of `decisions` was made, for `approval_of`."""
    if not decisions:
        return
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    stamp = {"at": now} if by is None else {"at": now, "by": by}
    stamps: dict[str, dict[str, str]] = dict(state.extra.get("decided_when", {}))
    stamps.update({call_id: stamp for call_id in decisions})
    state.extra["decided_when"] = dict(list(stamps.items())[-_KEEP_DECIDED:])


def approval_of(state: State, call_id: str) -> Approval | None:
    """The approval of `call_id`, if it was approved (None: denied, undecided, or never held)."""
    recorded = state.extra.get("decisions", {}).get(call_id)
    verdict = state.extra.get("decided", {}).get(call_id)
    if recorded is not True and verdict != "approved":
        return None
    stamp = state.extra.get("decided_when", {}).get(call_id)
    if not isinstance(stamp, dict) or "at" not in stamp:
        return None  # decided before decisions were stamped
    at = datetime.fromisoformat(str(stamp["at"]))
    by = stamp.get("by")
    return Approval(at if at.tzinfo else at.replace(tzinfo=UTC), None if by is None else str(by))
