"""The scheduled job functions (collect, nightly, campaign, purge), referenced by text from the job store;
each calls the same use case (exchange.app) as the command line and the console.

Their arguments are picklable (the configuration file path); the scheduler's executor adds `stop`,
a callable telling the running cycle to finish its current file and stop, and `fence`, the scheduler's
leadership check (a scheduler that lost the leader lock writes nothing, not even an IGNORE run).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from exchange.store import ledger
from exchange.config import Config, load_config
from exchange.app.campaign import close_campaign
from exchange.app.job import RunOutcome
from exchange.app.run import run_job, today_in_paris
from exchange.store.engine import open_current

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


def _cycle(config_path: str | None, job: str, emit: bool, stop: Stop | None, fence: ledger.Fence | None) -> dict:
    config = _config(config_path)
    engine = open_current(config.database_url)  # brought to head when the scheduler started
    try:
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
        return _result(apply_retention(config, engine, today_in_paris(), fence=fence, stop=stop).outcome)
    finally:
        engine.dispose()


TASKS = {"collect": "jobs.tasks:collect", "nightly": "jobs.tasks:nightly", "campaign": "jobs.tasks:campaign",
         "purge": "jobs.tasks:purge"}
