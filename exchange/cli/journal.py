"""The journal of the command line: one line per command that acts or shows worker-level data, written as the
system user (`cli:<unix user>`) after the command ran; never makes the command fail."""

from __future__ import annotations

import argparse
import getpass
import logging

from exchange.app.journal import Actor
from exchange.config import Config

# handler → the journal's action: what changes something, and what shows worker-level data (a file's anomalies).
# Listings (files, runs, campaign, operators), status, web, scheduler, db, check and template are not journalled;
# `scheduler pause|resume`, `files replay` (one or several: `rejeu`, `rejeu_groupe`), `campaign close` and
# `habilitations import` are journaled by their use case, as cli_actor (cli:<user>, the command typed).
ACTIONS = {
    "cmd_run": "run",
    "cmd_files_show": "consultation_fichier",
    "cmd_operators_add": "operateur_ajout",
    "cmd_operators_state": "operateur_etat",
    "cmd_operators_token": "jeton",  # create and revoke; a list is not journaled
    "cmd_migration_report": "rapport_migration",
}


def system_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name known to the system
        return "?"


def cli_actor(args: argparse.Namespace) -> Actor:
    """The command-line user as a use case journals them: `cli:<unix user>` and the command typed."""
    return Actor(f"cli:{system_user()}", None, "esat-exchange " + " ".join(getattr(args, "argv", [])))


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
    if action == "jeton":
        if args.token_command == "list":
            return
        action = {"create": "jeton_creation", "revoke": "jeton_revocation"}[args.token_command]
    try:
        from exchange.store.engine import in_transaction, open_current
        from exchange.store.operators import record_audit

        who, command = f"cli:{system_user()}", "esat-exchange " + " ".join(argv)
        engine = open_current(config.database_url)
        try:
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
