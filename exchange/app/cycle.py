"""One cycle: resume unfinished receptions, collect every ready file, judge, acknowledge, emit."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from exchange.app.stored_records import StoredRecords
from exchange.config import Config
from exchange.core.compte_rendu.forms import cr_files
from exchange.core.compte_rendu.names import CR_EXTENSIONS, kept_stem
from exchange.core.habilitations import Habilitations
from exchange.core.history import Accepted, duplicate_target
from exchange.core.judge import Judgement, Prepared, duplicate_file, judge_records, prepare, rejected_file
from exchange.core.ledger_paths import stored_name, under_root
from exchange.core.reconcile import reconcile as reconcile_file
from exchange.core.replay import replay_refusal
from exchange.core.tally import RunTally
from exchange.edges.durable import sha256_file
from exchange.edges.transport.base import Entry, FileTooLarge, Transport, TransportError
from exchange.edges.transport.batch_sync import BatchSync, raise_first
from exchange.edges.transport.causes import french_cause
from exchange.errors import ExchangeError, TerminalError
from exchange.files import private_dir, private_file
from exchange.logs import scrub
from exchange.store import ledger
from exchange.store.engine import Connection, Engine, concurrent_writers, in_transaction
from exchange.store.errors import DATABASE_ERRORS
from exchange.store.habilitations import load_habilitations
from exchange.store.records import record_accepted
from schemas.anomalies import ANOMALY_SCHEMA, Anomaly
from schemas.declaration import parse_file_name

log = logging.getLogger("esat_exchange")
Progress = Callable[[str, int, int], None]  # (what, done, total)
# Files are received into a batch, then judged together: the record rules run once per batch.
BATCH_FILES = 250
BATCH_BYTES = 64 << 20
WAITS, SET_ASIDE = "waits", "set aside"  # what becomes of one file after an error that does not stop the run


@dataclass
class CycleContext:
    """What one cycle works with; built by the caller, nothing global."""

    config: Config
    engine: Engine
    transport: Transport
    as_of: date
    run_id: int
    job: str
    tally: RunTally
    use_habilitations: bool = True
    progress: Progress | None = None
    expected: int = 0  # files listed for this cycle: the total every stage of the progress counts towards
    stages: dict[str, int] = field(default_factory=dict)  # files through each stage so far
    stop: Callable[[], bool] | None = None  # asked between files: finish the current file, then stop
    fence: ledger.Fence | None = None  # checked in every state-changing transaction (the job lock is held)
    stored: StoredRecords = field(default_factory=StoredRecords)  # what was stored, for the emission (bounded)
    _habs: Habilitations | None = None

    def habilitations(self) -> Habilitations:
        """The extract in force, loaded once per cycle."""
        if self._habs is None:
            self._habs = in_transaction(self.engine, load_habilitations)
        return self._habs


STAGES = ("réception", "jugement", "comptes rendus")  # the cycle's stages, as the progress shows them


def _advance(ctx: CycleContext, stage: str, files: int) -> None:
    """`files` more went through `stage`: tell the progress (the operator's terminal), if any."""
    ctx.stages[stage] = ctx.stages.get(stage, 0) + files
    if ctx.progress is not None and files:
        ctx.progress(stage, ctx.stages[stage], max(ctx.expected, ctx.stages[stage]))


def _event(ctx: CycleContext, message: str, level: int = logging.INFO, **fields: object) -> None:
    log.log(level, message, extra={"event": {"run_id": ctx.run_id, "job": ctx.job, **fields}})


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n <= 1 else many}"


# -- the one decision on an error ------------------------------------------------------------------


