"""The scheduled job functions (collect, nightly, campaign), referenced by text from the job store.

Their arguments are picklable (the configuration file path); the scheduler's executor adds `stop`,
a callable telling the running cycle to finish its current file and stop.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from exchange import ledger
from exchange.config import Config, load_config
from exchange.locks import job_lock
from exchange.run import run_job, today_in_paris
from exchange.schema import open_current

log = logging.getLogger("esat_exchange")
CAMPAIGN_LOCK = "campaign"
Stop = Callable[[], bool]


def _config(config_path: str | None) -> Config:
    return load_config(Path(config_path) if config_path else None)


def _cycle(config_path: str | None, job: str, emit: bool, stop: Stop | None) -> dict:
    config = _config(config_path)
    engine = open_current(config.database_url)  # brought to head when the scheduler started
    try:
        outcome = run_job(config, engine, job=job, emit=emit, stop=stop)
    finally:
        engine.dispose()
    return {"run_id": outcome.run_id, "status": outcome.status, "error": outcome.error}


def collect(config_path: str | None = None, stop: Stop | None = None) -> dict:
    """Collect, validate, reconcile, write comptes rendus (no Caf delta files)."""
    return _cycle(config_path, "collect", False, stop)


def nightly(config_path: str | None = None, stop: Stop | None = None) -> dict:
    """The collect cycle, then the Caf delta files."""
    return _cycle(config_path, "nightly", True, stop)


def campaign(config_path: str | None = None, stop: Stop | None = None) -> dict:
    """The campaign files of the year just ended, under the `campaign` lock, recorded as a run."""
    config = _config(config_path)
    engine = open_current(config.database_url)  # brought to head when the scheduler started
    try:
        return close_campaign(config, engine)
    finally:
        engine.dispose()


def close_campaign(config: Config, engine, year: int | None = None) -> dict:  # noqa: ANN001 - Engine
    """campaign_close for `year` (default: last year in Europe/Paris); IGNORE when another process holds it."""
    from exchange.emission import campaign_close

    today = today_in_paris()
    year = year if year is not None else today.year - 1
    with job_lock(engine, CAMPAIGN_LOCK) as got:
        if not got:
            reason = "un autre processus écrit déjà les fichiers de campagne"
            run_id = ledger.record_skipped_run(engine, "campaign", reason)
            log.warning("campagne déjà en cours ailleurs : exécution ignorée",
                        extra={"event": {"run_id": run_id, "job": "campaign"}})
            return {"run_id": run_id, "status": "IGNORE", "error": reason}
        run_id = ledger.start_run(engine, "campaign", today)
        tally = ledger.RunTally()
        log.info(f"début de la clôture de campagne {year}",
                 extra={"event": {"run_id": run_id, "job": "campaign", "annee": year}})
        try:
            tally.outputs.extend(campaign_close(config, engine, year, today, run_id))
        except OSError as e:
            error = f"erreur système : {e}"
            ledger.finish_run(engine, run_id, "ECHEC", tally, error)
            log.error(f"fin de la clôture de campagne : ECHEC ({error})",
                      extra={"event": {"run_id": run_id, "job": "campaign", "status": "ECHEC"}})
            return {"run_id": run_id, "status": "ECHEC", "error": error}
        except BaseException as e:
            ledger.finish_run(engine, run_id, "ECHEC", tally, f"{e.__class__.__name__}: {e}")
            raise
        ledger.finish_run(engine, run_id, "OK", tally)
        log.info(f"fin de la clôture de campagne {year} : OK ({len(tally.outputs)} fichier(s))",
                 extra={"event": {"run_id": run_id, "job": "campaign", "status": "OK"}})
        return {"run_id": run_id, "status": "OK", "error": None}


TASKS = {"collect": "jobs.tasks:collect", "nightly": "jobs.tasks:nightly", "campaign": "jobs.tasks:campaign"}
