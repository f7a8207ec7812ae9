"""agentrecord: AI agents that live in your application's database, as SQLAlchemy records."""

from .engine import create_engine
from .errors import (
    AgentBusy,
    AgentRecordError,
    DeclarationError,
    LeaseLost,
    ProviderNotConfigured,
    RecordNotSaved,
    RequestLimitExceeded,
    StateVersionError,
    TurnFailed,
    UnknownProvider,
)
from .record import AgentRecord, ReplyStream
from .reply import Reply, Usage
from .tools import Tool, ToolContext, tool

__all__ = [
    "AgentBusy",
    "AgentRecord",
    "AgentRecordError",
    "DeclarationError",
    "LeaseLost",
    "ProviderNotConfigured",
    "RecordNotSaved",
    "Reply",
    "ReplyStream",
    "RequestLimitExceeded",
    "StateVersionError",
    "Tool",
    "ToolContext",
    "TurnFailed",
    "UnknownProvider",
    "Usage",
    "create_engine",
    "tool",
]
