"""The scheduled task: one function, referenced by text from the job store (`jobs.tasks:scheduled`, the job's id
as its first argument), that calls the use case the job's entry of exchange.core.jobs.REGISTRY names — the same
as the command line and the console.

Their arguments are picklable (the configuration file path); the scheduler's executor adds `stop`,
a callable telling the running cycle to finish its current file and stop, and `fence`, the scheduler's
leadership check (a scheduler that lost the leader lock writes nothing, not even an IGNORE run).

A job paused by an operator (exchange.app.pauses, table `job_pauses`) is checked here, on the scheduled path
only: its slot records no run and logs one warning; the slot is not caught up after the resume.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

from exchange.app.alerts import send_alerts
from exchange.app.job import RunOutcome
from exchange.app.scheduled import start
from exchange.config import Config, load_config
from exchange.core.vocabulary import SCHEDULED_JOBS
from exchange.store import ledger
from exchange.store.engine import Engine, open_current
from exchange.store.pauses import paused_jobs, since_text

log = logging.getLogger("esat_exchange")
Stop = Callable[[], bool]


def _config(config_path: str | None) -> Config:
    return load_config(Path(config_path) if config_path else None)


class SlotResult(TypedDict):
    """What a scheduled slot returns (APScheduler's job result, seen in the logs)."""

    run_id: int | None
    status: str
    error: str | None


def _result(outcome: RunOutcome) -> SlotResult:
    return {"run_id": outcome.run_id, "status": outcome.status, "error": outcome.error}


def _alerts(config: Config, engine: Engine) -> None:
    """The alerts step after each scheduled run: what it must not stop is the scheduler."""
    try:
        send_alerts(config, engine)
    except Exception:  # noqa: BLE001 - logged; the next run tries again
        log.exception("étape des alertes en erreur")


SKIPPED = "SUSPENDUE"  # what a paused job's slot returns (no run is recorded)


def _paused(engine: Engine, job: str) -> SlotResult | None:
    """The skipped slot's result when an operator paused `job` (one warning logged), else None."""
    with engine.connect() as conn:
        row = paused_jobs(conn).get(job)
    if row is None:
        return None
    log.warning(
        f"tâche planifiée suspendue {since_text(row)} : créneau sauté",
        extra={
            "event": {"job": job, "paused_by": row["paused_by"], "paused_at": row["paused_at"], "reason": row["reason"]}
        },
    )
    return {"run_id": None, "status": SKIPPED, "error": None}


def scheduled(
    job: str, config_path: str | None = None, stop: Stop | None = None, fence: ledger.Fence | None = None
) -> SlotResult:
    """One scheduled slot of `job` (exchange.core.jobs.REGISTRY): skipped when paused, else the use case its
    entry names (exchange.app.scheduled), then the alerts step."""
    config = _config(config_path)
    engine = open_current(config.database_url)  # brought to head when the scheduler started
    try:
        skipped = _paused(engine, job)
        if skipped is not None:
            return skipped
        result = _result(start(config, engine, job, stop=stop, fence=fence))
        _alerts(config, engine)
        return result
    finally:
        engine.dispose()


TASK = "jobs.tasks:scheduled"  # every scheduled job's reference in the job store; its first argument is the job
TASKS = dict.fromkeys(SCHEDULED_JOBS, TASK)
