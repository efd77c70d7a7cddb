"""The health of the service (`status`, the dashboard, /sante): the store's reads and the drop area's state, judged
by exchange.core.health."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from exchange.app.depot_watch import DepotState, list_every_account, list_within
from exchange.core.clock import utcnow
from exchange.core.health import (
    REJECTIONS_WINDOW,
    Health,
    collect_failures_reason,
    depot_reason,
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
from exchange.edges.transport.base import Entry, Transport, is_safe_name
from exchange.store import purge as purge_state
from exchange.store.engine import Engine
from exchange.store.followup import habilitation_rejections_by_code
from exchange.store.nodes import list_nodes
from exchange.store.pauses import paused_jobs
from exchange.store.reads import campaign as campaign_reads
from exchange.store.reads import files as file_reads
from exchange.store.reads import runs as run_reads
from exchange.store.watch import failed_collects_in_a_row

JOBS = tuple(job.id for job in REGISTRY if job.in_status)  # the jobs `status` shows (exchange.core.jobs)


def _counted(
    listed: dict[str, list[Entry] | None],
) -> tuple[dict[str, int], list[dict[str, Any]], list[dict[str, Any]]]:
    """Files waiting in each account's depot/, every waiting file (account, name, since), oldest first, and the names
    a collect never takes (links, folders, unsafe names: left in place, so never « en attente »)."""
    counts: dict[str, int] = {}
    waiting: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    for account, entries in listed.items():
        if entries is None:  # a depot/ that cannot be read is reported by the run; here it counts nothing
            counts[account] = 0
            continue
        kept = [e for e in entries if e.regular and is_safe_name(e.name)]
        counts[account] = len(kept)
        waiting += [
            {"compte": account, "fichier": safe_text(e.name), "depuis": datetime.fromtimestamp(e.mtime, UTC)}
            for e in kept
        ]
        refused += [
            {"compte": account, "fichier": safe_text(e.name), "depuis": datetime.fromtimestamp(e.mtime, UTC)}
            for e in entries
            if not (e.regular and is_safe_name(e.name))
        ]
    order = lambda w: (w["depuis"], w["compte"], w["fichier"])  # noqa: E731
    return counts, sorted(waiting, key=order), sorted(refused, key=order)


def depot_listing(source: Transport | DepotState) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Names waiting in each account's depot/ and every waiting file (the campaign follow-up reads it too): from the
    console's last listing (a DepotState: nothing when none) or by listing an unopened transport now."""
    if isinstance(source, DepotState):
        return _counted(source.listed)[:2] if source.listed is not None else ({}, [])
    with source as t:
        return _counted(list_every_account(t))[:2]


def _brief(run: dict[str, Any] | None) -> dict[str, Any] | None:
    """What `status` shows of a run."""
    return None if run is None else {k: run[k] for k in ("id", "job", "debut", "fin", "statut", "erreur")}


def check_health(
    engine: Engine,
    source: Transport | DepotState | None,
    now: datetime | None = None,
    *,
    perimeter: Perimeter = EVERYTHING,
    patience_seconds: float = 5.0,
    unknown: dict[str, int] | None = None,
) -> Health:
    """The health of the service as `perimeter` sees it (its files, its accounts' depot/, its Caf's action
    items: files rejected for a habilitation code). `source`: the console's DepotState (what its background
    lister last saw: never a listing on a request), an unopened drop-area transport (the command line lists it
    now), or None (not checked). The command line and /sante see everything. `unknown`: the files the ledger
    does not know, counted now (the command line scans the folders); else as the last purge counted them."""
    now = now or utcnow()
    health = database_health(engine, now, perimeter=perimeter, unknown=unknown)
    if isinstance(source, DepotState):
        add_depot_state(health, source, None if perimeter.national else _accounts(engine, perimeter), now)
    elif source is not None:  # listed now, but never waited on longer than the console would (a silent server)
        state = list_within(source, patience_seconds)
        add_depot_state(health, state, None if perimeter.national else _accounts(engine, perimeter), now)
    return health


def _accounts(engine: Engine, perimeter: Perimeter) -> set[str]:
    with engine.connect() as conn:
        return file_reads.accounts_in(conn, perimeter=perimeter)


def database_health(
    engine: Engine, now: datetime, *, perimeter: Perimeter = EVERYTHING, unknown: dict[str, int] | None = None
) -> Health:
    """Everything the verdict reads from the database (the drop area aside: add_depot_state); `unknown` as in
    check_health."""
    health = Health(checked_at=now)
    with engine.connect() as conn:
        # a run's counts and error as the perimeter reads them (no free text naming another perimeter's file)
        health.last_runs = {
            job: _brief(run_reads.narrowed_run(conn, run_reads.last_run(conn, (job,)), perimeter)) for job in JOBS
        }
        last_nightly = run_reads.last_run(conn, ("nightly",), FINISHED_RUN_STATUSES)
        health.alerts += nightly_reasons(run_reads.narrowed_run(conn, last_nightly, perimeter), now)
        health.alerts += collect_failures_reason(failed_collects_in_a_row(conn), now)
        health.states = file_reads.files_per_state(conn, perimeter=perimeter)
        last_cycle = run_reads.last_run(conn, CYCLE_JOBS, FINISHED_RUN_STATUSES)
        health.stuck = file_reads.unfinished_since(conn, stuck_limit(now, last_cycle), perimeter=perimeter)
        by_run = stuck_by(health.stuck, last_cycle)
        health.quarantined = file_reads.quarantined_files(conn, perimeter=perimeter)
        health.rejected_by_code = file_reads.rejections_by_code(conn, now - REJECTIONS_WINDOW, perimeter=perimeter)
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
    return health


def add_depot_state(health: Health, state: DepotState, accounts: set[str] | None, now: datetime) -> None:
    """The drop area as `state` saw it: its counts (only `accounts`' when given: the drop area knows no perimeter)
    while it answers, else « zone de dépôt injoignable depuis HH:MM » and why."""
    health.depot_listed_at, health.depot_unreachable_since = state.listed_at, state.unreachable_since
    if state.unreachable_since is not None:
        health.source_error = state.error or "aucune réponse"
        # its text may name any account: outside the national perimeter, the fact alone
        error = state.error if accounts is None else "le détail est réservé au périmètre national"
        health.alerts += depot_reason(state.unreachable_since, error, now)
        return
    if state.listed is None:
        return  # the first listing is under way: « non vérifié »
    health.depot, health.waiting, health.refused = _counted(state.listed)
    if accounts is not None:
        health.depot = {a: n for a, n in health.depot.items() if a in accounts}
        health.waiting = [w for w in health.waiting if w["compte"] in accounts]
        health.refused = [w for w in health.refused if w["compte"] in accounts]


__all__ = ["Health", "check_health", "health_text", "health_json"]
