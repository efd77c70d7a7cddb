"""Drop `job_locks`: unused since 0005 (the advisory or file locks of exchange.store.fences replaced it).

Revision ID: 0007_drop_job_locks
Revises: 0006_read_indexes
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_drop_job_locks"
down_revision = "0006_read_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("job_locks")


def downgrade() -> None:
    op.create_table(
        "job_locks",
        sa.Column("job", sa.String(20), primary_key=True),
        sa.Column("holder", sa.String(200)),
        sa.Column("acquired_at", sa.DateTime(timezone=True)),
    )
