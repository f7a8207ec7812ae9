"""Keeping secrets out of messages: anything shaped like an API key or a bearer token becomes `***`.

Errors quote what providers and servers said, which may echo a key; every such text passes through here.
"""

from __future__ import annotations

import re

_KEYLIKE = re.compile(
    r"(?i)(bearer\s+)\S+|\b(sk-[A-Za-z0-9_\-]{6,}|sk-ant-[A-Za-z0-9_\-]{6,}|AIza[0-9A-Za-z_\-]{20,}|"
    r"gsk_[A-Za-z0-9]{10,}|xai-[A-Za-z0-9]{10,})"
)


def redact(text: str) -> str:
    """`text` with anything shaped like an API key or a bearer token replaced by `***`."""
    return _KEYLIKE.sub(lambda m: (m.group(1) or "") + "***", text)
