"""How many examples a property test tries: a third of its full count in the suite, all with `make properties`."""

from __future__ import annotations

import os

SHARE = float(os.environ.get("PROPERTY_SHARE", "0.35"))


def examples(full: int) -> int:
    """`full` scaled by PROPERTY_SHARE (at least 5): the suite stays fast, `make properties` runs every example."""
    return max(5, round(full * SHARE))