def _decide(error: BaseException, system: str | None, *, project_error: str = WAITS) -> str:
    """The cycle's one decision on an error met on one file (or one account's listing), from its markers, never
    its class. Raises when the run must stop: a project error marked `stops_run` (a dead source, a changed host
    key, this job's lock lost, the ledger moved under it), a database error, and the local disk or memory failing
    (raised as a transient TransportError: `system` says what was being done; None where a system error concerns
    this one file's copy, which then waits). Otherwise returns what becomes of the file, the others going on: a
    project error that does not stop the run → `project_error` (WAITS in its state for the next run at the
    drop-area steps; SET_ASIDE while judging); anything else, a defect met on this file → SET_ASIDE (QUARANTAINE)."""
    if isinstance(error, DATABASE_ERRORS):
        raise error
    if isinstance(error, (OSError, MemoryError)):
        if system is None:
            return WAITS
        cause = french_cause(error) if isinstance(error, OSError) else "mémoire insuffisante"
        raise TransportError(f"{system} : {cause}") from error
    if isinstance(error, ExchangeError):
        if error.stops_run:
            raise error
        return project_error
    if not isinstance(error, Exception):  # KeyboardInterrupt, SystemExit: never swallowed
        raise error
    return SET_ASIDE


def _file_error(ctx: CycleContext, row: dict[str, Any], step: str, error: BaseException, system: str) -> None:
    """An error on one file at a drop-area step: it stops the run, or the file waits, or it is set aside."""
    if _decide(error, system) == SET_ASIDE:
        _quarantine(ctx, row, error)
        return
    ctx.tally.errors.append(
        f"fichier n° {row['id']} ({row['account']}/{row['name']}) : {step} impossible : {error}"
        " (reprise à la prochaine exécution)"
    )
    _event(ctx, f"{step} impossible : {error}", logging.ERROR, file_id=row["id"], account=row["account"])


# -- intake: reserve, claim, copy, commit ------------------------------------------------------------


def _incoming_dir(config: Config) -> Path:
    private_dir(config.storage_dir)
    return private_dir(config.storage_dir / ".incoming")


def _clean_incoming(config: Config) -> None:
    """Temporary copies left by a crash before their ledger commit: the claimed file is still in archive/."""
    for p in _incoming_dir(config).glob("*.part"):
        p.unlink(missing_ok=True)


def _take(ctx: CycleContext, entries: list[Entry]) -> list[int]:
    """Reserve a reception for each listed file (one transaction), then receive them together."""
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        ids = ledger.reserve_all(
            conn, [(e.account, e.name) for e in entries], processing_date=ctx.as_of, run_id=ctx.run_id
        )
    return _receive(ctx, [{"id": i, "account": e.account, "name": e.name} for i, e in zip(ids, entries)])


def _claim(ctx: CycleContext, rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Entry]]:
    """Move each reserved file out of depot/ into its claim (or find the claim an earlier attempt made);
    what vanished is forgotten, what is not a regular file set aside, what is too young waits."""
    claimed: list[tuple[dict[str, Any], Entry]] = []
    vanished: list[dict[str, Any]] = []
    now = time.time()
    for row in rows:
        try:
            entry = ctx.transport.claim(row["account"], row["name"], ledger.claim_name(row["id"]))
        except ExchangeError as e:  # this file waits (reserved); the others go on, unless the run must stop
            _decide(e, "prise en charge")
            ctx.tally.errors.append(f"{row['account']}/{row['name']} : {e}")
            _event(ctx, f"échec de transfert : {e}", logging.ERROR, account=row["account"])
            continue
        if entry is None:  # gone from depot/ before it was claimed: nothing was received
            vanished.append(row)
        elif not entry.regular:  # swapped for a link or a folder after it was listed: never read
            _quarantine(ctx, row, TransportError("pas un fichier ordinaire (lien ou dossier) : il n'est pas lu"))
        elif now - entry.mtime < ctx.config.source.settle_seconds:
            ctx.tally.waiting += 1  # replaced by a newer upload since it was listed: it settles first
        else:
            claimed.append((row, entry))
    if vanished:
        with ledger.transaction(ctx.engine, ctx.fence) as conn:
            for row in vanished:
                ledger.forget(conn, row["id"])
        _event(ctx, f"{len(vanished)} fichier(s) disparu(s) avant leur prise en charge", logging.WARNING)
    return claimed


