"""Operator actions shared by the command line and the console: replay a file (the spec's rule decides)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from exchange.app.cycle import ReplayRefused
from exchange.app.depot_watch import DepotState
from exchange.app.job import RunOutcome
from exchange.app.journal import Actor
from exchange.config import Config
from exchange.core.perimeter import Perimeter
from exchange.core.replay import replay_refusal, stale_extract_refusal
from exchange.core.vocabulary import ACQUITTE, IGNORE, OK, QUARANTAINE
from exchange.store import ledger
from exchange.store.engine import Engine
from exchange.store.followup import pending_habilitation_rejections
from exchange.store.reads.campaign import habilitations_in_force

REPLAY, BULK_REPLAY = "rejeu", "rejeu_groupe"  # the journal's actions

log = logging.getLogger("esat_exchange")
REPLAY_WAIT_SECONDS = 10.0  # a console replay's result is shown when it ends within this; else it goes on


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of a replay request: done (with the file's new statut) or refused, in French."""

    done: bool
    message: str
    outcome: RunOutcome | None = None  # when a run was recorded


def replay_check(engine: Engine, file_id: int) -> tuple[dict[str, Any] | None, str | None]:
    """The file (None when unknown) and why it may not be replayed now (None when it may): the spec's rule
    (core.replay.replay_refusal), then, for an `H` rejection, whether a newer extract was imported."""
    with engine.connect() as conn:
        row = ledger.get_file(conn, file_id)
        in_force = habilitations_in_force(conn)
    if row is None:
        return None, None
    return row, replay_refusal(row) or stale_extract_refusal(row, in_force["importe_le"] if in_force else None)


def drop_area_refusal(depot: DepotState) -> str | None:
    """Why no replay may start now (French), from the console's last view of the drop area: a replay reads the
    file's copy and writes its comptes rendus to the drop area; while it does not answer, the replay would only
    fail. None when it answered."""
    from exchange.core.health import since_hour

    if depot.unreachable_since is None:
        return None
    return (
        f"la zone de dépôt est injoignable depuis {since_hour(depot.unreachable_since, depot.checked_at)} "
        f"({depot.error or 'aucune réponse'}) : le rejeu écrirait les comptes rendus de l'Esat dans la zone de "
        "dépôt ; rien n'est changé, rejouez le fichier quand elle répondra de nouveau"
    )


def probe_drop_area(config: Config) -> str | None:
    """Open the drop area once (the command line has no background lister): why it does not answer, or None."""
    from exchange.app.depot_watch import french_error
    from exchange.core.clock import utcnow
    from exchange.edges.transport.base import TransportError
    from exchange.edges.transport.factory import open_transport

    try:
        with open_transport(config):
            return None
    except (TransportError, OSError) as e:
        now = utcnow()
        return drop_area_refusal(DepotState(now, unreachable_since=now, error=french_error(e)))


def replay_file(
    config: Config, engine: Engine, file_id: int, actor: Actor | None = None, depot: DepotState | None = None
) -> ReplayResult:
    """Replay a kept file at its original processing date when core.replay.replay_refusal allows it and, for a
    file rejected for an `H` code, once an extract was imported after its judgement (stale_extract_refusal).
    Refused at once, with no run recorded, while the drop area does not answer: `depot` (the console's last view
    of it), or a connection tried now when None (the command line). With an `actor`, one journal line (`rejeu`,
    done or not, the file and its Esat)."""
    result = _replay(config, engine, file_id, depot)
    if actor is not None:
        outcome = "OK" if result.done else "ECHEC"
        actor.record(engine, REPLAY, outcome, f"fichier n° {file_id}", result.message, file_id=file_id)
    return result


