"""The one job wrapper, whoever starts the job: its lock, its run record (EN_COURS → OK/ECHEC, or IGNORE), its fence."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Callable

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from exchange.store import ledger
from exchange.config import Config
from exchange.store.fences import HeldLock, LockLost, timings_of, try_lock, wait_lock
from exchange.edges.transport.base import TransportError

log = logging.getLogger("esat_exchange")

# Which lock each job takes; every job sharing a lock is closed as interrupted by the next holder.
JOB_LOCKS = {"run": "cycle", "collect": "cycle", "nightly": "cycle", "replay": "cycle",
             "campaign": "campaign", "habilitations": "habilitations",
             "purge": "cycle"}  # a purge never removes a file a cycle or a replay is reading
BUSY = {"cycle": "un autre processus exécute déjà un cycle",
        "campaign": "un autre processus écrit déjà les fichiers de campagne",
        "habilitations": "un autre processus importe déjà un extrait Habpps"}


def jobs_of(lock_name: str) -> tuple[str, ...]:
    return tuple(job for job, name in JOB_LOCKS.items() if name == lock_name)


@dataclass
class RunOutcome:
    run_id: int | None  # None only when the lock was lost before the run record could be written
    status: str  # OK / ECHEC / IGNORE
    tally: ledger.RunTally
    error: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.status in ("OK", "IGNORE") else 1


@dataclass
class JobContext:
    """What the job's work gets: its run, its fence (pass it to every state-changing transaction), its stop."""

    engine: Engine
    run_id: int | None  # None for a job that is not recorded in `runs` (record=False)
    tally: ledger.RunTally
    fence: ledger.Fence
    stop: Callable[[], bool]
    lock: HeldLock


Work = Callable[[JobContext], "str | None"]  # returns an error (ECHEC) or None (OK)


def _fences(*fences: ledger.Fence | None) -> ledger.Fence:
    wanted = [f for f in fences if f is not None]

    def fence(conn: Connection) -> None:
        for f in wanted:
            f(conn)

    return fence


def run_locked(config: Config, engine: Engine, job: str, work: Work, *, as_of: date | None = None,
               stop: Callable[[], bool] | None = None, outer_fence: ledger.Fence | None = None,
               wait: bool = False, on_wait: Callable[[], None] | None = None, record: bool = True) -> RunOutcome:
    """Run `work` under the job's lock, recorded in `runs`.

    `outer_fence` is a fence the job must also pass to start (the scheduler's leadership); `wait` waits for the
    lock instead of recording IGNORE; `record=False` takes the lock and fences the work without a run
    record. A lost lock ends the job without any further write: the next holder closes its run as
    interrupted (ECHEC).
    """
    lock_name = JOB_LOCKS[job]
    timings = timings_of(config)
    lock = (wait_lock(engine, lock_name, timings, on_wait=on_wait, stop=stop) if wait
            else try_lock(engine, lock_name, timings))
    if lock is None:
        reason = BUSY[lock_name]
        if not record:
            return RunOutcome(None, "IGNORE", ledger.RunTally(), reason)
        run_id = ledger.record_skipped_run(engine, job, reason, outer_fence)
        log.warning(f"{reason} : exécution ignorée", extra={"event": {"run_id": run_id, "job": job}})
        return RunOutcome(run_id, "IGNORE", ledger.RunTally(), reason)
    tally = ledger.RunTally()
    run_id = None
    try:
        # the schema is at head: `run` and `scheduler` upgrade it under this same lock first (open_at_head)
        lock.begin_fencing()
        # the outer fence (leadership) decides whether the job starts; once started, the job's own lock fences
        # it, so that a leader handing over on SIGTERM lets its running job finish its file
        starting = _fences(lock.check, outer_fence)
        fence = lock.check
        if not record:
            ctx = JobContext(engine, None, tally, _fences(lock.check, outer_fence),
                             lambda: lock.lost or (stop is not None and stop()), lock)
            error = _work(ctx, work)
            if lock.lost:
                raise LockLost(f"verrou « {lock_name} » perdu pendant l'exécution")
            return RunOutcome(None, "ECHEC" if error else "OK", tally, error)
        closed = ledger.close_interrupted_runs(engine, jobs_of(lock_name), starting)
        if closed:
            log.warning(f"exécution(s) interrompue(s) clôturée(s) en ECHEC : {', '.join(map(str, closed))}",
                        extra={"event": {"job": job, "runs": closed}})
        run_id = ledger.start_run(engine, job, as_of, starting)
        log.info("début de l'exécution", extra={"event": {"run_id": run_id, "job": job,
                                                          "as_of": as_of.isoformat() if as_of else None}})
        ctx = JobContext(engine, run_id, tally, fence, lambda: lock.lost or (stop is not None and stop()), lock)
        error = _work(ctx, work)
        if error is None and tally.errors:
            error = "; ".join(tally.errors)
        if error is None and lock.lost:
            raise LockLost(f"verrou « {lock_name} » perdu pendant l'exécution")
        status = "ECHEC" if error else "OK"
        ledger.finish_run(engine, run_id, status, tally, error, fence)
        log.info(f"fin de l'exécution : {status}", extra={"event": {"run_id": run_id, "job": job, "status": status}})
        return RunOutcome(run_id, status, tally, error)
    except LockLost as e:
        log.error(f"exécution arrêtée sans rien écrire : {e}", extra={"event": {"run_id": run_id, "job": job}})
        return RunOutcome(run_id, "ECHEC", tally, str(e))
    except DBAPIError as e:  # the database went away (restart, network): nothing half-written, the next run resumes
        error = f"base de données injoignable : {e.__class__.__name__}: {str(e.orig or e).strip().splitlines()[0]}"
        log.error(f"fin de l'exécution : ECHEC ({error})", extra={"event": {"run_id": run_id, "job": job}})
        _try_finish(engine, run_id, tally, error, lock)
        return RunOutcome(run_id, "ECHEC", tally, error)
    finally:
        lock.release()


