"""The intake ledger: one row per received file with an explicit state, and one row per job run.

File states, each committed before the side effect that follows it:
RECLAME (reserved: depot/<name> is being moved to archive/<claim name>, nothing read yet) → RECU (the
claimed file's local copy fsync'd and hashed, its archive name chosen) → ARCHIVE (the claim renamed to
that name) → TRAITE (records, anomalies and statut stored) → ACQUITTE (comptes rendus written to retour/);
QUARANTAINE when the project could not judge or answer a file (a defect): kept for a replay.

Every state change is a named verb, an `UPDATE … WHERE id = :id AND state = :from` that raises
LedgerConflict when no row moved: two writers can never both move one file.
"""
from __future__ import annotations

import json
import os
import socket
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Callable, Iterator

from sqlalchemy import and_, bindparam, insert, select, tuple_, update
from sqlalchemy.engine import Connection, Engine

from exchange.store.tables import anomalies, files, records, runs

RECLAME, RECU, ARCHIVE, TRAITE, ACQUITTE = "RECLAME", "RECU", "ARCHIVE", "TRAITE", "ACQUITTE"
QUARANTAINE = "QUARANTAINE"
UNFINISHED_STATES = (RECLAME, RECU, ARCHIVE, TRAITE)
ACCEPTED_STATUTS = ("ACCEPTE", "PARTIEL")  # a reception with at least one record accepted


class JobAborted(RuntimeError):
    """The job must stop at once, writing nothing more (its lock is lost, or the ledger moved under it);
    never taken for a defect of one file."""


