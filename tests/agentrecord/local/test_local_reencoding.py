"""The packaged Q4_1 model is re-encoded to F16 once, in the cache, and reused by later processes; a user's own
.gguf file is loaded as given; without a writable cache the shipped file is loaded. Real files, real llama.cpp."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentrecord.local import llama as local_engine
from agentrecord.local.reencoding import reencoded
from agentrecord.local.states import StateStore

ROOT = Path(__file__).resolve().parents[3]
Q4_1, F16 = "3", "1"  # llama.cpp's general.file_type values

LOADED = """
import json
from agentrecord.local.llama import engine
path = engine("smollm2-135m").path
stat = path.stat()
print(json.dumps([str(path), stat.st_ino, stat.st_mtime_ns]))
"""


def shipped() -> Path:
    spec = local_engine.MODELS[local_engine.DEFAULT_MODEL]
    assert spec.file is not None
    found = importlib.util.find_spec(spec.package)
    assert found is not None and found.submodule_search_locations
    return Path(next(iter(found.submodule_search_locations))) / spec.file


def file_type(path: Path) -> str:
    return str(local_engine.load_llama(path, vocab_only=True).metadata["general.file_type"])


def loaded_in_a_new_process(cache: Path) -> tuple[str, int, int]:
    env = {**os.environ, "AGENTRECORD_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", LOADED], env=env, capture_output=True, text=True, check=True)
    path, inode, mtime = json.loads(out.stdout.strip().splitlines()[-1])
    return path, inode, mtime


def test_the_packaged_model_is_re_encoded_once_and_a_second_process_loads_that_same_file(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = loaded_in_a_new_process(cache)
    models = cache / "models"
    files = sorted(p.name for p in models.iterdir())
    assert files == [Path(first[0]).name]  # one file, no temporary left behind
    assert Path(first[0]).parent == models and first[0].endswith(".F16.gguf")
    written = models.stat().st_mtime_ns
    assert loaded_in_a_new_process(cache) == first  # same file, same inode, not rewritten
    assert models.stat().st_mtime_ns == written  # no temporary file was even created
    assert file_type(Path(first[0])) == F16 and file_type(shipped()) == Q4_1
    # the scorer's stored states are keyed by the file loaded: the shipped file's are never read for it
    loaded, original = (StateStore.for_model(path, "one build") for path in (Path(first[0]), shipped()))
    assert loaded is not None and original is not None and loaded.directory != original.directory


def test_a_user_gguf_file_is_loaded_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("AGENTRECORD_CACHE_DIR", str(cache))
    mine = tmp_path / "mine.gguf"
    mine.symlink_to(shipped())
    assert local_engine.model_path(str(mine)) == mine
    assert local_engine.engine(str(mine)).path == mine
    assert file_type(mine) == Q4_1
    assert not (cache / "models").exists()


@pytest.mark.parametrize("setting", ["off", "not-a-directory"])
def test_without_a_writable_cache_the_shipped_file_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("AGENTRECORD_CACHE_DIR", "off" if setting == "off" else str(blocker / "cache"))
    assert reencoded(shipped(), "F16") == shipped()
