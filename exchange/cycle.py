"""One cycle: resume unfinished receptions, collect every ready file, judge, acknowledge, emit."""
from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable

import polars as pl
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from exchange import ledger
from exchange.compte_rendu import cr_csv, cr_xml
from exchange.config import Config
from exchange.files import fsync_dir, sha256_file
from exchange.habilitations.reconcile import reconcile as reconcile_file
from exchange.habilitations.store import Habilitations, load_habilitations
from exchange.history import record_accepted
from exchange.logs import scrub
from exchange.judge import Judgement, Prepared, duplicate_file, judge_records, prepare, rejected_file
from exchange.transport.base import Entry, FileTooLarge, HostKeyError, Transport, TransportError
from schemas.anomalies import ANOMALY_SCHEMA, Anomaly
from schemas.declaration import parse_file_name

log = logging.getLogger("esat_exchange")
Progress = Callable[[str, int, int], None]  # (what, done, total)
# Files are received into a batch, then judged together: the record rules run once per batch.
BATCH_FILES = 250
BATCH_BYTES = 64 << 20
# Never turned into a quarantine: the job itself must stop (lock lost, ledger moved under it, database down).
STOPS = (ledger.JobAborted, SQLAlchemyError)


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


# -- intake: reserve, claim, copy, commit ------------------------------------------------------------

def _incoming_dir(config: Config) -> Path:
    d = config.storage_dir / ".incoming"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _clean_incoming(config: Config) -> None:
    """Temporary copies left by a crash before their ledger commit: the claimed file is still in archive/."""
    for p in _incoming_dir(config).glob("*.part"):
        p.unlink(missing_ok=True)


def _take(ctx: CycleContext, entry: Entry) -> int | None:
    """Reserve a reception for a listed file, then receive it; its ledger id once RECU, else None."""
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        file_id = ledger.reserve(conn, account=entry.account, name=entry.name, processing_date=ctx.as_of,
                                 run_id=ctx.run_id)
        row = ledger.get_file(conn, file_id)
    return _receive(ctx, row)


def _receive(ctx: CycleContext, row: dict) -> int | None:
    """RECLAME → RECU: claim depot/<name> (moved to archive/<claim>, so that a new upload of that name is
    never taken for it), copy the claimed file, fsync, hash, commit. None when it waits or vanished.

    Also what resumes a reservation left by a crash: the claim is found where the earlier attempt put it.
    """
    account, name, file_id = row["account"], row["name"], row["id"]
    claim = ledger.claim_name(file_id)
    claimed = ctx.transport.claim(account, name, claim)
    if claimed is None:  # gone from depot/ before it was claimed: nothing was received
        with ledger.transaction(ctx.engine, ctx.fence) as conn:
            ledger.forget(conn, file_id)
        _event(ctx, "fichier disparu avant sa prise en charge", logging.WARNING, account=account)
        return None
    if not claimed.regular:  # swapped for a link or a folder after it was listed: never read
        _quarantine(ctx, row, TransportError("pas un fichier ordinaire (lien ou dossier) : il n'est pas lu"))
        return None
    if time.time() - claimed.mtime < ctx.config.source.settle_seconds:
        ctx.tally.waiting += 1  # replaced by a newer upload since it was listed: it settles first
        return None
    limit = ctx.config.limits.max_file_bytes
    sha: str | None = None
    stored: Path | None = None
    size = claimed.size
    if size <= limit:
        tmp = _incoming_dir(ctx.config) / f"{uuid.uuid4().hex}.part"
        try:
            ctx.transport.fetch(claimed, tmp, max_bytes=limit)
            sha, size = sha256_file(tmp), tmp.stat().st_size
        except FileTooLarge as e:  # it grew past the limit while copied: stopped there
            size = e.size
        except HostKeyError:
            raise
        except (TransportError, OSError) as e:  # this file waits (claimed); the others go on
            tmp.unlink(missing_ok=True)
            ctx.tally.errors.append(f"{account}/{name} : réception impossible vers {ctx.config.storage_dir} "
                                    f"({e}) : le fichier attend la prochaine exécution")
            _event(ctx, f"réception impossible : {e}", logging.ERROR, file_id=file_id, account=account)
            return None
        if sha is None:
            tmp.unlink(missing_ok=True)
    target = ctx.transport.free_archive_name(account, name, str(file_id))
    fname = parse_file_name(name)
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        duplicate = None
        if sha is not None:
            duplicate = ledger.duplicate_target(ledger.find_by_sha(conn, account, sha, other_than=file_id))
            account_dir = ctx.config.storage_dir / account
            account_dir.mkdir(parents=True, exist_ok=True)
            stored = account_dir / f"{sha}{Path(name).suffix.lower()[:8]}"
            os.replace(tmp, stored)
            fsync_dir(account_dir)
        ledger.received(conn, file_id, sha256=sha, size=size, stored_path=str(stored) if stored else None,
                        kind=fname.kind if fname else None, siret=fname.siret if fname else None,
                        archived_name=target, duplicate_of=int(duplicate["id"]) if duplicate else None)
    _event(ctx, "fichier reçu", file_id=file_id, account=account, state=ledger.RECU, size=size)
    return file_id