class LedgerConflict(JobAborted):
    """A state change found the file in another state than expected: nothing was changed (a defect,
    or another writer moved it first)."""
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


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """Datetimes read back from SQLite are naive; every stored datetime is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# -- files ------------------------------------------------------------------------------------------

def claim_name(file_id: int) -> str:
    """The name under which reception `file_id` holds its file in archive/ until it is archived:
    a dotfile (never listed as an upload), unique per reception."""
    return f".reception-{file_id}.en-cours"


def find_by_shas(conn: Connection, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], list[dict]]:
    """find_by_sha for many (account, sha256) at once: every reception of each, oldest first."""
    found: dict[tuple[str, str], list[dict]] = {}
    wanted = sorted(set(pairs))
    for i in range(0, len(wanted), 500):
        for r in conn.execute(select(files).where(tuple_(files.c.account, files.c.sha256).in_(wanted[i:i + 500]))
                              .order_by(files.c.id)).mappings():
            found.setdefault((r["account"], r["sha256"]), []).append(dict(r))
    return found


def find_by_sha(conn: Connection, account: str, sha256: str, other_than: int | None = None) -> list[dict]:
    """Every other reception of this content from this account, oldest first."""
    q = select(files).where(and_(files.c.account == account, files.c.sha256 == sha256))
    if other_than is not None:
        q = q.where(files.c.id != other_than)
    return [dict(r) for r in conn.execute(q.order_by(files.c.id)).mappings().all()]


def duplicate_target(earlier: list[dict]) -> dict | None:
    """The reception a new copy of this content duplicates (rules.md F04, v1.1): the first one that had a
    record accepted, else one still being processed (in this run); None when every earlier reception was
    rejected whole or set aside: then the content is judged again."""
    accepted = [e for e in earlier if e["statut"] in ACCEPTED_STATUTS and e["duplicate_of"] is None]
    if accepted:
        return accepted[0]
    busy = [e for e in earlier if e["state"] in UNFINISHED_STATES and e["state"] != RECLAME]
    return busy[0] if busy else None


def _move_all(conn: Connection, file_ids: list[int], from_states: tuple[str, ...], to: str, **values: object) -> None:
    """_move for many files with the same values, one statement per 500; loudly unless every one moved."""
    now = utcnow()
    for i in range(0, len(file_ids), 500):
        part = file_ids[i:i + 500]
        result = conn.execute(update(files).where(and_(files.c.id.in_(part), files.c.state.in_(from_states)))
                              .values(state=to, state_changed_at=now, **values))
        if result.rowcount != len(part):
            found = dict(conn.execute(select(files.c.id, files.c.state).where(files.c.id.in_(part))).all())
            stray = {f: found.get(f) for f in part if found.get(f) not in from_states}
            raise LedgerConflict(f"files {stray}: expected state {'/'.join(from_states)} to move to {to}")


def _move(conn: Connection, file_id: int, from_states: tuple[str, ...], to: str, **values: object) -> None:
    """The one way a file changes state: only from the expected states, loudly otherwise."""
    result = conn.execute(update(files).where(and_(files.c.id == file_id, files.c.state.in_(from_states)))
                          .values(state=to, state_changed_at=utcnow(), **values))
    if result.rowcount != 1:
        found = conn.execute(select(files.c.state).where(files.c.id == file_id)).scalar()
        raise LedgerConflict(f"file {file_id}: expected state {'/'.join(from_states)} to move to {to}, found {found}")


def reserve_all(conn: Connection, names: list[tuple[str, str]], *, processing_date: date,
                run_id: int | None) -> list[int]:
    """A new reception in RECLAME for each (account, name), in one statement; their ids, in order."""
    if not names:
        return []
    now = utcnow()
    result = conn.execute(insert(files).returning(files.c.id, sort_by_parameter_order=True), [
        dict(account=account, name=name, sha256=None, size=0, stored_path=None, state=RECLAME, state_changed_at=now,
             received_at=now, processing_date=processing_date, run_id=run_id, replays=0, answers=0)
        for account, name in names])
    return [int(i) for i in result.scalars().all()]


def reserve(conn: Connection, *, account: str, name: str, processing_date: date, run_id: int | None) -> int:
    """A new reception in RECLAME, before its file is claimed; returns its id."""
    now = utcnow()
    result = conn.execute(insert(files).values(
        account=account, name=name, sha256=None, size=0, stored_path=None, state=RECLAME, state_changed_at=now,
        received_at=now, processing_date=processing_date, run_id=run_id, replays=0, answers=0,
    ))
    return int(result.inserted_primary_key[0])


def forget(conn: Connection, file_id: int) -> None:
    """A reservation whose file vanished before it was claimed: nothing was received, the row goes."""
    result = conn.execute(files.delete().where(and_(files.c.id == file_id, files.c.state == RECLAME)))
    if result.rowcount != 1:
        raise LedgerConflict(f"file {file_id}: only a RECLAME reservation can be forgotten")


def received_all(conn: Connection, receptions: list[tuple[int, dict]]) -> None:
    """RECLAME → RECU for many files, each with its values (sha256, size, stored_path, kind, siret,
    archived_name, duplicate_of), in one executemany; loudly unless every one moved."""
    _move_each(conn, receptions, RECLAME, RECU, received_at=True)


def _move_each(conn: Connection, moves: list[tuple[int, dict]], from_state: str, to: str, *,
               received_at: bool = False, processed_at: bool = False) -> None:
    """One state change per file with per-file values, as one executemany; then checked: every file is in
    `to` with this call's timestamp, else LedgerConflict."""
    if not moves:
        return
    now = utcnow()
    keys = sorted({k for _, v in moves for k in v})
    stamps = {"state_changed_at": bindparam("_now")}
    if received_at:
        stamps["received_at"] = bindparam("_now")
    if processed_at:
        stamps["processed_at"] = bindparam("_now")
    stmt = (update(files).where(and_(files.c.id == bindparam("_id"), files.c.state == from_state))
            .values(state=to, **stamps, **{k: bindparam(f"_{k}") for k in keys}))
    conn.execute(stmt, [{"_id": file_id, "_now": now, **{f"_{k}": v.get(k) for k in keys}} for file_id, v in moves])
    ids = [file_id for file_id, _ in moves]
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        found = dict(conn.execute(select(files.c.id, files.c.state_changed_at).where(and_(
            files.c.id.in_(part), files.c.state == to))).all())
        stray = [f for f in part if f not in found or as_utc(found[f]) != now]
        if stray:
            raise LedgerConflict(f"files {stray}: expected state {from_state} to move to {to}")


def received(conn: Connection, file_id: int, *, sha256: str | None, size: int, stored_path: str | None,
             kind: str | None, siret: str | None, archived_name: str, duplicate_of: int | None) -> None:
    """RECLAME → RECU: the claimed file is on local disk (or refused unread for its size: sha256 None)."""
    _move(conn, file_id, (RECLAME,), RECU, sha256=sha256, size=size, stored_path=stored_path, kind=kind,
          siret=siret, archived_name=archived_name, duplicate_of=duplicate_of, received_at=utcnow())


def archived(conn: Connection, file_ids: list[int]) -> None:
    """RECU → ARCHIVE: each claim was renamed to its archive name."""
    _move_all(conn, file_ids, (RECU,), ARCHIVE)


def judged_all(conn: Connection, judgements: list[tuple[int, dict]]) -> None:
    """ARCHIVE → TRAITE for many files, each with its own values (statut, code, counts…), in one executemany;
    loudly unless every one moved."""
    _move_each(conn, judgements, ARCHIVE, TRAITE, processed_at=True)


def judged(conn: Connection, file_id: int, **values: object) -> None:
    """ARCHIVE → TRAITE: records, anomalies and statut are stored (same transaction)."""
    _move(conn, file_id, (ARCHIVE,), TRAITE, processed_at=utcnow(), **values)


