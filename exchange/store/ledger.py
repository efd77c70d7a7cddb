"""The intake ledger: one row per received file with an explicit state, moved only by the named verbs below.

File states, each committed before the side effect that follows it:
RECLAME (reserved: depot/<name> is being moved to archive/<claim name>, nothing read yet) → RECU (the
claimed file's local copy fsync'd and hashed, its archive name chosen) → ARCHIVE (the claim renamed to
that name) → TRAITE (records, anomalies and statut stored) → ACQUITTE (comptes rendus written to retour/);
QUARANTAINE when the project could not judge or answer a file (a defect): kept for a replay.

Every state change is a named verb, an `UPDATE … WHERE id = :id AND state = :from` that raises
LedgerConflict when no row moved: two writers can never both move one file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, insert, select, tuple_, update
from sqlalchemy.engine import Connection, Engine

from exchange.core.clock import as_utc as as_utc  # re-exported: the store's callers stamp with these
from exchange.core.clock import utcnow as utcnow
from exchange.core.vocabulary import (  # noqa: F401 - the states, re-exported for the cycle
    ACCEPTED_STATUTS,
    ACQUITTE,
    ARCHIVE,
    DOUBLON,
    EMISSION_OUVERTE,
    QUARANTAINE,
    RECLAME,
    RECU,
    REJETE,
    TRAITE,
    UNFINISHED_STATES,
)
from exchange.store.moves import JobAborted as JobAborted  # re-exported
from exchange.store.moves import LedgerConflict as LedgerConflict
from exchange.store.moves import guarded_move
from exchange.store.tables import anomalies, emissions, files, records

if TYPE_CHECKING:
    import polars as pl

# Called first in every state-changing transaction of a job: raises when the job's lock is no longer held
# (the holder was frozen and fenced off), so that a stale holder never writes.
Fence = Callable[[Connection], None]


@contextmanager
def transaction(engine: Engine, fence: Fence | None = None) -> Iterator[Connection]:
    """One state-changing transaction, fenced: `fence(conn)` runs inside it before anything else."""
    with engine.begin() as conn:
        if fence is not None:
            fence(conn)
        yield conn


# -- files ------------------------------------------------------------------------------------------


def claim_name(file_id: int) -> str:
    """The name under which reception `file_id` holds its file in archive/ until it is archived:
    a dotfile (never listed as an upload), unique per reception."""
    return f".reception-{file_id}.en-cours"


def find_by_shas(conn: Connection, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """find_by_sha for many (account, sha256) at once: every reception of each, oldest first."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    wanted = sorted(set(pairs))
    for i in range(0, len(wanted), 500):
        for r in conn.execute(
            select(files).where(tuple_(files.c.account, files.c.sha256).in_(wanted[i : i + 500])).order_by(files.c.id)
        ).mappings():
            found.setdefault((r["account"], r["sha256"]), []).append(dict(r))
    return found


def _move_all(conn: Connection, file_ids: list[int], from_states: tuple[str, ...], to: str, **values: Any) -> None:
    """_move for many files with the same values; loudly unless every one moved."""
    stamp = values.pop("state_changed_at", None) or utcnow()
    guarded_move(conn, files, file_ids, from_states, to, what="file", state_changed_at=stamp, **values)


def _move(conn: Connection, file_id: int, from_states: tuple[str, ...], to: str, **values: Any) -> None:
    """The one way a file changes state: only from the expected states, loudly otherwise."""
    guarded_move(conn, files, [file_id], from_states, to, what="file", state_changed_at=utcnow(), **values)


def reserve_all(
    conn: Connection, names: list[tuple[str, str]], *, processing_date: date, run_id: int | None
) -> list[int]:
    """A new reception in RECLAME for each (account, name), in one statement; their ids, in order."""
    if not names:
        return []
    now = utcnow()
    result = conn.execute(
        insert(files).returning(files.c.id, sort_by_parameter_order=True),
        [
            {
                "account": account,
                "name": name,
                "sha256": None,
                "size": 0,
                "stored_path": None,
                "state": RECLAME,
                "state_changed_at": now,
                "received_at": now,
                "processing_date": processing_date,
                "run_id": run_id,
                "replays": 0,
                "answers": 0,
            }
            for account, name in names
        ],
    )
    return [int(i) for i in result.scalars().all()]


