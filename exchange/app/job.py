"""The one job wrapper, whoever starts the job: its lock, its run record (EN_COURS → OK/ECHEC, or IGNORE), its fence."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from typing import Any

from exchange.app.run_log import GENERAL, capture
from exchange.config import Config
from exchange.core.jobs import REGISTRY
from exchange.core.tally import RunTally
from exchange.core.vocabulary import ECHEC, IGNORE, OK, RunStatus
from exchange.edges.transport.base import TransportError
from exchange.store import ledger, runs
from exchange.store.engine import Connection, Engine
from exchange.store.engine import open_at_head as at_head
from exchange.store.errors import CONNECTION_ERRORS, unreachable
from exchange.store.fences import (
    CAMPAIGN_LOCK,
    CYCLE_LOCK,
    HABILITATIONS_LOCK,
    HeldLock,
    LockLost,
    timings_of,
    try_lock,
    wait_lock,
)

log = logging.getLogger("esat_exchange")
# what stops a job at once: its lock lost, or the database gone
_STOPPING: tuple[type[BaseException], ...] = (LockLost, *CONNECTION_ERRORS)

# Which lock each job takes (exchange.core.jobs.REGISTRY); every job sharing a lock is closed as interrupted by
# the next holder.
JOB_LOCKS = {job.id: job.lock for job in REGISTRY}
BUSY = {
    CYCLE_LOCK: "un autre processus exécute déjà un cycle",
    CAMPAIGN_LOCK: "un autre processus écrit déjà les fichiers de campagne",
    HABILITATIONS_LOCK: "un autre processus importe déjà un extrait Habpps",
}


def jobs_of(lock_name: str) -> tuple[str, ...]:
    return tuple(job for job, name in JOB_LOCKS.items() if name == lock_name)


@dataclass
class RunOutcome:
    run_id: int | None  # None only when the lock was lost before the run record could be written
    status: RunStatus  # OK / ECHEC / IGNORE
    tally: RunTally
    error: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.status in (OK, IGNORE) else 1


@dataclass
class JobContext:
    """What the job's work gets: its run, its fence (pass it to every state-changing transaction), its stop."""

    engine: Engine
    run_id: int | None  # None for a job that is not recorded in `runs` (record=False)
    tally: RunTally
    fence: ledger.Fence
    stop: Callable[[], bool]
    lock: HeldLock

    @property
    def recorded_run_id(self) -> int:
        """The run's id, for a job recorded in `runs` (record=True, the default)."""
        if self.run_id is None:
            raise RuntimeError("job not recorded in runs: it has no run id")
        return self.run_id


Work = Callable[[JobContext], "str | None"]  # returns an error (ECHEC) or None (OK)


def _fences(*fences: ledger.Fence | None) -> ledger.Fence:
    wanted = [f for f in fences if f is not None]

    def fence(conn: Connection) -> None:
        for f in wanted:
            f(conn)

    return fence


