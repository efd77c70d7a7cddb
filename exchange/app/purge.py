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

from exchange.app.job import JobContext, RunOutcome, run_locked
from exchange.app.kept_names import kept_stem
from exchange.config import Config
from exchange.core.clock import PARIS
from exchange.core.retention import KINDS, Duration, FileFacts, file_due, file_year, output_due
from exchange.edges.transport.base import Transport
from exchange.edges.transport.factory import open_transport
from exchange.store import ledger
from exchange.store import purge as store
from exchange.store.engine import Engine

log = logging.getLogger("esat_exchange")
BATCH = 200  # files (or emissions) per transaction
CR_EXTENSIONS = ("CR.csv", "CR.xml", "CR.html")
OUTPUT_SUFFIXES = (".parquet", ".csv", ".manifest.json")

Counts = dict  # kind → {year: [items, records, anomalies]}


@dataclass
class Plan:
    """What is due on `as_of`: file ids per kind, emissions, and the journal/run cutoffs."""

    as_of: date
    files: dict[int, dict] = field(default_factory=dict)  # id → candidate row
    file_kinds: dict[int, frozenset[str]] = field(
        default_factory=dict
    )  # id → kinds due (copies, comptes_rendus, identity)
    years: dict[int, int] = field(default_factory=dict)  # id → declaration year
    outputs: list[dict] = field(default_factory=list)
    audit_before: datetime | None = None
    runs_before: datetime | None = None


@dataclass
class PurgeReport:
    as_of: date
    dry_run: bool
    counts: Counts
    reclaimed: str | None = None
    outcome: RunOutcome | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.outcome is None else self.outcome.exit_code


def _paris_day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.astimezone(PARIS).date()


def _cutoff(duration: Duration, as_of: date) -> datetime:
    """The instant before which a dated line is due: its Paris day + duration <= as_of."""
    last_day = duration.before(as_of)
    return datetime.combine(last_day + timedelta(days=1), time(0), PARIS).astimezone(UTC)


def plan(config: Config, engine: Engine, as_of: date) -> Plan:
    """Everything due on `as_of` under the configured durations (reads only)."""
    durations = config.retention.durations()
    p = Plan(as_of)
    with engine.connect() as conn:
        candidates = store.file_candidates(conn)
        outputs = store.output_candidates(conn)
    for row in candidates:
        if row["quarantined"]:
            continue  # set aside for replay: never purged
        year = file_year(row["processing_date"], row["reference_year"])
        facts = FileFacts(row["id"], row["finished"], year, _paris_day(row["state_changed_at"]))
        due = set()
        if row["copies_purged_at"] is None and file_due(facts, durations["copies"], as_of, from_window=False):
            due.add("copies")
        if row["answers_purged_at"] is None and file_due(facts, durations["comptes_rendus"], as_of, from_window=False):
            due.add("comptes_rendus")
        if row["identity_purged_at"] is None and file_due(facts, durations["identity"], as_of, from_window=True):
            due.add("identity")
        if due:
            p.files[row["id"]], p.file_kinds[row["id"]], p.years[row["id"]] = row, frozenset(due), year
    p.outputs = [
        o for o in outputs if output_due(_paris_day(o["completed_at"]), o["annee"], durations["outputs"], as_of)
    ]
    p.audit_before = _cutoff(durations["audit"], as_of)
    p.runs_before = _cutoff(durations["runs"], as_of)
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
    lost_copies, lost_outputs = orphans(config, engine)
    counts["copies"][None][0] += len(lost_copies)
    counts["outputs"][None][0] += len(lost_outputs)
    for year, n in audit.items():
        counts["audit"][year][0] += n
    for year, n in old_runs.items():
        counts["runs"][year][0] += n
    return PurgeReport(as_of, True, counts)


def _output_year(o: dict) -> int:
    from exchange.core.retention import declaration_year

    return o["annee"] if o["annee"] is not None else declaration_year(_paris_day(o["completed_at"]))


# -- removals (idempotent) ----------------------------------------------------------------------


def _retour_names(row: dict, latest: dict[tuple[str, str], int]) -> list[str]:
    """Every compte rendu this reception may have in retour/: its kept pairs, and <name>.CR.* when it is the
    latest answered reception of its name."""
    stems = [kept_stem(row["name"], row["id"], pair) for pair in range(row["answers"] or 0)]
    if latest.get((row["account"], row["name"])) == row["id"]:
        stems.append(row["name"])
    return [f"{stem}.{ext}" for stem in stems for ext in CR_EXTENSIONS]


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
    engine: Engine, transport: Transport, rows: list[dict], latest: dict[tuple[str, str], int]
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
            if row["stored_path"] and row["stored_path"] not in in_use:
                _unlink(Path(row["stored_path"]), folders)
            for name in {row["archived_name"], ledger.claim_name(row["id"])} - {None}:
                transport.remove(row["account"], "archive", name)
        if row["answers_purged_at"] is not None:
            for name in _retour_names(row, latest):
                transport.remove(row["account"], "retour", name)
    _sync_folders(folders)
    transport.sync()


def _remove_outputs(config: Config, rows: list[dict]) -> None:
    folders: set[Path] = set()
    for row in rows:
        for suffix in OUTPUT_SUFFIXES:
            _unlink(config.output_dir / row["code_caf"] / f"{row['name']}{suffix}", folders)
    _sync_folders(folders)


