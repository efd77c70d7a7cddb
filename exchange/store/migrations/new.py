"""Developer helper: `python -m exchange.store.migrations.new 0002_what "message"` writes the next migration.

Alembic's autogenerate compares a scratch SQLite database brought to the current head with
exchange/store/tables.py and writes versions/<rev>.py; read and edit it before committing (docs/migrations.md).
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from alembic import command

from exchange.store.engine import open_database
from exchange.store.revision import alembic_config, head_revision, upgrade

REVISION_ID = re.compile(r"^\d{4}_[a-z0-9_]+$")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m exchange.store.migrations.new", description=__doc__.splitlines()[0])
    p.add_argument("revision", help="NNNN_what: the next number and a short name (at most 32 characters)")
    p.add_argument("message", help="one line saying what changes and why")
    args = p.parse_args(argv)
    if not REVISION_ID.match(args.revision) or len(args.revision) > 32:
        p.error("revision id: NNNN_what, lower case, at most 32 characters")
    with tempfile.TemporaryDirectory() as scratch:
        engine = open_database(f"sqlite:///{Path(scratch) / 'head.db'}")
        upgrade(engine)
        with engine.begin() as conn:
            script = command.revision(
                alembic_config(conn),
                message=args.message,
                autogenerate=True,
                rev_id=args.revision,
                head=head_revision(),
            )
        engine.dispose()
    print(f"written: {getattr(script, 'path', script)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
