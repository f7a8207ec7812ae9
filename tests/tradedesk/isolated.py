"""A PostgreSQL URL of its own: a fresh schema of the session's database, picked by the URL alone.

Other test modules leave their tables in the shared database's `public` schema; the CLI and the
migrations take a URL (not an engine), so the schema travels in it as libpq's `options`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from sqlalchemy import text

from agentrecord import create_engine


@contextmanager
def schema_url(pg_url: str) -> Iterator[str]:
    """`pg_url` searching only a new, empty schema (dropped afterwards)."""
    schema = f"td_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{pg_url}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
