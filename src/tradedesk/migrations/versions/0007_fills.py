"""Fills: one row per execution of an order (its shares, price and commission).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

Every order filled before this revision gets one fill, at its fill price and time, for all its shares.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 4).with_variant(sa.String(24), "sqlite")


def upgrade() -> None:
    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("commission", MONEY, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_fills_order_id", "fills", ["order_id"])
    op.create_index("ix_fills_user_at", "fills", ["user_id", "at"])
    op.execute(
        "INSERT INTO fills (order_id, user_id, symbol, side, quantity, price, commission, at) "
        "SELECT id, user_id, symbol, side, quantity, fill_price, COALESCE(commission, '0'), filled_at "
        "FROM orders WHERE status = 'filled' AND fill_price IS NOT NULL AND filled_at IS NOT NULL ORDER BY id"
    )


def downgrade() -> None:
    op.drop_index("ix_fills_user_at", table_name="fills")
    op.drop_index("ix_fills_order_id", table_name="fills")
    op.drop_table("fills")
