"""Baseline: every table of the schema on the day Alembic came in (exchange/store/migrations/baseline_schema.py).

Revision ID: 0001_baseline
Revises: (none)
"""
from __future__ import annotations

from alembic import op

from exchange.store.migrations.baseline_schema import baseline_metadata

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    baseline_metadata().create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    baseline_metadata().drop_all(op.get_bind(), checkfirst=False)
