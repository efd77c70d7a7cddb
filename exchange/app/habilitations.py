"""Use case: import a Habpps extract — validated whole, then in force in one transaction, under the import lock.

Called the same way by `habilitations import` and the console's upload; two imports at once are serialised.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exchange.app.job import JobContext, run_locked
from exchange.app.journal import Actor
from exchange.config import Config
from exchange.edges.habpps import TABLES, Problem, extract_files, read_extract
from exchange.store.engine import Engine
from exchange.store.habilitations import replace_extract
from exchange.store.ledger import Fence, transaction
from schemas.fields import plural


@dataclass(frozen=True)
class ImportResult:
    """The outcome of an import: refused with its problems, or accepted with its row counts; `busy` (French)
    when it could not run at all."""

    accepted: bool
    problems: list[Problem]
    counts: dict[str, int]
    import_id: int | None
    busy: str | None = None


def extract_sha256(path: Path) -> str:
    """SHA-256 of the workbook, or of the folder's table files concatenated in name order."""
    h = hashlib.sha256()
    for file in extract_files(Path(path)):
        with open(file, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def import_extract(engine: Engine, path: Path, actor: str | None = None, fence: Fence | None = None) -> ImportResult:
    """Validate the whole extract, then replace the habilitations in one transaction (or change nothing).
    The caller holds the import lock (import_habilitations); `fence` checks it in the transaction."""
    path = Path(path)
    frames, problems = read_extract(path)
    if frames is None:
        return ImportResult(accepted=False, problems=problems, counts={}, import_id=None)
    with transaction(engine, fence) as conn:  # the import lock is still held (exchange.store.fences)
        import_id = replace_extract(conn, frames, source=str(path.resolve()), sha256=extract_sha256(path), actor=actor)
    return ImportResult(accepted=True, problems=[], counts={t: frames[t].height for t in TABLES}, import_id=import_id)


def import_detail(result: ImportResult) -> str:
    """What an import did, in French, as the journal shows it."""
    if result.busy is not None:
        return f"import non effectué : {result.busy}"
    if result.accepted:
        return f"import n° {result.import_id} : " + ", ".join(f"{t} {n}" for t, n in result.counts.items())
    problems = plural(len(result.problems), "problème", "problèmes")
    return f"{problems} : " + "; ".join(str(p) for p in result.problems[:20])


def import_habilitations(
    config: Config,
    engine: Engine,
    path: Path,
    actor: str | None,
    on_wait: Callable[[], None] | None = None,
    *,
    journal: Actor | None = None,
    shown: str | None = None,
) -> ImportResult:
    """import_extract under the habilitations lock, waiting for an import already running (no run record:
    `runs` lists the exchange's jobs, `hab_imports` the imports). `actor` is who the import record names; with
    `journal`, one journal line (`import_habilitations`: the files `shown`, or the path's name, and the outcome)."""
    result = _import_locked(config, engine, path, actor, on_wait)
    if journal is not None:
        outcome = "OK" if result.accepted else "REFUSE"
        journal.record(engine, "import_habilitations", outcome, shown or Path(path).name, import_detail(result))
    return result


def _import_locked(
    config: Config, engine: Engine, path: Path, actor: str | None, on_wait: Callable[[], None] | None
) -> ImportResult:
    results: list[ImportResult] = []

    def import_under_lock(ctx: JobContext) -> str | None:
        results.append(import_extract(engine, Path(path), actor=actor, fence=ctx.fence))
        if not results[-1].accepted:
            return f"extrait Habpps refusé ({len(results[-1].problems)} problème(s)) : {Path(path).name}"
        return None

    outcome = run_locked(config, engine, "habilitations", import_under_lock, wait=True, on_wait=on_wait, record=False)
    if not results:
        return ImportResult(accepted=False, problems=[], counts={}, import_id=None, busy=outcome.error or "")
    return results[-1]


__all__ = ["ImportResult", "extract_sha256", "import_detail", "import_extract", "import_habilitations"]
