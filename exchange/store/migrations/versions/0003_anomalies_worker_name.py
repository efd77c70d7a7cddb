"""anomalies.nom, anomalies.prenoms: the worker named on each anomaly line of a compte rendu

Revision ID: 0003_anomalies_worker_name
Revises: 0002_files_claims
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_anomalies_worker_name'
down_revision = '0002_files_claims'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable: anomalies stored before this revision (and file-level ones) name no worker
    with op.batch_alter_table('anomalies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nom', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('prenoms', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('anomalies', schema=None) as batch_op:
        batch_op.drop_column('prenoms')
        batch_op.drop_column('nom')