def acknowledged(conn: Connection, file_ids: list[int]) -> None:
    """TRAITE → ACQUITTE: each file's comptes rendus are in retour/ (distinct names: a name answered twice
    is acknowledged in two calls, so that the second sees the first's pair as the one it replaces)."""
    _move_all(conn, file_ids, (TRAITE,), ACQUITTE, answers=files.c.answers + 1)


def quarantine(conn: Connection, file_id: int, error: str) -> None:
    """An unfinished file the project could not judge or answer: set aside, its stored records removed
    (nobody was answered about them, so they are never emitted), kept for a replay."""
    _drop_records(conn, file_id)
    _move(conn, file_id, UNFINISHED_STATES, QUARANTAINE, error=error[:2000])


def reset_for_replay(conn: Connection, row: dict, run_id: int) -> None:
    """ACQUITTE/QUARANTAINE → ARCHIVE for a replay: judged again from the kept local copy."""
    if conn.execute(select(records.c.id).where(and_(records.c.file_id == row["id"],
                                                    records.c.emission_id.is_not(None))).limit(1)).first():
        raise LedgerConflict(f"file {row['id']}: its records were emitted, it cannot be replayed")
    _drop_records(conn, row["id"])
    conn.execute(anomalies.delete().where(anomalies.c.file_id == row["id"]))
    _move(conn, row["id"], (ACQUITTE, QUARANTAINE), ARCHIVE, statut=None, code=None, error=None,
          replays=(row["replays"] or 0) + 1, run_id=run_id)


def _drop_records(conn: Connection, file_id: int) -> None:
    """Remove a file's stored records; those it had replaced are the latest again."""
    replaced = [r for (r,) in conn.execute(select(records.c.replaces_id).where(
        and_(records.c.file_id == file_id, records.c.replaces_id.is_not(None))))]
    if replaced:
        conn.execute(update(records).where(records.c.id.in_(replaced)).values(superseded=False))
    conn.execute(records.delete().where(records.c.file_id == file_id))


def get_file(conn: Connection, file_id: int) -> dict | None:
    row = conn.execute(select(files).where(files.c.id == file_id)).mappings().first()
    return dict(row) if row else None


def get_files(conn: Connection, ids: list[int]) -> list[dict]:
    """These files' rows, in id order."""
    rows = []
    for i in range(0, len(ids), 5000):
        rows += conn.execute(select(files).where(files.c.id.in_(ids[i:i + 5000]))).mappings().all()
    return sorted((dict(r) for r in rows), key=lambda r: r["id"])


def unfinished_files(conn: Connection) -> list[dict]:
    rows = conn.execute(select(files).where(files.c.state.in_(UNFINISHED_STATES)).order_by(files.c.id)).mappings().all()
    return [dict(r) for r in rows]


def latest_answered_all(conn: Connection, names: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """latest_answered for many (account, name) at once: those that have one."""
    found: dict[tuple[str, str], dict] = {}
    wanted = sorted(set(names))
    for i in range(0, len(wanted), 500):
        rows = conn.execute(select(files.c.account, files.c.name, files.c.id, files.c.answers).where(and_(
            tuple_(files.c.account, files.c.name).in_(wanted[i:i + 500]), files.c.answers > 0)).order_by(files.c.id))
        for account, name, file_id, answers in rows:
            found[(account, name)] = {"id": file_id, "answers": answers}
    return found


def latest_answered(conn: Connection, account: str, name: str) -> dict | None:
    """The reception of this name whose comptes rendus are `<name>.CR.*` now: the latest that wrote a pair
    (id, answers = how many pairs it wrote)."""
    row = conn.execute(
        select(files.c.id, files.c.answers).where(and_(
            files.c.account == account, files.c.name == name, files.c.answers > 0,
        )).order_by(files.c.id.desc()).limit(1)
    ).mappings().first()
    return dict(row) if row else None


def store_anomalies(conn: Connection, file_ids: list[int], frame) -> None:  # noqa: ANN001 - polars frame
    """The anomalies of these files (a frame with `file_id`), replacing what they had (a replay's earlier ones)."""
    from exchange.store.bulk import insert_frame  # polars: only the cycle needs it, not every command reading the ledger

    for i in range(0, len(file_ids), 500):
        conn.execute(anomalies.delete().where(anomalies.c.file_id.in_(file_ids[i:i + 500])))
    insert_frame(conn, anomalies, frame)


def file_anomalies(conn: Connection, file_id: int) -> list[dict]:
    rows = conn.execute(
        select(anomalies).where(anomalies.c.file_id == file_id).order_by(anomalies.c.id)
    ).mappings().all()
    return [dict(r) for r in rows]


# -- runs -------------------------------------------------------------------------------------------

@dataclass
class RunTally:
    """What a run did, accumulated file by file."""

    files_seen: int = 0
    by_statut: Counter = field(default_factory=Counter)
    records_in: int = 0
    records_accepted: int = 0
    records_rejected: int = 0
    anomaly_counts: Counter = field(default_factory=Counter)
    outputs: list[str] = field(default_factory=list)
    refused_names: list[str] = field(default_factory=list)
    waiting: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, statut: str, records_in: int, accepted: int, rejected: int, codes: list[str]) -> None:
        self.files_seen += 1
        self.by_statut[statut] += 1
        self.records_in += records_in
        self.records_accepted += accepted
        self.records_rejected += rejected
        self.anomaly_counts.update(codes)


