"""Jobs are an extension: the core never imports them, finds them by name, and they need their extra."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import agentrecord
from agentrecord import hooks

CORE = Path(agentrecord.__file__).parent


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def _targets(node: ast.AST, package: str) -> list[str]:
    """The modules an import statement inside `package` names (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
    target = ".".join(p for p in (base, node.module or "") if p)
    return [target, *(f"{target}.{a.name}" for a in node.names)]


def _is_jobs(name: str) -> bool:
    return name == "agentrecord.jobs" or name.startswith("agentrecord.jobs.")


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            inside.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return inside


def test_no_core_module_imports_the_jobs_extension_even_inside_a_function() -> None:
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        relative = path.relative_to(CORE.parent)
        if relative.parts[1] == "jobs":
            continue
        package = ".".join(relative.parent.parts)
        tree = ast.parse(path.read_text())
        typing_only = _type_checking_nodes(tree)
        offenders += [
            f"{relative}:{node.lineno}"  # type: ignore[attr-defined]
            for node in ast.walk(tree)
            if id(node) not in typing_only and any(_is_jobs(t) for t in _targets(node, package))
        ]
    assert offenders == []


def test_a_talk_does_not_load_the_jobs_extension(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sqlalchemy.orm import Session\n"
        "from agentrecord import create_engine\n"
        "from agentrecord.testing import ScriptedModel, scripted\n"
        "from tests.agentrecord.seed import Base, Daytrader, User\n"
        f"engine = create_engine('sqlite:///{tmp_path}/agents.db')\n"
        "Base.metadata.create_all(engine)\n"
        "with Session(engine) as session:\n"
        "    agent = Daytrader(user=User(email='a@example.com'), provider='openai')\n"
        "    session.add(agent)\n"
        "    session.commit()\n"
        "    with scripted(Daytrader, ScriptedModel(['hi'])):\n"
        "        assert agent.talk('hello').text == 'hi'\n"
        "    assert agent.held_job is None\n"
        "print([m for m in sys.modules if m.startswith('agentrecord.jobs')])"
    )
    done = run(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_jobs_hooks_are_found_by_name_and_registered_on_import() -> None:
    import agentrecord.jobs
    from agentrecord.jobs import agent_jobs

    assert hooks.EXTENSIONS["jobs"] == agentrecord.jobs.__name__
    assert hooks.jobs() is agent_jobs
    assert "dbos" in agentrecord.jobs.backend_names()


def test_an_unknown_job_engine_is_named_in_the_error(tmp_path: Path) -> None:
    from agentrecord import create_engine
    from agentrecord.jobs import JobsNotConfigured
    from agentrecord.jobs.backend import backend_for

    engine = create_engine(f"sqlite:///{tmp_path}/jobs.db")
    with pytest.raises(JobsNotConfigured, match=r"'nope'.*dbos"):
        backend_for(engine, "nope")
    engine.dispose()


def test_importing_jobs_without_the_jobs_extra_says_what_to_install() -> None:
    done = run("import sys; sys.modules['dbos'] = None\nimport agentrecord.jobs")
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr
    assert "pip install 'agentrecord[jobs]'" in done.stderr
