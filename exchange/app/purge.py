"""The purge use case (cli.md `purge`, `[retention]`): what is due on a date, removed everywhere, counted.

Order of every step, so that a kill -9 anywhere leaves nothing inconsistent: the ledger marks what it is
about to remove (pending) and commits, the files go (local copies, archive/ and retour/ through the
transport, Caf output files), then the mark is closed. The next purge first finishes every pending mark;
removals are idempotent. Identities are erased in one transaction per batch. Same code for the command
line and the scheduler (through the job wrapper: cycle lock, run record, fence).
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

from exchange.app.job import JobContext, RunOutcome, run_locked
from exchange.config import Config
from exchange.core.clock import PARIS, today_in_paris
from exchange.core.compte_rendu.names import CR_EXTENSIONS, kept_stem
from exchange.core.ledger_paths import under_root
from exchange.core.retention import (
    KINDS,
    Duration,
    FileFacts,
    answer_describes,
    declaration_year,
    file_due,
    file_year,
    output_due,
    unfinished_due,
)
from exchange.core.vocabulary import ACQUITTE
from exchange.edges.transport.base import Transport
from exchange.edges.transport.factory import open_transport
from exchange.store import ledger
from exchange.store import purge as store
from exchange.store.engine import Engine

log = logging.getLogger("esat_exchange")
BATCH = 200  # files (or emissions) per transaction
OUTPUT_SUFFIXES = (".parquet", ".csv", ".manifest.json")
T = TypeVar("T")

Counts = dict[str, dict[int, list[int]]]  # kind → {year: [items, records, anomalies]}


@dataclass
class Plan:
    """What is due on `as_of`: file ids per kind, emissions, and the journal/run cutoffs."""

    as_of: date
    audit_before: datetime
    runs_before: datetime
    files: dict[int, dict[str, Any]] = field(default_factory=dict)  # id → candidate row
    file_kinds: dict[int, frozenset[str]] = field(
        default_factory=dict
    )  # id → kinds due (copies, comptes_rendus, identity)
    years: dict[int, int] = field(default_factory=dict)  # id → declaration year
    outputs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PurgeReport:
    as_of: date
    dry_run: bool
    counts: Counts
    reclaimed: str | None = None
    outcome: RunOutcome | None = None
    unknown: dict[str, int] = field(default_factory=dict)  # files the ledger does not know, kept: per kind

    @property
    def exit_code(self) -> int:
        return 0 if self.outcome is None else self.outcome.exit_code


def _paris_day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.astimezone(PARIS).date()


def _completed_day(output: dict[str, Any]) -> date:
    """The Paris day an emission (a finished one: its completed_at is set) was written."""
    moment: datetime = output["completed_at"]
    return moment.astimezone(PARIS).date()


def _cutoff(duration: Duration, as_of: date) -> datetime:
    """The instant before which a dated line is due: its Paris day + duration <= as_of."""
    last_day = duration.before(as_of)
    return datetime.combine(last_day + timedelta(days=1), time(0), PARIS).astimezone(UTC)


def plan(config: Config, engine: Engine, as_of: date) -> Plan:
    """Everything due on `as_of` under the configured durations (reads only)."""
    durations = config.retention.durations()
    p = Plan(as_of, audit_before=_cutoff(durations["audit"], as_of), runs_before=_cutoff(durations["runs"], as_of))
    with engine.connect() as conn:
        candidates = store.file_candidates(conn)
        outputs = store.output_candidates(conn)
    for row in candidates:
        year = file_year(row["processing_date"], row["reference_year"])
        finished = row["finished"] and not row["quarantined"]
        facts = FileFacts(row["id"], finished, year, _paris_day(row["state_changed_at"]))
        if not finished:  # set aside for replay, or its records never emitted: kept, up to `unfinished`
            # (a file between RECLAME and TRAITE is never purged: every cycle resumes it, status reports it blocked)
            resting = row["quarantined"] or row["state"] == ACQUITTE
            if resting and unfinished_due(facts, durations["unfinished"], as_of):
                kinds = {"copies": "copies_purged_at", "comptes_rendus": "answers_purged_at"}
                due = {k for k, mark in kinds.items() if row[mark] is None}
                due |= {"identity"} if row["identity_purged_at"] is None else set()
                p.files[row["id"]], p.file_kinds[row["id"]], p.years[row["id"]] = row, frozenset(due), year
            continue
        due = set()
        if row["copies_purged_at"] is None and file_due(facts, durations["copies"], as_of, from_window=False):
            due.add("copies")
        if row["answers_purged_at"] is None and file_due(facts, durations["comptes_rendus"], as_of, from_window=False):
            due.add("comptes_rendus")
        if row["identity_purged_at"] is None and file_due(facts, durations["identity"], as_of, from_window=True):
            due.add("identity")
        if due:
            p.files[row["id"]], p.file_kinds[row["id"]], p.years[row["id"]] = row, frozenset(due), year
    p.outputs = [o for o in outputs if output_due(_completed_day(o), o["annee"], durations["outputs"], as_of)]
    return p


def _new_counts() -> Counts:
    return {kind: defaultdict(lambda: [0, 0, 0]) for kind in KINDS}


def dry_run(config: Config, engine: Engine, as_of: date) -> PurgeReport:
    """What a purge on `as_of` would remove, per kind and year; nothing is written, no lock is taken."""
    p = plan(config, engine, as_of)
    counts = _new_counts()
    identity = [i for i, kinds in p.file_kinds.items() if "identity" in kinds]
    with engine.connect() as conn:
        sizes = store.identity_sizes(conn, identity)
        audit = store.audit_due(conn, p.audit_before)
        old_runs = store.runs_due(conn, p.runs_before)
    for file_id, kinds in p.file_kinds.items():
        for kind in kinds:
            c = counts[kind][p.years[file_id]]
            c[0] += 1
            if kind == "identity":
                n_records, n_anomalies = sizes.get(file_id, (0, 0))
                c[1] += n_records
                c[2] += n_anomalies
    for o in p.outputs:
        counts["outputs"][_output_year(o)][0] += 1
    for year, n in audit.items():
        counts["audit"][year][0] += n
    for year, n in old_runs.items():
        counts["runs"][year][0] += n
    copies, outputs = unknown_files(config, engine)
    return PurgeReport(as_of, True, counts, unknown={"copies": len(copies), "outputs": len(outputs)})


def _output_year(o: dict[str, Any]) -> int:
    return o["annee"] if o["annee"] is not None else declaration_year(_completed_day(o))


# -- removals (idempotent) ----------------------------------------------------------------------


def _retour_names(row: dict[str, Any], latest: dict[tuple[str, str], int], transport: Transport) -> list[str]:
    """Every compte rendu this reception may have in retour/: its kept pairs (named after its id), and
    <name>.CR.* when it is the latest answered reception of its name and that pair answers it (after a
    restore it may answer a later reception the ledger does not know: kept). CSV last: what says whose
    pair it is goes last, so that a purge stopped midway still knows it on its next run."""
    stems = [kept_stem(row["name"], row["id"], pair) for pair in range(row["answers"] or 0)]
    names = [f"{stem}.{ext}" for stem in stems for ext in CR_EXTENSIONS]
    if latest.get((row["account"], row["name"])) == row["id"]:
        cr_csv = transport.read_retour(row["account"], f"{row['name']}.CR.csv")
        if cr_csv is None or answer_describes(cr_csv, row):
            names += [f"{row['name']}.{ext}" for ext in ("CR.xml", "CR.html", "CR.csv")]
        else:
            log.warning(
                f"{row['account']}/retour/{row['name']}.CR.* répond à une réception inconnue de la base : conservé"
            )
    return names


def _unlink(path: Path, folders: set[Path]) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    folders.add(path.parent)


def _sync_folders(folders: set[Path]) -> None:
    """The removals are on disk before the ledger says they are done."""
    for folder in sorted(folders):
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_file_data(
    config: Config, engine: Engine, transport: Transport, rows: list[dict[str, Any]], latest: dict[tuple[str, str], int]
) -> None:
    """Remove what the marks of these rows say is being purged; a stored copy shared with a reception whose
    copy is kept (same content, same account) stays for it."""
    with engine.connect() as conn:
        in_use = store.stored_paths_in_use(
            conn, [r["stored_path"] for r in rows if r["copies_purged_at"] and r["stored_path"]]
        )
    folders: set[Path] = set()
    for row in rows:
        if row["copies_purged_at"] is not None:
            copy = under_root(config.storage_dir, row["stored_path"])
            if copy is not None and row["stored_path"] not in in_use:  # never a file outside today's root
                _unlink(copy, folders)
            for name in {row["archived_name"], ledger.claim_name(row["id"])} - {None}:
                transport.remove(row["account"], "archive", name)
        if row["answers_purged_at"] is not None:
            for name in _retour_names(row, latest, transport):
                transport.remove(row["account"], "retour", name)
    _sync_folders(folders)
    transport.sync()


def _remove_outputs(config: Config, rows: list[dict[str, Any]]) -> None:
    folders: set[Path] = set()
    for row in rows:
        for suffix in OUTPUT_SUFFIXES:
            _unlink(config.output_dir / row["code_caf"] / f"{row['name']}{suffix}", folders)
    _sync_folders(folders)


def unknown_files(config: Config, engine: Engine) -> tuple[list[Path], list[Path]]:
    """Local copies and Caf output files that no ledger row points to (a database restored from an older
    backup, a row removed by hand): (copies, outputs). Never removed by any command (cli.md: a restored
    database never destroys what it does not know): reported until an operator acts (docs/operations.md).
    Compared by account (or Caf) and file name, the ledger's paths being relative to today's roots."""
    with engine.connect() as conn:
        stored = store.stored_names(conn)
        emitted = store.emission_names(conn)
    copies = [
        Path(f.path)
        for account in _entries(config.storage_dir)
        for f in _entries(account.path)
        if f.is_file(follow_symlinks=False) and (account.name, f.name) not in stored
    ]
    outputs = [
        Path(f.path)
        for caf in _entries(config.output_dir)
        for f in _entries(caf.path)
        if f.is_file(follow_symlinks=False)
        and f.name.startswith("AAH-ESAT_")
        and (caf.name, _output_base(f.name)) not in emitted
    ]
    return copies, outputs


def count_unknown_files(config: Config, engine: Engine) -> dict[str, int]:
    """Scan the storage and output folders and record how many files the ledger does not know (read by
    `status` and /sante): {"copies": n, "outputs": m}."""
    copies, outputs = unknown_files(config, engine)
    found = {"copies": len(copies), "outputs": len(outputs)}
    with engine.begin() as conn:
        store.record_unknown(conn, found, ledger.utcnow())
    return found


def _entries(folder: Path | str) -> list[os.DirEntry[str]]:
    """The entries of a folder by name, without dot names (.incoming, temporary files) or links; none when it is
    missing. From scandir: the kinds come with the listing, no stat per file (14,300 copies at 10× the nation)."""
    try:
        with os.scandir(folder) as listing:
            kept = [e for e in listing if not e.name.startswith(".") and not e.is_symlink()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(kept, key=lambda e: e.name)


def _output_base(name: str) -> str:
    for suffix in OUTPUT_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


# -- the purge itself ---------------------------------------------------------------------------


def _batches(items: list[T], size: int | None = None) -> list[list[T]]:
    size = size or BATCH
    return [items[i : i + size] for i in range(0, len(items), size)]


def _purge(
    config: Config,
    engine: Engine,
    ctx: JobContext,
    as_of: date,
    counts: Counts,
    stop: Callable[[], bool],
    unknown: dict[str, int],
) -> str | None:
    fence = ctx.fence
    now = ledger.utcnow()
    with engine.connect() as conn:
        latest = store.latest_answered_ids(conn)
        pending = store.pending_files(conn)
        pending_out = store.pending_outputs(conn)
    with open_transport(config) as transport:
        # 1. finish what a stopped purge began
        for pending_rows in _batches(pending):
            _remove_file_data(config, engine, transport, pending_rows, latest)
            with ledger.transaction(engine, fence) as conn:
                store.end_file_purge(conn, [r["id"] for r in pending_rows])
        if pending_out:
            _remove_outputs(config, pending_out)
            with ledger.transaction(engine, fence) as conn:
                store.end_output_purge(conn, [r["id"] for r in pending_out])
        # files no row points to (a restored older ledger): never removed, counted for `status`
        unknown.update(count_unknown_files(config, engine))
        p = plan(config, engine, as_of)
        # 2. copies and comptes rendus: mark, remove, close
        with_files = [i for i, kinds in p.file_kinds.items() if kinds & {"copies", "comptes_rendus"}]
        for batch in _batches(with_files):
            if stop():
                return "purge arrêtée à la demande : la prochaine purge la termine"
            marks = {i: p.file_kinds[i] & {"copies", "comptes_rendus"} for i in batch}
            per_kind: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
            for i, kinds in marks.items():
                for kind in kinds:
                    per_kind[kind][p.years[i]][0] += 1
            with ledger.transaction(engine, fence) as conn:
                store.begin_file_purge(conn, marks, now)
                for kind, per_year in per_kind.items():
                    store.record_counts(conn, ctx.run_id, now, kind, per_year)
            rows = [
                {
                    **p.files[i],
                    "copies_purged_at": now if "copies" in marks[i] else p.files[i]["copies_purged_at"],
                    "answers_purged_at": now if "comptes_rendus" in marks[i] else p.files[i]["answers_purged_at"],
                }
                for i in batch
            ]
            _remove_file_data(config, engine, transport, rows, latest)
            with ledger.transaction(engine, fence) as conn:
                store.end_file_purge(conn, batch)
            _add(counts, per_kind)
    # 3. identities: one transaction per batch (rows an earlier version only blanked become counts first)
    with ledger.transaction(engine, fence) as conn:
        store.finish_former_anonymisation(conn)
    identity = [i for i, kinds in p.file_kinds.items() if "identity" in kinds]
    for batch in _batches(identity):
        if stop():
            return "purge arrêtée à la demande : la prochaine purge la termine"
        with engine.connect() as conn:
            sizes = store.identity_sizes(conn, batch)
        identity_counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        for i in batch:
            n_records, n_anomalies = sizes.get(i, (0, 0))
            c = identity_counts[p.years[i]]
            c[0], c[1], c[2] = c[0] + 1, c[1] + n_records, c[2] + n_anomalies
        with ledger.transaction(engine, fence) as conn:
            store.anonymise(conn, batch, now)
            store.record_counts(conn, ctx.run_id, now, "identity", identity_counts)
        _add(counts, {"identity": identity_counts})
    # 4. Caf output files
    for outputs in _batches(p.outputs):
        output_counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        for o in outputs:
            output_counts[_output_year(o)][0] += 1
        with ledger.transaction(engine, fence) as conn:
            store.begin_output_purge(conn, [o["id"] for o in outputs], now)
            store.record_counts(conn, ctx.run_id, now, "outputs", output_counts)
        _remove_outputs(config, outputs)
        with ledger.transaction(engine, fence) as conn:
            store.end_output_purge(conn, [o["id"] for o in outputs])
        _add(counts, {"outputs": output_counts})
    # 5. the audit journal and old run records
    with ledger.transaction(engine, fence) as conn:
        audit = {year: [n, 0, 0] for year, n in store.audit_due(conn, p.audit_before).items()}
        store.delete_audit(conn, p.audit_before)
        store.record_counts(conn, ctx.run_id, now, "audit", audit)
        old_runs = {year: [n, 0, 0] for year, n in store.runs_due(conn, p.runs_before).items()}
        store.delete_runs(conn, p.runs_before)
        store.record_counts(conn, ctx.run_id, now, "runs", old_runs)
    _add(counts, {"audit": audit, "runs": old_runs})
    return None


def _add(counts: Counts, more: Counts) -> None:
    for kind, per_year in more.items():
        for year, c in per_year.items():
            total = counts[kind][year]
            for k in range(3):
                total[k] += c[k]


def purge(
    config: Config,
    engine: Engine,
    as_of: date,
    *,
    fence: ledger.Fence | None = None,
    stop: Callable[[], bool] | None = None,
) -> PurgeReport:
    """Apply the retention rules on `as_of` under the cycle lock, recorded in `runs` as `purge`; then give the
    erased pages back (SQLite VACUUM, PostgreSQL VACUUM). IGNORE when a cycle or purge runs elsewhere."""
    counts = _new_counts()
    reclaimed: list[str] = []
    unknown: dict[str, int] = {}

    def work(ctx: JobContext) -> str | None:
        error = _purge(config, engine, ctx, as_of, counts, ctx.stop, unknown)
        removed = sum(c[0] for per_year in counts.values() for c in per_year.values())
        if error is None and not ctx.stop():  # still under the lock: no cycle writes meanwhile
            done, complete = store.reclaim(engine)
            reclaimed.append(done)
            if complete:  # only now is a purged identity « effacée » (status and /sante said otherwise)
                with ledger.transaction(engine, ctx.fence) as conn:
                    store.confirm_erasure(conn, ledger.utcnow())
        log.info(
            f"purge au {as_of.isoformat()} : {removed} élément(s) supprimé(s) ou rendu(s) anonyme(s)",
            extra={"event": {"run_id": ctx.run_id, "job": "purge"}},
        )
        return error

    outcome = run_locked(config, engine, "purge", work, as_of=as_of, stop=stop, outer_fence=fence)
    return PurgeReport(as_of, False, counts, reclaimed[0] if reclaimed else None, outcome, unknown)


def purge_job(
    config: Config,
    engine: Engine,
    job: str = "purge",
    *,
    stop: Callable[[], bool] | None = None,
    fence: ledger.Fence | None = None,
) -> RunOutcome:
    """The `purge` job of exchange.core.jobs, started by the scheduler: the retention rules on today (Paris)."""
    outcome = purge(config, engine, today_in_paris(), fence=fence, stop=stop).outcome
    assert outcome is not None  # set by every purge that is not a dry run
    return outcome


__all__ = ["purge", "purge_job", "dry_run", "plan", "PurgeReport", "Plan"]
