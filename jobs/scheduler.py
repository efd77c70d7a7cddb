"""APScheduler wiring: `[schedule]` → cron jobs in a database job store, run by the leader node until SIGTERM/SIGINT.

Several `scheduler` processes (one per machine) may share one PostgreSQL: the one holding the `scheduler`
lock leads and runs APScheduler; the others are hot standbys that start theirs only once they win the lock
(APScheduler 3 must never have two running schedulers on one job store). The leader's job-store writes
and jobs are fenced by that lock: a deposed leader writes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from exchange.config import Config, ConfigError, ScheduleConfig
from exchange.core.jobs import REGISTRY
from exchange.store import nodes
from exchange.store.engine import Engine
from exchange.store.errors import DATABASE_ERRORS
from exchange.store.fences import LEADER_LOCK, HeldLock, LockLost, timings_of, try_lock
from exchange.store.jobstore import JOBSTORE_TABLE, FencedJobStore, create_table
from exchange.store.ledger import Fence, transaction, utcnow
from jobs.tasks import SKIPPED, TASKS

log = logging.getLogger("esat_exchange")
# What ends a node's lead: the lock lost, or a database error (also a session the server cut while frozen).
LEAD_LOST: tuple[type[BaseException], ...] = (LockLost, *DATABASE_ERRORS)


@dataclass(frozen=True)
class JobSpec:
    """One scheduled entry: stable id (campaign-0…), its job (exchange.core.jobs), task reference and trigger."""

    id: str
    job: str
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
    """Every scheduled job of exchange.core.jobs.REGISTRY from its `[schedule]` key (the job's id): one entry
    (collect, nightly, purge), or one per crontab of a list (campaign-0, campaign-1…); `triggers` overrides by
    entry id (tests)."""
    wanted: list[tuple[str, str, str, str]] = []
    for job in REGISTRY:
        if not job.scheduled:
            continue
        if job.several:
            exprs = getattr(schedule, job.id)
            wanted += [(f"{job.id}-{i}", job.id, expr, f"schedule.{job.id}[{i}]") for i, expr in enumerate(exprs)]
        else:
            wanted.append((job.id, job.id, getattr(schedule, job.id), f"schedule.{job.id}"))
    overrides = dict(triggers or {})
    specs = []
    for entry_id, job_id, expr, key in wanted:
        trigger = overrides.pop(entry_id, None) or crontab(expr, schedule.timezone, key)
        specs.append(JobSpec(entry_id, job_id, TASKS[job_id], trigger))
    return specs


class StoppableExecutor(ThreadPoolExecutor):  # type: ignore[misc]  # APScheduler 3 ships no types
    """A thread pool that hands every job `stop=` (the process's stop request, or the lead lost) and `fence=`
    (the leadership check), neither stored in the job store."""

    def __init__(self, stop: Callable[[], bool], fence: Fence | None = None, max_workers: int = 4) -> None:
        super().__init__(max_workers)
        self._stop_request = stop
        self._fence = fence

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:  # APScheduler internals: an untyped Job
        super()._do_submit_job(_WithStop(job, self._stop_request, self._fence), run_times)

    def wait(self) -> None:
        """Wait for the running jobs (after the scheduler was shut down without waiting)."""
        self._pool.shutdown(wait=True)


class _WithStop:
    """A job seen through the executor: the stored job plus the `stop` and `fence` keyword arguments."""

    def __init__(self, job: Any, stop: Callable[[], bool], fence: Fence | None) -> None:  # an APScheduler Job
        self._job = job
        self.kwargs = {**job.kwargs, "stop": stop, **({"fence": fence} if fence is not None else {})}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


class _Scheduler(BackgroundScheduler):  # type: ignore[misc]  # APScheduler 3 ships no types
    """APScheduler 3 processes due jobs once more after shutdown(): it cannot submit them (executors are
    down) yet moves their next run time on, losing the slot. A stopped scheduler leaves the store alone,
    and so does one whose node no longer leads."""

    leader: HeldLock | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._processing = threading.Lock()
        self._closing = False

    def _process_jobs(self) -> float | None:  # seconds until the next due job, None when none
        with self._processing:  # close() waits for a pass in progress: nothing is submitted after it
            if self.state == STATE_STOPPED or self._closing:
                return None
            if self.leader is not None and not self.leader.alive():
                return None
            try:
                wait: float | None = super()._process_jobs()
                return wait
            except LockLost:
                return None

    def close(self) -> None:
        """Stop submitting jobs and writing the store at once (running jobs go on: wait on the executor)."""
        with self._processing:
            self._closing = True
        self.shutdown(wait=False)


def _log_event(event: JobEvent) -> None:
    planned = getattr(event, "scheduled_run_time", None) or (getattr(event, "scheduled_run_times", None) or [None])[-1]
    fields = {"job": event.job_id, "scheduled_at": planned}
    if event.code == EVENT_JOB_SUBMITTED:
        log.info("tâche planifiée lancée", extra={"event": fields})
    elif event.code == EVENT_JOB_EXECUTED:
        result = event.retval if isinstance(event.retval, dict) else {}
        status = result.get("status", "")
        if status == SKIPPED:  # a paused job: its task logged the one warning line, no run was recorded
            return
        log.info(
            f"tâche planifiée terminée : {status}",
            extra={"event": {**fields, "run_id": result.get("run_id"), "status": status}},
        )
    elif event.code == EVENT_JOB_ERROR:
        log.error(
            f"tâche planifiée en erreur : {event.exception.__class__.__name__}: {event.exception}",
            extra={"event": fields},
        )
    elif event.code == EVENT_JOB_MISSED:
        log.warning("tâche planifiée manquée (hors du délai de rattrapage) : sautée", extra={"event": fields})
    elif event.code == EVENT_JOB_MAX_INSTANCES:
        log.warning("tâche planifiée sautée : l'exécution précédente n'est pas terminée", extra={"event": fields})


def open_scheduler(
    config: Config,
    config_path: str | None,
    engine: Engine,
    stop: threading.Event,
    *,
    triggers: Mapping[str, BaseTrigger] | None = None,
    leader: HeldLock | None = None,
) -> BackgroundScheduler:
    """A started but PAUSED scheduler whose job store holds exactly the jobs of `[schedule]`.

    A job whose trigger did not change keeps its stored next run time, so a slot missed while the
    machine was down runs once (coalesced) on resume() when within misfire_grace_seconds. With `leader`
    (the held `scheduler` lock, fencing begun) every job-store write and every job is fenced by it.
    """
    schedule = config.schedule
    specs = job_specs(schedule, triggers)
    fence = leader.check if leader is not None else None
    store = FencedJobStore(fence=fence, engine=engine, tablename=JOBSTORE_TABLE)
    create_table(store, engine)
    executor = StoppableExecutor(lambda: stop.is_set() or (leader is not None and leader.lost), fence)
    scheduler = _Scheduler(
        jobstores={"default": store},
        executors={"default": executor},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": schedule.misfire_grace_seconds},
        timezone=ZoneInfo(schedule.timezone),
    )
    scheduler.leader = leader
    scheduler.executor = executor
    scheduler.add_listener(
        _log_event,
        EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES,
    )
    scheduler.start(paused=True)
    stored = {job.id: job for job in scheduler.get_jobs()}
    for spec in specs:
        args = [spec.job, config_path]
        old = stored.pop(spec.id, None)
        keep = (
            old is not None
            and repr(old.trigger) == repr(spec.trigger)
            and old.func_ref == spec.task
            and list(old.args) == args
            and old.next_run_time is not None
        )
        extra = {"next_run_time": old.next_run_time} if keep else {}
        scheduler.add_job(spec.task, spec.trigger, args=args, id=spec.id, name=spec.id, replace_existing=True, **extra)
    for job_id in stored:  # a schedule entry removed from the configuration
        with contextlib.suppress(JobLookupError):  # another scheduler process removed it first
            scheduler.remove_job(job_id)
    return scheduler


class _Node:
    """This process as a scheduler node: its role and heartbeat row in `nodes`."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.host, self.pid = engine, socket.gethostname(), os.getpid()
        self.started_at = utcnow()
        self.role: str = nodes.STANDBY
        self.since = self.started_at

    def beat(self, role: str, fence: Fence | None = None) -> None:
        if role != self.role:
            self.role, self.since = role, utcnow()
        with transaction(self.engine, fence) as conn:
            nodes.beat(conn, self.host, self.pid, role, self.started_at, self.since)

    def standby_beat(self) -> None:
        try:
            self.beat(nodes.STANDBY)
        except DATABASE_ERRORS as e:  # the database is away (or its session was cut): keep trying
            log.warning(
                f"base de données injoignable ({e.__class__.__name__}) : nouvel essai",
                extra={"event": {"host": self.host}},
            )

    def leave(self) -> None:
        try:
            with self.engine.begin() as conn:
                nodes.leave(conn, self.host, self.pid)
        except DATABASE_ERRORS:  # a session cut while frozen included: the row expires by itself
            pass


def _win_the_lead(config: Config, engine: Engine, stop: threading.Event, node: _Node) -> HeldLock | None:
    """Hot standby: try the leader lock every heartbeat until won (returned) or asked to stop (None)."""
    timings = timings_of(config)
    announced = False
    while not stop.is_set():
        try:
            leader = try_lock(engine, LEADER_LOCK, timings)
        except DATABASE_ERRORS:
            leader = None
        if leader is not None and stop.is_set():  # won just as this node was asked to stop
            leader.release()
            return None
        if leader is not None:
            return leader
        if not announced:
            log.info("planificateur en attente : un autre nœud mène", extra={"event": {"host": node.host}})
            announced = True
        node.standby_beat()
        stop.wait(timings.heartbeat_seconds)
    return None


def _lead(
    config: Config,
    config_path: str | None,
    engine: Engine,
    leader: HeldLock,
    stop: threading.Event,
    node: _Node,
    triggers: Mapping[str, BaseTrigger] | None,
) -> None:
    """Run APScheduler while this node holds the leader lock; return on stop (lock released at once) or loss."""
    timings = timings_of(config)
    lost = threading.Event()
    leader.on_lost.append(lost.set)
    scheduler = None
    try:
        leader.begin_fencing()
        node.beat(nodes.LEADER, leader.check)
        with transaction(engine, leader.check) as conn:
            nodes.took_the_lead(conn, node.host, node.pid)
        scheduler = open_scheduler(config, config_path, engine, stop, triggers=triggers, leader=leader)
        for job in scheduler.get_jobs():
            log.info(
                "tâche planifiée",
                extra={"event": {"job": job.id, "trigger": str(job.trigger), "next_run": job.next_run_time}},
            )
        scheduler.resume()
        log.info(
            "planificateur démarré",
            extra={"event": {"jobs": len(scheduler.get_jobs()), "host": node.host, "role": nodes.LEADER}},
        )
        while not stop.wait(timings.heartbeat_seconds):
            if lost.is_set() or not leader.alive():
                break
            node.beat(nodes.LEADER, leader.check)
    except LEAD_LOST as e:  # a database error: also a session the server cut while frozen
        log.error(
            f"ce nœud ne mène plus ({e.__class__.__name__}) : planificateur arrêté, retour en attente",
            extra={"event": {"host": node.host}},
        )
    finally:
        if scheduler is not None and scheduler.state != STATE_STOPPED:
            scheduler.close()  # no job submitted and no store write from here on
        if stop.is_set():
            leader.release()  # hand over at once: the running job keeps its own cycle lock until its file is done
        if scheduler is not None:
            scheduler.executor.wait()
        leader.release()
    if not stop.is_set():
        log.error(
            "planificateur arrêté : ce nœud a perdu la main (figé ou coupé de la base), retour en attente",
            extra={"event": {"host": node.host}},
        )


def serve(
    config: Config, config_path: str | None, engine: Engine, *, triggers: Mapping[str, BaseTrigger] | None = None
) -> int:
    """Lead or stand by until SIGTERM/SIGINT; then let the running job finish its file and exit 0."""
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:  # only flag it: no logging in a handler
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    node = _Node(engine)
    try:
        job_specs(config.schedule, triggers)  # a bad [schedule] is an error before waiting for the lead
        while not stop.is_set():
            leader = _win_the_lead(config, engine, stop, node)
            if leader is None:
                break
            _lead(config, config_path, engine, leader, stop, node, triggers)
        log.warning(
            f"signal {received[0] if received else ''} reçu : fin du fichier en cours, puis arrêt",
            extra={"event": {"signal": received[0] if received else None}},
        )
        log.info("planificateur arrêté", extra={"event": {}})
    finally:
        node.leave()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
