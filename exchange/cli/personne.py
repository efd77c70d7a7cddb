"""The `personne` command (cli.md): everything held about one NIR, for a right-of-access request; journaled."""

from __future__ import annotations

import argparse
import sys

from exchange.config import Config


def cli_login() -> str:
    """Who runs the command, as the audit journal names a command-line user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:inconnu"


def cmd_personne(args: argparse.Namespace, config: Config) -> int:
    from exchange.app.personne import NirError, person_report
    from exchange.core.personne_forms import person_html, person_json, person_text
    from exchange.store.engine import open_current

    engine = open_current(config.database_url)
    try:
        report = person_report(engine, args.nir, login=cli_login(), config=config)
    except NirError as e:
        print(f"Demande refusée : {e}.", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    render = {"json": person_json, "html": person_html}.get(args.format, person_text)
    sys.stdout.write(render(report))
    return 0 if report["donnees_detenues"] else 1


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "personne",
        help="tout ce que le service détient sur une personne (droit d'accès)",
        description="Enregistrements, anomalies, fichiers et comptes rendus, émissions vers les Caf, "
        "et purges : la réponse à une demande de droit d'accès. Seule cette commande "
        "affiche le NIR en entier ; chaque usage est inscrit au journal d'audit.",
    )
    p.add_argument("nir", metavar="NIR", help="le NIR de la personne (15 caractères, espaces permis)")
    p.add_argument("--format", choices=("text", "html", "json"), default="text")
    p.set_defaults(handler=cmd_personne)
