"""One cycle: resume unfinished receptions, collect every ready file, judge, acknowledge, emit."""
from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

import polars as pl
from sqlalchemy.engine import Engine

from exchange import ledger
from exchange.compte_rendu import cr_csv, cr_html, cr_xml
from exchange.config import Config
from exchange.files import fsync_dir, sha256_file
from exchange.habilitations.reconcile import reconcile as reconcile_file
from exchange.habilitations.store import Habilitations, load_habilitations
from exchange.history import record_accepted
from exchange.judge import Judgement, Prepared, duplicate_file, judge_records, prepare
from exchange.transport.base import Entry, HostKeyError, Transport, TransportError
from schemas.anomalies import ANOMALY_SCHEMA, Anomaly
from schemas.declaration import parse_file_name

log = logging.getLogger("esat_exchange")
QUARANTAINE = "QUARANTAINE"
Progress = Callable[[str, int, int], None]  # (what, done, total)
# Files are received into a batch, then judged together: the record rules run once per batch.
BATCH_FILES = 250
BATCH_BYTES = 64 << 20


@dataclass
class CycleContext:
    """What one cycle works with; built by the caller, nothing global."""

    config: Config
    engine: Engine
    transport: Transport
    as_of: date
    run_id: int
    job: str
    tally: ledger.RunTally
    use_habilitations: bool = True
    progress: Progress | None = None
    stop: Callable[[], bool] | None = None  # asked between files: finish the current file, then stop
    fence: ledger.Fence | None = None  # checked in every state-changing transaction (the job lock is held)
    _habs: Habilitations | None = None

    def habilitations(self) -> Habilitations:
        """The extract in force, loaded once per cycle."""
        if self._habs is None:
            self._habs = load_habilitations(self.engine)
        return self._habs


def _event(ctx: CycleContext, message: str, level: int = logging.INFO, **fields: object) -> None:
    log.log(level, message, extra={"event": {"run_id": ctx.run_id, "job": ctx.job, **fields}})


# -- intake ---------------------------------------------------------------------------------------

def _incoming_dir(config: Config) -> Path:
    d = config.storage_dir / ".incoming"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _clean_incoming(config: Config) -> None:
    """Temporary copies left by a crash before their ledger commit: the source is still in depot/."""
    for p in _incoming_dir(config).glob("*.part"):
        p.unlink(missing_ok=True)


def receive(ctx: CycleContext, entry: Entry) -> int:
    """Copy, fsync, hash and commit one file; returns its ledger id (resumed or new)."""
    tmp = _incoming_dir(ctx.config) / f"{uuid.uuid4().hex}.part"
    ctx.transport.fetch(entry, tmp)
    sha = sha256_file(tmp)
    size = tmp.stat().st_size
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        earlier = ledger.find_by_sha(conn, entry.account, sha)
        unfinished = [e for e in earlier if e["state"] in ledger.UNFINISHED_STATES]
        if unfinished:  # a crash came after the commit: resume that reception, not a duplicate
            tmp.unlink(missing_ok=True)
            _event(ctx, "reprise d'une réception interrompue", file_id=unfinished[-1]["id"], account=entry.account)
            return int(unfinished[-1]["id"])
        account_dir = ctx.config.storage_dir / entry.account
        account_dir.mkdir(parents=True, exist_ok=True)
        stored = account_dir / f"{sha}{Path(entry.name).suffix.lower()[:8]}"
        os.replace(tmp, stored)
        fsync_dir(account_dir)
        fname = parse_file_name(entry.name)
        finished = [e for e in earlier if e["state"] == ledger.ACQUITTE]  # this content was fully processed: F04
        file_id = ledger.create_file(
            conn, account=entry.account, name=entry.name, sha256=sha, size=size, stored_path=str(stored),
            kind=fname.kind if fname else None, siret=fname.siret if fname else None,
            processing_date=ctx.as_of, run_id=ctx.run_id,
            duplicate_of=int(finished[0]["id"]) if finished else None,
        )
    _event(ctx, "fichier reçu", file_id=file_id, account=entry.account, state=ledger.RECU, size=size)
    return file_id


