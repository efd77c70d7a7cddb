"""Scheduler pauses per job and the log of each run (the console's live run log).

Revision ID: 0010_pauses_run_log
Revises: 0009_access
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_pauses_run_log'
down_revision = '0009_access'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_pauses',
    sa.Column('job', sa.String(length=20), nullable=False),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paused_by', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('job')
    )
    op.create_table('run_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('fields', sa.Text(), nullable=True),
    sa.Column('account', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('run_log', schema=None) as batch_op:
        batch_op.create_index('ix_run_log_run', ['run_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('run_log', schema=None) as batch_op:
        batch_op.drop_index('ix_run_log_run')
    op.drop_table('run_log')
    op.drop_table('job_pauses')