# -- processing one ledger row from its state to the end --------------------------------------------

def _prepare_row(ctx: CycleContext, row: dict) -> Judgement | Prepared:
    """The file-level checks of one received file (from its local copy)."""
    if row["duplicate_of"] is not None:
        return duplicate_file(row["name"], int(row["duplicate_of"]))
    limit = ctx.config.limits.max_file_bytes
    if row["stored_path"] is None or row["size"] > limit:  # refused from its size: never read
        return rejected_file(row["name"], Anomaly.of("F07", "octets", detail=f"{row['size']} octets pour {limit} au plus"),
                             parse_file_name(row["name"]))
    data = Path(row["stored_path"]).read_bytes()
    habs = ctx.habilitations() if ctx.use_habilitations else None

    def reconcile(siret: str) -> tuple[Anomaly | None, str | None]:
        r = reconcile_file(habs, row["account"], siret, row["processing_date"])
        return r.anomaly, r.caf_gestionnaire

    return prepare(data, row["name"], row["processing_date"], max_file_bytes=limit,
                   max_records=ctx.config.limits.max_records, reconcile=reconcile if habs is not None else None)


def _quarantine(ctx: CycleContext, row: dict, error: Exception) -> None:
    """A defect on this file: set it aside, report it, go on with the others."""
    reason = scrub(f"{error.__class__.__name__}: {error}")
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        ledger.quarantine(conn, row["id"], reason)
    _event(ctx, f"fichier mis en quarantaine : {error.__class__.__name__}", logging.ERROR,
           file_id=row["id"], account=row["account"], state=ledger.QUARANTAINE)
    ctx.tally.errors.append(f"fichier n° {row['id']} ({row['account']}/{row['name']}) en quarantaine : {reason}")


def _judge_rows(ctx: CycleContext, rows: list[dict]) -> dict[int, Judgement]:
    """Judge received files: file-level checks one by one, record rules once per processing date."""
    judged: dict[int, Judgement] = {}
    prepared: dict[date, list[tuple[dict, Prepared]]] = {}
    for row in rows:
        try:
            first = _prepare_row(ctx, row)
        except STOPS:
            raise
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
        except STOPS:
            raise
        except Exception:  # noqa: BLE001 - find the file at fault: judge them one by one
            results = []
            for row, p in items:
                try:
                    results.append(judge_records([p], day)[0])
                except STOPS:
                    raise
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
        ledger.judged(conn, row["id"], statut=j.statut, code=j.file_code, records_in=j.records_in,
                      records_accepted=j.records_accepted, records_rejected=j.records_rejected, kind=j.kind,
                      siret=j.siret)


def stored_judgement(conn, row: dict) -> Judgement:  # noqa: ANN001
    """The judgement of a TRAITE/ACQUITTE file, rebuilt from the ledger (for comptes rendus and screens)."""
    frame = pl.DataFrame([{k: a[k] for k in ANOMALY_SCHEMA} for a in ledger.file_anomalies(conn, row["id"])],
                         schema=ANOMALY_SCHEMA)
    return Judgement(name=row["name"], kind=row["kind"], siret=row["siret"], statut=row["statut"], anomalies=frame,
                     records_in=row["records_in"] or 0, records_rejected=row["records_rejected"] or 0,
                     file_code=row["code"])


def kept_stem(name: str, file_id: int, pair: int) -> str:
    """Where the `pair`-th compte rendu pair (0: the first answer, then one per replay) of reception
    `file_id` is kept once it no longer describes the latest reception of its name."""
    return f"{name}.{file_id}" + (f"-rejeu{pair}" if pair else "")


def _acknowledge(ctx: CycleContext, row: dict) -> Judgement:
    """Write both comptes rendus, keeping the pair they replace, then ACQUITTE.

    `<name>.CR.*` describes the latest answered reception of that name. Before it is replaced, its pair is
    renamed to its kept name, never over an existing file: a run resumed after a crash here finds the
    kept pair in place and only writes its own pair again. A file that has a later answered namesake
    writes its pair straight under its kept name.
    """
    name, account, file_id = row["name"], row["account"], row["id"]
    with ctx.engine.connect() as conn:
        j = stored_judgement(conn, row)
        owner = ledger.latest_answered(conn, account, name)
    pair = row["answers"] or 0
    if owner is not None and owner["id"] > file_id:
        stem = kept_stem(name, file_id, pair)
    else:
        stem = name
        if owner is not None:
            kept = kept_stem(name, owner["id"], owner["answers"] - 1)
            for ext in ("CR.csv", "CR.xml"):
                ctx.transport.rename_retour(account, f"{name}.{ext}", f"{kept}.{ext}")
    ctx.transport.write_retour(account, f"{stem}.CR.csv", cr_csv(j, row["processing_date"]))
    ctx.transport.write_retour(account, f"{stem}.CR.xml", cr_xml(j, row["processing_date"]))
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        ledger.acknowledged(conn, file_id)
    return j