# -- processing one ledger row from its state to the end --------------------------------------------

def _prepare_row(ctx: CycleContext, row: dict) -> Judgement | Prepared:
    """The file-level checks of one received file (from its local copy)."""
    if row["duplicate_of"] is not None:
        with ctx.engine.connect() as conn:
            earlier = ledger.get_file(conn, int(row["duplicate_of"]))
        return duplicate_file(row["name"], earlier["name"], earlier["received_at"])
    data = Path(row["stored_path"]).read_bytes()
    habs = ctx.habilitations() if ctx.use_habilitations else None

    def reconcile(siret: str) -> tuple[Anomaly | None, str | None]:
        r = reconcile_file(habs, row["account"], siret, row["processing_date"])
        return r.anomaly, r.caf_gestionnaire

    return prepare(data, row["name"], row["processing_date"], max_file_bytes=ctx.config.limits.max_file_bytes,
                   max_records=ctx.config.limits.max_records, reconcile=reconcile if habs is not None else None)


def _quarantine(ctx: CycleContext, row: dict, error: Exception) -> None:
    """A defect on this file: set it aside, report it, go on with the others."""
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        ledger.set_state(conn, row["id"], QUARANTAINE)
    _event(ctx, f"fichier mis en quarantaine : {error.__class__.__name__}", logging.ERROR,
           file_id=row["id"], account=row["account"], state=QUARANTAINE)
    ctx.tally.errors.append(f"fichier n° {row['id']} ({row['name']}) en quarantaine : "
                            f"{error.__class__.__name__}: {error}")


def _judge_rows(ctx: CycleContext, rows: list[dict]) -> dict[int, Judgement]:
    """Judge received files: file-level checks one by one, record rules once per processing date."""
    judged: dict[int, Judgement] = {}
    prepared: dict[date, list[tuple[dict, Prepared]]] = {}
    for row in rows:
        try:
            first = _prepare_row(ctx, row)
        except (OSError, MemoryError) as e:
            raise TransportError(f"fichier reçu n° {row['id']} illisible sur le disque local : {e}") from e
        except Exception as e:  # noqa: BLE001 - a defect on one file must not stop the others
            _quarantine(ctx, row, e)
            continue
        if isinstance(first, Judgement):
            judged[row["id"]] = first
        else:
            prepared.setdefault(row["processing_date"], []).append((row, first))
    for day, items in prepared.items():
        try:
            results = judge_records([p for _, p in items], day)
        except Exception:  # noqa: BLE001 - find the file at fault: judge them one by one
            results = []
            for row, p in items:
                try:
                    results.append(judge_records([p], day)[0])
                except Exception as e:  # noqa: BLE001
                    _quarantine(ctx, row, e)
                    results.append(None)
        for (row, _), j in zip(items, results):
            if j is not None:
                judged[row["id"]] = j
    return judged


def _store_judgement(ctx: CycleContext, row: dict, j: Judgement) -> None:
    """Records, anomalies and statut in one transaction: the TRAITE step."""
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        anomalies = j.anomalies
        if j.records is not None and j.records_accepted:
            extra = record_accepted(conn, file_id=row["id"], kind=j.kind, typed=j.records,
                                    received_at=ledger.as_utc(row["received_at"]),
                                    caf_gestionnaire=j.caf_gestionnaire)
            if extra.height:
                anomalies = pl.concat([anomalies, extra])
        anomalies = anomalies.sort(["ligne", "code"], nulls_last=False, maintain_order=True)
        ledger.store_anomalies(conn, row["id"], anomalies)
        ledger.set_state(conn, row["id"], ledger.TRAITE, statut=j.statut, code=j.file_code,
                         records_in=j.records_in, records_accepted=j.records_accepted,
                         records_rejected=j.records_rejected, processed_at=ledger.utcnow(), kind=j.kind,
                         siret=j.siret)


