"""The intake ledger: one row per received file with an explicit state, and one row per job run.

File states, each committed before the side effect that follows it:
RECU (local copy fsync'd and hashed) → ARCHIVE (source moved to archive/) → TRAITE (records,
anomalies and statut stored) → ACQUITTE (comptes rendus written to retour/).
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

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from exchange.db import anomalies, files, runs

RECU, ARCHIVE, TRAITE, ACQUITTE = "RECU", "ARCHIVE", "TRAITE", "ACQUITTE"
UNFINISHED_STATES = (RECU, ARCHIVE, TRAITE)
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

def find_by_sha(conn: Connection, account: str, sha256: str) -> list[dict]:
    """Every earlier reception of this content from this account, oldest first."""
    rows = conn.execute(
        select(files).where(and_(files.c.account == account, files.c.sha256 == sha256)).order_by(files.c.id)
    ).mappings().all()
    return [dict(r) for r in rows]


def create_file(conn: Connection, *, account: str, name: str, sha256: str, size: int, stored_path: str,
                kind: str | None, siret: str | None, processing_date: date, run_id: int | None,
                duplicate_of: int | None = None) -> int:
    now = utcnow()
    result = conn.execute(insert(files).values(
        account=account, name=name, sha256=sha256, size=size, stored_path=stored_path, kind=kind,
        siret=siret, state=RECU, state_changed_at=now, received_at=now, processing_date=processing_date,
        run_id=run_id, replays=0, duplicate_of=duplicate_of,
    ))
    return int(result.inserted_primary_key[0])


def set_state(conn: Connection, file_id: int, state: str, **values: object) -> None:
    conn.execute(update(files).where(files.c.id == file_id).values(state=state, state_changed_at=utcnow(), **values))


def get_file(conn: Connection, file_id: int) -> dict | None:
    row = conn.execute(select(files).where(files.c.id == file_id)).mappings().first()
    return dict(row) if row else None


def unfinished_files(conn: Connection) -> list[dict]:
    rows = conn.execute(select(files).where(files.c.state.in_(UNFINISHED_STATES)).order_by(files.c.id)).mappings().all()
    return [dict(r) for r in rows]


def previous_acknowledged(conn: Connection, account: str, name: str, before_id: int) -> int | None:
    """The latest earlier reception of the same name whose comptes rendus were written."""
    return conn.execute(
        select(func.max(files.c.id)).where(and_(
            files.c.account == account, files.c.name == name, files.c.id < before_id,
            files.c.state == ACQUITTE,
        ))
    ).scalar()


def later_reception(conn: Connection, account: str, name: str, after_id: int) -> int | None:
    """A later reception of the same name, if any."""
    return conn.execute(
        select(func.min(files.c.id)).where(and_(
            files.c.account == account, files.c.name == name, files.c.id > after_id,
        ))
    ).scalar()


def store_anomalies(conn: Connection, file_id: int, frame) -> None:  # noqa: ANN001 - polars frame
    conn.execute(anomalies.delete().where(anomalies.c.file_id == file_id))
    if frame.height:
        conn.execute(insert(anomalies), [{**r, "file_id": file_id} for r in frame.iter_rows(named=True)])


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
