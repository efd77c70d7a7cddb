"""The scheduled job functions (collect, nightly, campaign, purge), referenced by text from the job store;
each calls the same use case (exchange.app) as the command line and the console.

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

from exchange.app.campaign import close_campaign
from exchange.app.job import RunOutcome
from exchange.app.run import run_job, today_in_paris
from exchange.config import Config, load_config
from exchange.store import ledger
from exchange.store.engine import Engine, open_current
from exchange.store.pauses import paused_jobs, since_text

log = logging.getLogger("esat_exchange")
Stop = Callable[[], bool]


def _config(config_path: str | None) -> Config:
    return load_config(Path(config_path) if config_path else None)


def _result(outcome: RunOutcome) -> dict:
    return {"run_id": outcome.run_id, "status": outcome.status, "error": outcome.error}


def _alerts(config: Config, engine) -> None:  # noqa: ANN001 - an Engine
    """The alerts step after each scheduled run: what it must not stop is the scheduler."""
    from exchange.app.alerts import send_alerts

    try:
        send_alerts(config, engine)
    except Exception:  # noqa: BLE001 - logged; the next run tries again
        log.exception("étape des alertes en erreur")


SKIPPED = "SUSPENDUE"  # what a paused job's slot returns (no run is recorded)


def _paused(engine: Engine, job: str) -> dict | None:
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


def _cycle(config_path: str | None, job: str, emit: bool, stop: Stop | None, fence: ledger.Fence | None) -> dict:
    config = _config(config_path)
    engine = open_current(config.database_url)  # brought to head when the scheduler started
    try:
        skipped = _paused(engine, job)
        if skipped is not None:
            return skipped
        result = _result(run_job(config, engine, job=job, emit=emit, stop=stop, fence=fence))
        _alerts(config, engine)
        return result
    finally:
        engine.dispose()


def collect(config_path: str | None = None, stop: Stop | None = None, fence: ledger.Fence | None = None) -> dict:
    """Collect, validate, reconcile, write comptes rendus (no Caf delta files)."""
    return _cycle(config_path, "collect", False, stop, fence)


def nightly(config_path: str | None = None, stop: Stop | None = None, fence: ledger.Fence | None = None) -> dict:
    """The collect cycle, then the Caf delta files."""
    return _cycle(config_path, "nightly", True, stop, fence)


def campaign(config_path: str | None = None, stop: Stop | None = None, fence: ledger.Fence | None = None) -> dict:
    """The campaign files of the year just ended, under the `campaign` lock, recorded as a run."""
    config = _config(config_path)
    engine = open_current(config.database_url)  # brought to head when the scheduler started
    try:
        skipped = _paused(engine, "campaign")
        if skipped is not None:
            return skipped
        result = _result(close_campaign(config, engine, fence=fence))
        _alerts(config, engine)
        return result
    finally:
        engine.dispose()


def purge(config_path: str | None = None, stop: Stop | None = None, fence: ledger.Fence | None = None) -> dict:
    """The retention rules of [retention] on today (Europe/Paris), under the cycle lock, recorded as a run."""
    from exchange.app.purge import purge as apply_retention

    config = _config(config_path)
    engine = open_current(config.database_url)  # brought to head when the scheduler started
    try:
        skipped = _paused(engine, "purge")
        if skipped is not None:
            return skipped
        return _result(apply_retention(config, engine, today_in_paris(), fence=fence, stop=stop).outcome)
    finally:
        engine.dispose()


TASKS = {
    "collect": "jobs.tasks:collect",
    "nightly": "jobs.tasks:nightly",
    "campaign": "jobs.tasks:campaign",
    "purge": "jobs.tasks:purge",
}
