"""Replay many files in one run, in the background (the console's and the API's bulk replay): each file judged again
at its own processing date, one log line per file (its progress on the run page), a stop asked between files."""

from __future__ import annotations

import logging
from collections.abc import Callable

from exchange.app.job import JobContext, RunOutcome, run_locked
from exchange.app.journal import Actor
from exchange.app.launch import Launch, start_in_background
from exchange.app.replay import BULK_REPLAY, REPLAY, ReplayResult, probe_drop_area, replay_check
from exchange.config import Config
from exchange.core.vocabulary import IGNORE
from exchange.store.engine import Engine
from schemas.fields import plural

log = logging.getLogger("esat_exchange")
JOB = "replay"


Journal = Callable[[int, bool, str], None]  # (file id, replayed, French line): one journal line per file


def replay_in_one_run(
    config: Config,
    engine: Engine,
    file_ids: list[int],
    *,
    stop: Callable[[], bool] | None = None,
    journal: Journal | None = None,
) -> RunOutcome:
    """Replay `file_ids` (oldest first) in one `replay` run under the cycle lock: each checked again just before
    (core.replay's rule, a newer extract for an H rejection), each processed as a kept file at its processing date,
    then the Caf emission; a stop (the operator's, or `stop`) leaves the remaining files as they were. `journal` is
    told each file's outcome (the console and the API write it to the journal, as for a single replay)."""
    from exchange.app.cycle import CycleContext, ReplayRefused, replay
    from exchange.edges.transport.factory import open_transport

    wanted = sorted(set(file_ids))

    def work(job: JobContext) -> str | None:
        total = len(wanted)
        event = {"run_id": job.run_id, "job": JOB}
        log.info(f"rejeu groupé : {plural(total, 'fichier à rejouer', 'fichiers à rejouer')}", extra={"event": event})
        done = refused = 0
        with open_transport(config) as transport:
            for n, file_id in enumerate(wanted, 1):
                if job.stop():
                    log.warning(
                        f"arrêt demandé : {plural(total - n + 1, 'fichier non rejoué', 'fichiers non rejoués')}, "
                        "à rejouer plus tard",
                        extra={"event": event},
                    )
                    break
                row, refusal = replay_check(engine, file_id)
                about = {**event, "file_id": file_id, "account": row["account"] if row else None}
                if row is None or refusal is not None:
                    refused += 1
                    why = refusal or "fichier inconnu"
                    log.warning(f"fichier {n}/{total} non rejoué : {why}", extra={"event": about})
                    if journal is not None:
                        journal(
                            file_id,
                            False,
                            f"Fichier n° {file_id} inconnu." if row is None else f"Rejeu impossible : {why}.",
                        )
                    continue
                ctx = CycleContext(
                    config=config,
                    engine=engine,
                    transport=transport,
                    as_of=row["processing_date"],
                    run_id=job.recorded_run_id,
                    job=JOB,
                    tally=job.tally,
                    stop=job.stop,
                    fence=job.fence,
                )
                try:
                    after = replay(ctx, file_id)
                except ReplayRefused as e:
                    refused += 1
                    log.warning(f"fichier {n}/{total} non rejoué : {e}", extra={"event": about})
                    if journal is not None:
                        journal(file_id, False, f"Rejeu impossible : {e}.")
                    continue
                done += 1
                code = f" ({after['code']})" if after["code"] else ""
                judged = f"jugé au {row['processing_date'].strftime('%d/%m/%Y')}"
                log.info(
                    f"fichier {n}/{total} rejoué ({judged}) : {after['statut'] or after['state']}{code}",
                    extra={"event": about},
                )
                if journal is not None:
                    journal(
                        file_id,
                        True,
                        f"Fichier n° {file_id} rejoué ({judged}) : {after['statut'] or after['state']}{code}"
                        f" (exécution n° {job.run_id}).",
                    )
        log.info(
            f"rejeu groupé : {plural(done, 'fichier rejoué', 'fichiers rejoués')} sur {total}"
            + (f", {plural(refused, 'refusé', 'refusés')}" if refused else ""),
            extra={"event": event},
        )
        if not job.stop():
            from exchange.app.emission import emit_pending

            job.tally.outputs.extend(emit_pending(config, engine, job.run_id, job.fence, None))
        return None

    return run_locked(config, engine, JOB, work, stop=stop)


def replay_many(
    config: Config,
    engine: Engine,
    file_ids: list[int],
    actor: Actor | None = None,
    *,
    siret: str | None = None,
) -> tuple[list[tuple[int, ReplayResult]], RunOutcome | None]:
    """The command line's bulk replay, in the foreground: replay_in_one_run (the console's and the API's use case:
    one `replay` run, each file checked again just before it), its result per file, oldest first, and the run
    (None when none was started). Every file is refused at once, with no run, while the drop area does not answer
    (one connection tried first, as the command line has no background lister). With an `actor`, one journal line per file (`rejeu`), then the
    group's (`rejeu_groupe`: the Esat `siret` or every Esat, how many were replayed)."""
    wanted = sorted(set(file_ids))
    down = probe_drop_area(config) if wanted else None
    said: dict[int, ReplayResult] = {}
    outcome: RunOutcome | None = None
    if down is not None:
        said = {i: ReplayResult(False, f"Rejeu du fichier n° {i} impossible : {down}.") for i in wanted}
    elif wanted:

        def told(file_id: int, done: bool, message: str) -> None:
            said[file_id] = ReplayResult(done, message)

        outcome = replay_in_one_run(config, engine, wanted, journal=told)
    results = [(i, said.get(i) or _not_reached(i, outcome)) for i in wanted]
    if actor is not None:
        for file_id, result in results:
            actor.record(
                engine,
                REPLAY,
                "OK" if result.done else "ECHEC",
                f"fichier n° {file_id}",
                result.message,
                file_id=file_id,
            )
        done = sum(1 for _, r in results if r.done)
        actor.record(
            engine,
            BULK_REPLAY,
            "OK" if done == len(results) else "ECHEC",
            f"Esat {siret}" if siret else "tous les Esats",
            f"{plural(done, 'fichier rejoué', 'fichiers rejoués')} sur {len(results)}",
            siret=siret,
        )
    return results, outcome


def _not_reached(file_id: int, outcome: RunOutcome | None) -> ReplayResult:
    """A file the run did not come to: another run held the lock, the run was stopped, or it failed first."""
    if outcome is None or outcome.status == IGNORE:
        why = (outcome.error if outcome else None) or "une autre exécution est en cours"
        return ReplayResult(False, f"Rejeu du fichier n° {file_id} non effectué : {why}. Relancez plus tard.", outcome)
    return ReplayResult(
        False,
        f"Rejeu du fichier n° {file_id} non effectué : l'exécution n° {outcome.run_id} s'est arrêtée avant lui "
        f"({outcome.error or 'arrêt demandé'}). Relancez-le.",
        outcome,
    )


def start_bulk_replay(
    config: Config, engine: Engine, file_ids: list[int], who: str, journal: Journal | None = None
) -> Launch:
    """Start replay_in_one_run in a background thread of this process; its run id once recorded (a few seconds),
    or why not at once (the cycle lock is busy)."""
    if not file_ids:
        return Launch(False, "Aucun fichier à rejouer.")
    return start_in_background(
        config,
        engine,
        JOB,
        lambda: replay_in_one_run(config, engine, file_ids, journal=journal),
        who,
        "rejeu groupé",
        "Rejeu groupé lancé",
    )


__all__ = ["replay_in_one_run", "replay_many", "start_bulk_replay"]
