"""The house rules that keep the layout as docs/architecture.md draws it: no import cycle, no long module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [ROOT / "src" / "agentrecord", ROOT / "src" / "tradedesk"]
MAX_LINES = 400


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "scripts" / "import_cycles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_cycles"] = module
    spec.loader.exec_module(module)
    return module


def test_no_two_of_our_modules_import_each_other_even_inside_functions() -> None:
    script = _script()
    assert script.cycles(script.graph_of(PACKAGES)) == []


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def f():\n    from .a import x\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    (package / "d.py").write_text("from pkg import c\n")
    script = _script()
    assert script.cycles(script.graph_of([package])) == [["pkg.a", "pkg.b"]]  # c's annotation-only import is none


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_no_module_is_longer_than_the_house_limit(package: Path) -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in package.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
