"""The `run` job and its variants (collect, nightly, replay): a cycle, then the emission, through the job wrapper."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from exchange.app.cycle import CycleContext, Progress, collect, replay
from exchange.app.emission import emit_pending
from exchange.app.job import JobContext, RunOutcome, run_locked
from exchange.app.stored_records import StoredRecords
from exchange.config import Config
from exchange.core.clock import today_in_paris
from exchange.core.jobs import JOB_KINDS
from exchange.edges.transport.factory import open_transport
from exchange.store import ledger
from exchange.store.engine import Engine


def run_job(
    config: Config,
    engine: Engine,
    *,
    job: str = "run",
    as_of: date | None = None,
    emit: bool = True,
    use_habilitations: bool = True,
    progress: Progress | None = None,
    replay_file: int | None = None,
    stop: Callable[[], bool] | None = None,
    fence: ledger.Fence | None = None,
) -> RunOutcome:
    """One cycle under the cycle lock, recorded in `runs`; `fence` is an extra fence (the scheduler's leadership)."""
    as_of = as_of or today_in_paris()

    def cycle(job_ctx: JobContext) -> str | None:
        stored = StoredRecords()
        with open_transport(config) as transport:
            ctx = CycleContext(
                config=config,
                engine=engine,
                transport=transport,
                as_of=as_of,
                run_id=job_ctx.recorded_run_id,
                job=job,
                tally=job_ctx.tally,
                use_habilitations=use_habilitations,
                progress=progress,
                stop=job_ctx.stop,
                fence=job_ctx.fence,
                stored=stored,
            )
            if replay_file is not None:
                replay(ctx, replay_file)
            else:
                collect(ctx)
        if emit and not job_ctx.stop():
            job_ctx.tally.outputs.extend(emit_pending(config, engine, job_ctx.run_id, job_ctx.fence, progress, stored))
        return None

    return run_locked(config, engine, job, cycle, as_of=as_of, stop=stop, outer_fence=fence)


def cycle_job(
    config: Config,
    engine: Engine,
    job: str,
    *,
    stop: Callable[[], bool] | None = None,
    fence: ledger.Fence | None = None,
) -> RunOutcome:
    """A cycle job of exchange.core.jobs (collect, nightly) started by the scheduler or the console: a cycle,
    then the Caf files when the job `emits`."""
    return run_job(config, engine, job=job, emit=JOB_KINDS[job].emits, stop=stop, fence=fence)


__all__ = ["cycle_job", "run_job", "RunOutcome", "today_in_paris"]
