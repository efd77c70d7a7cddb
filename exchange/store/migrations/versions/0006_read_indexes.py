"""Indexes for the operator's reads on a national ledger: a partner's conventions and a convention's
bulletins (campaign status asks, per partner, for one covering convention with a signed Esat bulletin),
and the accepted RG in force per Caf in index order (the campaign chart counts a million records without
sorting them). Indexes only: no row changes.

Revision ID: 0006_read_indexes
Revises: 0005_locks_nodes
"""
from __future__ import annotations

from alembic import op

revision = "0006_read_indexes"
down_revision = "0005_locks_nodes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_hab_conventions_siret", "hab_conventions", ["siret"], unique=False)
    op.create_index("ix_hab_bulletins_convention", "hab_bulletins", ["id_convention"], unique=False)
    op.create_index("ix_records_rg_caf", "records", ["kind", "annee_reference", "superseded", "code_caf"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_records_rg_caf", table_name="records")
    op.drop_index("ix_hab_bulletins_convention", table_name="hab_bulletins")
    op.drop_index("ix_hab_conventions_siret", table_name="hab_conventions")
