"""Start a declared job by its id (exchange.core.jobs.REGISTRY): the use case its entry names, resolved once here."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from exchange.app.job import RunOutcome
from exchange.config import Config
from exchange.core.jobs import JOB_KINDS
from exchange.store.engine import Engine
from exchange.store.ledger import Fence

UseCase = Callable[..., RunOutcome]


def use_case(job: str) -> UseCase:
    """The function a job's registry entry names ("module:function"); KeyError when the job has none."""
    ref = JOB_KINDS[job].use_case
    if not ref:
        raise KeyError(job)
    module, name = ref.split(":")
    found: UseCase = getattr(importlib.import_module(module), name)
    return found


def start(
    config: Config, engine: Engine, job: str, *, stop: Callable[[], bool] | None = None, fence: Fence | None = None
) -> RunOutcome:
    """Run the job's use case through the job wrapper (its lock, its run record)."""
    return use_case(job)(config, engine, job, stop=stop, fence=fence)


__all__ = ["start", "use_case"]
