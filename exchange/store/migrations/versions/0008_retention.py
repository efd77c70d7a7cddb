"""Retention (issue 21): when each kind of a file's data was purged (files), when an emission's output
files were removed (emissions), a purge in progress on either (purge_pending), and `purges`, the counts
each purge removed per kind and year (what `personne` and the DPO page report afterwards).

Revision ID: 0008_retention
Revises: 0007_drop_job_locks
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_retention"
down_revision = "0007_drop_job_locks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("copies_purged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("answers_purged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("identity_purged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("purge_pending", sa.Boolean(), nullable=True))
    with op.batch_alter_table("emissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("files_purged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("purge_pending", sa.Boolean(), nullable=True))
    op.create_table(
        "purges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("annee", sa.Integer(), nullable=True),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("anomalies", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("purges")
    with op.batch_alter_table("emissions", schema=None) as batch_op:
        batch_op.drop_column("purge_pending")
        batch_op.drop_column("files_purged_at")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("purge_pending")
        batch_op.drop_column("identity_purged_at")
        batch_op.drop_column("answers_purged_at")
        batch_op.drop_column("copies_purged_at")
