"""Pause and resume scheduled jobs (issue 23): the use case the command line and the console call the same way.

A paused job's scheduled slots are skipped (jobs/tasks.py: no run recorded, one warning logged) and not caught
up after the resume; a run already in progress goes on; a job started by hand (console « Lancer maintenant »,
`esat-exchange run`) still runs. Every pause and resume, done or refused, is one journal line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exchange.core.vocabulary import JOB_LABELS, SCHEDULED_JOBS
from exchange.store.engine import Engine, in_transaction
from exchange.store.operators import record_audit
from exchange.store.pauses import PauseError, pause_job, paused_jobs, resume_job, since_text

ALL = "toutes"
MAX_REASON = 500
PAUSE, RESUME = "suspension_tache", "reprise_tache"  # the journal's actions


@dataclass(frozen=True)
class PauseResult:
    """Done, or refused (why, in French)."""

    done: bool
    message: str


def pause_detail(row: dict[str, Any]) -> str:
    """« par marie depuis le 06/12/2026 03:12 (motif : import Habpps) »."""
    return since_text(row) + (f" (motif : {row['reason']})" if row.get("reason") else "")


def pause_text(row: dict[str, Any]) -> str:
    """« suspendue par marie depuis le 06/12/2026 03:12 (motif : import Habpps) »."""
    return f"suspendue {pause_detail(row)}"


def job_states(engine: Engine) -> list[dict[str, Any]]:
    """Each scheduled job: tache, libelle, suspendue (bool), par, depuis, motif (None when active), detail (who,
    since when, why) and texte (« active », or « suspendue » and the detail)."""
    with engine.connect() as conn:
        paused = paused_jobs(conn)
    states = []
    for job in SCHEDULED_JOBS:
        row = paused.get(job)
        states.append(
            {
                "tache": job,
                "libelle": JOB_LABELS[job],
                "suspendue": row is not None,
                "par": row["paused_by"] if row else None,
                "depuis": row["paused_at"] if row else None,
                "motif": row["reason"] if row else None,
                "detail": pause_detail(row) if row else "",
                "texte": pause_text(row) if row else "active",
            }
        )
    return states


def _reason(reason: str | None) -> str | None:
    reason = " ".join((reason or "").split())  # one line: the journal and the log show it as typed
    if len(reason) > MAX_REASON:
        raise PauseError(f"motif trop long : {MAX_REASON} caractères au plus")
    return reason or None


def _journal(
    engine: Engine, by: str, action: str, result: PauseResult, target: str, reason: str | None, address: str | None
) -> PauseResult:
    detail = result.message + (f" Motif : {reason}" if reason and result.done else "")
    in_transaction(engine, record_audit, by, action, "OK" if result.done else "REFUSE", target, detail, address)
    return result


def pause(engine: Engine, job: str, by: str, reason: str | None = None, address: str | None = None) -> PauseResult:
    """Pause `job` (or every scheduled job with `job="toutes"`) for the scheduler, as `by`; journaled."""
    target = "toutes les tâches" if job == ALL else f"tâche {job}"
    try:
        reason = _reason(reason)
        if job == ALL:
            with engine.connect() as conn:
                already = paused_jobs(conn)
            todo = [j for j in SCHEDULED_JOBS if j not in already]
            if not todo:
                raise PauseError("toutes les tâches planifiées sont déjà suspendues")
            done = []
            for j in todo:
                try:
                    in_transaction(engine, pause_job, j, by, reason)
                    done.append(JOB_LABELS[j])
                except PauseError:  # paused meanwhile by someone else: it is paused, as asked
                    pass
            result = PauseResult(
                True,
                f"Tâches suspendues : {', '.join(done) or 'aucune'}. Le planificateur saute "
                "leurs créneaux jusqu'à la reprise ; un lancement à la main reste possible.",
            )
        else:
            in_transaction(engine, pause_job, job, by, reason)
            result = PauseResult(
                True,
                f"Tâche {JOB_LABELS[job]} suspendue : le planificateur saute ses créneaux "
                "jusqu'à la reprise ; un lancement à la main reste possible.",
            )
    except PauseError as e:
        result = PauseResult(False, f"Refusé : {e}.")
    return _journal(engine, by, PAUSE, result, target, reason if isinstance(reason, str) else None, address)


def resume(engine: Engine, job: str, by: str, address: str | None = None) -> PauseResult:
    """Resume `job` (or every paused job with `job="toutes"`), as `by`; journaled. Slots passed during the pause
    are not caught up: the job runs at its next slot."""
    target = "toutes les tâches" if job == ALL else f"tâche {job}"
    try:
        if job == ALL:
            with engine.connect() as conn:
                paused = list(paused_jobs(conn))
            if not paused:
                raise PauseError("aucune tâche planifiée n'est suspendue")
            done = []
            for j in paused:
                try:
                    in_transaction(engine, resume_job, j, by)
                    done.append(JOB_LABELS[j])
                except PauseError:  # resumed meanwhile by someone else
                    pass
            result = PauseResult(
                True,
                f"Tâches reprises : {', '.join(done) or 'aucune'}. Chacune reprend à son "
                "prochain créneau (les créneaux passés ne sont pas rattrapés).",
            )
        else:
            row = in_transaction(engine, resume_job, job, by)
            result = PauseResult(
                True,
                f"Tâche {JOB_LABELS[job]} reprise (elle était {pause_text(row)}) : elle "
                "tourne à son prochain créneau (les créneaux passés ne sont pas rattrapés).",
            )
    except PauseError as e:
        result = PauseResult(False, f"Refusé : {e}.")
    return _journal(engine, by, RESUME, result, target, None, address)


__all__ = ["ALL", "PauseResult", "job_states", "pause", "pause_text", "resume"]