def _receive(ctx: CycleContext, rows: list[dict[str, Any]]) -> list[int]:
    """RECLAME → RECU for reserved files: claim each (moved to archive/<claim>, so that a new upload of
    that name is never taken for it), copy them (several in flight where the transport can), fsync, hash,
    then commit them in one transaction. Returns the ids now RECU; the others wait or vanished.

    Also what resumes a reservation left by a crash: the claim is found where the earlier attempt put it.
    """
    limit = ctx.config.limits.max_file_bytes
    claimed = _claim(ctx, rows)
    incoming = _incoming_dir(ctx.config)
    copies = [(row, entry, incoming / f"{uuid.uuid4().hex}.part") for row, entry in claimed if entry.size <= limit]
    results = ctx.transport.fetch_many([(entry, tmp) for _, entry, tmp in copies], max_bytes=limit)
    outcome: dict[int, tuple[str | None, int, Path | None]] = {
        row["id"]: (None, entry.size, None) for row, entry in claimed if entry.size > limit
    }  # F07 unread
    for (row, _entry, tmp), error in zip(copies, results):
        if error is None:
            private_file(tmp)
            outcome[row["id"]] = (sha256_file(tmp), tmp.stat().st_size, tmp)
            continue
        tmp.unlink(missing_ok=True)
        if isinstance(error, FileTooLarge):  # it grew past the limit while copied: stopped there
            outcome[row["id"]] = (None, error.size, None)
        else:  # this file waits (claimed); the others go on, unless the run must stop
            _decide(error, None)
            why = french_cause(error) if isinstance(error, OSError) else str(error)  # never an OSError's English
            ctx.tally.errors.append(
                f"{row['account']}/{row['name']} : réception impossible vers "
                f"{ctx.config.storage_dir} ({why}) : le fichier attend la prochaine exécution"
            )
            _event(ctx, f"réception impossible : {why}", logging.ERROR, file_id=row["id"], account=row["account"])
    taken = [(row, *outcome[row["id"]]) for row, _ in claimed if row["id"] in outcome]
    targets = {
        row["id"]: ctx.transport.free_archive_name(row["account"], row["name"], str(row["id"])) for row, *_ in taken
    }
    stored_dirs: set[Path] = set()
    ctx.transport.sync()  # the claims are durable before the ledger says RECU
    account_dirs = sorted({ctx.config.storage_dir / row["account"] for row, sha, *_ in taken if sha is not None})
    for d in account_dirs:
        private_dir(d)
    with BatchSync([], folders=account_dirs) as names, ledger.transaction(ctx.engine, ctx.fence) as conn:
        # every earlier reception of each content, then those of this batch as they become RECU
        earlier = ledger.find_by_shas(conn, [(row["account"], sha) for row, sha, *_ in taken if sha is not None])
        moves: list[tuple[int, dict[str, Any]]] = []
        for row, sha, size, copied in taken:
            stored = None
            duplicate = None
            if sha is not None:
                seen = earlier.setdefault((row["account"], sha), [])
                duplicate = duplicate_target(sorted((e for e in seen if e["id"] != row["id"]), key=lambda e: e["id"]))
                account_dir = ctx.config.storage_dir / row["account"]
                stored_dirs.add(account_dir)
                stored = account_dir / f"{sha}{Path(row['name']).suffix.lower()[:8]}"
                assert copied is not None  # a hashed file was copied
                os.replace(copied, stored)
            fname = parse_file_name(row["name"])
            moves.append(
                (
                    row["id"],
                    {
                        "sha256": sha,
                        "size": size,
                        "stored_path": stored_name(row["account"], stored.name) if stored else None,
                        "kind": fname.kind if fname else None,
                        "siret": fname.siret if fname else None,
                        "archived_name": targets[row["id"]],
                        "duplicate_of": int(duplicate["id"]) if duplicate else None,
                    },
                )
            )
            if sha is not None:  # what a later copy in this batch finds, as find_by_sha would now
                seen.append(
                    {
                        "id": row["id"],
                        "state": ledger.RECU,
                        "statut": None,
                        "duplicate_of": int(duplicate["id"]) if duplicate else None,
                    }
                )
        ledger.received_all(conn, moves)
        raise_first(names.make_durable([], folders=sorted(stored_dirs)))  # the new names, before the ledger says RECU
    for row, _sha, size, _tmp in taken:
        _event(ctx, "fichier reçu", file_id=row["id"], account=row["account"], state=ledger.RECU, size=size)
    return [row["id"] for row, *_ in taken]


# -- processing one ledger row from its state to the end --------------------------------------------


