"""The `purge` command (cli.md): apply `[retention]`, print what was (or would be) removed per kind and year."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from exchange.config import Config
from exchange.core.vocabulary import OK

if TYPE_CHECKING:  # for the annotations only: the command imports it when it runs
    from exchange.app.purge import PurgeReport

UNITS = {
    "copies": ("fichier", "fichiers"),
    "comptes_rendus": ("fichier", "fichiers"),
    "identity": ("fichier", "fichiers"),
    "outputs": ("émission", "émissions"),
    "audit": ("ligne", "lignes"),
    "runs": ("exécution", "exécutions"),
}


def report_text(report: PurgeReport) -> str:
    """The French report: a heading, then each kind with its counts per year (or « rien »)."""
    from exchange.core.retention import KINDS
    from schemas.fields import plural

    day = report.as_of.strftime("%d/%m/%Y")
    outcome = report.outcome
    if report.dry_run:
        lines = [f"Simulation de la purge au {day} : rien n'a été supprimé. Seraient supprimés ou rendus anonymes :"]
    else:
        assert outcome is not None  # a purge that is not a dry run has its run's outcome
        if outcome.status == "IGNORE":
            return (
                f"Purge au {day} non effectuée (exécution n° {outcome.run_id}) : {outcome.error}. Relancez plus tard.\n"
            )
        state = "terminée" if outcome.status == OK else "en échec"
        lines = [f"Purge au {day} : {state} (exécution n° {outcome.run_id}). Supprimés ou rendus anonymes :"]
    for kind, label in KINDS.items():
        per_year = {y: c for y, c in report.counts[kind].items() if any(c)}
        if not per_year:
            lines.append(f"{label} : rien")
            continue
        lines.append(f"{label} :")
        for year in sorted(per_year, key=lambda y: (y is None, y or 0)):
            items, n_records, n_anomalies = per_year[year]
            text = plural(items, *UNITS[kind])
            if kind == "identity":
                text += (
                    f", {plural(n_records, 'enregistrement', 'enregistrements')}, "
                    f"{plural(n_anomalies, 'anomalie', 'anomalies')}"
                )
            lines.append(f"  {year if year is not None else 'sans année'} : {text}")
    from exchange.core.health import unknown_files_text

    unknown = unknown_files_text(report.unknown)
    if unknown:
        lines.append(unknown)
    if report.reclaimed:
        lines.append(f"Base de données : {report.reclaimed}.")
    if outcome is not None and outcome.error:
        lines.append(f"Erreur : {outcome.error} (ce qui a été fait est conservé ; la prochaine purge termine le reste)")
    return "\n".join(lines) + "\n"


def cmd_purge(args: argparse.Namespace, config: Config) -> int:
    from exchange.app.purge import dry_run, purge
    from exchange.core.clock import today_in_paris
    from exchange.store.engine import open_current

    as_of = args.as_of or today_in_paris()
    engine = open_current(config.database_url)
    try:
        report = dry_run(config, engine, as_of) if args.dry_run else purge(config, engine, as_of)
    finally:
        engine.dispose()
    sys.stdout.write(report_text(report))
    if report.outcome is not None and report.outcome.status == "IGNORE":
        return 1
    return report.exit_code


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from exchange.cli.main import _as_of

    p = sub.add_parser(
        "purge",
        help="appliquer les durées de conservation de [retention]",
        description="Supprime ou rend anonymes, partout où le service les garde, les données "
        "personnelles dont la durée de conservation est passée ; rien de ce qui n'est "
        "pas terminé (fichier sans réponse, enregistrement non émis, campagne ouverte, "
        "quarantaine) n'est touché.",
    )
    p.add_argument("--as-of", type=_as_of, help="date de la purge AAAA-MM-JJ (défaut : aujourd'hui, Europe/Paris)")
    p.add_argument("--dry-run", action="store_true", help="dire ce qui serait supprimé, sans rien supprimer")
    p.set_defaults(handler=cmd_purge)
