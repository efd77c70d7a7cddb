"""The health of the service (`status`, the dashboard): the store's reads and the drop area's listing, judged by
exchange.core.health."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from exchange.core.clock import utcnow
from exchange.core.health import (
    REJECTIONS_WINDOW,
    Health,
    Reason,
    health_json,
    health_text,
    nightly_reasons,
    pause_reasons,
    purge_reasons,
    stuck_by,
    stuck_limit,
    verdict,
)
from exchange.core.jobs import REGISTRY
from exchange.core.perimeter import EVERYTHING, Perimeter
from exchange.core.safe_text import safe_text
from exchange.core.vocabulary import CYCLE_JOBS, FINISHED_RUN_STATUSES
from exchange.edges.transport.base import Refused, Transport, TransportError
from exchange.store import purge as purge_state
from exchange.store.engine import Engine
from exchange.store.followup import habilitation_rejections_by_code
from exchange.store.nodes import list_nodes
from exchange.store.pauses import paused_jobs
from exchange.store.reads import campaign as campaign_reads
from exchange.store.reads import files as file_reads
from exchange.store.reads import runs as run_reads

JOBS = tuple(job.id for job in REGISTRY if job.in_status)  # the jobs `status` shows (exchange.core.jobs)


def _depot(transport: Transport | DepotCache) -> tuple[dict[str, int], list[dict]]:
    """Names waiting in each account's depot/, and every waiting file (account, name, since), oldest first."""
    counts: dict[str, int] = {}
    waiting: list[dict] = []
    with transport as t:
        snapshot = getattr(t, "depot_snapshot", None)  # every account in one pass, where the transport can
        listed = snapshot() if snapshot is not None else _depot_one_by_one(t)
    for account, entries in listed.items():
        if entries is None:  # a depot/ that cannot be read is reported by the run; here it counts nothing
            counts[account] = 0
            continue
        counts[account] = len(entries)
        waiting += [
            {"compte": account, "fichier": safe_text(e.name), "depuis": datetime.fromtimestamp(e.mtime, UTC)}
            for e in entries
        ]
    return counts, sorted(waiting, key=lambda w: (w["depuis"], w["compte"], w["fichier"]))


