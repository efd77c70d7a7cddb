"""Ask a running job to stop (the console's run page, the API): it finishes the file in hand, leaves the others for
the next run and closes its run, as the command line's Ctrl-C does (store.runs.ask_stop, read by app.job)."""

from __future__ import annotations

from dataclasses import dataclass

from exchange.core.vocabulary import EN_COURS
from exchange.store import runs
from exchange.store.engine import Engine


@dataclass(frozen=True)
class StopResult:
    """Asked, or refused (why, in French); `unknown` when there is no such run."""

    done: bool
    message: str
    unknown: bool = False


def ask_stop(engine: Engine, run_id: int, who: str) -> StopResult:
    """Ask run `run_id`'s job to stop between two files, as `who`."""
    from exchange.store.run_log import run_status

    with engine.begin() as conn:
        status = run_status(conn, run_id)
        asked = runs.stop_asked(conn, run_id) if status == EN_COURS else None
        done = status == EN_COURS and asked is None and runs.ask_stop(conn, run_id, who)
    if status is None:
        return StopResult(False, f"Exécution n° {run_id} inconnue.", unknown=True)
    if status != EN_COURS:
        return StopResult(False, f"L'exécution n° {run_id} n'est pas en cours ({status}) : rien à arrêter.")
    if asked is not None:
        return StopResult(False, f"Arrêt de l'exécution n° {run_id} déjà demandé par {asked['asked_by']}.")
    if not done:
        return StopResult(False, f"Arrêt de l'exécution n° {run_id} déjà demandé.")
    return StopResult(
        True,
        f"Arrêt de l'exécution n° {run_id} demandé : le fichier en cours est terminé, les suivants attendent "
        "la prochaine exécution.",
    )