def _replay(config: Config, engine: Engine, file_id: int, depot: DepotState | None) -> ReplayResult:
    from exchange.app.run import run_job

    row, refusal = replay_check(engine, file_id)
    if row is None:
        return ReplayResult(False, f"Fichier n° {file_id} inconnu.")
    if refusal is not None:
        return ReplayResult(False, f"Rejeu impossible : {refusal}.")
    down = drop_area_refusal(depot) if depot is not None else probe_drop_area(config)
    if down is not None:
        return ReplayResult(False, f"Rejeu du fichier n° {file_id} impossible : {down}.")
    try:
        outcome = run_job(config, engine, job="replay", as_of=row["processing_date"], replay_file=file_id)
    except ReplayRefused as e:
        return ReplayResult(False, f"Rejeu impossible : {e}.")
    if outcome.status == IGNORE:
        return ReplayResult(
            False,
            f"Rejeu du fichier n° {file_id} non effectué : {outcome.error or 'une autre exécution est en cours'}. "
            "Relancez plus tard.",
            outcome,
        )
    with engine.connect() as conn:
        after = ledger.get_file(conn, file_id) or row  # a file is never deleted while replayed
    if outcome.status != OK and (after["replays"] or 0) == (row["replays"] or 0):  # failed before it judged the file
        return ReplayResult(
            False,
            f"Rejeu du fichier n° {file_id} en échec (exécution n° {outcome.run_id}) : "
            f"{outcome.error or 'cause non enregistrée, voir le journal de l’exécution'}. Le fichier n'a pas été "
            f"jugé de nouveau : il reste {_as_is(row)}.",
            outcome,
        )
    code = f" ({after['code']})" if after["code"] else ""
    judged = f" : {after['statut']}{code}" if after["state"] == ACQUITTE else f" : {_as_is(after)}"
    message = f"Fichier n° {file_id} rejoué (jugé au {row['processing_date'].strftime('%d/%m/%Y')}){judged}."
    if outcome.status != OK:
        message += (
            f" L'exécution n° {outcome.run_id} est en échec : "
            f"{outcome.error or 'cause non enregistrée, voir le journal de l’exécution'}."
        )
    return ReplayResult(outcome.status == OK, message, outcome)


def _as_is(row: dict[str, Any]) -> str:
    """The file's state as a sentence ends: « REJETE (H05) », « en quarantaine », « en cours (ARCHIVE) »."""
    if row["state"] == QUARANTAINE:
        return "en quarantaine"
    if row["state"] != ACQUITTE:
        return f"en cours de traitement (état {row['state']})"
    return f"{row['statut']}" + (f" ({row['code']})" if row["code"] else "")


def replay_soon(
    config: Config,
    engine: Engine,
    file_id: int,
    depot: DepotState,
    actor: Actor | None = None,
    wait_seconds: float = REPLAY_WAIT_SECONDS,
) -> ReplayResult:
    """replay_file in a background thread (the console): its result when it ends within `wait_seconds`, else a
    result saying it goes on (its outcome on the file's page and the runs list), so no request waits on SFTP."""
    done: list[ReplayResult] = []

    def body() -> None:
        try:
            done.append(replay_file(config, engine, file_id, actor, depot))
        except Exception:  # noqa: BLE001 - logged; the run record says the rest
            log.exception(f"rejeu du fichier n° {file_id} : erreur")
            done.append(
                ReplayResult(
                    False, f"Rejeu du fichier n° {file_id} en échec : erreur inattendue (voir le journal du service)."
                )
            )

    thread = threading.Thread(target=body, name=f"console-rejeu-{file_id}", daemon=True)
    thread.start()
    thread.join(wait_seconds)
    if done:
        return done[0]
    return ReplayResult(
        True,
        f"Rejeu du fichier n° {file_id} en cours : son résultat s'affichera sur la page du fichier et dans la liste "
        "des exécutions.",
    )


def replayable_after_import(engine: Engine, siret: str | None = None, *, perimeter: Perimeter) -> list[dict[str, Any]]:
    """The files rejected for a habilitation code (store.followup.pending_habilitation_rejections) that may be
    replayed now, an extract having been imported since their judgement; only those of `siret` when given."""
    with engine.connect() as conn:
        pending = pending_habilitation_rejections(conn, perimeter=perimeter)
    return [p for p in pending if (siret is None or p["siret"] == siret) and replay_check(engine, p["id"])[1] is None]
