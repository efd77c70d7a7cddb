"""Use cases of the campaign: its follow-up (who has not declared yet) and its close (the Caf snapshot files).

Called the same way by `campaign status` / `campaign close`, the console and the scheduler's `campaign` job.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from exchange.app.emission import campaign_close
from exchange.app.job import JobContext, RunOutcome, run_locked
from exchange.app.journal import Actor
from exchange.app.memo import VersionedMemo
from exchange.app.status import depot_listing
from exchange.config import Config
from exchange.core.campaign import campaign_days, missing_esats, situation
from exchange.core.clock import today_in_paris
from exchange.core.perimeter import Perimeter
from exchange.core.vocabulary import IGNORE, OK, REJETE
from exchange.edges.transport.base import Transport, TransportError
from exchange.store.engine import Engine, in_transaction
from exchange.store.followup import latest_rg_files
from exchange.store.habilitations import undeclared_partners
from exchange.store.ledger import Fence
from schemas.declaration import parse_file_name
from schemas.fields import plural

if TYPE_CHECKING:
    from exchange.app.depot_watch import DepotState

log = logging.getLogger("esat_exchange")


def campaign_status(
    engine: Engine, year: int, today: date, caf: str | None = None, *, perimeter: Perimeter
) -> list[dict[str, Any]]:
    """The open Esats of the perimeter with no accepted RG of `year` (exchange.core.campaign.missing_esats)."""
    return missing_esats(
        in_transaction(engine, undeclared_partners, year, perimeter), year, today, caf, perimeter=perimeter
    )


def campaign_followup(
    engine: Engine,
    transport: Transport | DepotState | None,
    year: int,
    today: date,
    caf: str | None = None,
    *,
    perimeter: Perimeter,
    memo: VersionedMemo | None = None,
) -> list[dict[str, Any]]:
    """campaign_status, each Esat with its `situation` (exchange.core.campaign.SITUATIONS) and its latest RG file
    of the campaign (named with a date from July N to June N+1; `fichier`: id or None). An Esat whose latest RG
    was rejected for a habilitation code is followed even while its service is closed (H07: no contrat de services
    yet): the Caf acts. `transport` (an unopened transport, or the console's DepotState: its last listing) tells
    which Esats have an RG waiting in depot/; None, or unreachable: not checked. With `memo` (the console), the
    store's part is read again only once the data it read changed."""

    first, last = campaign_days(year)

    def stored() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        with engine.connect() as conn:
            undeclared = undeclared_partners(conn, year, perimeter)
            latest = latest_rg_files(conn, list(undeclared.partenaires), first, last, perimeter=perimeter)
        rejected_h = frozenset(
            s for s, f in latest.items() if f["statut"] == REJETE and (f["code"] or "").startswith("H")
        )
        missing = missing_esats(undeclared, year, today, caf, perimeter=perimeter, also=rejected_h)
        return missing, {m["siret"]: latest[m["siret"]] for m in missing if m["siret"] in latest}

    kept, latest = stored() if memo is None else memo.get(("suivi", year, today, caf, perimeter), stored)
    missing = [dict(m) for m in kept]  # the memo's rows stay as read
    in_depot: set[str] = set()
    if transport is not None:
        try:
            for w in depot_listing(transport)[1]:
                name = parse_file_name(w["fichier"])
                if name is not None and name.kind == "RG" and first <= name.produced_on <= last:
                    in_depot.add(name.siret)
        except (TransportError, OSError) as e:
            log.warning(f"campagne {year} : zone de dépôt injoignable ({e}), fichiers en attente non comptés")
    for m in missing:
        found = latest.get(m["siret"])
        m["situation"] = situation(found, m["siret"] in in_depot)
        m["fichier"] = found["id"] if found else None
    return missing


def close_message(outcome: RunOutcome, year: int) -> str:
    """What a close by hand did, in French (the console's message and the journal's detail)."""
    if outcome.status == OK:
        written = plural(len(outcome.tally.outputs), "fichier", "fichiers")
        return f"Fichiers de campagne {year} écrits : {written} Caf (exécution n° {outcome.run_id})."
    if outcome.status == IGNORE:
        return f"Clôture de la campagne {year} non effectuée : {outcome.error}. Relancez plus tard."
    return f"Clôture de la campagne {year} en échec : {outcome.error}."


def close_campaign(
    config: Config,
    engine: Engine,
    year: int | None = None,
    fence: Fence | None = None,
    *,
    actor: Actor | None = None,
) -> RunOutcome:
    """The campaign files of `year` (default: last year in Europe/Paris), by hand or scheduled, through the job
    wrapper under the campaign lock; IGNORE when another process holds it. By hand (`actor`), one journal line
    (`cloture_campagne`); the scheduler's closes are in `runs` only."""
    today = today_in_paris()
    year = year if year is not None else today.year - 1

    def close(ctx: JobContext) -> str | None:
        log.info(
            f"début de la clôture de campagne {year}",
            extra={"event": {"run_id": ctx.run_id, "job": "campaign", "annee": year, "general": True}},
        )
        ctx.tally.outputs.extend(campaign_close(config, engine, year, today, ctx.run_id, ctx.fence))
        return None

    outcome = run_locked(config, engine, "campaign", close, as_of=today, outer_fence=fence)
    if actor is not None:
        result = "OK" if outcome.status == OK else "ECHEC"
        actor.record(engine, "cloture_campagne", result, f"campagne {year}", close_message(outcome, year))
    return outcome


def campaign_job(
    config: Config, engine: Engine, job: str = "campaign", *, stop: object = None, fence: Fence | None = None
) -> RunOutcome:
    """The `campaign` job of exchange.core.jobs, started by the scheduler or the console: last year's close."""
    return close_campaign(config, engine, fence=fence)


__all__ = ["campaign_job", "campaign_status", "campaign_followup", "close_campaign", "close_message"]
