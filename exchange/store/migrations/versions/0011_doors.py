"""The doors (issue 28): single sign-on accounts bound by issuer + subject, run-log lines scoped to a Caf or to
every perimeter, and the console's key that signs a visitor's cookie before login (no session row before login).

Revision ID: 0011_doors
Revises: 0014_purge
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011_doors'
# chained after 0014_purge (both were first written on 0010)
down_revision = '0014_purge'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('operators', schema=None) as batch_op:
        batch_op.add_column(sa.Column('oidc_issuer', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('oidc_subject', sa.String(length=255), nullable=True))
        batch_op.create_index('ix_operators_oidc', ['oidc_issuer', 'oidc_subject'], unique=True)
    with op.batch_alter_table('run_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('caf', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('general', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table('console_keys',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('console_keys')
    with op.batch_alter_table('run_log', schema=None) as batch_op:
        batch_op.drop_column('general')
        batch_op.drop_column('caf')
    with op.batch_alter_table('operators', schema=None) as batch_op:
        batch_op.drop_index('ix_operators_oidc')
        batch_op.drop_column('oidc_subject')
        batch_op.drop_column('oidc_issuer')