class DepotCache:
    """A drop area whose depot/ listing is shared by the console's page views (one listing of every account, over
    SFTP in production, instead of one per view). Used where a transport is expected (`with cache as t:
    t.depot_snapshot()`); `read_at` says when the listing shown was made.

    A listing younger than `max_age_seconds` is reused. An older one (up to STALE_FACTOR times that age) is
    still shown while a background thread lists the drop area again, so that no page waits for the listing
    once the console has made one; `warm()` makes the first one in the background when the console starts. A
    failed background listing is not hidden: the next view lists the drop area itself and reports the error.
    `max_age_seconds` 0: every view lists it, nothing in the background."""

    STALE_FACTOR = 5

    def __init__(
        self,
        open_transport: Callable[[], Transport],
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open, self._max_age, self._clock = open_transport, max_age_seconds, clock
        self._lock = threading.Lock()  # the fields below
        self._listing = threading.Lock()  # held while the drop area is being listed (one listing at a time)
        self._listed: dict[str, list | None] | None = None
        self._listed_at = 0.0
        self._failed = False  # the last background listing raised
        self.read_at: datetime | None = None

    def __enter__(self) -> DepotCache:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _list(self) -> dict[str, list | None]:
        """List the drop area now (under `_listing`) and keep the result."""
        with self._open() as t:
            snapshot = getattr(t, "depot_snapshot", None)
            listed = snapshot() if snapshot is not None else _depot_one_by_one(t)
        with self._lock:
            self._listed, self._listed_at, self._failed, self.read_at = listed, self._clock(), False, utcnow()
        return listed

    def _in_background(self) -> None:
        if not self._listing.acquire(blocking=False):
            return  # a listing is already under way

        def body() -> None:
            try:
                self._list()
            except Exception:  # noqa: BLE001 - TransportError, OSError…: the next view lists it and says why
                with self._lock:
                    self._failed = True
            finally:
                self._listing.release()

        threading.Thread(target=body, name="console-depot", daemon=True).start()

    def warm(self) -> None:
        """Start the first listing in the background (the console starting), unless views list at each request."""
        if self._max_age > 0:
            self._in_background()

    def _kept(self, younger_than: float) -> dict[str, list | None] | None:
        """The last listing when it succeeded and is younger than `younger_than` seconds, else None."""
        with self._lock:
            if self._listed is not None and not self._failed and self._clock() - self._listed_at < younger_than:
                return self._listed
        return None

    def depot_snapshot(self) -> dict[str, list | None]:
        """Every account's depot/ entries (see the class): an unreachable drop area raises, and the next view tries
        again."""
        fresh = self._kept(self._max_age)
        if fresh is not None:
            return fresh
        stale = self._kept(self._max_age * self.STALE_FACTOR)
        if stale is not None:
            self._in_background()
            return stale
        with self._listing:  # no usable listing: make one (or take the one made while this view waited)
            made = self._kept(self._max_age)
            return made if made is not None else self._list()


def depot_listing(transport: Transport) -> tuple[dict[str, int], list[dict]]:
    """Names waiting in each account's depot/ and every waiting file (the campaign follow-up reads it too)."""
    return _depot(transport)


def _depot_one_by_one(t: Transport) -> dict[str, list | None]:
    """Each account's depot/ entries through list_depot (None where it is refused)."""
    listed: dict[str, list | None] = {}
    for account in t.accounts():
        try:
            listing = t.list_depot(account, 0.0, 0)
        except Refused:
            listed[account] = None
            continue
        listed[account] = [*listing.ready, *listing.waiting, *(e for e, _ in listing.refused)]
    return listed


def _brief(run: dict | None) -> dict | None:
    """What `status` shows of a run."""
    return None if run is None else {k: run[k] for k in ("id", "job", "debut", "fin", "statut", "erreur")}


def check_health(
    engine: Engine,
    transport: Transport | None,
    now: datetime | None = None,
    *,
    perimeter: Perimeter = EVERYTHING,
    unknown: dict[str, int] | None = None,
) -> Health:
    """The health of the service as `perimeter` sees it (its files, its accounts' depot/, its Caf's action
    items: files rejected for a habilitation code); `transport` is an unopened drop-area transport (None: not
    checked). The command line and /sante see everything. `unknown`: the files the ledger does not know, counted
    now (the command line scans the folders); else as the last purge counted them."""
    now = now or utcnow()
    health = Health(checked_at=now)
    with engine.connect() as conn:
        # a run's counts and error as the perimeter reads them (no free text naming another perimeter's file)
        health.last_runs = {
            job: _brief(run_reads.narrowed_run(conn, run_reads.last_run(conn, (job,)), perimeter)) for job in JOBS
        }
        last_nightly = run_reads.last_run(conn, ("nightly",), FINISHED_RUN_STATUSES)
        health.alerts += nightly_reasons(run_reads.narrowed_run(conn, last_nightly, perimeter), now)
        health.states = file_reads.files_per_state(conn, perimeter=perimeter)
        last_cycle = run_reads.last_run(conn, CYCLE_JOBS, FINISHED_RUN_STATUSES)
        health.stuck = file_reads.unfinished_since(conn, stuck_limit(now, last_cycle), perimeter=perimeter)
        by_run = stuck_by(health.stuck, last_cycle)
        health.quarantined = file_reads.quarantined_files(conn, perimeter=perimeter)
        health.rejected_by_code = file_reads.rejections_by_code(conn, now - REJECTIONS_WINDOW, perimeter=perimeter)
        accounts = None if perimeter.national else file_reads.accounts_in(conn, perimeter=perimeter)
        health.nodes = [
            {
                "machine": n["host"],
                "pid": n["pid"],
                "role": n["role"],
                "depuis": n["role_since"],
                "dernier_signe_de_vie": n["heartbeat_at"],
            }
            for n in list_nodes(conn)
        ]
        imported = campaign_reads.habilitations_in_force(conn) is not None
        pending = habilitation_rejections_by_code(conn, perimeter=perimeter)
        health.warnings = pause_reasons(paused_jobs(conn))
        if perimeter.national:  # the ledger's own state: not any Caf's
            health.unknown_files, health.unknown_checked_at = purge_state.unknown_counts(conn)
            if unknown is not None:
                health.unknown_files, health.unknown_checked_at = unknown, now
            health.erasure_pending = purge_state.erasure_pending(conn)
            health.warnings += purge_reasons(health)
    verdict(health, imported, by_run, pending)
    if transport is not None:
        try:
            health.depot, health.waiting = _depot(transport)
            if accounts is not None:  # the drop area knows no perimeter: only the perimeter's accounts
                health.depot = {a: n for a, n in health.depot.items() if a in accounts}
                health.waiting = [w for w in health.waiting if w["compte"] in accounts]
        except (TransportError, OSError) as e:
            health.source_error = str(e) or e.__class__.__name__
            # its text may name any account: outside the national perimeter, the fact alone
            detail = f" : {health.source_error}" if perimeter.national else ""
            health.alerts.append(Reason(f"zone de dépôt injoignable{detail}"))
    return health


__all__ = ["Health", "check_health", "health_text", "health_json"]