def _prepare_row(ctx: CycleContext, row: dict[str, Any]) -> Judgement | Prepared:
    """The file-level checks of one received file (from its local copy)."""
    if row["duplicate_of"] is not None:
        with ctx.engine.connect() as conn:
            earlier = ledger.get_file(conn, int(row["duplicate_of"]))
        assert earlier is not None  # duplicate_of names a ledger row
        return duplicate_file(row["name"], earlier["name"], earlier["received_at"])
    limit = ctx.config.limits.max_file_bytes
    if row["stored_path"] is None or row["size"] > limit:  # refused from its size: never read
        return rejected_file(
            row["name"],
            Anomaly.of("F07", "octets", detail=f"{row['size']} octets pour {limit} au plus"),
            parse_file_name(row["name"]),
        )
    copy = under_root(ctx.config.storage_dir, row["stored_path"])
    if copy is None:  # recorded outside today's storage folder (a path the migration could not convert)
        raise FileNotFoundError(f"copie locale hors du dossier de stockage : {row['stored_path']}")
    data = copy.read_bytes()
    habs = ctx.habilitations() if ctx.use_habilitations else None

    def reconcile(siret: str) -> tuple[Anomaly | None, str | None]:
        assert habs is not None  # passed to prepare only with habilitations
        r = reconcile_file(habs, row["account"], siret, row["processing_date"])
        return r.anomaly, r.caf_gestionnaire

    return prepare(
        data,
        row["name"],
        row["processing_date"],
        max_file_bytes=limit,
        max_records=ctx.config.limits.max_records,
        reconcile=reconcile if habs is not None else None,
    )


def _quarantine(ctx: CycleContext, row: dict[str, Any], error: BaseException) -> None:
    """A defect on this file: set it aside, report it, go on with the others."""
    reason = scrub(f"{error.__class__.__name__}: {error}")
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        ledger.quarantine(conn, row["id"], reason)
    _event(
        ctx,
        f"fichier mis en quarantaine : {error.__class__.__name__}",
        logging.ERROR,
        file_id=row["id"],
        account=row["account"],
        state=ledger.QUARANTAINE,
    )
    ctx.tally.errors.append(f"fichier n° {row['id']} ({row['account']}/{row['name']}) en quarantaine : {reason}")


def _judge_rows(ctx: CycleContext, rows: list[dict[str, Any]]) -> dict[int, Judgement]:
    """Judge received files: file-level checks one by one, record rules once per processing date."""
    judged: dict[int, Judgement] = {}
    prepared: dict[date, list[tuple[dict[str, Any], Prepared]]] = {}
    for row in rows:
        try:
            first = _prepare_row(ctx, row)
        except BaseException as e:  # _decide: the run stops, or this file alone is set aside
            _decide(e, f"fichier reçu n° {row['id']} illisible sur le disque local", project_error=SET_ASIDE)
            _quarantine(ctx, row, e)
            continue
        if isinstance(first, Judgement):
            judged[row["id"]] = first
        else:
            prepared.setdefault(row["processing_date"], []).append((row, first))
    for day, items in prepared.items():
        results: Sequence[Judgement | None]
        try:
            results = judge_records([p for _, p in items], day)
        except BaseException as e:  # the run stops, or find the file at fault: judge them one by one
            _decide(e, "jugement", project_error=SET_ASIDE)
            one_by_one: list[Judgement | None] = []
            for row, p in items:
                try:
                    one_by_one.append(judge_records([p], day)[0])
                except BaseException as one:
                    _decide(one, f"jugement du fichier n° {row['id']}", project_error=SET_ASIDE)
                    _quarantine(ctx, row, one)
                    one_by_one.append(None)
            results = one_by_one
        for (row, _), j in zip(items, results):
            if j is not None:
                judged[row["id"]] = j
    return judged


