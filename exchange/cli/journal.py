"""The journal of the command line: one line per command that acts or shows worker-level data, written as the
system user (`cli:<unix user>`) after the command ran; never makes the command fail."""

from __future__ import annotations

import argparse
import getpass
import logging

from exchange.config import Config

# handler → the journal's action: what changes something, and what shows worker-level data (a file's anomalies).
# Listings (files, runs, campaign, operators), status, web, scheduler, db, check and template are not journalled;
# `scheduler pause|resume` is journaled by its use case (exchange.app.pauses), as cli:<user>, done or refused.
ACTIONS = {
    "cmd_run": "run",
    "cmd_files_show": "consultation_fichier",
    "cmd_files_replay": "rejeu",
    "cmd_campaign_close": "cloture_campagne",
    "cmd_habilitations_import": "import_habilitations",
    "cmd_operators_add": "operateur_ajout",
    "cmd_operators_state": "operateur_etat",
    "cmd_migration_report": "rapport_migration",
}


def system_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name known to the system
        return "?"


def target_of(args: argparse.Namespace) -> str | None:
    """What the command acted on, as the journal shows it."""
    for key, label in (
        ("file_id", "fichier n° {}"),
        ("run_id", "exécution n° {}"),
        ("login", "opérateur {}"),
        ("year", "campagne {}"),
    ):
        value = getattr(args, key, None)
        if value is not None:
            return label.format(value)
    return None


def record(args: argparse.Namespace, argv: list[str], code: int, config: Config) -> None:
    """Write the command's journal line (best effort: a database that cannot be written is only logged)."""
    action = ACTIONS.get(getattr(args.handler, "__name__", ""))
    if action is None:
        return
    if action == "operateur_etat":
        action = f"operateur_{args.operators_command}"
    bulk = action == "rejeu" and getattr(args, "file_id", None) is None  # files replay of several files
    if bulk and getattr(args, "dry_run", False):
        return  # a simulation changes nothing and shows no worker-level data
    try:
        from exchange.store.engine import in_transaction, open_current
        from exchange.store.operators import record_audit

        who, command = f"cli:{system_user()}", "esat-exchange " + " ".join(argv)
        engine = open_current(config.database_url)
        try:
            if bulk:  # one line per file replayed, as the console writes them, then the group's line
                for file_id, done, message in getattr(args, "replayed", []):
                    in_transaction(
                        engine,
                        record_audit,
                        who,
                        "rejeu",
                        "OK" if done else "ECHEC",
                        f"fichier n° {file_id}",
                        message,
                        None,
                        file_id=file_id,
                    )
                siret = getattr(args, "siret", None)
                in_transaction(
                    engine,
                    record_audit,
                    who,
                    "rejeu_groupe",
                    "OK" if code == 0 else "ECHEC",
                    f"Esat {siret}" if siret else "tous les Esats",
                    command,
                    None,
                    siret=siret,
                )
            else:
                in_transaction(
                    engine,
                    record_audit,
                    who,
                    action,
                    "OK" if code == 0 else "ECHEC",
                    target_of(args),
                    command,
                    None,
                    file_id=getattr(args, "file_id", None),
                )
        finally:
            engine.dispose()
    except Exception as e:  # noqa: BLE001 - the command's own outcome stands
        logging.getLogger("esat_exchange").warning(f"journal non écrit pour cette commande : {e}")
