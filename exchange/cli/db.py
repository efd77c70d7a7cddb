"""The `db upgrade` and `db status` commands, loaded by exchange.cli.main (add_commands)."""

from __future__ import annotations

import argparse
import sys

from exchange.config import Config


def cmd_db_upgrade(_args: argparse.Namespace, config: Config) -> int:
    from exchange.store.engine import open_database
    from exchange.store.errors import DATABASE_ERRORS, one_line
    from exchange.store.revision import SchemaError, upgrade

    engine = open_database(config.database_url)
    try:
        done = upgrade(engine)
    except SchemaError as e:
        print(f"Mise à jour de la base de données impossible : {e}", file=sys.stderr)
        return 1
    except DATABASE_ERRORS as e:
        print(f"Mise à jour de la base de données impossible : {one_line(e)}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    before = done.before or "aucune"
    if not done.changed:
        print(f"Base de données déjà à jour (révision {done.after}).")
    elif done.adopted:
        print(
            "Base de données existante adoptée"
            + (f" (créé pour rejoindre la référence : {', '.join(done.created)})" if done.created else "")
            + f", puis mise à jour : révision {before} → {done.after}."
        )
    elif done.before is None:
        print(f"Base de données créée : révision {before} → {done.after}.")
    else:
        print(f"Base de données mise à jour : révision {before} → {done.after}.")
    return 0


def cmd_db_status(_args: argparse.Namespace, config: Config) -> int:
    from exchange.store.engine import open_database
    from exchange.store.errors import DATABASE_ERRORS, one_line
    from exchange.store.revision import schema_state

    engine = open_database(config.database_url)
    try:
        state = schema_state(engine)
    except DATABASE_ERRORS as e:
        print(f"Base de données injoignable : {one_line(e)}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"Révision de la base de données : {state.current or 'aucune'}")
    print(f"Révision attendue par ce programme : {state.head}")
    problem = state.problem()
    print("État : à jour." if problem is None else f"État : {problem}")
    return 0 if problem is None else 1


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="schéma de la base de données (migrations)").add_subparsers(
        dest="db_command", required=True, metavar="COMMANDE"
    )
    up = db.add_parser("upgrade", help="créer la base ou la mettre à jour jusqu'à la révision de ce programme")
    up.set_defaults(handler=cmd_db_upgrade)
    st = db.add_parser("status", help="révision de la base et révision attendue : 0 à jour, 1 sinon")
    st.set_defaults(handler=cmd_db_status)