def _store_many(
    conn: Connection, items: list[tuple[dict[str, Any], Judgement]], inserted: list[pl.DataFrame]
) -> dict[int, Judgement]:
    """Records (with their history: W05/W06), anomalies and statut of files: their TRAITE step, in the
    caller's transaction (the records put in an emission appended to `inserted`). Returns each judgement as
    answered (history anomalies included, sorted)."""
    extra = record_accepted(
        conn,
        [
            Accepted(
                file_id=row["id"],
                kind=j.kind,
                typed=j.records,
                received_at=row["received_at"],
                name=row["name"],
                caf_gestionnaire=j.caf_gestionnaire,
            )
            for row, j in items
            if j.records is not None and j.records_accepted and j.kind is not None  # judged records: kind known
        ],
        inserted,
    )
    frames = [(row["id"], j.anomalies) for row, j in items] + list(extra.items())
    owner = pl.Series("file_id", [file_id for file_id, f in frames for _ in range(f.height)], dtype=pl.Int64)
    every = (
        pl.concat([f for _, f in frames], how="diagonal_relaxed")
        .with_columns(owner)
        .select("file_id", *ANOMALY_SCHEMA)
        .sort(["file_id", "ligne", "code"], nulls_last=False, maintain_order=True)
    )
    ledger.store_anomalies(conn, [row["id"] for row, _ in items], every)
    by_file = every.partition_by("file_id", as_dict=True, include_key=False)
    empty = every.drop("file_id").clear()
    ledger.judged_all(
        conn,
        [
            (
                row["id"],
                {
                    "statut": j.statut,
                    "code": j.file_code,
                    "records_in": j.records_in,
                    "records_accepted": j.records_accepted,
                    "records_rejected": j.records_rejected,
                    "kind": j.kind,
                    "siret": j.siret,
                },
            )
            for row, j in items
        ],
    )
    return {row["id"]: replace(j, anomalies=by_file.get((row["id"],), empty), records=None) for row, j in items}


StoreOutcome = tuple[dict[int, Judgement], BaseException | None]  # the judgements as stored, or what rolled back


def _store_batch(ctx: CycleContext, items: list[tuple[dict[str, Any], Judgement]]) -> StoreOutcome:
    """The TRAITE step of a whole batch in one transaction, nothing logged (it may run beside the cycle's thread,
    see collect): the judgements as stored, or the error that rolled it back."""
    inserted: list[pl.DataFrame] = []
    try:
        with ledger.transaction(ctx.engine, ctx.fence) as conn:
            stored = _store_many(conn, items, inserted) if items else {}
    except BaseException as e:  # judged by the cycle's thread (_store)
        return {}, e
    ctx.stored.add(inserted)  # committed
    return stored, None


def _store(
    ctx: CycleContext,
    items: list[tuple[dict[str, Any], Judgement]],
    attempt: Future[StoreOutcome] | None = None,
) -> dict[int, Judgement]:
    """The TRAITE step of a whole batch in one transaction (`attempt`: already under way beside); should one
    file's history fail (a defect), the batch is stored again file by file and that file alone is set aside."""
    stored, error = attempt.result() if attempt is not None else _store_batch(ctx, items)
    if error is not None:  # the run stops, or find the file at fault
        _decide(error, "enregistrement des jugements", project_error=SET_ASIDE)
        stored = {}
        for row, j in items:
            try:
                inserted: list[pl.DataFrame] = []
                with ledger.transaction(ctx.engine, ctx.fence) as conn:
                    stored.update(_store_many(conn, [(row, j)], inserted))
                ctx.stored.add(inserted)
            except BaseException as one:
                _decide(one, f"enregistrement du fichier n° {row['id']}", project_error=SET_ASIDE)
                _quarantine(ctx, row, one)
    for row, _ in items:
        done = stored.get(row["id"])
        if done is not None:
            row["state"] = ledger.TRAITE
            _event(
                ctx,
                f"fichier traité : {row['name']} — {done.statut}{f' ({done.file_code})' if done.file_code else ''}, "
                f"{_count(done.records_in, 'enregistrement reçu', 'enregistrements reçus')}, "
                f"{done.records_accepted} accepté{'s' if done.records_accepted > 1 else ''}, "
                f"{done.records_rejected} rejeté{'s' if done.records_rejected > 1 else ''}",
                file_id=row["id"],
                account=row["account"],
                siret=done.siret,
                state=ledger.TRAITE,
                statut=done.statut,
                code=done.file_code or "",
            )
    return stored


