"""API tokens per operator (hashed), the stop asked for a running job, the run log's level index.

Revision ID: 0013_api_tokens
Revises: 0014_purge (chained after issue 32's migration, already on main when this branch merged it)
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013_api_tokens'
# the chain: 0010 → 0014_purge → 0011_doors → 0013_api_tokens
down_revision = '0011_doors'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('login', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('hint', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('digest')
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_api_tokens_login', ['login'], unique=False)
    op.create_table('run_stops',
    sa.Column('run_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('asked_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('run_id')
    )
    with op.batch_alter_table('run_log', schema=None) as batch_op:
        batch_op.create_index('ix_run_log_level', ['run_id', 'level', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('run_log', schema=None) as batch_op:
        batch_op.drop_index('ix_run_log_level')
    op.drop_table('run_stops')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_api_tokens_login')
    op.drop_table('api_tokens')
