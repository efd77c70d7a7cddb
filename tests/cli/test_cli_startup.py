"""Start-up stays light: the parser, --help, --version and argparse errors import no database or data library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.paths import ROOT

HEAVY = ("sqlalchemy", "polars", "alembic", "lxml", "psycopg", "openpyxl", "starlette", "rich")

# Runs the CLI's main() with the given arguments, then prints which heavy modules were imported, as JSON.
PROBE = """
import json, sys
heavy = {heavy!r}
code = None
if {build_only!r}:
    from exchange.cli.main import build_parser
    build_parser()
else:
    from exchange.cli.main import main
    try:
        code = main({argv!r})
    except SystemExit as e:
        code = e.code
loaded = sorted(m for m in heavy if m in sys.modules)
print(json.dumps({{"code": code, "loaded": loaded}}), file=sys.__stderr__)
"""


def probe(argv: list[str], build_only: bool = False) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY, argv=argv, build_only=build_only)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_building_the_parser_imports_no_heavy_library():
    assert probe([], build_only=True)["loaded"] == []


def test_the_parser_module_alone_imports_no_heavy_library():
    code = f"import sys, exchange.cli.parser, exchange.core.vocabulary; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["files", "list", "--help"],
        ["campaign", "status", "--help"],
        ["status", "--help"],
        ["habilitations", "import", "--help"],
        ["files", "list", "--etat", "INCONNU"],
        ["runs", "show", "abc"],
        ["campaign"],
    ],
    ids=lambda a: " ".join(a),
)
def test_help_version_and_argument_errors_import_no_heavy_library(argv):
    result = probe(argv)
    assert result["code"] in (0, 2)
    assert result["loaded"] == []


def test_the_head_read_from_the_scripts_is_alembics_head():
    from exchange.store.revision import head_revision, shipped_head

    assert shipped_head() == head_revision()


def test_a_command_on_a_database_at_head_imports_no_alembic(tmp_path):
    from tests.conftest import upgrade_database

    url = f"sqlite:///{tmp_path / 'exchange.db'}"
    upgrade_database(url)
    (tmp_path / "esat-exchange.toml").write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    result = probe(["--config", str(tmp_path / "esat-exchange.toml"), "runs", "list"])
    assert result["code"] == 0
    assert "alembic" not in result["loaded"]
