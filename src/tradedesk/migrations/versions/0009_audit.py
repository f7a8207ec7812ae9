"""The audit trail: each order's tool call, turn, message, approval, and the agent call that cancelled it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

Orders an agent placed before this revision keep their idempotency key (the tool call id) as their tool
call id; their turn, message and approval were not recorded (`tradedesk orders --explain` says so).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("tool_call_id", sa.String(length=200)),
    ("turn", sa.Integer()),
    ("message_seq", sa.Integer()),
    ("approval", sa.String(length=10)),
    ("approved_by", sa.String(length=320)),
    ("approved_at", sa.DateTime(timezone=True)),
    ("cancelled_by", sa.String(length=48)),
    ("cancel_call_id", sa.String(length=200)),
)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    op.execute("UPDATE orders SET tool_call_id = idempotency_key WHERE agent_kind IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
