"""Records are put in their Caf emission as they are stored (issue 33): an emission is OUVERTE, under a provisional
name (one per flux and Caf: the name's uniqueness keeps it so), until the run's end names it (EN_COURS) and writes
it. The CA key index, which the RG key index's prefix (siret_esat, nir) already serves, is dropped, so that storing
a record maintains one index fewer; the emission index becomes (emission_id, file_id, ligne): an emission's records
in the order its files list them, read from the index alone when the run asks which records an emission holds.

Records stored before this revision and not yet emitted (emission_id null) are put in an emission by the next
run's emission step, as before (exchange.store.emissions.open_deltas).

Revision ID: 0015_open_emissions
Revises: 0013_api_tokens
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_open_emissions"
down_revision = "0013_api_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_records_ca_key", table_name="records")
    op.drop_index("ix_records_pending", table_name="records")
    op.create_index("ix_records_pending", "records", ["emission_id", "file_id", "ligne"])


def downgrade() -> None:
    # an older program knows no OUVERTE emission: its records go back to waiting for the next emission
    emissions = sa.table("emissions", sa.column("id", sa.Integer), sa.column("state", sa.String))
    records = sa.table("records", sa.column("emission_id", sa.Integer), sa.column("nature", sa.String))
    opened = sa.select(emissions.c.id).where(emissions.c.state == "OUVERTE")
    op.execute(records.update().where(records.c.emission_id.in_(opened)).values(emission_id=None, nature=None))
    op.execute(emissions.delete().where(emissions.c.state == "OUVERTE"))
    op.create_index("ix_records_ca_key", "records", ["siret_esat", "nir", "type_changement", "date_effet"])
    op.drop_index("ix_records_pending", table_name="records")
    op.create_index("ix_records_pending", "records", ["emission_id", "kind", "code_caf"])
