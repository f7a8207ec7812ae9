"""Backtests: runs and their decisions, a user row that is a backtest's book, and an account flagged as one.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-20

`users.backtest_of` marks a user row that is no person but the owner of a backtest's book and twin (the id of the
user who ran it; no foreign key, so SQLite adds the column in place rather than copying `users`);
`accounts.backtest` keeps the live exchange's tick away from a book that trades on simulated time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 4).with_variant(sa.String(24), "sqlite")


def upgrade() -> None:
    op.add_column("users", sa.Column("backtest_of", sa.Integer(), nullable=True))
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("backtest", sa.Boolean(), nullable=False, server_default="0"))
    op.create_table(
        "backtest_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("book_user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("agent_kind", sa.String(32), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("twin_id", sa.Integer(), nullable=True),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=False),
        sa.Column("every", sa.String(8), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("symbols", sa.JSON(), nullable=False),
        sa.Column("benchmark", sa.String(16), nullable=True),
        sa.Column("cash", MONEY, nullable=False),
        sa.Column("approvals", sa.String(8), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("steps_total", sa.Integer(), nullable=False),
        sa.Column("steps_done", sa.Integer(), nullable=False),
        sa.Column("cost", MONEY, nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_backtest_runs_user_id", "backtest_runs", ["user_id"])
    op.create_table(
        "backtest_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("backtest_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("tool_calls", sa.JSON(), nullable=False),
        sa.Column("cash", MONEY, nullable=False),
        sa.Column("equity", MONEY, nullable=False),
        sa.Column("traded", MONEY, nullable=False),
        sa.Column("marks", sa.JSON(), nullable=False),
        sa.UniqueConstraint("run_id", "step", name="uq_backtest_decisions_run_step"),
    )


def downgrade() -> None:
    op.drop_table("backtest_decisions")
    op.drop_index("ix_backtest_runs_user_id", table_name="backtest_runs")
    op.drop_table("backtest_runs")
    op.execute("ALTER TABLE accounts DROP COLUMN backtest")
    # plain ALTERs: a batch copy of `users` on SQLite would cascade-delete the rows that reference it
    op.execute("ALTER TABLE users DROP COLUMN backtest_of")