def orphans(config: Config, engine: Engine) -> tuple[list[Path], list[Path]]:
    """Local copies and Caf output files that no ledger row points to (a database restored from an older
    backup, a row removed by hand): (copies, outputs). Only read under the cycle lock, or for a dry run: no
    reception or emission is writing meanwhile. Compared by account (or Caf) and file name, so that a moved
    storage folder finds its files again."""
    with engine.connect() as conn:
        stored = store.stored_names(conn)
        emitted = store.emission_names(conn)
    copies = [
        p
        for account in _children(config.storage_dir)
        for p in _children(account)
        if p.is_file() and (account.name, p.name) not in stored
    ]
    outputs = [
        p
        for caf in _children(config.output_dir)
        for p in _children(caf)
        if p.is_file() and p.name.startswith("AAH-ESAT_") and (caf.name, _output_base(p.name)) not in emitted
    ]
    return copies, outputs


def _children(folder: Path) -> list[Path]:
    """The entries of a folder, without dot names (.incoming, temporary files); none when it is missing."""
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and not p.is_symlink())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _output_base(name: str) -> str:
    for suffix in OUTPUT_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


# -- the purge itself ---------------------------------------------------------------------------


def _batches(items: list, size: int | None = None) -> list[list]:
    size = size or BATCH
    return [items[i : i + size] for i in range(0, len(items), size)]


def _purge(
    config: Config, engine: Engine, ctx: JobContext, as_of: date, counts: Counts, stop: Callable[[], bool]
) -> str | None:
    fence = ctx.fence
    now = ledger.utcnow()
    with engine.connect() as conn:
        latest = store.latest_answered_ids(conn)
        pending = store.pending_files(conn)
        pending_out = store.pending_outputs(conn)
    with open_transport(config) as transport:
        # 1. finish what a stopped purge began
        for batch in _batches(pending):
            _remove_file_data(engine, transport, batch, latest)
            with ledger.transaction(engine, fence) as conn:
                store.end_file_purge(conn, [r["id"] for r in batch])
        if pending_out:
            _remove_outputs(config, pending_out)
            with ledger.transaction(engine, fence) as conn:
                store.end_output_purge(conn, [r["id"] for r in pending_out])
        # files no row points to any more: removed (counted without a year)
        lost_copies, lost_outputs = orphans(config, engine)
        folders: set[Path] = set()
        for path in lost_copies + lost_outputs:
            _unlink(path, folders)
        _sync_folders(folders)
        lost = {"copies": {None: [len(lost_copies), 0, 0]}, "outputs": {None: [len(lost_outputs), 0, 0]}}
        with ledger.transaction(engine, fence) as conn:
            for kind, per_year in lost.items():
                store.record_counts(conn, ctx.run_id, now, kind, per_year)
        _add(counts, lost)
        p = plan(config, engine, as_of)
        # 2. copies and comptes rendus: mark, remove, close
        with_files = [i for i, kinds in p.file_kinds.items() if kinds & {"copies", "comptes_rendus"}]
        for batch in _batches(with_files):
            if stop():
                return "purge arrêtée à la demande : la prochaine purge la termine"
            marks = {i: p.file_kinds[i] & {"copies", "comptes_rendus"} for i in batch}
            per_kind: dict[str, dict] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
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
            _remove_file_data(engine, transport, rows, latest)
            with ledger.transaction(engine, fence) as conn:
                store.end_file_purge(conn, batch)
            _add(counts, per_kind)
    # 3. identities: one transaction per batch
    identity = [i for i, kinds in p.file_kinds.items() if "identity" in kinds]
    for batch in _batches(identity):
        if stop():
            return "purge arrêtée à la demande : la prochaine purge la termine"
        with engine.connect() as conn:
            sizes = store.identity_sizes(conn, batch)
        per_year: dict = defaultdict(lambda: [0, 0, 0])
        for i in batch:
            n_records, n_anomalies = sizes.get(i, (0, 0))
            c = per_year[p.years[i]]
            c[0], c[1], c[2] = c[0] + 1, c[1] + n_records, c[2] + n_anomalies
        with ledger.transaction(engine, fence) as conn:
            store.anonymise(conn, batch, now)
            store.record_counts(conn, ctx.run_id, now, "identity", per_year)
        _add(counts, {"identity": per_year})
    # 4. Caf output files
    for batch in _batches(p.outputs):
        per_year = defaultdict(lambda: [0, 0, 0])
        for o in batch:
            per_year[_output_year(o)][0] += 1
        with ledger.transaction(engine, fence) as conn:
            store.begin_output_purge(conn, [o["id"] for o in batch], now)
            store.record_counts(conn, ctx.run_id, now, "outputs", per_year)
        _remove_outputs(config, batch)
        with ledger.transaction(engine, fence) as conn:
            store.end_output_purge(conn, [o["id"] for o in batch])
        _add(counts, {"outputs": per_year})
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


def _add(counts: Counts, more: dict) -> None:
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

    def work(ctx: JobContext) -> str | None:
        error = _purge(config, engine, ctx, as_of, counts, ctx.stop)
        removed = sum(c[0] for per_year in counts.values() for c in per_year.values())
        if error is None and not ctx.stop():  # still under the lock: no cycle writes meanwhile
            reclaimed.append(store.reclaim(engine))
        log.info(
            f"purge au {as_of.isoformat()} : {removed} élément(s) supprimé(s) ou rendu(s) anonyme(s)",
            extra={"event": {"run_id": ctx.run_id, "job": "purge"}},
        )
        return error

    outcome = run_locked(config, engine, "purge", work, as_of=as_of, stop=stop, outer_fence=fence)
    return PurgeReport(as_of, False, counts, reclaimed[0] if reclaimed else None, outcome)


__all__ = ["purge", "dry_run", "plan", "PurgeReport", "Plan"]
