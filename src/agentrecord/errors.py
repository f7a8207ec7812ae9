"""Every error agentrecord raises, each saying what went wrong and what to do about it."""

from __future__ import annotations

from .redaction import redact


class AgentRecordError(Exception):
    """Base class of agentrecord's errors."""


class DeclarationError(AgentRecordError, TypeError):
    """An agent class declares something invalid (unknown option, bad tool, wrong value)."""


class UnknownProvider(AgentRecordError, ValueError):
    """The record's `provider` column names a provider agentrecord does not know."""

    def __init__(self, name: str, valid: list[str]) -> None:
        self.name = name
        self.valid = valid
        super().__init__(f"Unknown provider {name!r}. Valid providers: {', '.join(valid)}.")


class ProviderNotConfigured(AgentRecordError):
    """The provider needs a secret (or other setting) that is not set."""

    def __init__(self, provider: str, env_var: str, detail: str = "") -> None:
        self.provider = provider
        self.env_var = env_var
        extra = f" {detail}" if detail else ""
        super().__init__(
            f"Provider {provider!r} is not configured: set the {env_var} environment variable "
            f"(or override provider_options() on the record).{extra}"
        )


class RecordNotSaved(AgentRecordError):
    """The record is not committed to the database yet, so its conversation has nowhere to live."""


class AgentBusy(AgentRecordError):
    """Another turn is running on this agent and did not finish within the wait timeout."""

    def __init__(self, agent: str, waited: float) -> None:
        self.agent = agent
        self.waited = waited
        super().__init__(
            f"{agent} is busy with another turn (waited {waited:.1f}s). Retry later, or pass a longer "
            "`wait=` to talk()."
        )


class LeaseLost(AgentRecordError):
    """This turn's run lease expired and another turn took the agent over; the turn stopped."""


class RequestLimitExceeded(AgentRecordError):
    """A turn made more model requests than the agent allows; what it did so far is saved."""

    def __init__(self, agent: str, limit: int) -> None:
        self.agent = agent
        self.limit = limit
        super().__init__(
            f"{agent} stopped after {limit} model requests in one turn (a runaway tool loop?). "
            "Everything up to that point is saved; raise `max_requests` in the agent's declaration "
            "if the task really needs more."
        )


class StateVersionError(AgentRecordError):
    """The record's `data` column was written by a newer (or unknown) agentrecord state schema."""


class TurnFailed(AgentRecordError):
    """The model or provider failed mid-turn; completed steps are saved and the next turn continues."""


class TurnLimitExceeded(AgentRecordError):
    """A turn used more tokens or money than the agent allows per turn; what it did so far is saved."""


class ApprovalError(AgentRecordError):
    """An approval or denial that cannot apply: unknown call, another agent's call, or decided already."""


class ApprovalPending(AgentRecordError):
    """The agent is waiting for its owner to approve or deny tool calls before it can take a new turn."""

    def __init__(self, agent: str, call_ids: list[str]) -> None:
        self.agent = agent
        self.call_ids = call_ids
        super().__init__(
            f"{agent} is waiting for approval of tool call(s) {', '.join(call_ids)}: call approve(call_id) or "
            "deny(call_id, reason) on the record first (see record.pending_approvals)."
        )


class JobsNotConfigured(AgentRecordError):
    """Jobs need the `jobs` extra installed and the engine's tables in the database; the message says which."""


class UnknownJob(AgentRecordError, LookupError):
    """No job has this id in this database."""


class JobTimeout(AgentRecordError, TimeoutError):
    """`Job.wait` gave up before the job settled; the message says whether any worker is running."""


class ScheduleError(AgentRecordError, ValueError):
    """A schedule that cannot be made: a bad interval, cron expression or time zone, or an unknown schedule."""


class TurnStopped(AgentRecordError):
    """A job's turn stopped at a step boundary (cancelled, or its worker shutting down); what it did is saved."""

    def __init__(self, agent: str, reason: str) -> None:
        self.agent = agent
        self.reason = reason
        super().__init__(f"{agent}: the turn stopped at a step boundary ({reason}); its completed steps are saved.")


class JobFailed(AgentRecordError):
    """A job's turn raised; the message names the error and says what it said (`Job.error` holds it)."""


class ProviderError(AgentRecordError):
    """The provider failed the turn: an error status, an unusable or cut-off response, or no connection.

    The message names the provider, the status (when there was one) and what to do; the turn's completed
    steps are saved, its lease is released, and the next turn works.
    """

    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        self.provider = provider
        self.status = status
        super().__init__(message)


class ProviderTimeout(ProviderError, TimeoutError):
    """The provider did not answer within `request_timeout` (or the turn passed its `turn_timeout`)."""


class BudgetExceeded(AgentRecordError):
    """A spend budget (daily tokens or USD, per user or per agent) is used up; what the turn did is saved."""


class InvalidPrompt(AgentRecordError, ValueError):
    """A prompt that cannot be sent: not valid UTF-8 text (e.g. lone surrogates from undecodable bytes)."""


class MCPServerUnavailable(AgentRecordError):
    """An MCP server the agent declares could not be started or reached; the turn did not start."""

    def __init__(self, agent: str, server: str, where: str, error: BaseException) -> None:
        self.server = server
        detail = " ".join(str(_root_cause(error)).split())[:300] or type(_root_cause(error)).__name__
        super().__init__(
            f"{agent}: the MCP server {server!r} ({where}) could not be started or reached: {redact(detail)}. "
            "Nothing was run; check that the server starts and answers there, then try again."
        )


def _root_cause(error: BaseException) -> BaseException:
    """The innermost cause of `error` (connection failures arrive wrapped, often in exception groups)."""
    while True:
        if isinstance(error, BaseExceptionGroup) and error.exceptions:
            error = error.exceptions[0]
        elif error.__cause__ is not None:
            error = error.__cause__
        else:
            return error
