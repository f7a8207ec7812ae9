"""Evaluated scoring contexts kept on disk, so a new process scores its first request without re-evaluating them.

A CLI command is a new process: without this it would evaluate every option text of its agent (~270
tokens each) before its first answer. A context's state is the same bytes whichever process computed
it, so a stored one changes no score. Files are keyed by the model file, the llama.cpp build and CPU
features (a state from another build or instruction set is never read), and the context's tokens.

The directory is `$AGENTRECORD_CACHE_DIR` (`off` turns this off), else `$XDG_CACHE_HOME/agentrecord`,
else `~/.cache/agentrecord`; it is pruned, oldest first, past `DISK_BYTES`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("agentrecord.local")

DISK_BYTES = 512 * 2**20
_MAGIC = b"agentrecord-state-1\n"


@dataclass(frozen=True)
class Kept:
    """An evaluated context: its sequence state (KV cells) and the log-probabilities of the token after it."""

    state: bytes
    log_probs: np.ndarray

    @property
    def size(self) -> int:
        return len(self.state) + int(self.log_probs.nbytes)


def cache_root() -> Path | None:
    """Where agentrecord keeps files it can rebuild, or None when turned off."""
    named = os.environ.get("AGENTRECORD_CACHE_DIR")
    if named is not None:
        return None if named.strip().lower() in ("", "off", "0", "none") else Path(named).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "agentrecord"


class StateStore:
    """Kept contexts of one model build, one file each, written atomically (processes may share the directory)."""

    def __init__(self, directory: Path, limit: int = DISK_BYTES) -> None:
        self.directory, self.limit = directory, limit

    @classmethod
    def for_model(cls, model: Path, build: str) -> StateStore | None:
        """The store for `model` under `build` (llama.cpp's version and CPU features); None when caching is off."""
        root = cache_root()
        if root is None:
            return None
        stat = model.stat()
        key = hashlib.sha256(f"{model.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{build}".encode()).hexdigest()
        return cls(root / "llama-states" / key[:20])

    def _file(self, tokens: tuple[int, ...]) -> Path:
        digest = hashlib.sha256(np.asarray(tokens, dtype=np.int32).tobytes()).hexdigest()
        return self.directory / f"{digest[:40]}.state"

    def get(self, tokens: tuple[int, ...]) -> Kept | None:
        """The stored state of `tokens`, if any (a damaged file is ignored and rebuilt)."""
        path = self._file(tokens)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        head = len(_MAGIC) + 8
        if not data.startswith(_MAGIC) or len(data) < head:
            return None
        (length,) = struct.unpack("<Q", data[len(_MAGIC) : head])
        rest = data[head + length :]
        if len(data) < head + length or len(rest) % 8:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruned last
        return Kept(data[head : head + length], np.frombuffer(rest, dtype=np.float64))

    def put(self, tokens: tuple[int, ...], kept: Kept) -> None:
        """Store `kept` for `tokens`; a full or read-only disk only costs the next process the evaluation."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            payload = _MAGIC + struct.pack("<Q", len(kept.state)) + kept.state + kept.log_probs.astype("<f8").tobytes()
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(handle, "wb") as out:
                out.write(payload)
            os.replace(temporary, self._file(tokens))
            self._prune()
        except OSError as exc:
            log.debug("local model: could not store a scoring state in %s: %s", self.directory, exc)

    def _prune(self) -> None:
        stats = [(p.stat(), p) for p in self.directory.glob("*.state")]
        files = [(st.st_mtime, st.st_size, p) for st, p in stats]
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.limit:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
