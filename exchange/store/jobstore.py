"""The scheduler's job store: APScheduler's SQLAlchemy store whose every write is fenced by the leader lock."""

from __future__ import annotations

import pickle
from typing import Any

from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, ProgrammingError

from exchange.store.ledger import Fence
from exchange.store.tables import JOBSTORE_TABLE


class FencedJobStore(SQLAlchemyJobStore):  # type: ignore[misc]  # APScheduler 3 ships no types
    """The SQLAlchemy job store whose writes check, in their own transaction, that this node still leads."""

    def __init__(self, fence: Fence | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fence = fence

    def _state(self, job: Any) -> dict[str, Any]:
        return {
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol),
        }

    def add_job(self, job: Any) -> None:
        with self.engine.begin() as conn:
            if self._fence is not None:
                self._fence(conn)
            try:
                with conn.begin_nested():
                    conn.execute(self.jobs_t.insert().values(id=job.id, **self._state(job)))
            except IntegrityError:
                raise ConflictingIdError(job.id) from None

    def update_job(self, job: Any) -> None:
        with self.engine.begin() as conn:
            if self._fence is not None:
                self._fence(conn)
            if (
                conn.execute(self.jobs_t.update().values(**self._state(job)).where(self.jobs_t.c.id == job.id)).rowcount
                == 0
            ):
                raise JobLookupError(job.id)

    def remove_job(self, job_id: str) -> None:
        with self.engine.begin() as conn:
            if self._fence is not None:
                self._fence(conn)
            if conn.execute(self.jobs_t.delete().where(self.jobs_t.c.id == job_id)).rowcount == 0:
                raise JobLookupError(job_id)

    def shutdown(self) -> None:
        pass  # the engine is the caller's


def create_table(store: SQLAlchemyJobStore, engine: Engine) -> None:
    """The job store table, tolerating another scheduler process creating it at the same moment."""
    try:
        store.jobs_t.create(engine, checkfirst=True)
    except (IntegrityError, ProgrammingError):
        if not inspect(engine).has_table(JOBSTORE_TABLE):
            raise
