"""Start a job now from the console (collect, nightly, campaign): the same use cases as the command line and the
scheduler, run in a background thread of the web process; refused at once when the job's lock is busy."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from exchange.app.job import BUSY, JOB_LOCKS, RunOutcome
from exchange.app.scheduled import start
from exchange.config import Config
from exchange.core.jobs import REGISTRY
from exchange.store.engine import Engine
from exchange.store.fences import holding, timings_of
from exchange.store.reads.runs import last_run

log = logging.getLogger("esat_exchange")
LAUNCHABLE = {job.id: job.launch for job in REGISTRY if job.launch}  # what the console may start now, and what it does
WAIT_FOR_RUN_SECONDS = 10.0


@dataclass(frozen=True)
class Launch:
    """A job started (its run, once recorded) or refused (why, in French)."""

    started: bool
    message: str
    run_id: int | None = None


def start_job(config: Config, engine: Engine, job: str, who: str) -> Launch:
    """Start `job` in a background thread; its run id once the run is recorded (within a few seconds)."""
    if job not in LAUNCHABLE:
        return Launch(False, f"Tâche inconnue : {job!r}.")
    return start_in_background(
        config, engine, job, lambda: start(config, engine, job), who, f"tâche {job}", "Tâche lancée"
    )


def start_in_background(
    config: Config, engine: Engine, job: str, work: Callable[[], RunOutcome], who: str, label: str, started: str
) -> Launch:
    """Run `work` (a job of `job`'s lock, recorded in `runs`) in a background thread of this process: refused at
    once when the lock is busy, else its run id once the run is recorded (within a few seconds). `label` names it
    in the log (« tâche collect »), `started` in the answer (« Tâche lancée », « Rejeu groupé lancé »)."""
    refused = started.replace(" lancé", " non lancé")
    with holding(engine, JOB_LOCKS[job], timings_of(config)) as held:
        if held is None:
            return Launch(False, f"{refused} : {BUSY[JOB_LOCKS[job]]}. Réessayez quand elle sera terminée.")
    with engine.connect() as conn:
        before = last_run(conn, (job,))
    done: list[RunOutcome] = []

    def body() -> None:
        log.info(f"{label} : lancement depuis la console par {who}", extra={"event": {"job": job, "par": who}})
        try:
            done.append(work())
        except Exception:  # noqa: BLE001 - a thread's failure is logged; the run record says the rest
            log.exception(f"{label} lancement depuis la console : erreur")

    thread = threading.Thread(target=body, name=f"console-{job}", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_FOR_RUN_SECONDS
    while time.monotonic() < deadline:
        if done:
            return Launch(True, f"{started} : exécution n° {done[0].run_id}.", done[0].run_id)
        with engine.connect() as conn:
            now = last_run(conn, (job,))
        if now is not None and (before is None or now["id"] != before["id"]):
            return Launch(True, f"{started} : exécution n° {now['id']}.", now["id"])
        time.sleep(0.2)
    return Launch(True, f"{started} ; son exécution n'est pas encore enregistrée : voir la liste des exécutions.")


__all__ = ["LAUNCHABLE", "Launch", "start_in_background", "start_job"]
