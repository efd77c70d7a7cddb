"""The `scheduler` and `status` commands, loaded by exchange.cli.main (add_commands)."""
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
    from exchange.app.status import check_health, health_json, health_text
    from exchange.store.queries import next_scheduled_runs
    from exchange.store.engine import open_current
    from exchange.cli.listing import json_default
    from exchange.edges.transport.factory import open_transport

    engine = open_current(config.database_url)
    try:
        health = check_health(engine, open_transport(config), perimeter=EVERYTHING)
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


def add_commands(sub: argparse._SubParsersAction) -> None:
    sched = sub.add_parser("scheduler", help="exécuter les tâches planifiées de [schedule] jusqu'à l'arrêt "
                                             "(SIGTERM/SIGINT : fin du fichier en cours, puis sortie)")
    sched.set_defaults(handler=cmd_scheduler)
    status = sub.add_parser("status", help="état pour la supervision : 0 sain, 1 alerte")
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.add_argument("--all", action="store_true",
                        help="lister tous les comptes en attente et tous les fichiers bloqués (défaut : les 10 premiers)")
    status.set_defaults(handler=cmd_status)
