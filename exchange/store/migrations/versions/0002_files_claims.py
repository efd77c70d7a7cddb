"""files: claims (RECLAME: sha256 and stored_path null until received; F07 from the size: never copied),
size as BIGINT (a 3 GiB upload is recorded to be refused), error of a quarantine, answers (compte rendu
pairs written: the kept names of replaced pairs derive from it).

Revision ID: 0002_files_claims
Revises: 0001_baseline
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_files_claims"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("answers", sa.Integer(), nullable=False, server_default="0"))
        batch_op.alter_column("sha256", existing_type=sa.VARCHAR(length=64), nullable=True)
        batch_op.alter_column("size", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False)
        batch_op.alter_column("stored_path", existing_type=sa.TEXT(), nullable=True)
    # Pairs a file wrote before this revision: one when first answered, one more per replay (each replay
    # kept the earlier pair as `<name>.<id>.CR.*` and answered again), the last only once ACQUITTE. So the
    # next pair to keep takes a new name (`<name>.<id>-rejeuN`) instead of meeting `<name>.<id>.CR.*`.
    op.execute("UPDATE files SET answers = replays + CASE WHEN state = 'ACQUITTE' THEN 1 ELSE 0 END")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.alter_column("answers", existing_type=sa.Integer(), existing_nullable=False, server_default=None)


def downgrade() -> None:
    bind = op.get_bind()
    unread = bind.execute(sa.text("SELECT count(*) FROM files WHERE sha256 IS NULL OR stored_path IS NULL")).scalar()
    if unread:
        raise RuntimeError(f"{unread} reception(s) without a local copy (RECLAME, or F07 from the size): "
                           "they cannot be stored in revision 0001_baseline")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.alter_column("stored_path", existing_type=sa.TEXT(), nullable=False)
        batch_op.alter_column("size", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False)
        batch_op.alter_column("sha256", existing_type=sa.VARCHAR(length=64), nullable=False)
        batch_op.drop_column("answers")
        batch_op.drop_column("error")