def forget(conn: Connection, file_id: int) -> None:
    """A reservation whose file vanished before it was claimed: nothing was received, the row goes."""
    result = conn.execute(files.delete().where(and_(files.c.id == file_id, files.c.state == RECLAME)))
    if result.rowcount != 1:
        raise LedgerConflict(f"file {file_id}: only a RECLAME reservation can be forgotten")


def received_all(conn: Connection, receptions: list[tuple[int, dict[str, Any]]]) -> None:
    """RECLAME → RECU for many files, each with its values (sha256, size, stored_path, kind, siret,
    archived_name, duplicate_of), in one executemany; loudly unless every one moved."""
    _move_each(conn, receptions, RECLAME, RECU, received_at=True)


def _move_each(
    conn: Connection,
    moves: list[tuple[int, dict[str, Any]]],
    from_state: str,
    to: str,
    *,
    received_at: bool = False,
    processed_at: bool = False,
) -> None:
    """One state change per file with per-file values, as one executemany; then checked: every file is in
    `to` with this call's timestamp, else LedgerConflict."""
    if not moves:
        return
    now = utcnow()
    keys = sorted({k for _, v in moves for k in v})
    stamps: dict[str, Any] = {"state_changed_at": bindparam("_now")}
    if received_at:
        stamps["received_at"] = bindparam("_now")
    if processed_at:
        stamps["processed_at"] = bindparam("_now")
    stmt = (
        update(files)
        .where(and_(files.c.id == bindparam("_id"), files.c.state == from_state))
        .values(state=to, **stamps, **{k: bindparam(f"_{k}") for k in keys})
    )
    conn.execute(stmt, [{"_id": file_id, "_now": now, **{f"_{k}": v.get(k) for k in keys}} for file_id, v in moves])
    ids = [file_id for file_id, _ in moves]
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        found = dict(
            conn.execute(
                select(files.c.id, files.c.state_changed_at).where(and_(files.c.id.in_(part), files.c.state == to))
            ).all()
        )
        stray = [f for f in part if f not in found or as_utc(found[f]) != now]
        if stray:
            raise LedgerConflict(f"files {stray}: expected state {from_state} to move to {to}")


def archived(conn: Connection, file_ids: list[int]) -> None:
    """RECU → ARCHIVE: each claim was renamed to its archive name."""
    _move_all(conn, file_ids, (RECU,), ARCHIVE)


def judged_all(conn: Connection, judgements: list[tuple[int, dict[str, Any]]]) -> None:
    """ARCHIVE → TRAITE for many files, each with its own values (statut, code, counts…), in one executemany;
    loudly unless every one moved."""
    _move_each(conn, judgements, ARCHIVE, TRAITE, processed_at=True)


def acknowledged(conn: Connection, file_ids: list[int], at: datetime | None = None) -> None:
    """TRAITE → ACQUITTE: each file's comptes rendus are in retour/ (distinct names: a name answered twice
    is acknowledged in two calls, so that the second sees the first's pair as the one it replaces). `at`: the
    moment the comptes rendus name (a replay's « rejoué le »), stamped as the state's change so that the console
    rebuilds them byte for byte (exchange.app.answers)."""
    _move_all(conn, file_ids, (TRAITE,), ACQUITTE, answers=files.c.answers + 1, state_changed_at=at)


def quarantine(conn: Connection, file_id: int, error: str) -> None:
    """An unfinished file the project could not judge or answer: set aside, its stored records removed
    (nobody was answered about them, so they are never emitted), kept for a replay."""
    _drop_records(conn, file_id)
    _move(conn, file_id, UNFINISHED_STATES, QUARANTAINE, error=error[:2000])


