"""The runtime is ORM-neutral: its modules name no SQLAlchemy import, and importing the turn, the declaration or
the tools loads none (the store, the spend reservations and the binding are handed to them through the ports)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import agentrecord

CORE = Path(agentrecord.__file__).parent
NEUTRAL = (
    *("turn", "steps", "target", "admission", "stops", "reporting", "state", "leases", "ports", "hooks", "codec"),
    *("budgets", "ledger", "micros", "errors", "reply", "redaction", "faults", "guards", "approvals", "compaction"),
    *("skills", "mcp_servers", "providers", "tracing", "_encoding", "_loop", "_journal"),
    *("tools", "tool_calls", "_process_pool", "concurrency", "declaration"),
)
"""The runtime's modules: none names SQLAlchemy (import-linter's contract says the same of their imports)."""


@pytest.mark.parametrize("name", NEUTRAL)
def test_a_runtime_module_imports_no_sqlalchemy_even_inside_a_function(name: str) -> None:
    tree = ast.parse((CORE / f"{name}.py").read_text())
    found = [
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "sqlalchemy" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "sqlalchemy")
    ]
    assert found == []


def test_importing_the_turn_the_declaration_and_the_tools_loads_no_sqlalchemy() -> None:
    modules = "agentrecord.turn, agentrecord.declaration, agentrecord.tool_calls, agentrecord.concurrency"
    code = f"import sys, {modules}; print('sqlalchemy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"
