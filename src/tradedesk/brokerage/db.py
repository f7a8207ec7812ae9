"""The platform's declarative base and database URL resolution."""

from __future__ import annotations

import os

from sqlalchemy.orm import DeclarativeBase

DEFAULT_URL = "sqlite:///tradedesk.db"


class Base(DeclarativeBase):
    """Every tradedesk table (users, agents, brokerage) lives on this metadata."""


def database_url(explicit: str | None = None) -> str:
    """`--db URL`, else TRADEDESK_DATABASE_URL, else tradedesk.db in the working directory."""
    return explicit or os.environ.get("TRADEDESK_DATABASE_URL") or DEFAULT_URL
