"""The application layer: one service module per area behind the `Desk` façade, errors, presenters and setup.

The CLI and the web come in here. Its names load on first use, so a CLI command importing the presenters pays
for nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradedesk.app.desk import Desk
    from tradedesk.app.errors import Conflict, DeskError, Invalid, NotFound

_HOMES = {"Desk": "desk", "Conflict": "errors", "DeskError": "errors", "Invalid": "errors", "NotFound": "errors"}

__all__ = ["Conflict", "Desk", "DeskError", "Invalid", "NotFound"]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