def stored_judgement(conn, row: dict) -> Judgement:  # noqa: ANN001
    """The judgement of a TRAITE/ACQUITTE file, rebuilt from the ledger (for comptes rendus and screens)."""
    frame = pl.DataFrame([{k: a[k] for k in ANOMALY_SCHEMA} for a in ledger.file_anomalies(conn, row["id"])],
                         schema=ANOMALY_SCHEMA)
    return Judgement(name=row["name"], kind=row["kind"], siret=row["siret"], statut=row["statut"], anomalies=frame,
                     records_in=row["records_in"] or 0, records_rejected=row["records_rejected"] or 0,
                     file_code=row["code"])


def _acknowledge(ctx: CycleContext, row: dict, replaying: bool = False) -> Judgement:
    """Write both comptes rendus, keeping the pair they replace as <name>.<its id>.CR.*, then ACQUITTE.

    `<name>.CR.*` always describes the latest reception of that name: a replayed file that has a later
    namesake writes its pair straight under its own id.
    """
    name, account, file_id = row["name"], row["account"], row["id"]
    with ctx.engine.connect() as conn:
        j = stored_judgement(conn, row)
        previous = ledger.previous_acknowledged(conn, account, name, file_id)
        later = ledger.later_reception(conn, account, name, file_id)
    stem = name if later is None else f"{name}.{file_id}"
    if later is None:
        replaced = file_id if replaying else previous
        if replaced is not None:
            for ext in ("CR.csv", "CR.xml", "CR.html"):
                ctx.transport.rename_retour(account, f"{name}.{ext}", f"{name}.{replaced}.{ext}")
    replayed_at = datetime.now(timezone.utc) if replaying else None  # the CR of a replay says so and when
    ctx.transport.write_retour(account, f"{stem}.CR.csv", cr_csv(j, row["processing_date"], replayed_at=replayed_at))
    ctx.transport.write_retour(account, f"{stem}.CR.xml", cr_xml(j, row["processing_date"], replayed_at=replayed_at))
    ctx.transport.write_retour(account, f"{stem}.CR.html", cr_html(j, row["processing_date"], replayed_at=replayed_at))
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        ledger.set_state(conn, row["id"], ledger.ACQUITTE)
    return j


def _archive(ctx: CycleContext, row: dict) -> None:
    """RECU → ARCHIVE: the source leaves depot/ (committed after the move; a repeated move is a no-op)."""
    archived = ctx.transport.archive(row["account"], row["name"], suffix=str(row["id"]))
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        ledger.set_state(conn, row["id"], ledger.ARCHIVE, archived_name=archived)
    _event(ctx, "fichier archivé", file_id=row["id"], account=row["account"], state=ledger.ARCHIVE)
    row["state"] = ledger.ARCHIVE


def _finish(ctx: CycleContext, file_id: int) -> None:
    """TRAITE → ACQUITTE, then count the file in the run's tally."""
    with ctx.engine.connect() as conn:
        row = ledger.get_file(conn, file_id)
    if row is None or row["state"] != ledger.TRAITE:
        return
    j = _acknowledge(ctx, row, replaying=bool(row["replays"]))
    _event(ctx, "comptes rendus déposés", file_id=file_id, account=row["account"], state=ledger.ACQUITTE)
    ctx.tally.add(j.statut, j.records_in, j.records_accepted, j.records_rejected, j.anomalies["code"].to_list())


def process(ctx: CycleContext, file_ids: list[int]) -> None:
    """Take received files from their states to ACQUITTE, each step committed for each file:
    archive every one, judge them together, then store and acknowledge them one by one, in id order."""
    ids = sorted(set(file_ids))
    with ctx.engine.connect() as conn:
        rows = [r for r in (ledger.get_file(conn, i) for i in ids) if r is not None]
    for row in rows:
        if row["state"] == ledger.RECU:
            _archive(ctx, row)
    waiting = [row for row in rows if row["state"] == ledger.ARCHIVE]
    judged = _judge_rows(ctx, waiting)
    for row in waiting:
        j = judged.get(row["id"])
        if j is None:
            continue  # quarantined
        _store_judgement(ctx, row, j)
        _event(ctx, f"fichier traité : {j.statut}", file_id=row["id"], account=row["account"],
               state=ledger.TRAITE, statut=j.statut, code=j.file_code or "")
    for file_id in ids:
        _finish(ctx, file_id)


