"""The application's errors: a failure the user can act on, its message the one line to show.

`status` is the HTTP status the web answers with; the CLI prints the message on stderr.
"""

from __future__ import annotations


class DeskError(Exception):
    """A failure the user can act on; the message is one line saying what to do."""

    status = 400


class NotFound(DeskError):
    status = 404


class Conflict(DeskError):
    status = 409


class Invalid(DeskError):
    status = 422