def stored_judgement(conn: Connection, row: dict[str, Any]) -> Judgement:
    """The judgement of a TRAITE/ACQUITTE file, rebuilt from the ledger (for comptes rendus and screens)."""
    frame = pl.DataFrame(
        [{k: a[k] for k in ANOMALY_SCHEMA} for a in ledger.anomalies_with_nir(conn, row["id"])], schema=ANOMALY_SCHEMA
    )
    return Judgement(
        name=row["name"],
        kind=row["kind"],
        siret=row["siret"],
        statut=row["statut"],
        anomalies=frame,
        records_in=row["records_in"] or 0,
        records_rejected=row["records_rejected"] or 0,
        file_code=row["code"],
    )


def _acknowledge(
    ctx: CycleContext, row: dict[str, Any], j: Judgement | None, owner: dict[str, Any] | None, moment: datetime
) -> Judgement:
    """Write the three comptes rendus of one file, keeping the pair they replace (ACQUITTE is the caller's).

    `<name>.CR.*` describes the latest answered reception of that name. Before it is replaced, its pair is
    renamed to its kept name, never over an existing file: a run resumed after a crash here finds the
    kept pair in place and only writes its own pair again. A file that has a later answered namesake
    writes its pair straight under its kept name. `owner`: ledger.latest_answered of that name.
    """
    name, account, file_id = row["name"], row["account"], row["id"]
    if j is None:  # resumed after a crash: the judgement is the stored one
        with ctx.engine.connect() as conn:
            j = stored_judgement(conn, row)
    pair = row["answers"] or 0
    if owner is not None and owner["id"] > file_id:
        stem = kept_stem(name, file_id, pair)
    else:
        stem = name
        if owner is not None:
            kept = kept_stem(name, owner["id"], owner["answers"] - 1)
            for ext in CR_EXTENSIONS:
                ctx.transport.rename_retour(account, f"{name}.{ext}", f"{kept}.{ext}")
    replayed_at = moment if pair else None  # a replay's compte rendu says so and when (stamped at ACQUITTE)
    for ext, data in cr_files(
        j, row["processing_date"], replayed_at=replayed_at, guide_url=ctx.config.web.guide_url
    ).items():
        ctx.transport.write_retour(account, f"{stem}.{ext}", data)
    return j


def _archive(ctx: CycleContext, rows: list[dict[str, Any]]) -> None:
    """RECU → ARCHIVE for a batch: each claim takes its archive name (a repeated move finds it done),
    then one transaction records them all."""
    moved = []
    for row in rows:
        try:
            found = ctx.transport.archive_claim(row["account"], ledger.claim_name(row["id"]), row["archived_name"])
        except ExchangeError as e:
            _file_error(ctx, row, "archivage", e, "archivage")
            continue
        if found:
            moved.append(row)
        else:  # neither the claim nor its archive name: someone removed it from archive/
            missing = MissingFromArchive(f"ni {ledger.claim_name(row['id'])} ni {row['archived_name']} dans archive/")
            _file_error(ctx, row, "archivage", missing, "archivage")
    if not moved:
        return
    ctx.transport.sync()
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        ledger.archived(conn, [row["id"] for row in moved])
    for row in moved:
        row["state"] = ledger.ARCHIVE
        _event(
            ctx,
            f"fichier reçu et archivé : {row['name']}",
            file_id=row["id"],
            account=row["account"],
            state=ledger.ARCHIVE,
        )


def _answer(
    ctx: CycleContext, row: dict[str, Any], j: Judgement | None, owner: dict[str, Any] | None, moment: datetime
) -> Judgement | None:
    """The comptes rendus of one TRAITE file; None when it waits (drop area refused) or was set aside."""
    try:
        return _acknowledge(ctx, row, j, owner, moment)
    except BaseException as e:  # _file_error: the run stops, or this file waits, or it is set aside
        system = f"écriture des comptes rendus de {row['account']}/{row['name']} impossible dans la zone de dépôt"
        _file_error(ctx, row, "dépôt des comptes rendus", e, system)
    return None


