"""What a command says about its configuration file: missing (how to write one), and its start-up log line."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from exchange.config import Config, ConfigError

# Commands that work on what they are given, not on the service's database or folders.
NEEDS_NO_CONFIG = {"check", "template", "migration"}


def config_file(args: argparse.Namespace) -> Path | None:
    """The configuration file this command reads (load_config's rule), None when it runs on the defaults."""
    if args.config is not None:
        return Path(args.config).absolute()
    default = Path("esat-exchange.toml")
    return default.absolute() if default.exists() else None


def missing_config_notice(path: Path | None, error: ConfigError) -> str:
    """The hint added to « fichier de configuration introuvable »: the command that writes one."""
    if path is None or "introuvable" not in str(error):
        return ""
    return f" ; pour en écrire un : esat-exchange config init {Path(path).absolute()}"


def started(args: argparse.Namespace, config: Config) -> None:
    """Say, first, that no configuration file was found; log the process's start-up line (JSON with --log-format json)."""
    from exchange.cli.version import installed_version as _version

    path = config_file(args)
    if path is None and args.command not in NEEDS_NO_CONFIG:
        print(
            "Aucun fichier de configuration (ni --config, ni ./esat-exchange.toml) : valeurs par défaut, chemins "
            f"relatifs au dossier courant ({Path.cwd()}). Pour en écrire un : "
            "esat-exchange config init /etc/esat-exchange/esat-exchange.toml",
            file=sys.stderr,
        )
    url = config.database_url
    logging.getLogger("esat_exchange").info(
        "démarrage d'esat-exchange",
        extra={
            "event": {
                "event": "demarrage",
                "version": _version(),
                "command": args.command,
                "config": str(path) if path else "",
                "base": url.split(":", 1)[0].split("+", 1)[0],
            }
        },
    )