def _archive(ctx: CycleContext, row: dict) -> None:
    """RECU → ARCHIVE: the claim takes its archive name (a repeated move finds it done)."""
    if not ctx.transport.archive_claim(row["account"], ledger.claim_name(row["id"]), row["archived_name"]):
        raise TransportError(f"fichier n° {row['id']} ({row['account']}/{row['name']}) introuvable dans "
                             f"archive/ (ni {ledger.claim_name(row['id'])} ni {row['archived_name']})")
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        ledger.archived(conn, row["id"])
    _event(ctx, "fichier archivé", file_id=row["id"], account=row["account"], state=ledger.ARCHIVE)
    row["state"] = ledger.ARCHIVE


def _file_failed(ctx: CycleContext, row: dict, step: str, error: TransportError) -> None:
    """A drop-area refusal on one file: it waits in its state for the next run; a dead source stops the run."""
    if error.transient or isinstance(error, HostKeyError):
        raise error
    ctx.tally.errors.append(f"fichier n° {row['id']} ({row['account']}/{row['name']}) : {step} impossible ({error})"
                            " : reprise à la prochaine exécution")
    _event(ctx, f"{step} impossible : {error}", logging.ERROR, file_id=row["id"], account=row["account"])


def _finish(ctx: CycleContext, file_id: int) -> None:
    """TRAITE → ACQUITTE, then count the file in the run's tally."""
    with ctx.engine.connect() as conn:
        row = ledger.get_file(conn, file_id)
    if row is None or row["state"] != ledger.TRAITE:
        return
    try:
        j = _acknowledge(ctx, row)
    except STOPS:
        raise
    except TransportError as e:
        _file_failed(ctx, row, "écriture des comptes rendus", e)
        return
    except OSError as e:
        raise TransportError(f"écriture des comptes rendus de {row['account']}/{row['name']} impossible "
                             f"dans la zone de dépôt : {e}") from e
    except Exception as e:  # noqa: BLE001 - a defect answering one file must not block every later run
        _quarantine(ctx, row, e)
        return
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
            try:
                _archive(ctx, row)
            except TransportError as e:
                _file_failed(ctx, row, "archivage", e)
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

def _resume(ctx: CycleContext) -> None:
    """Take every reception a crash (or a failed step) left unfinished to its end, oldest first."""
    with ctx.engine.connect() as conn:
        pending = ledger.unfinished_files(conn)
    ids = []
    for row in pending:
        if row["state"] != ledger.RECLAME:
            ids.append(int(row["id"]))
            continue
        try:
            got = _receive(ctx, row)
        except HostKeyError:
            raise
        except TransportError as e:
            _file_failed(ctx, row, "prise en charge", e)
            continue
        if got is not None:
            ids.append(got)
    if ids:
        process(ctx, ids)


def collect(ctx: CycleContext) -> None:
    """Resume what a crash left, then collect every ready file of every account."""
    _clean_incoming(ctx.config)
    _resume(ctx)
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
                got = _take(ctx, entry)
            except HostKeyError:
                raise
            except TransportError as e:  # transient: this file waits for the next run, nothing lost
                ctx.tally.errors.append(f"{entry.account}/{entry.name} : {e}")
                _event(ctx, f"échec de transfert : {e}", logging.ERROR, account=entry.account)
                got = None
            if got is not None:
                batch.append(got)
                batch_bytes += min(entry.size, ctx.config.limits.max_file_bytes)
            done += 1
            if len(batch) >= BATCH_FILES or batch_bytes >= BATCH_BYTES:
                process(ctx, batch)
                batch, batch_bytes = [], 0
            if ctx.progress:
                ctx.progress("fichiers", done, total)
    process(ctx, batch)


class ReplayRefused(ValueError):
    """A replay the spec does not allow (the French reason is the message)."""


def replay(ctx: CycleContext, file_id: int) -> dict:
    """Process a kept file again, as if just received, judged at its original processing date
    (habilitations.md: only a file rejected whole for an H code or F06, or in QUARANTAINE)."""
    with ctx.engine.connect() as conn:
        row = ledger.get_file(conn, file_id)
    if row is None:
        raise KeyError(file_id)
    reason = ledger.replay_refusal(row)
    if reason is None and row["stored_path"] is None:
        reason = f"le fichier n° {file_id} n'a pas de copie locale (il n'a jamais été lu) : il ne peut pas être rejoué"
    if reason is not None:
        raise ReplayRefused(reason)
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        ledger.reset_for_replay(conn, row, ctx.run_id)
    process(ctx, [file_id])
    with ctx.engine.connect() as conn:
        return ledger.get_file(conn, file_id)
