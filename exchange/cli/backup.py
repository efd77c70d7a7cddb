"""The `backup DEST` command (cli.md « Running it in production »): ledger copy and manifest, while the service runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exchange.config import Config


def cmd_backup(args: argparse.Namespace, config: Config) -> int:
    from exchange.app.backup import BackupRefused, make_backup
    from exchange.cli.version import installed_version as _version

    try:
        report = make_backup(config, args.dest, _version())
    except BackupRefused as e:
        print(f"Sauvegarde non faite : {e} ; rien n'a été laissé à {Path(args.dest).absolute()}.", file=sys.stderr)
        return 1
    rows = report.rows
    print(f"Sauvegarde faite dans {report.dest} :")
    print(
        f"- base {report.kind} (révision {report.revision or 'aucune'}) : {report.ledger.name}, "
        f"{rows.get('files', 0)} fichiers reçus, {rows.get('runs', 0)} exécutions, {rows.get('emissions', 0)} émissions"
    )
    print(f"- MANIFEST.sha256 : {report.files} fichiers conservés avec leur SHA-256 ({', '.join(report.roots)})")
    print(
        "Ces dossiers se sauvegardent avec vos outils de fichiers ; après une restauration, "
        f"« sha256sum -c {report.dest}/MANIFEST.sha256 » vérifie chacun."
    )
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser(
        "backup",
        help="copie cohérente de la base pendant que le service tourne, et manifeste des fichiers conservés",
    )
    backup.add_argument("dest", type=Path, metavar="DEST", help="le dossier à créer (il ne doit pas exister)")
    backup.set_defaults(handler=cmd_backup)
