"""Turns and jobs: the one door every prompt of the user's comes through, and the jobs that run them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentrecord import jobs
from agentrecord.jobs import Job, agent_ref
from tradedesk.agents.models import TradingAgent
from tradedesk.app.errors import Conflict, Invalid, NotFound
from tradedesk.app.scope import Scope

if TYPE_CHECKING:
    from agentrecord import ReplyStream


MAX_PROMPT = 20_000
"""The longest prompt (characters, once stripped) a turn or a schedule takes."""


def checked_prompt(prompt: object) -> str:
    """`prompt` stripped, else Invalid: not text, empty or blank, too long, or not UTF-8 (a terminal's lone surrogates).

    The API hands it the JSON value as sent, so these lines are the only ones any entry point gives for a prompt.
    """
    if not isinstance(prompt, str):
        raise Invalid("The prompt must be text (a string).")
    text = prompt.strip()
    if not text:
        raise Invalid("Say something: the prompt is empty.")
    if len(text) > MAX_PROMPT:
        raise Invalid(f"The prompt is too long (at most {MAX_PROMPT:,} characters).")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("The prompt is not valid UTF-8 text: decode the input as UTF-8 and send it again.") from None
    return text


class TurnDesk(Scope):
    """Turns (here, streamed or queued) and jobs of one user's agents."""

    def check_prompt(self, agent: TradingAgent, prompt: object) -> str:
        """The prompt (stripped) a turn of `agent` may run now, else the one DeskError every entry point shows.

        The CLI (plain, streamed, background), the pages, the API and schedules all ask here, so a refusal reads
        the same everywhere and nothing is written before it.
        """
        text = checked_prompt(prompt)
        if agent.pending_approvals:
            raise Conflict(f"{agent.label} is waiting for your decision on a held call: approve or deny it first.")
        if self.user.halted:
            raise Conflict(f"Your agents are halted: resume them first (`tradedesk resume {self.user.email}`).")
        if agent.paused:
            raise Conflict(f"{agent.label} is paused: resume it on its page first.")
        return text

    def enqueue(self, agent: TradingAgent, prompt: str, *, stream: bool = False) -> Job:
        """Queue a turn of the user's agent, once `check_prompt` lets it through."""
        return agent.enqueue(self.check_prompt(agent, prompt), stream=stream)

    def stream(self, agent: TradingAgent, prompt: str) -> ReplyStream:
        """Run a turn of the user's agent here, its text streamed as it comes (`agent.stream`), once checked."""
        return agent.stream(self.check_prompt(agent, prompt))

    def jobs(self, limit: int = 50) -> list[Job]:
        return jobs.jobs_of(self.engine, list(self.agents()), limit)

    def job(self, job_id: str) -> Job:
        if not any(job_id.startswith(agent_ref(a) + ".") for a in self.agents()):
            raise NotFound(f"No job {job_id}.")
        try:
            return jobs.job(self.engine, job_id)
        except jobs.UnknownJob:
            raise NotFound(f"No job {job_id}.") from None
