"""Run `esat-exchange purge` and SIGKILL it at a named step (purge crash-safety tests only).

Usage: python -m tests.purge_crash_runner STEP CONFIG AS_OF
Two files (or emissions) per batch, so that a step can fall between two batches.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from exchange.app import purge as app_purge
from exchange.cli.main import main
from exchange.edges.transport.local import LocalTransport
from exchange.store import purge as store_purge


def kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def at_call(target, attr: str, nth: int = 1, after: bool = False, when=lambda *a, **k: True) -> None:  # noqa: ANN001
    """Kill the process at the nth call of target.attr that `when` accepts (before it, or once it returned)."""
    original = getattr(target, attr)
    seen = [0]

    def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003
        hit = when(*args, **kwargs)
        if hit:
            seen[0] += 1
        if hit and seen[0] == nth and not after:
            kill()
        result = original(*args, **kwargs)
        if hit and seen[0] == nth and after:
            kill()
        return result

    setattr(target, attr, wrapped)


def _output(path, *a, **k) -> bool:  # noqa: ANN001, ANN002, ANN003
    return "outbound" in str(path)


def during_reclaim() -> None:
    """SQLite: SIGKILL from inside the running VACUUM (sqlite3's progress handler, called as it copies pages);
    PostgreSQL: once the tables are vacuumed, as their rewrite (VACUUM FULL) starts."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
        dbapi = conn.connection.dbapi_connection
        if statement.startswith("VACUUM") and hasattr(dbapi, "set_progress_handler"):
            dbapi.set_progress_handler(kill, 50)
        elif statement.startswith("VACUUM FULL"):
            kill()

    event.listen(Engine, "before_cursor_execute", before)


STEPS = {
    # copies and comptes rendus of the first batch marked (committed), nothing removed yet
    "after_file_marks": lambda: at_call(LocalTransport, "remove"),
    # one archive/ copy removed, the rest of the batch not
    "mid_file_removal": lambda: at_call(LocalTransport, "remove", after=True),
    # a whole batch removed, its marks not closed
    "before_files_closed": lambda: at_call(store_purge, "end_file_purge"),
    # the second batch of files marked, the first one done
    "second_file_batch": lambda: at_call(LocalTransport, "remove", nth=17),
    # one batch of identities erased (committed), the next not
    "mid_identity": lambda: at_call(store_purge, "identity_sizes", nth=2),
    # output files marked, none removed
    "after_output_marks": lambda: at_call(app_purge, "_remove_outputs"),
    # one output file removed
    "mid_output_removal": lambda: at_call(app_purge, "_unlink", after=True, when=_output),
    # the outputs of a batch removed, the marks not closed
    "before_outputs_closed": lambda: at_call(store_purge, "end_output_purge"),
    # everything removed, the journal and runs not purged yet
    "before_journal": lambda: at_call(store_purge, "audit_due"),
    # everything purged and committed, the database not compacted yet
    "before_reclaim": lambda: at_call(store_purge, "reclaim"),
    # everything purged and committed, the database being compacted (VACUUM) or its indexes rebuilt
    "during_reclaim": during_reclaim,
}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("step", choices=sorted(STEPS))
    p.add_argument("config")
    p.add_argument("as_of")
    args = p.parse_args()
    app_purge.BATCH = 2
    STEPS[args.step]()
    sys.exit(main(["--config", args.config, "purge", "--as-of", args.as_of]))
