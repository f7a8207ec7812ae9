"""The parts of an agent's page that a turn changes: its header (tokens, cost, status), the held-calls notice,
its capital, its recent jobs, and the navigation's approvals badge.

The page renders them once; the response that starts a turn and the one fetched when its stream ends
carry them again as HTMX out-of-band swaps, so the page stays true without a reload.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from agentrecord.jobs import Job
from tradedesk.app import TradingAgent, desk
from tradedesk.web.auth import Viewer

JOBS = 5
"""Recent jobs shown on an agent's page."""
WORKING = ("queued", "running")


def follower(record: TradingAgent, job_id: str) -> dict[str, str]:
    """Where the page follows a turn: its job's events, and the parts to fetch once it ends."""
    base = f"/agents/{record.kind}/{record.id}"
    return {"events": f"{base}/jobs/{job_id}/events", "live": f"{base}/live", "job": job_id}


def in_flight(record: TradingAgent, recent: list[Job]) -> dict[str, str] | None:
    """The follower of the agent's newest turn still queued or running (one resumed after approval,
    or started elsewhere), so the page shows it land; None when nothing is under way."""
    found = next((j for j in recent if j.status in WORKING), None)
    return None if found is None else follower(record, found.id)


def agent_parts(d: desk.Desk, record: TradingAgent) -> dict[str, Any]:
    """The template context of the live parts (`_live.html`): row, pending, capital, jobs, waiting."""
    recent, pending = record.jobs(JOBS), record.pending_approvals
    row = d.agent_row(record)
    row["status"] = d.live_status(record, recent, len(pending))
    return {
        "agent": record,
        "row": row,
        "pending": pending,
        "capital": next(b for b in d.portfolio_by_agent() if b.agent == record.label),
        "jobs": recent,
        "waiting": d.pending_count(),
    }


def waiting(viewer: Viewer | None) -> int:
    """The calls waiting for the viewer's decision (the navigation's badge); 0 when no one is signed in."""
    session = None if viewer is None else Session.object_session(viewer.user)
    if viewer is None or session is None:
        return 0
    return desk.Desk(session, viewer.user).pending_count()
