"""Operators' listings: runs and files in text, csv and json, recorded the same on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES


def test_runs_and_files_are_recorded_and_listed(tmp_path, db_url):
    seed_examples(tmp_path, db_url)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    (tmp_path / "drop" / "esat-seine" / "depot" / "mauvais-nom.csv").write_text("x;y\n1;2\n")
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0

    code, out, _ = cli(tmp_path, "runs", "list", "--format", "json")
    (run,) = json.loads(out)
    assert {
        k: run[k] for k in ("id", "job", "statut", "fichiers", "enregistrements_acceptes", "enregistrements_rejetes")
    } == {
        "id": 1,
        "job": "run",
        "statut": "OK",
        "fichiers": 5,
        "enregistrements_acceptes": 9,
        "enregistrements_rejetes": 0,
    }
    assert run["debut"] <= run["fin"]
    code, out, _ = cli(tmp_path, "runs", "show", "1", "--format", "json")
    shown = json.loads(out)
    assert shown["anomalies_par_code"] == {"F02": 1}
    assert len(shown["fichiers_emis"]) == 7
    assert shown["date_traitement"] == "2025-12-15"
    code, out, _ = cli(tmp_path, "runs", "list", "--format", "csv")
    header = out.splitlines()[0].split(";")
    assert header[:5] == ["id", "job", "debut", "fin", "statut"]
    code, out, _ = cli(tmp_path, "runs", "show", "1")
    assert "Exécution n° 1 (run) : OK" in out and "F02 × 1" in out

    code, out, _ = cli(tmp_path, "files", "list", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out), delimiter=";"))
    assert {"id", "fichier", "compte", "siret", "type", "date_reception", "statut"} <= set(rows[0])
    assert sorted((r["compte"], r["statut"]) for r in rows) == [
        ("esat-seine", "ACCEPTE"),
        ("esat-seine", "ACCEPTE"),
        ("esat-seine", "REJETE"),
        ("horizon-paie", "ACCEPTE"),
        ("horizon-paie", "ACCEPTE"),
    ]
    code, out, _ = cli(tmp_path, "files", "list", "--status", "rejete", "--format", "json")
    (rejected,) = json.loads(out)
    assert (rejected["fichier"], rejected["code"], rejected["siret"], rejected["type"]) == (
        "mauvais-nom.csv",
        "F02",
        None,
        None,
    )
    code, out, _ = cli(tmp_path, "files", "list", "--siret", "44306184100021", "--format", "json")
    assert sorted(f["type"] for f in json.loads(out)) == ["CA", "RG"]
    code, out, _ = cli(tmp_path, "files", "show", str(rejected["id"]))
    assert "mauvais-nom.csv" in out and "F02" in out and "Le nom du fichier « mauvais-nom.csv » ne suit pas" in out
    code, out, _ = cli(tmp_path, "files", "list")
    assert "Fichier" in out and "Statut" in out and "ESAT_81234567600017_RG_20251210_001.csv" in out
    assert cli(tmp_path, "files", "show", "999")[0] == 1


def test_files_show_masks_nir(tmp_path):
    seed_examples(tmp_path)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    rg = tmp_path / "drop" / "esat-seine" / "depot" / "ESAT_81234567600017_RG_20251210_001.csv"
    rg.write_text(rg.read_text(encoding="utf-8").replace("Martin;Jérôme", ";Jérôme"), encoding="utf-8")
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    for fmt in ("text", "csv", "json"):
        code, out, _ = cli(tmp_path, "files", "show", "2", "--format", fmt)
        assert code == 0
        assert "18505********91" in out and "185057800608491" not in out


def test_tables_for_people_use_paris_time_and_tools_get_iso_utc(tmp_path):
    seed_examples(tmp_path)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    import re

    _, text, _ = cli(tmp_path, "runs", "list")
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", text) and "+00:00" not in text
    _, shown, _ = cli(tmp_path, "runs", "show", "1")
    assert "Date de traitement : 15/12/2025" in shown
    (run,) = json.loads(cli(tmp_path, "runs", "list", "--format", "json")[1])
    assert run["debut"].endswith("+00:00")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_files_list_on_a_terminal_shows_the_newest_and_says_how_many_more(tmp_path, monkeypatch):
    import contextlib

    import exchange.cli.main
    from exchange.cli.main import main

    seed_examples(tmp_path)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    monkeypatch.setattr(exchange.cli.main, "TERMINAL_ROWS", 3)
    monkeypatch.setenv("COLUMNS", "200")

    def on_terminal(*args: str) -> str:
        out = _Terminal()
        with contextlib.redirect_stdout(out):
            assert main(["--config", str(tmp_path / "esat-exchange.toml"), "files", "list", *args]) == 0
        return out.getvalue()

    shown = on_terminal()
    assert shown.count("esat-seine") + shown.count("horizon-paie") == 3
    assert shown.endswith(
        "… et 1 autre(s) fichier(s), plus ancien(s) : --limit N pour en afficher N, --limit 0 pour tous.\n"
    )
    every = on_terminal("--limit", "0")
    assert every.count("esat-seine") + every.count("horizon-paie") == 4 and "autre(s)" not in every
    assert "autre(s)" not in on_terminal("--limit", "3")
    assert "autre(s)" not in on_terminal("--siret", "44306184100021")  # 2 files: all shown
    # not on a terminal, and in csv/json, every file as before
    code, out, _ = cli(tmp_path, "files", "list")
    assert code == 0 and "autre(s)" not in out and out.count("esat-seine") + out.count("horizon-paie") == 4


def test_campaign_status_on_a_terminal_shows_the_first_and_says_how_many_more(tmp_path, monkeypatch):
    import contextlib

    import exchange.cli.main
    from exchange.cli.main import main

    seed_examples(tmp_path)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    monkeypatch.setattr(exchange.cli.main, "TERMINAL_ROWS", 1)
    monkeypatch.setenv("COLUMNS", "200")

    def on_terminal(*args: str) -> str:
        out = _Terminal()
        with contextlib.redirect_stdout(out):
            assert (
                main(["--config", str(tmp_path / "esat-exchange.toml"), "campaign", "status", "--year", "2025", *args])
                == 0
            )
        return out.getvalue()

    shown = on_terminal()
    assert "81234567600017" in shown and "44306184100021" not in shown  # Caf 75 first, then 78
    assert shown.endswith(
        "… et 1 autre(s) Esat(s) : --limit N pour en afficher N, --limit 0 pour tous (ou --caf CODE, --format csv).\n"
    )
    assert "44306184100021" in on_terminal("--limit", "0") and "autre(s)" not in on_terminal("--limit", "0")
    assert "autre(s)" not in on_terminal("--caf", "78")
    code, out, _ = cli(tmp_path, "campaign", "status", "--year", "2025")  # not a terminal: every Esat
    assert code == 0 and "81234567600017" in out and "44306184100021" in out and "autre(s)" not in out