def start_run(engine: Engine, job: str, as_of: date | None, fence: Fence | None = None) -> int:
    with transaction(engine, fence) as conn:
        result = conn.execute(insert(runs).values(
            job=job, started_at=utcnow(), status="EN_COURS", as_of=as_of, host=socket.gethostname(),
            pid=os.getpid(), files_seen=0, files_accepted=0, files_partial=0, files_rejected=0,
            files_duplicate=0, records_in=0, records_accepted=0, records_rejected=0,
        ))
        return int(result.inserted_primary_key[0])


def finish_run(engine: Engine, run_id: int, status: str, tally: RunTally, error: str | None = None,
               fence: Fence | None = None) -> None:
    with transaction(engine, fence) as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            ended_at=utcnow(), status=status, files_seen=tally.files_seen,
            files_accepted=tally.by_statut["ACCEPTE"], files_partial=tally.by_statut["PARTIEL"],
            files_rejected=tally.by_statut["REJETE"], files_duplicate=tally.by_statut["DOUBLON"],
            records_in=tally.records_in, records_accepted=tally.records_accepted,
            records_rejected=tally.records_rejected,
            anomaly_counts=json.dumps(dict(sorted(tally.anomaly_counts.items()))),
            outputs=json.dumps(tally.outputs), error=error,
        ))


def close_interrupted_runs(engine: Engine, jobs: tuple[str, ...], fence: Fence | None = None) -> list[int]:
    """Runs of these jobs still EN_COURS belong to a process that died (the caller holds their lock): ECHEC."""
    with transaction(engine, fence) as conn:
        ids = [r for (r,) in conn.execute(select(runs.c.id).where(and_(runs.c.status == "EN_COURS",
                                                                       runs.c.job.in_(jobs))))]
        if ids:
            conn.execute(update(runs).where(runs.c.id.in_(ids)).values(
                status="ECHEC", ended_at=utcnow(),
                error="exécution interrompue (processus arrêté avant la fin) : reprise par l'exécution suivante"))
    return ids


def record_skipped_run(engine: Engine, job: str, reason: str, fence: Fence | None = None) -> int:
    """A run that did not happen because another process held the job (status IGNORE)."""
    now = utcnow()
    with transaction(engine, fence) as conn:
        result = conn.execute(insert(runs).values(
            job=job, started_at=now, ended_at=now, status="IGNORE", error=reason, host=socket.gethostname(),
            pid=os.getpid(), files_seen=0, files_accepted=0, files_partial=0, files_rejected=0,
            files_duplicate=0, records_in=0, records_accepted=0, records_rejected=0,
        ))
        return int(result.inserted_primary_key[0])


REPLAYABLE_CODES = frozenset({"H01", "H02", "H03", "H04", "H05", "H06", "H07", "F06"})


def replay_refusal(row: dict) -> str | None:
    """Why this received file may not be replayed (French, for the CLI and the console), or None when it may.

    habilitations.md: replay is only for a file rejected whole for an `H` code or `F06` (once the Caf
    fixed the habilitation), or set aside in QUARANTAINE (once the defect is fixed).
    """
    if row["state"] == "QUARANTAINE":
        return None
    if row.get("copies_purged_at") is not None:  # retention ([retention] copies): nothing left to read
        return (f"la copie du fichier n° {row['id']} a été supprimée à l'échéance de sa durée de conservation : "
                "il ne peut plus être rejoué")
    if row["state"] != ACQUITTE:
        return f"le fichier n° {row['id']} est en cours de traitement (état {row['state']}) : attendez la fin du cycle"
    if row["statut"] == "REJETE" and row["code"] in REPLAYABLE_CODES:
        return None
    if row["statut"] == "DOUBLON":
        return (f"le fichier n° {row['id']} est un doublon du fichier n° {row['duplicate_of']} : "
                "il n'y a rien à rejouer")
    return (f"le fichier n° {row['id']} ({row['statut'] or 'sans statut'}"
            f"{' ' + row['code'] if row['code'] else ''}) ne peut pas être rejoué : seul un fichier rejeté en "
            "entier pour une habilitation (codes H01 à H07) ou pour F06, ou mis en quarantaine, peut l'être ; "
            "pour corriger des enregistrements, l'Esat envoie un nouveau fichier")
