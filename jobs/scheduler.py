"""APScheduler wiring: `[schedule]` → cron jobs in a database job store, run until SIGTERM/SIGINT."""
from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from typing import Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import (
    EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, ProgrammingError

from exchange.config import Config, ConfigError, ScheduleConfig
from jobs.tasks import TASKS

log = logging.getLogger("esat_exchange")
JOBSTORE_TABLE = "apscheduler_jobs"


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: stable id, task reference ("jobs.tasks:collect") and trigger."""

    id: str
    task: str
    trigger: BaseTrigger


def crontab(expr: str, timezone: str, key: str) -> CronTrigger:
    """A 5-field crontab in the schedule's time zone (DST-safe); ConfigError naming the key."""
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"schedule.timezone: fuseau horaire inconnu {timezone!r}") from None
    try:
        return CronTrigger.from_crontab(expr, timezone=tz)
    except ValueError as e:
        raise ConfigError(f"{key}: expression cron invalide {expr!r} ({e})") from None


def job_specs(schedule: ScheduleConfig, triggers: Mapping[str, BaseTrigger] | None = None) -> list[JobSpec]:
    """collect, nightly, campaign-0, campaign-1… from `[schedule]`; `triggers` overrides by id (tests)."""
    wanted = [("collect", "collect", schedule.collect, "schedule.collect"),
              ("nightly", "nightly", schedule.nightly, "schedule.nightly")]
    wanted += [(f"campaign-{i}", "campaign", expr, f"schedule.campaign[{i}]") for i, expr in enumerate(schedule.campaign)]
    overrides = dict(triggers or {})
    specs = []
    for job_id, task, expr, key in wanted:
        trigger = overrides.pop(job_id, None) or crontab(expr, schedule.timezone, key)
        specs.append(JobSpec(job_id, TASKS[task], trigger))
    return specs


class StoppableExecutor(ThreadPoolExecutor):
    """A thread pool that hands every job `stop=` (the process's stop request), not stored in the job store."""

    def __init__(self, stop: threading.Event, max_workers: int = 4) -> None:
        super().__init__(max_workers)
        self._stop_request = stop

    def _do_submit_job(self, job, run_times):  # noqa: ANN001, ANN202 - APScheduler internals
        super()._do_submit_job(_WithStop(job, self._stop_request.is_set), run_times)


class _WithStop:
    """A job seen through the executor: the stored job plus the `stop` keyword argument."""

    def __init__(self, job, stop: Callable[[], bool]) -> None:  # noqa: ANN001
        self._job = job
        self.kwargs = {**job.kwargs, "stop": stop}

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


class _Scheduler(BackgroundScheduler):
    """APScheduler 3 processes due jobs once more after shutdown(): it cannot submit them (executors are
    down) yet moves their next run time on, losing the slot. A stopped scheduler leaves the store alone."""

    def _process_jobs(self):  # noqa: ANN202
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


def _log_event(event: JobEvent) -> None:
    planned = getattr(event, "scheduled_run_time", None) or (getattr(event, "scheduled_run_times", None) or [None])[-1]
    fields = {"job": event.job_id, "scheduled_at": planned}
    if event.code == EVENT_JOB_SUBMITTED:
        log.info("tâche planifiée lancée", extra={"event": fields})
    elif event.code == EVENT_JOB_EXECUTED:
        result = event.retval if isinstance(event.retval, dict) else {}
        status = result.get("status", "")
        log.info(f"tâche planifiée terminée : {status}",
                 extra={"event": {**fields, "run_id": result.get("run_id"), "status": status}})
    elif event.code == EVENT_JOB_ERROR:
        log.error(f"tâche planifiée en erreur : {event.exception.__class__.__name__}: {event.exception}",
                  extra={"event": fields})
    elif event.code == EVENT_JOB_MISSED:
        log.warning("tâche planifiée manquée (hors du délai de rattrapage) : sautée", extra={"event": fields})
    elif event.code == EVENT_JOB_MAX_INSTANCES:
        log.warning("tâche planifiée sautée : l'exécution précédente n'est pas terminée", extra={"event": fields})


def open_scheduler(config: Config, config_path: str | None, engine: Engine, stop: threading.Event, *,
                   triggers: Mapping[str, BaseTrigger] | None = None) -> BackgroundScheduler:
    """A started but PAUSED scheduler whose job store holds exactly the jobs of `[schedule]`.

    A job whose trigger did not change keeps its stored next run time, so a slot missed while the
    machine was down runs once (coalesced) on resume() when within misfire_grace_seconds.
    """
    schedule = config.schedule
    specs = job_specs(schedule, triggers)
    store = SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)
    _create_table(store, engine)
    scheduler = _Scheduler(
        jobstores={"default": store},
        executors={"default": StoppableExecutor(stop)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": schedule.misfire_grace_seconds},
        timezone=ZoneInfo(schedule.timezone),
    )
    scheduler.add_listener(_log_event, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
                           | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    scheduler.start(paused=True)
    stored = {job.id: job for job in scheduler.get_jobs()}
    args = [config_path]
    for spec in specs:
        old = stored.pop(spec.id, None)
        keep = (old is not None and repr(old.trigger) == repr(spec.trigger) and old.func_ref == spec.task
                and list(old.args) == args and old.next_run_time is not None)
        extra = {"next_run_time": old.next_run_time} if keep else {}
        scheduler.add_job(spec.task, spec.trigger, args=args, id=spec.id, name=spec.id, replace_existing=True,
                          **extra)
    for job_id in stored:  # a schedule entry removed from the configuration
        try:
            scheduler.remove_job(job_id)
        except JobLookupError:  # another scheduler process removed it first
            pass
    return scheduler


def _create_table(store: SQLAlchemyJobStore, engine: Engine) -> None:
    """The job store table, tolerating another scheduler process creating it at the same moment."""
    try:
        store.jobs_t.create(engine, checkfirst=True)
    except (IntegrityError, ProgrammingError):
        if not inspect(engine).has_table(JOBSTORE_TABLE):
            raise


def serve(config: Config, config_path: str | None, engine: Engine, *,
          triggers: Mapping[str, BaseTrigger] | None = None) -> int:
    """Run the scheduled jobs until SIGTERM/SIGINT; then let the running job finish its file and exit 0."""
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame) -> None:  # noqa: ANN001 - only flag it: no logging in a handler
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler = open_scheduler(config, config_path, engine, stop, triggers=triggers)
        for job in scheduler.get_jobs():
            log.info("tâche planifiée", extra={"event": {"job": job.id, "trigger": str(job.trigger),
                                                          "next_run": job.next_run_time}})
        scheduler.resume()
        log.info("planificateur démarré", extra={"event": {"jobs": len(scheduler.get_jobs())}})
        while not stop.wait(1.0):
            pass
        log.warning(f"signal {received[0] if received else ''} reçu : fin du fichier en cours, puis arrêt",
                    extra={"event": {"signal": received[0] if received else None}})
        scheduler.shutdown(wait=True)
        log.info("planificateur arrêté", extra={"event": {}})
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