# -- the cycle --------------------------------------------------------------------------------------

def collect(ctx: CycleContext) -> None:
    """Resume what a crash left, then collect every ready file of every account."""
    _clean_incoming(ctx.config)
    with ctx.engine.connect() as conn:
        pending = ledger.unfinished_files(conn)
    if pending:
        process(ctx, [int(row["id"]) for row in pending])
    now = time.time()
    accounts = ctx.transport.accounts()
    listings = []
    for account in accounts:
        try:
            listing = ctx.transport.list_depot(account, now, ctx.config.source.settle_seconds)
        except HostKeyError:
            raise
        except TransportError as e:
            ctx.tally.errors.append(f"compte {account} : {e}")
            _event(ctx, f"compte illisible : {e}", logging.ERROR, account=account)
            continue
        ctx.tally.waiting += len(listing.waiting)
        for entry, reason in listing.refused:
            ctx.tally.refused_names.append(f"{account}/{entry.name!r} : {reason}")
            _event(ctx, f"nom refusé : {reason}", logging.WARNING, account=account)
        listings.append(listing)
    total = sum(len(listing.ready) for listing in listings)
    done = 0
    batch: list[int] = []
    batch_bytes = 0
    for listing in listings:
        for entry in listing.ready:
            if ctx.stop is not None and ctx.stop():
                _event(ctx, "arrêt demandé : les fichiers restants attendent la prochaine exécution", logging.WARNING)
                process(ctx, batch)
                return
            try:
                batch.append(receive(ctx, entry))
                batch_bytes += entry.size
            except HostKeyError:
                raise
            except TransportError as e:  # transient: this file waits for the next run, nothing lost
                ctx.tally.errors.append(f"{entry.account}/{entry.name} : {e}")
                _event(ctx, f"échec de transfert : {e}", logging.ERROR, account=entry.account)
            done += 1
            if len(batch) >= BATCH_FILES or batch_bytes >= BATCH_BYTES:
                process(ctx, batch)
                batch, batch_bytes = [], 0
            if ctx.progress:
                ctx.progress("fichiers", done, total)
    process(ctx, batch)


def replay(ctx: CycleContext, file_id: int) -> dict:
    """Process a kept file again, as if just received, judged at its original processing date."""
    from sqlalchemy import delete, select, update

    from exchange.db import files, records

    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        row = ledger.get_file(conn, file_id)
        if row is None:
            raise KeyError(file_id)
        emitted = conn.execute(records.select().where((records.c.file_id == file_id)
                                                      & records.c.emission_id.is_not(None)).limit(1)).first()
        if emitted is not None:
            raise ValueError("ce fichier a déjà des enregistrements transmis aux Caf : il ne peut pas être rejoué")
        replaced = [r for (r,) in conn.execute(select(records.c.replaces_id).where(
            (records.c.file_id == file_id) & records.c.replaces_id.is_not(None)))]
        if replaced:  # the records this file had replaced are the latest again until it is re-judged
            conn.execute(update(records).where(records.c.id.in_(replaced)).values(superseded=False))
        conn.execute(delete(records).where(records.c.file_id == file_id))
        conn.execute(update(files).where(files.c.id == file_id).values(
            replays=(row["replays"] or 0) + 1, run_id=ctx.run_id))
        ledger.set_state(conn, file_id, ledger.ARCHIVE, statut=None, code=None)
    process(ctx, [file_id])
    with ctx.engine.connect() as conn:
        return ledger.get_file(conn, file_id)
