"""Stop, stop-limit and trailing-stop orders: the stop and trail columns, and a wider order_type.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

Existing orders keep their type and state (market and limit orders have no stop), so no row changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 4).with_variant(sa.String(24), "sqlite")
STOP_TYPES = "('stop', 'stop_limit', 'trailing_stop')"
MONEY_COLUMNS = ("stop_price", "trail_amount", "trail_percent", "water_mark")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("order_type", existing_type=sa.String(length=6), type_=sa.String(length=13))
        for name in MONEY_COLUMNS:
            batch.add_column(sa.Column(name, MONEY, nullable=True))
        batch.add_column(sa.Column("triggered_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    stops = op.get_bind().execute(sa.text(f"SELECT count(*) FROM orders WHERE order_type IN {STOP_TYPES}")).scalar()
    if stops:
        raise RuntimeError(
            f"cannot downgrade below 0005: {stops} stop orders exist, which the older schema cannot hold; "
            f"delete them first (DELETE FROM orders WHERE order_type IN {STOP_TYPES})"
        )
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("triggered_at")
        for name in reversed(MONEY_COLUMNS):
            batch.drop_column(name)
        batch.alter_column("order_type", existing_type=sa.String(length=13), type_=sa.String(length=6))
