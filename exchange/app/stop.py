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

    with engine.connect() as conn:
        status = run_status(conn, run_id)
    if status is None:
        return StopResult(False, f"Exécution n° {run_id} inconnue.", unknown=True)
    if status != EN_COURS:
        return StopResult(False, f"L'exécution n° {run_id} n'est pas en cours ({status}) : rien à arrêter.")
    asked = runs.stop_asked(engine, run_id)
    if asked is not None:
        return StopResult(False, f"Arrêt de l'exécution n° {run_id} déjà demandé par {asked['asked_by']}.")
    if not runs.ask_stop(engine, run_id, who):
        return StopResult(False, f"L'exécution n° {run_id} vient de se terminer : rien à arrêter.")
    return StopResult(
        True,
        f"Arrêt de l'exécution n° {run_id} demandé : le fichier en cours est terminé, les suivants attendent "
        "la prochaine exécution.",
    )
