"""The usage ledger: a `<agent table>_usage` table per agent table, one row per provider request.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Agents' counters start being the sum of their ledger from this revision on: requests made before it have no rows,
so an agent's counters may exceed its ledger by what it spent earlier.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AGENT_TABLES = ("daytraders", "stock_investors")
EXACT_DECIMAL = sa.Numeric(24, 12).with_variant(sa.String(48), "sqlite")
"""agentrecord's `ExactDecimal`: NUMERIC(24, 12), text on SQLite (whose NUMERIC is a float)."""


def _usage_table(agent_table: str) -> None:
    name = f"{agent_table}_usage"
    op.create_table(
        name,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_read_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_write_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", EXACT_DECIMAL, nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], [f"{agent_table}.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(f"ix_{name}_agent_created", name, ["agent_id", "created_at"])


def upgrade() -> None:
    for table in AGENT_TABLES:
        _usage_table(table)


def downgrade() -> None:
    for table in AGENT_TABLES:
        op.drop_index(f"ix_{table}_usage_agent_created", table_name=f"{table}_usage")
        op.drop_table(f"{table}_usage")
