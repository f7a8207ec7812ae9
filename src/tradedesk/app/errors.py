"""The application's errors: a failure the user can act on, its message the one line to show.

`status` is the HTTP status the web answers with; the CLI prints the message on stderr.
"""

from __future__ import annotations


class DeskError(Exception):
    """A failure the user can act on; the message is one line saying what to do."""

    status = 400


class NotFound(DeskError):
    status = 404


class Conflict(DeskError):
    status = 409


class Invalid(DeskError):
    status = 422


REFUSALS = (
    ("tradedesk.app.errors", "DeskError"),
    ("agentrecord.errors", "AgentRecordError"),
    ("tradedesk.market.protocol", "UnknownSymbol"),
    ("tradedesk.brokerage.broker", "BrokerError"),
)
"""The errors whose message is the one line a user acts on, as (module, class): the CLI looks up those whose module
is imported when an error arrives (one never imported cannot have raised), so naming them here imports nothing."""
