"""The `config init` command (cli.md « Running it in production »): a commented configuration, paths absolute."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from exchange.config import Config

DATA_DIR = "/var/lib/esat-exchange"  # the service user's home (docs/operations.md, « Les comptes et les dossiers »)
DEFAULT_FILE = Path("/etc/esat-exchange/esat-exchange.toml")
SKIPPED = {("web", "secret_key_file")}  # accepted for old configurations, unused: not offered to a new one

SECTIONS = {
    "database": "Le registre (base de données). SQLite par défaut ; PostgreSQL :\n"
    'url = "postgresql+psycopg://esat@/esat" (socket local) ou "postgresql+psycopg://esat:MOT_DE_PASSE@hote/esat".',
    "source": 'La zone de dépôt des Esat : un dossier local (kind = "local") ou un serveur SFTP (kind = "sftp").\n'
    "Pour SFTP : host, username, private_key (lisible par l'utilisateur du service), known_hosts.",
    "storage": "Les copies reçues (données personnelles : dossier 0700 de l'utilisateur du service).",
    "output": "Les fichiers produits pour chaque Caf.",
    "limits": "Les bornes d'un fichier reçu (au-delà : F07).",
    "schedule": "Le planificateur (esat-exchange scheduler) : expressions cron à 5 champs, lues dans timezone.",
    "web": "La console (esat-exchange web). Derrière un mandataire TLS (nginx, Apache) : bind sur 127.0.0.1.",
    "web.oidc": "Connexion unique par le fournisseur OpenID de l'institution (issuer vide : comptes locaux seuls).",
    "locks": "Verrous des tâches et relève entre deux planificateurs sur une même base PostgreSQL.",
    "retention": "Durées de conservation (« 2 ans », « 6 mois », « 90 jours ») : appliquées par purge chaque nuit.",
    "alerts": "Alertes par courriel et/ou webhook (rien de renseigné : aucune alerte envoyée).",
}

KEYS = {
    "source.root": "dossier local : un sous-dossier par compte d'Esat, chacun avec depot/, retour/, archive/",
    "source.settle_seconds": "un fichier modifié depuis moins longtemps est laissé pour la collecte suivante",
    "source.private_key": "chemin absolu de la clé privée SFTP ; sa phrase secrète : ESAT_EXCHANGE_SFTP_PASSPHRASE",
    "source.known_hosts": "chemin absolu du fichier known_hosts qui contient la clé du serveur SFTP",
    "source.timeout_seconds": "délai d'une opération SFTP avant abandon",
    "limits.max_file_bytes": "50 Mio",
    "schedule.misfire_grace_seconds": "un créneau manqué de plus de 6 h est sauté, pas rattrapé",
    "web.bind": "adresse:port d'écoute",
    "web.base_path": 'ex. "/esat" si le mandataire publie la console sous /esat',
    "web.trusted_proxies": 'adresses des mandataires dont on croit X-Forwarded-For et X-Forwarded-Proto, ex. ["127.0.0.1"]',
    "web.proxy_header": 'ex. "X-Remote-User" : l\'identifiant donné par un mandataire qui authentifie',
    "web.public_url": 'adresse publique de la console, ex. "https://esat.caf.example/esat" (liens du guide)',
    "web.oidc.client_secret_env": "la variable d'environnement qui contient le secret du client",
}


def sample_config(data_dir: str = DATA_DIR) -> str:
    """The commented TOML of every key at its default, the paths under the absolute `data_dir`."""
    data = data_dir.rstrip("/") or "/"
    paths = {
        "database.url": f"sqlite:///{data}/exchange.db",
        "source.root": f"{data}/zone-de-depot",
        "storage.dir": f"{data}/recus",
        "output.dir": f"{data}/caf",
    }
    lines = [
        "# Configuration d'esat-exchange, écrite par « esat-exchange config init » : chaque clé à sa valeur",
        "# par défaut. Les chemins sont absolus et doivent appartenir à l'utilisateur du service (esat-exchange),",
        "# qui doit pouvoir y écrire. Le guide d'exploitation (operations.md) dit quoi changer.",
    ]

    def section(name: str, value: Any) -> None:
        lines.extend(["", *(f"# {line}" for line in SECTIONS[name].splitlines()), f"[{name}]"])
        nested = []
        for f in fields(value):
            key = f"{name}.{f.name}"
            if (name, f.name) in SKIPPED:
                continue
            item = getattr(value, f.name)
            if is_dataclass(item):
                nested.append((key, item))
                continue
            if key in KEYS:
                lines.append(f"# {KEYS[key]}")
            lines.append(f"{f.name} = {toml_value(paths.get(key, item))}")
        for key, item in nested:
            section(key, item)

    defaults = Config()
    for f in fields(Config):
        if f.name != "base_dir":
            section(f.name, getattr(defaults, f.name))
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    """`value` written as TOML (strings as basic strings, lists inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def cmd_config_init(args: argparse.Namespace, _config: None) -> int:
    target = Path(args.file or args.config or DEFAULT_FILE).absolute()
    data_dir = str(Path(args.data_dir).absolute())
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)  # never replaces an existing file
    except FileExistsError:
        print(f"Refusé : {target} existe déjà ; rien n'a été écrit (choisissez un autre nom).", file=sys.stderr)
        return 1
    except OSError as e:
        from exchange.core.os_reasons import os_reason

        print(f"Écriture impossible de {target} : {os_reason(e)} ; rien n'a été écrit.", file=sys.stderr)
        return 1
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(sample_config(data_dir))
    print(f"Configuration écrite dans {target} (chemins sous {data_dir}).")
    print(
        f"Relisez-la ([database], [source]), donnez ses dossiers à l'utilisateur du service, puis : "
        f"esat-exchange --config {target} db upgrade"
    )
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = sub.add_parser("config", help="fichier de configuration").add_subparsers(
        dest="config_command", required=True
    )
    init = config.add_parser(
        "init", help="écrire une configuration commentée (chaque clé, chemins absolus) ; refuse d'écraser"
    )
    init.add_argument(
        "file", nargs="?", type=Path, help=f"le fichier à écrire (défaut : --config, sinon {DEFAULT_FILE})"
    )
    init.add_argument(
        "--data-dir",
        default=DATA_DIR,
        metavar="DOSSIER",
        help=f"le dossier des données du service, sous lequel vont base, dépôt, copies et fichiers Caf (défaut : {DATA_DIR})",
    )
    init.set_defaults(handler=cmd_config_init, without_config=True)


if __name__ == "__main__":  # `make dist`: the release's esat-exchange.toml.sample, with the standard library only
    sys.stdout.write(sample_config(sys.argv[1] if len(sys.argv) > 1 else DATA_DIR))
