"""The library's public names, listed once: a name added, removed or moved out of reach fails here first."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "agentrecord": [
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
        "MCP",
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
    ],
    "agentrecord.jobs": [
        "Job",
        "JobEvent",
        "JobFailed",
        "JobStatus",
        "JobTimeout",
        "JobsNotConfigured",
        "Schedule",
        "ScheduleError",
        "Task",
        "TurnStopped",
        "UnknownJob",
        "Worker",
        "agent_ref",
        "backend_names",
        "install",
        "job",
        "jobs_of",
        "next_tick",
        "register_backend",
        "register_calendar",
        "schedule",
    ],
    "agentrecord.local": ["DEFAULT_MODEL", "LocalModel", "LocalModelNotFound", "MODELS", "model_path"],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_the_package_exports_exactly_its_public_names_and_each_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(PUBLIC[package])
    for name in PUBLIC[package]:
        assert getattr(module, name) is not None
        assert name in dir(module)


def test_the_public_exceptions_share_one_base_class() -> None:
    import agentrecord
    from agentrecord import jobs

    errors = [getattr(agentrecord, n) for n in PUBLIC["agentrecord"] if n.endswith(("Error", "Exceeded", "Busy"))]
    errors += [jobs.JobFailed, jobs.JobTimeout, jobs.JobsNotConfigured, jobs.ScheduleError, jobs.UnknownJob]
    assert all(issubclass(e, agentrecord.AgentRecordError) for e in errors)
