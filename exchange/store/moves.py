"""The one guarded move of a row's state (`UPDATE … WHERE id = :id AND state = :from`), loud when a row did not move."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, and_, select, update
from sqlalchemy.engine import Connection

from exchange.errors import TerminalError, TransientError


class JobAborted(TransientError):
    """The job must stop at once, writing nothing more (its lock is lost, or the ledger moved under it);
    never taken for a defect of one file."""


class LedgerConflict(JobAborted, TerminalError):
    """A state change found its row (a file, a run, an emission) in another state than expected: nothing
    was changed (a defect, or another writer moved it first)."""


CHUNK = 500  # ids per statement: bounded IN lists


def guarded_move(
    conn: Connection,
    table: Table,
    ids: Sequence[int],
    from_states: tuple[str, ...],
    to: str,
    *,
    state: str = "state",
    what: str,
    **values: object,
) -> None:
    """Move these rows of `table` from one of `from_states` to `to` (its `state` column), setting `values`, 500 ids
    a statement; LedgerConflict naming the rows found in another state unless every one moved (the caller's
    transaction then rolls back: nothing changed)."""
    column = table.c[state]
    for i in range(0, len(ids), CHUNK):
        part = list(ids[i : i + CHUNK])
        moved = conn.execute(
            update(table).where(and_(table.c.id.in_(part), column.in_(from_states))).values({state: to, **values})
        ).rowcount
        if moved != len(part):
            found = dict(conn.execute(select(table.c.id, column).where(table.c.id.in_(part))).all())
            stray = {row: found.get(row) for row in part if found.get(row) != to}
            expected = "/".join(from_states)
            if len(part) == 1:
                (row,) = part
                raise LedgerConflict(f"{what} {row}: expected state {expected} to move to {to}, found {found.get(row)}")
            raise LedgerConflict(f"{what}s {stray}: expected state {expected} to move to {to}")
