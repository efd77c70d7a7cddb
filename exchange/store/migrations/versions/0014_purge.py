"""Purge (issue 32): ledger paths relative to the configured roots, the physical erasure of a purged identity
confirmed (files.identity_erased_at), the files on disk the ledger does not know (unknown_files), and the
counts that replace a file's records and record-level anomalies once its identity period is over
(record_tallies, anomaly_tallies).

Rows a former purge only stripped of the identity (nir = '') are left to the next purge, which sees them as
not yet erased (identity_erased_at null) and turns them into counts (exchange.store.purge.anonymise).

`files.stored_path` was absolute (`<storage dir>/<account>/<sha256><ext>`). A migration cannot read the
configuration, and needs not: the layout below the storage root is fixed by the code, so the relative path
`<account>/<file>` follows from the row itself (its account and the path's last two parts). A path of any
other shape is left as it was: the program touches an absolute path only when it lies inside today's
storage folder (exchange.core.ledger_paths), so nothing outside the roots is ever reached.

Revision ID: 0014_purge
Revises: 0010_pauses_run_log
"""

from __future__ import annotations

import posixpath

import sqlalchemy as sa
from alembic import op

revision = "0014_purge"
down_revision = "0010_pauses_run_log"
branch_labels = None
depends_on = None


def _relative(account: str, path: str) -> str | None:
    """`<account>/<file>` for an absolute path `…/<account>/<file>`; None for any other shape."""
    parts = posixpath.normpath(path).split("/")
    if len(parts) >= 3 and parts[-2] == account and parts[-1] not in ("", ".", ".."):
        return f"{account}/{parts[-1]}"
    return None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identity_erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "unknown_files",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind"),
    )
    op.create_table(
        "record_tallies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("siret_esat", sa.String(length=14), nullable=False),
        sa.Column("kind", sa.String(length=2), nullable=False),
        sa.Column("code_caf", sa.String(length=3), nullable=False),
        sa.Column("annee_reference", sa.Integer(), nullable=True),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("record_tallies", schema=None) as batch_op:
        batch_op.create_index("ix_record_tallies_file", ["file_id"], unique=False)
        batch_op.create_index("ix_record_tallies_year", ["kind", "annee_reference", "siret_esat"], unique=False)
    op.create_table(
        "anomaly_tallies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("gravite", sa.String(length=15), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("anomaly_tallies", schema=None) as batch_op:
        batch_op.create_index("ix_anomaly_tallies_file", ["file_id"], unique=False)
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, account, stored_path FROM files WHERE stored_path LIKE '/%'")).all()
    changes = [{"id": i, "p": rel} for i, account, path in rows if (rel := _relative(account, path)) is not None]
    if changes:
        bind.execute(sa.text("UPDATE files SET stored_path = :p WHERE id = :id"), changes)


def downgrade() -> None:
    # relative paths stay relative: an older program reads them against its working folder (docs/migrations.md)
    op.drop_table("anomaly_tallies")
    op.drop_table("record_tallies")
    op.drop_table("unknown_files")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("identity_erased_at")
