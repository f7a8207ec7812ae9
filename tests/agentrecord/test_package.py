"""The package root: every public name imports as before, but only when first used (each check in a fresh process)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import agentrecord


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip()


def test_importing_the_package_loads_neither_pydantic_ai_nor_sqlalchemy() -> None:
    heavy = ("pydantic_ai", "sqlalchemy", "openai")
    code = f"import sys, agentrecord; print([m for m in {heavy!r} if m in sys.modules])"
    assert run(code) == "[]"


def test_an_error_class_or_create_engine_does_not_load_pydantic_ai() -> None:
    code = (
        "import sys\n"
        "from agentrecord import AgentRecordError, ProviderNotConfigured, create_engine\n"
        "print('pydantic_ai' in sys.modules, issubclass(ProviderNotConfigured, AgentRecordError))"
    )
    assert run(code) == "False True"


def test_every_public_name_is_the_object_its_module_defines() -> None:
    code = (
        "import importlib, agentrecord\n"
        "from agentrecord import *\n"
        "for name in agentrecord.__all__:\n"
        "    home = importlib.import_module('agentrecord.' + agentrecord._HOME[name])\n"
        "    assert globals()[name] is getattr(home, name) is getattr(agentrecord, name), name\n"
        "print(len(agentrecord.__all__))"
    )
    assert run(code) == str(len(agentrecord.__all__))


def test_all_and_the_lazy_table_name_the_same_public_names() -> None:
    assert sorted(agentrecord.__all__) == sorted(agentrecord._HOME)
    assert set(agentrecord.__all__) <= set(dir(agentrecord))


def test_a_submodule_is_reachable_as_an_attribute_without_importing_it_first() -> None:
    code = "import agentrecord; print(agentrecord.providers.__name__, agentrecord.jobs.__name__)"
    assert run(code) == "agentrecord.providers agentrecord.jobs"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nonexistent'"):
        _ = agentrecord.Nonexistent  # type: ignore[attr-defined]
    with pytest.raises(ImportError):
        from agentrecord import Nonexistent  # type: ignore[attr-defined]  # noqa: F401