def _work(ctx: JobContext, work: Work) -> str | None:
    """The job's own work; transport and system errors are the run's error, anything else is recorded then raised."""
    try:
        return work(ctx)
    except (LockLost, DBAPIError):
        raise
    except TransportError as e:
        return str(e)
    except OSError as e:
        return f"erreur système : {e}"
    except BaseException as e:  # record the failure, then let it propagate (KeyboardInterrupt, bugs)
        if ctx.run_id is None:
            raise
        try:
            ledger.finish_run(ctx.engine, ctx.run_id, "ECHEC", ctx.tally,
                              f"{e.__class__.__name__}: {e}", ctx.fence)
        except (LockLost, DBAPIError):
            pass
        raise


def _try_finish(engine: Engine, run_id: int | None, tally: ledger.RunTally, error: str, lock: HeldLock) -> None:
    """Record ECHEC if the database is back and the lock still ours; else the next holder closes the run."""
    if run_id is None:
        return
    try:
        ledger.finish_run(engine, run_id, "ECHEC", tally, error, lock.check)
    except (LockLost, DBAPIError):
        pass


__all__ = ["run_locked", "RunOutcome", "JobContext", "JOB_LOCKS", "BUSY", "jobs_of"]


def open_at_head(config: Config) -> Engine:
    """An engine on the database brought to this program's schema (what `run` and `scheduler` start with).

    A database not at head is upgraded under the cycle lock (issue 9: migrations applied under the job
    lock): a cycle running elsewhere on the old schema finishes first, and none starts during the upgrade.
    The upgrade's own exclusive lock (exchange.store.revision) still serialises two upgraders.
    """
    from exchange.store.tables import open_database
    from exchange.store.revision import schema_state, upgrade

    engine = open_database(config.database_url)
    try:
        if schema_state(engine).verdict != "current":
            lock = wait_lock(engine, JOB_LOCKS["run"], timings_of(config))
            try:
                upgrade(engine)
            finally:
                lock.release()
    except BaseException:
        engine.dispose()
        raise
    return engine
