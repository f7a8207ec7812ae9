"""agentrecord: AI agents that live in your application's database, as SQLAlchemy records."""

from .approvals import Approval, PendingApproval
from .compaction import Compaction
from .engine import create_engine
from .errors import (
    AgentBusy,
    AgentRecordError,
    ApprovalError,
    ApprovalPending,
    BudgetExceeded,
    DeclarationError,
    InvalidPrompt,
    LeaseLost,
    MCPServerUnavailable,
    ProviderError,
    ProviderNotConfigured,
    ProviderTimeout,
    RecordNotSaved,
    RequestLimitExceeded,
    StateVersionError,
    TurnFailed,
    TurnLimitExceeded,
    UnknownProvider,
)
from .ledger import DayUsage
from .mcp_servers import MCP
from .providers import configured_providers, provider_names
from .record import AgentRecord, ReplyStream
from .reply import Reply, Usage
from .tools import Tool, ToolContext, tool

__all__ = [
    "MCP",
    "AgentBusy",
    "AgentRecord",
    "AgentRecordError",
    "Approval",
    "ApprovalError",
    "ApprovalPending",
    "BudgetExceeded",
    "Compaction",
    "DayUsage",
    "DeclarationError",
    "InvalidPrompt",
    "LeaseLost",
    "MCPServerUnavailable",
    "PendingApproval",
    "ProviderError",
    "ProviderNotConfigured",
    "ProviderTimeout",
    "RecordNotSaved",
    "Reply",
    "ReplyStream",
    "RequestLimitExceeded",
    "StateVersionError",
    "Tool",
    "ToolContext",
    "TurnFailed",
    "TurnLimitExceeded",
    "UnknownProvider",
    "Usage",
    "configured_providers",
    "create_engine",
    "provider_names",
    "tool",
]
