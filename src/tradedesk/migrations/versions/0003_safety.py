"""Reliability and safety: the kill switch, a maximum daily loss per agent, daily spend budgets and their ledger.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AGENT_TABLES = ("daytraders", "stock_investors")


def _budget_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("daily_usd", sa.Numeric(18, 6), nullable=True),
        sa.Column("daily_tokens", sa.BigInteger(), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("halted", sa.Boolean(), nullable=False, server_default=sa.false()))
        for column in _budget_columns():
            batch.add_column(column)
    for table in AGENT_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("max_daily_loss", sa.Numeric(18, 2), nullable=True))
            for column in _budget_columns():
                batch.add_column(column)
    op.create_table(
        "agentrecord_spend",
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("usd_micros", sa.BigInteger(), nullable=False),
        sa.Column("reserved_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reserved_micros", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "day"),
    )


def downgrade() -> None:
    op.drop_table("agentrecord_spend")
    for table in AGENT_TABLES:
        with op.batch_alter_table(table) as batch:
            for column in ("daily_tokens", "daily_usd", "max_daily_loss"):
                batch.drop_column(column)
    with op.batch_alter_table("users") as batch:
        for column in ("daily_tokens", "daily_usd", "halted"):
            batch.drop_column(column)
