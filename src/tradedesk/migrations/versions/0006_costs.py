"""Trading costs: per-account commission and size impact settings, commissions paid, and each fill's commission.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

Existing accounts get zero costs (their fills and P&L are unchanged); existing orders have no commission.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 4).with_variant(sa.String(24), "sqlite")
ACCOUNT_COLUMNS = ("commission_per_share", "commission_min", "impact_bps", "commissions")


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        for name in ACCOUNT_COLUMNS:
            batch.add_column(sa.Column(name, MONEY, nullable=False, server_default="0"))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("commission", MONEY, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("commission")
    with op.batch_alter_table("accounts") as batch:
        for name in reversed(ACCOUNT_COLUMNS):
            batch.drop_column(name)