def reset_for_replay(conn: Connection, row: dict[str, Any], run_id: int) -> None:
    """ACQUITTE/QUARANTAINE → ARCHIVE for a replay: judged again from the kept local copy."""
    emitted = (  # in an emission past OUVERTE: written, or being written, to the Caf
        select(records.c.id)
        .join(emissions, emissions.c.id == records.c.emission_id)
        .where(and_(records.c.file_id == row["id"], emissions.c.state != EMISSION_OUVERTE))
        .limit(1)
    )
    if conn.execute(emitted).first():
        raise LedgerConflict(f"file {row['id']}: its records were emitted, it cannot be replayed")
    _drop_records(conn, row["id"])
    conn.execute(anomalies.delete().where(anomalies.c.file_id == row["id"]))
    _move(
        conn,
        row["id"],
        (ACQUITTE, QUARANTAINE),
        ARCHIVE,
        statut=None,
        code=None,
        error=None,
        replays=(row["replays"] or 0) + 1,
        run_id=run_id,
    )


def _drop_records(conn: Connection, file_id: int) -> None:
    """Remove a file's stored records; those it had replaced are the latest again."""
    replaced = [
        r
        for (r,) in conn.execute(
            select(records.c.replaces_id).where(and_(records.c.file_id == file_id, records.c.replaces_id.is_not(None)))
        )
    ]
    if replaced:
        conn.execute(update(records).where(records.c.id.in_(replaced)).values(superseded=False))
    conn.execute(records.delete().where(records.c.file_id == file_id))


def get_file(conn: Connection, file_id: int) -> dict[str, Any] | None:
    """The raw ledger row of one received file (what replay_refusal judges), None when unknown."""
    row = conn.execute(select(files).where(files.c.id == file_id)).mappings().first()
    return dict(row) if row else None


def get_files(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    """These files' rows, in id order."""
    rows: list[dict[str, Any]] = []
    for i in range(0, len(ids), 5000):
        rows += [dict(r) for r in conn.execute(select(files).where(files.c.id.in_(ids[i : i + 5000]))).mappings()]
    return sorted((dict(r) for r in rows), key=lambda r: r["id"])


def unfinished_files(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(files).where(files.c.state.in_(UNFINISHED_STATES)).order_by(files.c.id)).mappings().all()
    return [dict(r) for r in rows]


def latest_answered_all(conn: Connection, names: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """latest_answered for many (account, name) at once: those that have one."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    wanted = sorted(set(names))
    for i in range(0, len(wanted), 500):
        rows = conn.execute(
            select(files.c.account, files.c.name, files.c.id, files.c.answers)
            .where(and_(tuple_(files.c.account, files.c.name).in_(wanted[i : i + 500]), files.c.answers > 0))
            .order_by(files.c.id)
        )
        for account, name, file_id, answers in rows:
            found[(account, name)] = {"id": file_id, "answers": answers}
    return found


def store_anomalies(conn: Connection, file_ids: list[int], frame: pl.DataFrame) -> None:
    """The anomalies of these files (a frame with `file_id`), replacing what they had (a replay's earlier ones)."""
    from exchange.store.bulk import (
        insert_frame,  # polars: only the cycle needs it, not every command reading the ledger
    )

    for i in range(0, len(file_ids), 500):
        conn.execute(anomalies.delete().where(anomalies.c.file_id.in_(file_ids[i : i + 500])))
    insert_frame(conn, anomalies, frame)


def anomalies_with_nir(conn: Connection, file_id: int) -> list[dict[str, Any]]:
    """A file's stored anomalies with their full NIR, to write its comptes rendus again (never shown)."""
    rows = (
        conn.execute(select(anomalies).where(anomalies.c.file_id == file_id).order_by(anomalies.c.id)).mappings().all()
    )
    return [dict(r) for r in rows]