def _finish(ctx: CycleContext, rows: list[dict[str, Any]], judged: dict[int, Judgement]) -> None:
    """TRAITE → ACQUITTE for a batch: comptes rendus file by file, then one transaction per group of
    distinct names (a name answered twice in one batch is committed in between: the second answer must
    see the first as the one it replaces); then each file counts in the run's tally."""
    answered: list[tuple[dict[str, Any], Judgement]] = []
    names: set[tuple[str, str]] = set()
    todo = [row for row in rows if row["state"] == ledger.TRAITE]
    if not todo:
        return
    with ctx.engine.connect() as conn:
        owners = ledger.latest_answered_all(conn, [(row["account"], row["name"]) for row in todo])
    moment = datetime.now(UTC).replace(microsecond=0)  # what the batch's comptes rendus name, and ACQUITTE stamps

    def commit() -> None:
        ctx.transport.sync()  # the comptes rendus are durable before the ledger says ACQUITTE
        with ledger.transaction(ctx.engine, ctx.fence) as conn:
            ledger.acknowledged(conn, [row["id"] for row, _ in answered], at=moment)
        for row, j in answered:
            key = (row["account"], row["name"])
            if key not in owners or row["id"] >= owners[key]["id"]:  # the latest answered of its name now
                owners[key] = {"id": row["id"], "answers": (row["answers"] or 0) + 1}
            _event(
                ctx,
                f"comptes rendus déposés : {row['name']}",
                file_id=row["id"],
                account=row["account"],
                state=ledger.ACQUITTE,
            )
            ctx.tally.add(j.statut, j.records_in, j.records_accepted, j.records_rejected, j.anomalies["code"].to_list())
        _advance(ctx, "comptes rendus", len(answered))
        answered.clear()
        names.clear()

    for row in todo:
        if (row["account"], row["name"]) in names:
            commit()
        j = _answer(ctx, row, judged.get(row["id"]), owners.get((row["account"], row["name"])), moment)
        if j is not None:
            answered.append((row, j))
            names.add((row["account"], row["name"]))
    if answered:
        commit()


Judged = tuple[list[dict[str, Any]], list[tuple[dict[str, Any], Judgement]]]  # a batch's rows, and those judged


def _judged(ctx: CycleContext, file_ids: list[int]) -> Judged:
    """Received files archived and judged (record rules in one pass): their rows, and the judgements to store."""
    with ctx.engine.connect() as conn:
        rows = ledger.get_files(conn, sorted(set(file_ids)))
    _archive(ctx, [row for row in rows if row["state"] == ledger.RECU])
    waiting = [row for row in rows if row["state"] == ledger.ARCHIVE]
    judged = _judge_rows(ctx, waiting)
    return rows, [(row, judged[row["id"]]) for row in waiting if row["id"] in judged]


def _stored_and_answered(
    ctx: CycleContext,
    batch: Judged,
    attempt: Future[StoreOutcome] | None = None,
) -> None:
    rows, items = batch
    stored = _store(ctx, items, attempt)
    _advance(ctx, "jugement", len(stored))
    _finish(ctx, rows, stored)


def process(ctx: CycleContext, file_ids: list[int]) -> None:
    """Take received files from their states to ACQUITTE, one step for the whole batch at a time, each step
    committed in one transaction: archive, judge (record rules in one pass), store, answer."""
    _stored_and_answered(ctx, _judged(ctx, file_ids))


# -- the cycle --------------------------------------------------------------------------------------


def _resume(ctx: CycleContext) -> None:
    """Take every reception a crash (or a failed step) left unfinished to its end, oldest first."""
    with ctx.engine.connect() as conn:
        pending = ledger.unfinished_files(conn)
    ctx.expected += len(pending)
    if pending:
        _event(
            ctx,
            f"reprise de {_count(len(pending), 'réception laissée inachevée', 'réceptions laissées inachevées')}"
            " par une exécution précédente",
        )
    ids = [int(row["id"]) for row in pending if row["state"] != ledger.RECLAME]
    ids += _receive(ctx, [row for row in pending if row["state"] == ledger.RECLAME])
    if ids:
        process(ctx, ids)


