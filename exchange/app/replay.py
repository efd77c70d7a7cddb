"""Operator actions shared by the command line and the console: replay a file (the spec's rule decides)."""
from __future__ import annotations

from dataclasses import dataclass

from exchange.core.replay import replay_refusal
from exchange.core.vocabulary import IGNORE, OK
from exchange.store import ledger
from exchange.store.engine import Engine
from exchange.config import Config


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of a replay request: done (with the file's new statut) or refused, in French."""

    done: bool
    message: str
    outcome: object | None = None  # exchange.app.run.RunOutcome when a run was recorded


def replay_file(config: Config, engine: Engine, file_id: int) -> ReplayResult:
    """Replay a kept file at its original processing date when core.replay.replay_refusal allows it."""
    from exchange.app.run import run_job

    with engine.connect() as conn:
        row = ledger.get_file(conn, file_id)
    if row is None:
        return ReplayResult(False, f"Fichier n° {file_id} inconnu.")
    refusal = replay_refusal(row)
    if refusal is not None:
        return ReplayResult(False, f"Rejeu impossible : {refusal}.")
    try:
        outcome = run_job(config, engine, job="replay", as_of=row["processing_date"], replay_file=file_id)
    except ValueError as e:
        return ReplayResult(False, f"Rejeu impossible : {e}.")
    if outcome.status == IGNORE:
        return ReplayResult(False, f"Rejeu du fichier n° {file_id} non effectué : {outcome.error}. "
                                   "Relancez plus tard.", outcome)
    with engine.connect() as conn:
        after = ledger.get_file(conn, file_id)
    code = f" ({after['code']})" if after["code"] else ""
    message = (f"Fichier n° {file_id} rejoué (jugé au {row['processing_date'].strftime('%d/%m/%Y')}) : "
               f"{after['statut']}{code}.")
    if outcome.status != OK:
        message += f" L'exécution n° {outcome.run_id} est en échec : {outcome.error}."
    return ReplayResult(outcome.status == OK, message, outcome)
