"""Use cases of the campaign: its follow-up (who has not declared yet) and its close (the Caf snapshot files).

Called the same way by `campaign status` / `campaign close`, the console and the scheduler's `campaign` job.
"""
from __future__ import annotations

import logging
from datetime import date

from exchange.app.emission import campaign_close
from exchange.app.job import JobContext, RunOutcome, run_locked
from exchange.config import Config
from exchange.core.campaign import missing_esats
from exchange.core.clock import today_in_paris
from exchange.core.perimeter import Perimeter
from exchange.store.engine import Engine
from exchange.store.habilitations import undeclared_partners
from exchange.store.ledger import Fence

log = logging.getLogger("esat_exchange")


def campaign_status(engine: Engine, year: int, today: date, caf: str | None = None, *,
                    perimeter: Perimeter) -> list[dict]:
    """The open Esats of the perimeter with no accepted RG of `year` (exchange.core.campaign.missing_esats)."""
    return missing_esats(undeclared_partners(engine, year), year, today, caf, perimeter=perimeter)


def close_campaign(config: Config, engine: Engine, year: int | None = None, fence: Fence | None = None) -> RunOutcome:
    """The campaign files of `year` (default: last year in Europe/Paris), by hand or scheduled, through the job
    wrapper under the campaign lock; IGNORE when another process holds it."""
    today = today_in_paris()
    year = year if year is not None else today.year - 1

    def close(ctx: JobContext) -> str | None:
        log.info(f"début de la clôture de campagne {year}",
                 extra={"event": {"run_id": ctx.run_id, "job": "campaign", "annee": year}})
        ctx.tally.outputs.extend(campaign_close(config, engine, year, today, ctx.run_id, ctx.fence))
        return None

    return run_locked(config, engine, "campaign", close, as_of=today, outer_fence=fence)


__all__ = ["campaign_status", "close_campaign"]
