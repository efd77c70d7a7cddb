"""The `run` job and its variants (collect, nightly, replay): lock, cycle, emission, run record."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from exchange import ledger
from exchange.config import Config
from exchange.cycle import CycleContext, Progress, collect, replay
from exchange.locks import job_lock
from exchange.transport.base import TransportError
from exchange.transport.factory import open_transport

log = logging.getLogger("esat_exchange")
CYCLE_LOCK = "cycle"  # every job that touches received files shares one lock
CYCLE_JOBS = ("run", "collect", "nightly", "replay")


@dataclass
class RunOutcome:
    run_id: int
    status: str  # OK / ECHEC / IGNORE
    tally: ledger.RunTally
    error: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.status in ("OK", "IGNORE") else 1


def today_in_paris() -> date:
    return datetime.now(ZoneInfo("Europe/Paris")).date()


def run_job(config: Config, engine: Engine, *, job: str = "run", as_of: date | None = None, emit: bool = True,
            use_habilitations: bool = True, progress: Progress | None = None,
            replay_file: int | None = None, stop: Callable[[], bool] | None = None,
            fence: ledger.Fence | None = None) -> RunOutcome:
    """One cycle under the cycle lock, recorded in `runs`; exceptions become an ECHEC record."""
    as_of = as_of or today_in_paris()
    with job_lock(engine, CYCLE_LOCK) as got:
        if not got:
            run_id = ledger.record_skipped_run(engine, job, "un autre processus exécute déjà un cycle")
            log.warning("cycle déjà en cours ailleurs : exécution ignorée", extra={"event": {"run_id": run_id, "job": job}})
            return RunOutcome(run_id, "IGNORE", ledger.RunTally(), "un autre processus exécute déjà un cycle")
        ledger.close_interrupted_runs(engine, CYCLE_JOBS)
        run_id = ledger.start_run(engine, job, as_of)
        tally = ledger.RunTally()
        log.info("début de l'exécution", extra={"event": {"run_id": run_id, "job": job, "as_of": as_of.isoformat()}})
        error = None
        try:
            with open_transport(config) as transport:
                ctx = CycleContext(config=config, engine=engine, transport=transport, as_of=as_of, run_id=run_id,
                                   job=job, tally=tally, use_habilitations=use_habilitations, progress=progress,
                                   stop=stop, fence=fence)
                if replay_file is not None:
                    replay(ctx, replay_file)
                else:
                    collect(ctx)
            if emit and not (stop is not None and stop()):
                from exchange.emission import emit_pending

                tally.outputs.extend(emit_pending(config, engine, run_id, fence))
        except TransportError as e:
            error = str(e)
        except OSError as e:
            error = f"erreur système : {e}"
        except BaseException as e:  # record the failure, then let it propagate (KeyboardInterrupt, bugs)
            ledger.finish_run(engine, run_id, "ECHEC", tally, f"{e.__class__.__name__}: {e}")
            raise
        if error is None and tally.errors:
            error = "; ".join(tally.errors)
        status = "ECHEC" if error else "OK"
        ledger.finish_run(engine, run_id, status, tally, error)
        log.info(f"fin de l'exécution : {status}", extra={"event": {"run_id": run_id, "job": job, "status": status}})
        return RunOutcome(run_id, status, tally, error)
