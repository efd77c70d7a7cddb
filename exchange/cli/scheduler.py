"""The `scheduler` and `status` commands, loaded by exchange.cli.main (add_commands). `scheduler` alone runs the
scheduler; `scheduler pause|resume|list` pause, resume and list the scheduled jobs (exchange.app.pauses)."""

from __future__ import annotations

import argparse
import json
import sys

from exchange.config import Config, ConfigError
from exchange.core.perimeter import EVERYTHING  # the command line sees everything


def _config_path(args: argparse.Namespace) -> str | None:
    """The configuration file the jobs will reload, absolute (the job store outlives the working folder)."""
    from pathlib import Path

    if args.config is not None:
        return str(Path(args.config).resolve())
    default = Path("esat-exchange.toml")
    return str(default.resolve()) if default.exists() else None


def cmd_scheduler(args: argparse.Namespace, config: Config) -> int:
    from exchange.app.job import open_at_head
    from jobs.scheduler import serve

    engine = open_at_head(config)  # the scheduler brings the database to head itself, under the cycle lock
    try:
        return serve(config, _config_path(args), engine)
    except ConfigError as e:
        print(f"Erreur de configuration : {e}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    from exchange.app.purge import unknown_files
    from exchange.app.status import check_health, health_json, health_text
    from exchange.cli.listing import json_default
    from exchange.edges.transport.factory import open_transport
    from exchange.store.engine import open_current
    from exchange.store.reads.runs import next_scheduled_runs

    engine = open_current(config.database_url)
    try:
        copies, outputs = unknown_files(config, engine)
        health = check_health(
            engine,
            open_transport(config),
            perimeter=EVERYTHING,
            unknown={"copies": len(copies), "outputs": len(outputs)},
            patience_seconds=config.web.depot_patience_seconds,
        )
        with engine.connect() as conn:
            next_runs = next_scheduled_runs(conn)
    finally:
        engine.dispose()
    if args.format == "json":
        payload = {**health_json(health), "prochaines_executions": next_runs}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=json_default) + "\n")
    else:
        sys.stdout.write(health_text(health, show_all=args.all, next_runs=next_runs))
    return 0 if health.healthy else 1


def _job_or_all(args: argparse.Namespace) -> str:
    from exchange.app.pauses import ALL

    return ALL if args.toutes else args.tache


def cmd_scheduler_pause(args: argparse.Namespace, config: Config) -> int:
    """`scheduler pause TACHE|--toutes [--motif TEXTE]`: journaled by the use case as cli:<user>; 1 when refused."""
    from exchange.app.pauses import pause, resume
    from exchange.cli.journal import system_user
    from exchange.store.engine import open_current

    engine = open_current(config.database_url)
    try:
        who = f"cli:{system_user()}"
        if args.scheduler_command == "pause":
            result = pause(engine, _job_or_all(args), who, args.motif)
        else:
            result = resume(engine, _job_or_all(args), who)
    finally:
        engine.dispose()
    print(result.message, file=sys.stdout if result.done else sys.stderr)
    return 0 if result.done else 1


def cmd_scheduler_list(args: argparse.Namespace, config: Config) -> int:
    """`scheduler list`: each scheduled job, active or paused (by whom, since when, why)."""
    from exchange.app.pauses import job_states
    from exchange.store.engine import open_current

    engine = open_current(config.database_url)
    try:
        states = job_states(engine)
    finally:
        engine.dispose()
    if args.format == "json":
        from exchange.cli.listing import json_default

        rows = [{k: s[k] for k in ("tache", "suspendue", "par", "depuis", "motif")} for s in states]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2, default=json_default) + "\n")
        return 0
    width = max(len(s["tache"]) for s in states)
    for s in states:
        print(f"{s['tache']:<{width}}  {s['libelle']} : {s['texte']}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sched = sub.add_parser(
        "scheduler",
        help="exécuter les tâches planifiées de [schedule] jusqu'à l'arrêt "
        "(SIGTERM/SIGINT : fin du fichier en cours, puis sortie) ; "
        "suspendre, reprendre ou lister ces tâches",
        description="Sans sous-commande : exécute les tâches planifiées jusqu'à l'arrêt. "
        "« pause », « resume » et « list » suspendent, reprennent ou listent les "
        "tâches planifiées (collect, nightly, campaign, purge), pour tous les nœuds.",
    )
    sched.set_defaults(handler=cmd_scheduler)
    actions = sched.add_subparsers(dest="scheduler_command", required=False, metavar="[pause|resume|list]")
    pause = actions.add_parser(
        "pause",
        help="suspendre une tâche planifiée (ses créneaux sont sautés, pas rattrapés)",
        description="Le planificateur saute les créneaux de la tâche suspendue, sans "
        "enregistrer d'exécution, jusqu'à la reprise ; une exécution en cours "
        "n'est pas arrêtée ; un lancement à la main (run, console) reste possible.",
    )
    resume = actions.add_parser("resume", help="reprendre une tâche suspendue (à son prochain créneau)")
    for p, verb in ((pause, "suspendre"), (resume, "reprendre")):
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "tache", nargs="?", metavar="TACHE", help=f"la tâche à {verb} : collect, nightly, campaign ou purge"
        )
        which.add_argument("--toutes", action="store_true", help=f"{verb} toutes les tâches planifiées")
        p.set_defaults(handler=cmd_scheduler_pause)
    pause.add_argument("--motif", metavar="TEXTE", help="pourquoi (montré dans la console, status et le journal)")
    listing = actions.add_parser("list", help="chaque tâche planifiée : active ou suspendue (par qui, depuis quand)")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(handler=cmd_scheduler_list)
    status = sub.add_parser("status", help="état pour la supervision : 0 sain, 1 alerte")
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.add_argument(
        "--all",
        action="store_true",
        help="lister tous les comptes en attente et tous les fichiers bloqués (défaut : les 10 premiers)",
    )
    status.set_defaults(handler=cmd_status)
