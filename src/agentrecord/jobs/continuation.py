"""A turn run as a job: marked with the job's id in the agent's state, so the job can continue it.

The mark (`extra["job"]`: id, first sequence number, done, end) is what lets a job whose worker died
continue its own turn from the saved steps instead of starting the prompt over. The runtime sees a
`JobTurn` only as a `hooks.RunningJob`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import approvals
from ..hooks import JOB_MARK

if TYPE_CHECKING:
    from ..state import State


@dataclass
class JobTurn:
    """A job's turn: its id, how to tell it to stop, and whether its listeners want text as it streams."""

    id: str
    stop: Callable[[], str | None] = field(default=lambda: None)
    """Checked at every step boundary: a reason ("cancelled", "shutdown") stops the turn there."""
    stream: bool = True
    """Whether `on_event` gets the model's text as it streams, or one text event per response (the
    cheaper non-streaming request, for jobs nobody watches live)."""

    def mark(self, extra: dict[str, Any]) -> dict[str, Any] | None:
        """This job's mark in an agent's state, if the agent's latest job turn is this one."""
        found = extra.get(JOB_MARK)
        return found if isinstance(found, dict) and found.get("id") == self.id else None

    def continues(self, state: State) -> bool:
        """True when this job had begun the agent's latest turn and saved steps of it (then it continues them)."""
        mark = self.mark(state.extra)
        return mark is not None and not mark.get("done") and state.messages > int(mark.get("start", 0))

    def begin(self, state: State) -> None:
        """Mark `state` as this job's turn, starting at its current message count."""
        state.extra = {**state.extra, JOB_MARK: {"id": self.id, "start": state.messages}}

    def finish(self, state: State, end: int) -> None:
        """Mark this job's turn done (if the agent's latest job turn is this one), ending before `end`."""
        mark = self.mark(state.extra)
        if mark is not None:
            state.extra[JOB_MARK] = {**mark, "done": True, "end": end}


def holding_job(state: State, live: Callable[[str], bool]) -> str | None:
    """The id of the job whose turn holds `state`'s pending approvals, if `live` says it is queued or running.

    A cancelled or failed job holds nothing: its calls are ordinary pending approvals again.
    """
    mark = state.extra.get(JOB_MARK)
    if not isinstance(mark, dict) or mark.get("done") or not approvals.pending(state):
        return None
    job_id = str(mark.get("id"))
    return job_id if live(job_id) else None
