"""CLI wiring: `web` (serve the console) and `operators add LOGIN --role …` (password from a prompt or stdin)."""
from __future__ import annotations

import argparse
import getpass
import sys

from exchange.config import Config


def read_password(prompt_twice: bool = True) -> str | None:
    """The new password: asked twice on a terminal, else the first line of stdin (never from argv)."""
    if sys.stdin.isatty():
        first = getpass.getpass("Mot de passe : ")
        if prompt_twice and getpass.getpass("Mot de passe (confirmation) : ") != first:
            print("Les deux mots de passe diffèrent : compte inchangé.", file=sys.stderr)
            return None
        return first
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def cmd_operators_add(args: argparse.Namespace, config: Config) -> int:
    from exchange.store.operators import OperatorError, add_operator
    from exchange.store.engine import open_current

    password = None if args.proxy_only else read_password()
    if password is None and not args.proxy_only:
        return 1
    engine = open_current(config.database_url)
    try:
        created = add_operator(engine, args.login, args.role, password)
    except OperatorError as e:
        print(f"Compte refusé : {e}.", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    how = "connexion par le mandataire seulement" if args.proxy_only else "mot de passe enregistré (argon2id)"
    print(f"Opérateur « {args.login} » {'créé' if created else 'modifié'} : rôle {args.role}, {how}.")
    return 0


def cmd_web(args: argparse.Namespace, config: Config) -> int:
    import uvicorn

    from exchange.store.engine import open_current
    from exchange.web.app import create_app, dsfr_installed

    if not dsfr_installed():
        print("Le système de design de l'État (DSFR) n'est pas installé : lancez « make setup » "
              "(npm ci dans exchange/web).", file=sys.stderr)
        return 1
    engine = open_current(config.database_url)  # refused (one French line) unless at this program's schema
    web = config.web
    print(f"Console disponible sur http://{web.host}:{web.port}{web.base_path}/ (Ctrl-C pour arrêter).",
          file=sys.stderr)
    try:
        uvicorn.run(create_app(config, engine), host=web.host, port=web.port, proxy_headers=False,
                    server_header=False, log_level="warning", access_log=False)
    finally:
        engine.dispose()
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    web = sub.add_parser("web", help="la console web des opérateurs (adresse : [web] bind, défaut 127.0.0.1:8080)",
                         description="Sert la console web des opérateurs de la Caf.",
                         epilog="exemple : esat-exchange --config /etc/esat-exchange/esat-exchange.toml web")
    web.set_defaults(handler=cmd_web)
    ops = sub.add_parser("operators", help="comptes des opérateurs de la console")
    ops_sub = ops.add_subparsers(dest="operators_command", required=True, metavar="COMMANDE")
    add = ops_sub.add_parser("add", help="créer un opérateur (ou changer son rôle et son mot de passe)",
                             description="Crée un compte de la console ; le mot de passe est demandé "
                                         "(ou lu sur l'entrée standard), jamais passé en argument.",
                             epilog="exemple : esat-exchange operators add mdupont --role gestionnaire")
    add.add_argument("login", metavar="IDENTIFIANT")
    add.add_argument("--role", required=True, choices=("lecteur", "gestionnaire"),
                     help="lecteur : consulte ; gestionnaire : peut aussi rejouer, importer, clôturer")
    add.add_argument("--proxy-only", action="store_true",
                     help="sans mot de passe : connexion uniquement par l'en-tête du mandataire ([web] proxy_header)")
    add.set_defaults(handler=cmd_operators_add)