def _batches(entries: list[Entry], limit: int) -> list[list[Entry]]:
    """Listed files in batches of at most BATCH_FILES files or BATCH_BYTES bytes (by listed size)."""
    batches: list[list[Entry]] = [[]]
    size = 0
    for entry in entries:
        if batches[-1] and (len(batches[-1]) >= BATCH_FILES or size >= BATCH_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(entry)
        size += min(entry.size, limit)
    return [b for b in batches if b]


def collect(ctx: CycleContext) -> None:
    """Resume what a crash left, then collect every ready file of every account, batch by batch."""
    _clean_incoming(ctx.config)
    _resume(ctx)
    now = time.time()
    ready: list[Entry] = []
    for account in ctx.transport.accounts():
        try:
            listing = ctx.transport.list_depot(account, now, ctx.config.source.settle_seconds)
        except ExchangeError as e:  # this account waits; the others go on, unless the run must stop
            _decide(e, f"compte {account}")
            ctx.tally.errors.append(f"compte {account} : {e}")
            _event(ctx, f"compte illisible : {e}", logging.ERROR, account=account)
            continue
        ctx.tally.waiting += len(listing.waiting)
        for entry, reason in listing.refused:
            ctx.tally.refused_names.append(f"{account}/{entry.name!r} : {reason}")
            _event(ctx, f"nom refusé : {reason}", logging.WARNING, account=account)
        ready += listing.ready
    ctx.expected += len(ready)
    batches = _batches(ready, ctx.config.limits.max_file_bytes)
    _event(
        ctx,
        f"relevé des dépôts : {_count(len(ready), 'fichier prêt', 'fichiers prêts')}"
        f"{f', {ctx.tally.waiting} en cours de dépôt (attendent)' if ctx.tally.waiting else ''}"
        f"{f', en {len(batches)} lots' if len(batches) > 1 else ''}",
        files=len(ready),
    )
    # Where the database takes two writers at once (PostgreSQL), a batch's records are stored by a second thread
    # while this one receives and judges the next batch (the server's work on the records, its indexes and keys
    # overlaps ours); the batch is answered once its storing has committed, before the next one is stored. The
    # history stays in order: one batch stored at a time, in the order received. On SQLite: one after the other.
    beside = concurrent_writers(ctx.engine)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="enregistrement") as storer:
        behind: tuple[Judged, Future[StoreOutcome]] | None = None
        for number, batch in enumerate(batches, 1):
            if ctx.stop is not None and ctx.stop():
                _event(
                    ctx,
                    "arrêt demandé : les fichiers restants attendent la prochaine exécution",
                    logging.WARNING,
                    general=True,
                )
                break
            if len(batches) > 1:
                _event(ctx, f"lot {number}/{len(batches)} : {_count(len(batch), 'fichier', 'fichiers')}")
            taken = _take(ctx, batch)
            _advance(ctx, "réception", len(taken))
            judged = _judged(ctx, taken)
            if behind is not None:
                _stored_and_answered(ctx, *behind)
                behind = None
            if beside and judged[1]:
                behind = (judged, storer.submit(_store_batch, ctx, judged[1]))
            else:
                _stored_and_answered(ctx, judged)
        if behind is not None:  # (should this thread raise, leaving the block waits for the storing under way)
            _stored_and_answered(ctx, *behind)


class MissingFromArchive(TransportError, TerminalError):
    """A claimed file is no longer in archive/ (removed by hand): the operator must look."""

    transient = False
    stops_run = False


class ReplayRefused(TerminalError):
    """A replay the spec does not allow (the French reason is the message)."""


def replay(ctx: CycleContext, file_id: int) -> dict[str, Any]:
    """Process a kept file again, as if just received, judged at its original processing date
    (habilitations.md: only a file rejected whole for an H code or F06, or in QUARANTAINE)."""
    with ctx.engine.connect() as conn:
        row = ledger.get_file(conn, file_id)
    if row is None:
        raise KeyError(file_id)
    reason = replay_refusal(row)
    if reason is None and row["stored_path"] is None:
        reason = f"le fichier n° {file_id} n'a pas de copie locale (il n'a jamais été lu) : il ne peut pas être rejoué"
    if reason is not None:
        raise ReplayRefused(reason)
    with ledger.transaction(ctx.engine, ctx.fence) as conn:
        ledger.reset_for_replay(conn, row, ctx.run_id)
    process(ctx, [file_id])
    with ctx.engine.connect() as conn:
        replayed = ledger.get_file(conn, file_id)
    assert replayed is not None  # read above, never deleted
    return replayed
