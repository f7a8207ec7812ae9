"""agentrecord: AI agents that live in your application's database, as SQLAlchemy records.

The public names below are imported on first use (PEP 562), not with the package: `import agentrecord`
costs nothing, so a program that only needs `agentrecord.errors` or `create_engine` does not pay for
pydantic-ai and the providers' SDKs. `from agentrecord import X` works as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time `__getattr__` imports each on first use
    from .approvals import Approval, PendingApproval
    from .budgets import Budget
    from .codec import load_message
    from .compaction import Compaction
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
    from .reply import Reply, Usage
    from .sqlalchemy.engine import create_engine
    from .sqlalchemy.record import AgentRecord, ReplyStream
    from .sqlalchemy.spend import spend_table, spent_today
    from .sqlalchemy.store import message_table
    from .tools import Tool, ToolContext, tool

_ERRORS = (
    "AgentBusy",
    "AgentRecordError",
    "ApprovalError",
    "ApprovalPending",
    "BudgetExceeded",
    "DeclarationError",
    "InvalidPrompt",
    "LeaseLost",
    "MCPServerUnavailable",
    "ProviderError",
    "ProviderNotConfigured",
    "ProviderTimeout",
    "RecordNotSaved",
    "RequestLimitExceeded",
    "StateVersionError",
    "TurnFailed",
    "TurnLimitExceeded",
    "UnknownProvider",
)

_HOME: dict[str, str] = {
    "Approval": "approvals",
    "PendingApproval": "approvals",
    "Budget": "budgets",
    "load_message": "codec",
    "Compaction": "compaction",
    "create_engine": "sqlalchemy.engine",
    **dict.fromkeys(_ERRORS, "errors"),
    "DayUsage": "ledger",
    "MCP": "mcp_servers",
    "configured_providers": "providers",
    "provider_names": "providers",
    "AgentRecord": "sqlalchemy.record",
    "ReplyStream": "sqlalchemy.record",
    "Reply": "reply",
    "Usage": "reply",
    "spend_table": "sqlalchemy.spend",
    "spent_today": "sqlalchemy.spend",
    "message_table": "sqlalchemy.store",
    "Tool": "tools",
    "ToolContext": "tools",
    "tool": "tools",
}
"""Each public name and the submodule that defines it."""

__all__ = [
    "MCP",
    "AgentBusy",
    "AgentRecord",
    "AgentRecordError",
    "Approval",
    "ApprovalError",
    "ApprovalPending",
    "Budget",
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
    "load_message",
    "message_table",
    "provider_names",
    "spend_table",
    "spent_today",
    "tool",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its submodule on first use; or a submodule (`agentrecord.jobs`)."""
    home = _HOME.get(name)
    if home is not None:
        value = getattr(importlib.import_module(f".{home}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if not name.startswith("__"):
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise  # the submodule exists but something it imports does not
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
