"""A database that cannot be reached: one French line naming it (no password), exit 1, for every command."""

from __future__ import annotations

import getpass

import pytest

from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES

COMMANDS = [
    ("run", "--as-of", "2025-12-15"),
    ("status",),
    ("status", "--format", "json"),
    ("files", "list"),
    ("files", "show", "1"),
    ("files", "replay", "1"),
    ("runs", "list"),
    ("runs", "show", "1"),
    ("habilitations", "import", str(EXAMPLES / "habpps")),
    ("campaign", "close", "--year", "2025"),
    ("campaign", "status", "--year", "2025"),
]
PG_DOWN = "postgresql+psycopg://esat:motdepasse-secret@127.0.0.1:1/registre"  # port 1: nothing listens


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_postgresql_unreachable_gives_one_french_line(tmp_path, command):
    seed_examples(tmp_path, PG_DOWN, upgrade=False)
    code, out, err = cli(tmp_path, *command)
    assert code == 1
    assert out == ""
    [line] = err.splitlines()
    recorded = " ; l'exécution n'a pas pu être enregistrée" if command[0] == "run" else ""
    assert line == (
        f"Base de données injoignable (postgresql+psycopg://esat:***@127.0.0.1:1/registre){recorded} : "
        "vérifiez qu'elle est démarrée et que [database] url est juste."
    )
    assert "motdepasse-secret" not in out + err


@pytest.mark.parametrize("command", [("run",), ("status",), ("files", "list")], ids=" ".join)
def test_sqlite_file_that_cannot_be_opened_gives_one_french_line(tmp_path, command):
    (tmp_path / "pas-un-dossier").write_text("un fichier")
    url = f"sqlite:///{tmp_path / 'pas-un-dossier' / 'exchange.db'}"
    seed_examples(tmp_path, url, upgrade=False)
    code, out, err = cli(tmp_path, *command)
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith(f"Base de données injoignable ({url})")
    assert line.endswith(f"l'utilisateur qui lance la commande ({getpass.getuser()}) doit pouvoir y écrire.")


def test_the_reason_is_in_the_log_for_the_operator(tmp_path):
    seed_examples(tmp_path, PG_DOWN, upgrade=False)
    code, out, err = cli(tmp_path, "--log-level", "INFO", "run")
    assert code == 1
    log = [line for line in err.splitlines() if " INFO " in line and "démarrage d'esat-exchange" not in line]
    assert (
        len(log) == 1 and "base de données injoignable ; l'exécution n'a pas pu être enregistrée : connection" in log[0]
    )
    assert "Traceback" not in err and "motdepasse-secret" not in err
