"""Brackets and OCO: an order's class, a bracket child's parent entry, and the OCO group of its exits.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

Every existing order is a simple one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("order_class", sa.String(length=7), server_default="simple", nullable=False))
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("oco_group", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_orders_parent_id_orders", "orders", ["parent_id"], ["id"], ondelete="CASCADE")
        batch.create_index("ix_orders_parent_id", ["parent_id"])


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_parent_id")
        batch.drop_constraint("fk_orders_parent_id_orders", type_="foreignkey")
        batch.drop_column("oco_group")
        batch.drop_column("parent_id")
        batch.drop_column("order_class")
