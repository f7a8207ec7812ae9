"""Order states and partial fills: new / accepted / partially_filled instead of open, and each order's filled shares.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

Open orders become `accepted` if they were queued while the exchange was closed (their reason says so) and `new`
otherwise; filled orders get filled_quantity = quantity and filled_value = quantity * fill_price.
"""

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 4).with_variant(sa.String(24), "sqlite")
QUEUED = "the exchange is closed%"


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("status", existing_type=sa.String(length=9), type_=sa.String(length=16))
        batch.add_column(sa.Column("filled_quantity", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("filled_value", MONEY, nullable=False, server_default="0"))
    op.execute(f"UPDATE orders SET status = 'accepted' WHERE status = 'open' AND reason LIKE '{QUEUED}'")
    op.execute("UPDATE orders SET status = 'new' WHERE status = 'open'")
    bind = op.get_bind()
    filled = bind.execute(sa.text("SELECT id, quantity, fill_price FROM orders WHERE status = 'filled'")).all()
    for order_id, quantity, price in filled:  # exact Decimal arithmetic: SQLite keeps money as text
        exact = Decimal(str(price)) * quantity if price is not None else Decimal(0)
        value = str(exact) if bind.dialect.name == "sqlite" else exact
        bind.execute(
            sa.text("UPDATE orders SET filled_quantity = :q, filled_value = :v WHERE id = :id"),
            {"q": quantity, "v": value, "id": order_id},
        )


def downgrade() -> None:
    bind = op.get_bind()
    partial = bind.execute(sa.text("SELECT count(*) FROM orders WHERE status = 'partially_filled'")).scalar()
    if partial:
        raise RuntimeError(
            f"cannot downgrade below 0011: {partial} orders are partially filled, which the older schema cannot hold; "
            "cancel them first"
        )
    op.execute("UPDATE orders SET status = 'open' WHERE status IN ('new', 'accepted')")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("filled_value")
        batch.drop_column("filled_quantity")
        batch.alter_column("status", existing_type=sa.String(length=16), type_=sa.String(length=9))
