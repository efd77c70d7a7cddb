"""CLI wiring: `habilitations import PATH` and `migration report FILE [--out FILE]`, with French output."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the parser is built without polars or sqlalchemy: each command imports what it needs
    from exchange.config import Config


def _actor() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name on this system
        return None


def _is_terminal(out: TextIO) -> bool:
    return hasattr(out, "isatty") and out.isatty()


def _print_table(title: str, headers: list[str], rows: list[list[str]], out: TextIO) -> None:
    """A rich table on a terminal; tab-free plain text otherwise."""
    if _is_terminal(out):
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, show_lines=True)
        for h in headers:
            table.add_column(h)
        for r in rows:
            table.add_row(*r)
        Console(file=out).print(table)
        return
    print(title, file=out)
    print(" ; ".join(headers), file=out)
    for r in rows:
        print(" ; ".join(r), file=out)


def cmd_habilitations_import(args: argparse.Namespace, config: Config, out: TextIO | None = None) -> int:
    """Import a Habpps extract; 1 and every problem listed when refused, 0 and the row counts when imported."""
    from exchange.app.habilitations import import_habilitations
    from exchange.cli.journal import cli_actor
    from exchange.edges.habpps import TABLES
    from exchange.store.engine import open_current

    out = out or sys.stdout
    engine = open_current(config.database_url)

    def waiting() -> None:
        print("Un autre import d'extrait Habpps est en cours : attente de sa fin…", file=sys.stderr)

    try:  # two imports at once are serialised: the second waits for the first
        result = import_habilitations(
            config,
            engine,
            Path(args.path),
            _actor(),
            on_wait=waiting,
            journal=cli_actor(args),
            shown=Path(args.path).name,
        )
    finally:
        engine.dispose()
    if result.busy is not None:
        print(f"Import non effectué : {result.busy}", file=sys.stderr)
        return 1
    if not result.accepted:
        print(
            f"Extrait Habpps refusé ({len(result.problems)} problème(s)) : les habilitations "
            "précédentes restent en vigueur.",
            file=out,
        )
        for p in result.problems:
            print(f"- {p}", file=out)
        return 1
    print(
        f"Extrait Habpps importé (import n° {result.import_id}) : il remplace les habilitations précédentes.", file=out
    )
    _print_table("Lignes importées", ["table", "lignes"], [[t, str(result.counts[t])] for t in TABLES], out)
    return 0


def cmd_migration_report(args: argparse.Namespace, config: Config, out: TextIO | None = None) -> int:
    """Print the Habtiers migration report; with --out, also write it as CSV."""
    from exchange.edges.habtiers import (
        REPORT_COLUMNS,
        SEPARATOR,
        MigrationError,
        migration_report,
        report_rows,
        write_migration_csv,
    )

    out = out or sys.stdout
    try:
        report = migration_report(Path(args.file))
    except MigrationError as e:
        print(str(e), file=out)
        return 1
    if args.out:  # written first: the file is the deliverable, the screen a courtesy
        write_migration_csv(report, Path(args.out))
    rows = report_rows(report)
    if _is_terminal(out):
        rows = [r[:3] + [("• " + c.replace(SEPARATOR, "\n• ")) if c else "" for c in r[3:]] for r in rows]
    _print_table(
        f"Migration Habtiers → Mon Compte Partenaire : {report.height} partenaire(s)", list(REPORT_COLUMNS), rows, out
    )
    counts = report.group_by("cas").len().sort("cas")
    print("Par cas : " + ", ".join(f"{c} : {n}" for c, n in counts.iter_rows()), file=out)
    if args.out:
        print(f"Rapport écrit dans {args.out}", file=out)
    return 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `habilitations import PATH` and `migration report FILE [--out FILE]`; handler(args, config) → exit code."""
    hab = subparsers.add_parser("habilitations", help="habilitations Habpps")
    hab_sub = hab.add_subparsers(dest="habilitations_command", required=True)
    imp = hab_sub.add_parser("import", help="importer un extrait Habpps (.xlsx ou dossier de CSV)")
    imp.add_argument("path", metavar="PATH", help="classeur .xlsx ou dossier de fichiers <table>.csv")
    imp.set_defaults(handler=cmd_habilitations_import)

    mig = subparsers.add_parser("migration", help="migration Habtiers → Mon Compte Partenaire")
    mig_sub = mig.add_subparsers(dest="migration_command", required=True)
    rep = mig_sub.add_parser("report", help="rapport de migration Habtiers")
    rep.add_argument("file", metavar="FILE", help="classeur de la Cnaf (.xlsx, première feuille, ou CSV « ; »)")
    rep.add_argument("--out", metavar="FILE", default=None, help="écrire aussi le rapport en CSV")
    rep.set_defaults(handler=cmd_migration_report)
