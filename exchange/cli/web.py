"""CLI wiring: `web` (serve the console), `operators add|list|disable|enable|remove` (console accounts; the
password from a prompt or stdin) and `operators token create|list|revoke` (API tokens)."""

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
    from exchange.app.accounts import save_account
    from exchange.store.engine import open_current
    from exchange.store.operators import OperatorError

    password = None if args.proxy_only else read_password()
    if password is None and not args.proxy_only:
        return 1
    engine = open_current(config.database_url)
    try:
        saved = save_account(engine, args.login, args.role, password, args.perimetre)
    except OperatorError as e:
        print(f"Compte refusé : {e}.", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    how = "connexion par le mandataire seulement" if args.proxy_only else "mot de passe enregistré (argon2id)"
    seen = ", ".join(saved.perimeter) or "aucun (le compte ne voit rien)"
    print(
        f"Opérateur « {args.login} » {'créé' if saved.created else 'modifié'} : rôle {args.role}, périmètre {seen}, "
        f"{how}."
    )
    if not saved.created:
        print("Ses sessions ouvertes sont fermées.")
    return 0


def cmd_operators_list(args: argparse.Namespace, config: Config) -> int:
    from exchange.app.accounts import list_accounts
    from exchange.cli.listing import render
    from exchange.store.engine import open_current

    engine = open_current(config.database_url)
    try:
        rows = list_accounts(engine)
    finally:
        engine.dispose()
    for r in rows:
        r["perimetre"] = " ".join(r["perimetre"]) or "aucun"
        r["etat"] = "désactivé" if r.pop("desactive_le") else "actif"
        r["mot_de_passe"] = "oui" if r["mot_de_passe"] else "non (mandataire)"
    sys.stdout.write(
        render(
            rows,
            ("login", "role", "perimetre", "etat", "mot_de_passe", "cree_le"),
            args.format,
            labels={
                "login": "Identifiant",
                "role": "Rôle",
                "perimetre": "Périmètre",
                "etat": "État",
                "mot_de_passe": "Mot de passe",
                "cree_le": "Créé le",
            },
            title="Opérateurs de la console" if args.format == "text" else None,
            empty="Aucun opérateur.",
        )
    )
    return 0


def cmd_operators_state(args: argparse.Namespace, config: Config) -> int:
    """`disable`, `enable` or `remove`."""
    from exchange.app.accounts import remove_account, set_state
    from exchange.store.engine import open_current

    engine = open_current(config.database_url)
    try:
        if args.operators_command == "remove":
            done = remove_account(engine, args.login)
        else:
            done = set_state(engine, args.login, args.operators_command == "disable")
    finally:
        engine.dispose()
    if not done:
        print(f"Opérateur « {args.login} » inconnu.", file=sys.stderr)
        return 1
    print(
        {
            "disable": f"Opérateur « {args.login} » désactivé : ses sessions sont fermées, il ne peut plus se connecter.",
            "enable": f"Opérateur « {args.login} » réactivé.",
            "remove": f"Opérateur « {args.login} » supprimé (le journal garde ses actions).",
        }[args.operators_command]
    )
    return 0


def cmd_web(args: argparse.Namespace, config: Config) -> int:
    import logging

    import uvicorn

    from exchange.store.engine import open_current
    from exchange.web.access_log import AccessLog
    from exchange.web.app import create_app, dsfr_installed

    if not dsfr_installed():
        print(
            "Le système de design de l'État (DSFR) n'est pas installé : lancez « make setup » "
            "(npm ci dans exchange/web).",
            file=sys.stderr,
        )
        return 1
    engine = open_current(config.database_url)  # refused (one French line) unless at this program's schema
    web = config.web
    where = f"http://{web.host}:{web.port}{web.base_path}/"
    if args.log_format == "json":  # a service's log: JSON lines only
        logging.getLogger("esat_exchange").info("console disponible", extra={"event": {"adresse": where}})
    else:
        print(f"Console disponible sur {where} (Ctrl-C pour arrêter).", file=sys.stderr)
    server_log = logging.getLogger("uvicorn.error")
    server_log.handlers[:] = logging.getLogger("esat_exchange").handlers
    server_log.setLevel(logging.WARNING)
    server_log.propagate = False
    try:
        uvicorn.run(
            AccessLog(create_app(config, engine)),  # one log line per request, in place of uvicorn's
            host=web.host,
            port=web.port,
            proxy_headers=False,
            server_header=False,
            log_level="warning",
            access_log=False,
            log_config=None,  # uvicorn's own warnings and errors go through our handler (JSON with --log-format json)
        )
    finally:
        engine.dispose()
    return 0


def cmd_operators_token(args: argparse.Namespace, config: Config) -> int:
    """`operators token create LOGIN --nom N` (the secret printed once), `list [LOGIN]`, `revoke LOGIN N`."""
    from exchange.app.tokens import create_token, revoke_token, tokens_of
    from exchange.cli.listing import render
    from exchange.store.engine import open_current
    from exchange.store.operators import OperatorError

    engine = open_current(config.database_url)
    try:
        if args.token_command == "create":
            try:
                new = create_token(engine, args.login, args.nom)
            except OperatorError as e:
                print(f"Jeton refusé : {e}.", file=sys.stderr)
                return 1
            print(
                f"Jeton n° {new.id} « {new.name} » créé pour « {args.login} » ; il agit avec son rôle et son périmètre."
            )
            print("Copiez-le maintenant, il ne sera plus affiché :")
            print(new.secret)
            return 0
        if args.token_command == "revoke":
            if not revoke_token(engine, args.login, args.numero):
                print(f"Aucun jeton actif n° {args.numero} pour « {args.login} ».", file=sys.stderr)
                return 1
            print(f"Jeton n° {args.numero} de « {args.login} » révoqué : il est refusé dès maintenant.")
            return 0
        rows = [{**r, "etat": "révoqué" if r["revoque_le"] else "actif"} for r in tokens_of(engine, args.login)]
        columns = ["id", "login", "nom", "debut", "etat", "cree_le", "utilise_le", "revoque_le"]
        sys.stdout.write(render(rows, columns, args.format))
        return 0
    finally:
        engine.dispose()


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    web = sub.add_parser(
        "web",
        help="la console web des opérateurs (adresse : [web] bind, défaut 127.0.0.1:8080)",
        description="Sert la console web des opérateurs de la Caf.",
        epilog="exemple : esat-exchange --config /etc/esat-exchange/esat-exchange.toml web",
    )
    web.set_defaults(handler=cmd_web)
    ops = sub.add_parser("operators", help="comptes des opérateurs de la console")
    ops_sub = ops.add_subparsers(dest="operators_command", required=True, metavar="COMMANDE")
    add = ops_sub.add_parser(
        "add",
        help="créer un opérateur (ou changer son rôle et son mot de passe)",
        description="Crée un compte de la console ; le mot de passe est demandé "
        "(ou lu sur l'entrée standard), jamais passé en argument.",
        epilog="exemple : esat-exchange operators add mdupont --role gestionnaire",
    )
    add.add_argument("login", metavar="IDENTIFIANT")
    add.add_argument(
        "--role",
        required=True,
        choices=("lecteur", "gestionnaire"),
        help="lecteur : consulte ; gestionnaire : peut aussi rejouer, importer, clôturer",
    )
    add.add_argument(
        "--perimetre",
        action="append",
        metavar="P",
        help="ce que le compte voit : national, cna ou le code d'une Caf (75, 2A…) ; répétable, les "
        "périmètres s'ajoutent ; remplace le périmètre d'un compte existant (sans --perimetre : "
        "inchangé ; un nouveau compte sans périmètre ne voit rien)",
    )
    add.add_argument(
        "--proxy-only",
        action="store_true",
        help="sans mot de passe : connexion uniquement par l'en-tête du mandataire ([web] proxy_header)",
    )
    add.set_defaults(handler=cmd_operators_add)
    lst = ops_sub.add_parser(
        "list",
        help="lister les opérateurs (rôle, périmètre, état)",
        description="Liste les comptes de la console.",
        epilog="exemple : esat-exchange operators list --format csv",
    )
    lst.add_argument("--format", choices=("text", "csv", "json"), default="text")
    lst.set_defaults(handler=cmd_operators_list)
    for name, text in (
        ("disable", "désactiver un opérateur (ses sessions sont fermées)"),
        ("enable", "réactiver un opérateur désactivé"),
        ("remove", "supprimer un opérateur (le journal garde ses actions)"),
    ):
        one = ops_sub.add_parser(
            name,
            help=text,
            description=text[0].upper() + text[1:] + ".",
            epilog=f"exemple : esat-exchange operators {name} mdupont",
        )
        one.add_argument("login", metavar="IDENTIFIANT")
        one.set_defaults(handler=cmd_operators_state)
    token = ops_sub.add_parser(
        "token",
        help="jetons de l'API d'un opérateur (créer, lister, révoquer)",
        description="Les jetons de l'API /api/v1 : chacun agit comme son opérateur (rôle, périmètre, journal).",
        epilog="exemple : esat-exchange operators token create mdupont --nom supervision",
    )
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="COMMANDE")
    create = token_sub.add_parser(
        "create",
        help="créer un jeton (affiché une seule fois)",
        description="Crée un jeton pour l'opérateur ; il est affiché une seule fois, seule son empreinte est gardée.",
        epilog="exemple : esat-exchange operators token create mdupont --nom supervision",
    )
    create.add_argument("login", metavar="IDENTIFIANT")
    create.add_argument("--nom", required=True, help="à quoi il sert (« supervision », « ITSM »)")
    create.set_defaults(handler=cmd_operators_token)
    listed = token_sub.add_parser(
        "list",
        help="lister les jetons (d'un opérateur, ou de tous)",
        description="Liste les jetons, actifs et révoqués, sans leur secret.",
        epilog="exemple : esat-exchange operators token list mdupont",
    )
    listed.add_argument("login", metavar="IDENTIFIANT", nargs="?")
    listed.add_argument("--format", choices=("text", "csv", "json"), default="text")
    listed.set_defaults(handler=cmd_operators_token)
    revoke = token_sub.add_parser(
        "revoke",
        help="révoquer un jeton (refusé dès maintenant)",
        description="Révoque un jeton de l'opérateur : toute demande qui le présente est refusée (401).",
        epilog="exemple : esat-exchange operators token revoke mdupont 3",
    )
    revoke.add_argument("login", metavar="IDENTIFIANT")
    revoke.add_argument("numero", metavar="NUMERO", type=int)
    revoke.set_defaults(handler=cmd_operators_token)
