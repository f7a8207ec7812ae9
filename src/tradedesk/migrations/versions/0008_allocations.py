"""Capital per agent: an optional allocation on each agent (None: the agent may use the whole account).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AGENT_TABLES = ("daytraders", "stock_investors")


def upgrade() -> None:
    for table in AGENT_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("allocation", sa.Numeric(18, 2), nullable=True))


def downgrade() -> None:
    for table in AGENT_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("allocation")