def run_locked(
    config: Config,
    engine: Engine,
    job: str,
    work: Work,
    *,
    as_of: date | None = None,
    stop: Callable[[], bool] | None = None,
    outer_fence: ledger.Fence | None = None,
    wait: bool = False,
    on_wait: Callable[[], None] | None = None,
    record: bool = True,
) -> RunOutcome:
    """Run `work` under the job's lock, recorded in `runs`.

    `outer_fence` is a fence the job must also pass to start (the scheduler's leadership); `wait` waits for the
    lock instead of recording IGNORE; `record=False` takes the lock and fences the work without a run
    record. A lost lock ends the job without any further write: the next holder closes its run as
    interrupted (ECHEC).
    """
    lock_name = JOB_LOCKS[job]
    timings = timings_of(config)
    lock = (
        wait_lock(engine, lock_name, timings, on_wait=on_wait, stop=stop)
        if wait
        else try_lock(engine, lock_name, timings)
    )
    if lock is None:
        reason = BUSY[lock_name]
        if not record:
            return RunOutcome(None, IGNORE, RunTally(), reason)
        with ledger.transaction(engine, outer_fence) as conn:
            skipped_id = runs.record_skipped_run(conn, job, reason)
        log.warning(f"{reason} : exécution ignorée", extra={"event": {"run_id": skipped_id, "job": job, GENERAL: True}})
        return RunOutcome(skipped_id, IGNORE, RunTally(), reason)
    tally = RunTally()
    run_id: int | None = None
    journal = ExitStack()  # the run's live log (exchange.app.run_log), once its run is recorded
    try:
        # the schema is at head: `run` and `scheduler` upgrade it under this same lock first (open_at_head)
        lock.begin_fencing()
        # the outer fence (leadership) decides whether the job starts; once started, the job's own lock fences
        # it, so that a leader handing over on SIGTERM lets its running job finish its file
        starting = _fences(lock.check, outer_fence)
        fence = lock.check
        if not record:
            ctx = JobContext(
                engine,
                None,
                tally,
                _fences(lock.check, outer_fence),
                lambda: lock.lost or (stop is not None and stop()),
                lock,
            )
            error = _work(ctx, work)
            if lock.lost:
                raise LockLost(f"verrou « {lock_name} » perdu pendant l'exécution")
            return RunOutcome(None, ECHEC if error else OK, tally, error)
        with ledger.transaction(engine, starting) as conn:
            closed = runs.close_interrupted_runs(conn, jobs_of(lock_name))
        if closed:
            log.warning(
                f"exécution(s) interrompue(s) clôturée(s) en ECHEC : {', '.join(map(str, closed))}",
                extra={"event": {"job": job, "runs": closed}},
            )
        with ledger.transaction(engine, starting) as conn:
            run_id = runs.start_run(conn, job, as_of)
        journal.enter_context(capture(engine, run_id))  # what this thread logs from now on is the run's log
        log.info(
            "début de l'exécution",
            extra={
                "event": {"run_id": run_id, "job": job, "as_of": as_of.isoformat() if as_of else None, GENERAL: True}
            },
        )
        asked = _asked_to_stop(engine, run_id)  # a stop asked from the console or the API, read between files
        ctx = JobContext(
            engine, run_id, tally, fence, lambda: lock.lost or (stop is not None and stop()) or asked(), lock
        )
        error = _work(ctx, work)
        if error is None and tally.errors:
            error = "; ".join(tally.errors)
        if error is None and lock.lost:
            raise LockLost(f"verrou « {lock_name} » perdu pendant l'exécution")
        status = ECHEC if error else OK
        with ledger.transaction(engine, fence) as conn:
            runs.finish_run(conn, run_id, status, tally, error)
        log.info(
            f"fin de l'exécution : {status}",
            extra={"event": {"run_id": run_id, "job": job, "status": status, GENERAL: True}},
        )
        return RunOutcome(run_id, status, tally, error)
    except LockLost as e:
        log.error(f"exécution arrêtée sans rien écrire : {e}", extra={"event": {"run_id": run_id, "job": job}})
        return RunOutcome(run_id, ECHEC, tally, str(e))
    except (
        CONNECTION_ERRORS
    ) as e:  # the database went away (restart, network): nothing half-written, the next run resumes
        error = str(unreachable(e))
        log.error(f"fin de l'exécution : ECHEC ({error})", extra={"event": {"run_id": run_id, "job": job}})
        _try_finish(engine, run_id, tally, error, lock)
        return RunOutcome(run_id, ECHEC, tally, error)
    finally:
        journal.close()  # detach, then write its last lines (bounded wait; a failure was already dropped)
        lock.release()


def _asked_to_stop(engine: Engine, run_id: int) -> Callable[[], bool]:
    """Whether someone asked this run to stop (store.runs.ask_stop). The job asks between files or batches (one
    primary-key read each time, beside a file's work); once asked, it stays asked and is logged once."""
    asked: list[dict[str, Any]] = []

    def check() -> bool:
        if not asked:
            with engine.connect() as conn:
                who = runs.stop_asked(conn, run_id)
            if who is not None:
                asked.append(who)
                log.warning(
                    f"arrêt demandé par {who['asked_by']} : le fichier en cours est terminé, les suivants attendent",
                    extra={"event": {"run_id": run_id, "par": who["asked_by"]}},
                )
        return bool(asked)

    return check


def _work(ctx: JobContext, work: Work) -> str | None:
    """The job's own work. A lost lock or database stops the job (raised); a drop-area error that reached the
    job (the source is down, a host key changed) and a system error are the run's error; anything else (a
    refused request, a bug, KeyboardInterrupt) is recorded, then raised to the caller."""
    try:
        return work(ctx)
    except _STOPPING:
        raise
    except TransportError as e:
        return str(e)
    except OSError as e:
        from exchange.edges.transport.causes import french_cause

        return f"erreur système : {french_cause(e)}" + (f" ({e.filename})" if getattr(e, "filename", None) else "")
    except BaseException as e:  # record the failure, then let it propagate (KeyboardInterrupt, bugs)
        if ctx.run_id is None:
            raise
        try:
            with ledger.transaction(ctx.engine, ctx.fence) as conn:
                runs.finish_run(conn, ctx.run_id, ECHEC, ctx.tally, f"{e.__class__.__name__}: {e}")
        except _STOPPING:
            pass
        raise


def _try_finish(engine: Engine, run_id: int | None, tally: RunTally, error: str, lock: HeldLock) -> None:
    """Record ECHEC if the database is back and the lock still ours; else the next holder closes the run."""
    if run_id is None:
        return
    try:
        with ledger.transaction(engine, lock.check) as conn:
            runs.finish_run(conn, run_id, ECHEC, tally, error)
    except _STOPPING:
        pass


def open_at_head(config: Config) -> Engine:
    """An engine on the database brought to head under the cycle lock (exchange.store.engine.open_at_head)."""
    return at_head(config.database_url, timings_of(config))


__all__ = ["run_locked", "open_at_head", "RunOutcome", "JobContext", "JOB_LOCKS", "BUSY", "jobs_of"]
