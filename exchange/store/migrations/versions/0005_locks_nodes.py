"""lock_fences (the fencing token of each job lock) and nodes (scheduler nodes' role and heartbeat),
for the advisory/file locks that replace job_locks (job_locks itself stays until it is dropped).

Revision ID: 0005_locks_nodes
Revises: 0004_console
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_locks_nodes"
down_revision = "0004_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lock_fences",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("host", sa.String(length=200), nullable=True),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "nodes",
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("role_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host", "pid"),
    )


def downgrade() -> None:
    op.drop_table("nodes")
    op.drop_table("lock_fences")
