"""Operator actions shared by the command line and the console: replay a file (the spec's rule decides)."""

from __future__ import annotations

from dataclasses import dataclass

from exchange.app.cycle import ReplayRefused
from exchange.app.journal import Actor
from exchange.app.run import run_job
from exchange.config import Config
from exchange.core.perimeter import Perimeter
from exchange.core.replay import replay_refusal, stale_extract_refusal
from exchange.core.vocabulary import IGNORE, OK
from exchange.store import ledger
from exchange.store.engine import Engine
from exchange.store.followup import pending_habilitation_rejections
from exchange.store.reads.campaign import habilitations_in_force
from schemas.fields import plural

REPLAY, BULK_REPLAY = "rejeu", "rejeu_groupe"  # the journal's actions


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of a replay request: done (with the file's new statut) or refused, in French."""

    done: bool
    message: str
    outcome: object | None = None  # exchange.app.run.RunOutcome when a run was recorded


def replay_check(engine: Engine, file_id: int) -> tuple[dict | None, str | None]:
    """The file (None when unknown) and why it may not be replayed now (None when it may): the spec's rule
    (core.replay.replay_refusal), then, for an `H` rejection, whether a newer extract was imported."""
    with engine.connect() as conn:
        row = ledger.get_file(conn, file_id)
        in_force = habilitations_in_force(conn)
    if row is None:
        return None, None
    return row, replay_refusal(row) or stale_extract_refusal(row, in_force["importe_le"] if in_force else None)


def replay_file(config: Config, engine: Engine, file_id: int, actor: Actor | None = None) -> ReplayResult:
    """Replay a kept file at its original processing date when core.replay.replay_refusal allows it and, for a
    file rejected for an `H` code, once an extract was imported after its judgement (stale_extract_refusal).
    With an `actor`, one journal line (`rejeu`, done or not, the file and its Esat)."""
    result = _replay(config, engine, file_id)
    if actor is not None:
        outcome = "OK" if result.done else "ECHEC"
        actor.record(engine, REPLAY, outcome, f"fichier n° {file_id}", result.message, file_id=file_id)
    return result


def _replay(config: Config, engine: Engine, file_id: int) -> ReplayResult:
    row, refusal = replay_check(engine, file_id)
    if row is None:
        return ReplayResult(False, f"Fichier n° {file_id} inconnu.")
    if refusal is not None:
        return ReplayResult(False, f"Rejeu impossible : {refusal}.")
    try:
        outcome = run_job(config, engine, job="replay", as_of=row["processing_date"], replay_file=file_id)
    except ReplayRefused as e:
        return ReplayResult(False, f"Rejeu impossible : {e}.")
    if outcome.status == IGNORE:
        return ReplayResult(
            False, f"Rejeu du fichier n° {file_id} non effectué : {outcome.error}. Relancez plus tard.", outcome
        )
    with engine.connect() as conn:
        after = ledger.get_file(conn, file_id)
    code = f" ({after['code']})" if after["code"] else ""
    message = (
        f"Fichier n° {file_id} rejoué (jugé au {row['processing_date'].strftime('%d/%m/%Y')}) : "
        f"{after['statut']}{code}."
    )
    if outcome.status != OK:
        message += f" L'exécution n° {outcome.run_id} est en échec : {outcome.error}."
    return ReplayResult(outcome.status == OK, message, outcome)


def replay_many(
    config: Config, engine: Engine, file_ids: list[int], actor: Actor | None = None, *, siret: str | None = None
) -> list[tuple[int, ReplayResult]]:
    """Replay each file in turn (replay_file: each its own run, each checked again just before), oldest first.
    With an `actor`, one journal line per file (`rejeu`, with its Esat and number), then the group's
    (`rejeu_groupe`: the Esat `siret` or every Esat, how many were replayed)."""
    results = [(file_id, replay_file(config, engine, file_id, actor)) for file_id in sorted(file_ids)]
    if actor is not None:
        done = sum(1 for _, r in results if r.done)
        actor.record(
            engine,
            BULK_REPLAY,
            "OK" if done == len(results) else "ECHEC",
            f"Esat {siret}" if siret else "tous les Esats",
            f"{plural(done, 'fichier rejoué', 'fichiers rejoués')} sur {len(results)}",
            siret=siret,
        )
    return results


def replayable_after_import(engine: Engine, siret: str | None = None, *, perimeter: Perimeter) -> list[dict]:
    """The files rejected for a habilitation code (store.followup.pending_habilitation_rejections) that may be
    replayed now, an extract having been imported since their judgement; only those of `siret` when given."""
    with engine.connect() as conn:
        pending = pending_habilitation_rejections(conn, perimeter=perimeter)
    return [p for p in pending if (siret is None or p["siret"] == siret) and replay_check(engine, p["id"])[1] is None]
