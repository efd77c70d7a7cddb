"""One upload never stops the service (issue 10), through `run`: for each file that used to stop every
run, the other files of the same run are processed and the next run is not blocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES, ROOT

AS_OF = "2025-12-15"
EXAMPLE_FILES = {(p.parent.parent.name, p.name) for p in (EXAMPLES / "drop").glob("*/depot/*")}
SEINE = EXAMPLES / "drop" / "esat-seine" / "depot"
HORIZON = EXAMPLES / "drop" / "horizon-paie" / "depot"
RG_CSV = (SEINE / "ESAT_81234567600017_RG_20251210_001.csv").read_bytes()
CA_CSV = (SEINE / "ESAT_81234567600017_CA_20251212_001.csv").read_bytes()
RG_XML = (HORIZON / "ESAT_44306184100021_RG_20251211_001.xml").read_bytes()


def _vertical_tab() -> bytes:
    return RG_CSV.replace(b"nom;", b"n\x0bom;", 1)


def _rot13() -> bytes:
    return RG_XML.replace(b'encoding="UTF-8"', b'encoding="rot13"')


def _attribute_flood() -> bytes:
    flood = " ".join(f'a{i}="x"' for i in range(60_000))
    return RG_XML.replace(b'type="RG"', f'type="RG" {flood}'.encode())


HOSTILE = {
    # case: (account, name, content, statut, code, text its compte rendu shows)
    "control character in a CSV header": (
        "esat-seine",
        "ESAT_81234567600017_RG_20251210_002.csv",
        _vertical_tab,
        "REJETE",
        "F03",
        "n\\x0bom",
    ),
    "XML in a non-text encoding": (
        "horizon-paie",
        "ESAT_44306184100021_RG_20251211_002.xml",
        _rot13,
        "REJETE",
        "F01",
        "« rot13 » n'est pas un encodage de caractères accepté",
    ),
    "XML root attribute flood": (
        "horizon-paie",
        "ESAT_44306184100021_RG_20251211_002.xml",
        _attribute_flood,
        "REJETE",
        "F03",
        "l'élément racine porte 60001 attributs",
    ),
}


@pytest.fixture
def area(tmp_path):
    seed_examples(tmp_path)
    code, out, err = cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))
    assert code == 0, out + err
    return tmp_path


def put(base: Path, account: str, name: str, data: bytes) -> None:
    depot = base / "drop" / account / "depot"
    depot.mkdir(parents=True, exist_ok=True)
    (depot / name).write_bytes(data)


def ledger(base: Path) -> dict[tuple[str, str], tuple[str, str | None, str | None]]:
    code, out, err = cli(base, "files", "list", "--format", "json")
    assert code == 0, err
    return {(f["compte"], f["fichier"]): (f["etat"], f["statut"], f["code"]) for f in json.loads(out)}


def last_run(base: Path) -> dict:
    return json.loads(cli(base, "runs", "list", "--format", "json", "--limit", "1")[1])[0]


def assert_examples_processed(base: Path, files: dict) -> None:
    """Every example file of the run is acknowledged ACCEPTE with both comptes rendus in its retour/."""
    for account, name in EXAMPLE_FILES:
        assert files[(account, name)] == ("ACQUITTE", "ACCEPTE", None), (account, name)
        for ext in ("csv", "xml"):
            assert (base / "drop" / account / "retour" / f"{name}.CR.{ext}").exists()


def assert_next_run_not_blocked(base: Path) -> None:
    """A new good file dropped afterwards is processed by the next run."""
    new = "ESAT_81234567600017_CA_20251212_009.csv"
    put(base, "esat-seine", new, b"\n".join(CA_CSV.split(b"\n")[:2]) + b"\n")  # header + first record
    code, out, err = cli(base, "run", "--as-of", AS_OF)
    assert "Traceback" not in out + err
    state, statut, _ = ledger(base)[("esat-seine", new)]
    assert state == "ACQUITTE" and statut in ("ACCEPTE", "PARTIEL"), (state, statut, out)
    assert (base / "drop" / "esat-seine" / "retour" / f"{new}.CR.xml").exists()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_file_is_answered_and_stops_nothing(area, case):
    account, name, content, statut, code_, shown = HOSTILE[case]
    put(area, account, name, content())
    code, out, err = cli(area, "run", "--as-of", AS_OF)
    assert (code, "Traceback" in out + err) == (0, False), out + err
    files = ledger(area)
    assert files[(account, name)] == ("ACQUITTE", statut, code_)
    retour = area / "drop" / account / "retour"
    for ext in ("csv", "xml"):
        text = (retour / f"{name}.CR.{ext}").read_text("utf-8-sig")
        assert shown in text and "\x0b" not in text
    assert_examples_processed(area, files)
    assert last_run(area)["statut"] == "OK"
    assert_next_run_not_blocked(area)


def test_long_stray_text_in_an_xml_is_answered_and_stops_nothing(area):
    """Text of more than the parser's 32 KiB read after an element used to hang `run` or abort it while it held
    the cycle lock (tests/core/test_reading_hostile.py). The run is a child process given a timeout, so a
    regression fails here instead of killing pytest."""
    stray = {
        "ESAT_44306184100021_RG_20251211_002.xml": b"</anneeReference>",
        "ESAT_44306184100021_RG_20251211_003.xml": b"</salarie>",
    }
    for name, after in stray.items():
        put(area, "horizon-paie", name, RG_XML.replace(after, after + "é".encode() * 300_000, 1))
    done = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "--config", str(area / "esat-exchange.toml"), "run", "--as-of", AS_OF],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (done.returncode, "Traceback" in done.stdout + done.stderr) == (0, False), done.stdout + done.stderr
    files = ledger(area)
    retour = area / "drop" / "horizon-paie" / "retour"
    for name in stray:
        assert files[("horizon-paie", name)] == ("ACQUITTE", "REJETE", "F03")
        for ext in ("csv", "xml"):
            text = (retour / f"{name}.CR.{ext}").read_text("utf-8-sig")
            assert "ligne 2 : la valeur «  » de " in text and "declaration" in text
    assert_examples_processed(area, files)
    assert last_run(area)["statut"] == "OK"
    assert_next_run_not_blocked(area)


def test_a_defect_while_acknowledging_quarantines_only_that_file(area, monkeypatch):
    """Whatever the defect building a compte rendu, that file is set aside and the others go on."""
    import exchange.app.cycle

    real = exchange.app.cycle.cr_files
    broken = "ESAT_81234567600017_RG_20251210_002.csv"

    def failing(j, day, **kwargs):  # noqa: ANN001, ANN003 - a stand-in for any defect of the compte rendu writer
        if j.name == broken:
            raise ValueError("défaut simulé")
        return real(j, day, **kwargs)

    monkeypatch.setattr(exchange.app.cycle, "cr_files", failing)
    put(area, "esat-seine", broken, RG_CSV.replace(b"Martin", b"Martine"))
    code, out, err = cli(area, "run", "--as-of", AS_OF)
    assert (code, "Traceback" in out + err) == (1, False), out + err
    files = ledger(area)
    assert files[("esat-seine", broken)][0] == "QUARANTAINE"
    assert f"(esat-seine/{broken}) en quarantaine : ValueError: défaut simulé" in last_run(area)["erreur"]
    assert_examples_processed(area, files)
    assert_next_run_not_blocked(area)
    assert last_run(area)["statut"] == "OK"


@pytest.mark.parametrize("linked", ["retour", "archive", "both"])
def test_symlinked_retour_or_archive_is_refused_and_the_outside_stays_untouched(area, tmp_path, linked):
    """The local drop area never writes or moves anything through a link out of it (authorized_keys scenario)."""
    outside = tmp_path / "home-of-the-service" / ".ssh"
    outside.mkdir(parents=True)
    (outside / "authorized_keys").write_text("ssh-ed25519 AAAA… exploitant\n")
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    evil = area / "drop" / "intrus"
    (evil / "depot").mkdir(parents=True)
    (evil / "depot" / "authorized_keys").write_text("ssh-ed25519 BBBB… intrus\n")
    (evil / "depot" / "ESAT_81234567600017_RG_20251210_003.csv").write_bytes(RG_CSV)
    for folder in ["retour", "archive"] if linked == "both" else [linked]:
        (evil / folder).symlink_to(outside)

    code, out, err = cli(area, "run", "--as-of", AS_OF)
    assert (code, "Traceback" in out + err) == (1, False), out + err
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before  # nothing written, moved or replaced
    assert sorted(p.name for p in (evil / "depot").iterdir()) == [
        "ESAT_81234567600017_RG_20251210_003.csv",
        "authorized_keys",
    ]
    error = last_run(area)["erreur"]
    first = "retour" if linked in ("retour", "both") else "archive"
    assert f"compte intrus : le dossier {first}/ est un lien symbolique : refusé" in error
    files = ledger(area)
    assert not [k for k in files if k[0] == "intrus"]
    assert_examples_processed(area, files)
    assert_next_run_not_blocked(area)
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before


def test_a_symlinked_account_or_depot_is_never_entered(area, tmp_path):
    outside = tmp_path / "elsewhere"
    (outside / "depot").mkdir(parents=True)
    (outside / "depot" / "ESAT_81234567600017_RG_20251210_004.csv").write_bytes(RG_CSV)
    (area / "drop" / "lien").symlink_to(outside)
    (area / "drop" / "mixte").mkdir()
    (area / "drop" / "mixte" / "depot").symlink_to(outside / "depot")
    before = sorted(os.listdir(outside / "depot"))
    code, out, err = cli(area, "run", "--as-of", AS_OF)
    assert code == 0, out + err
    assert sorted(os.listdir(outside / "depot")) == before and not (outside / "retour").exists()
    assert_examples_processed(area, ledger(area))


def test_files_show_and_logs_show_escapes_not_control_characters(area):
    name = "ESAT_81234567600017_RG_20251210_002.csv"
    put(area, "esat-seine", name, RG_CSV.replace(b"nom;", "n\x0bom\u202e;".encode(), 1))
    code, out, err = cli(area, "--log-level", "INFO", "run", "--as-of", AS_OF)
    assert code == 0 and "\x0b" not in err
    files = json.loads(cli(area, "files", "list", "--format", "json")[1])
    file_id = next(f["id"] for f in files if f["fichier"] == name)
    for fmt in ("text", "csv", "json"):
        code, out, err = cli(area, "files", "show", str(file_id), "--format", fmt)
        assert code == 0
        assert "\x0b" not in out and "\u202e" not in out, fmt
        assert "n\\x0bom\\u202e" in (json.loads(out)["anomalies"][0]["message"] if fmt == "json" else out), fmt


def test_a_retour_that_cannot_be_written_leaves_the_file_for_the_next_run(area, monkeypatch):
    """A transport failure while depositing one file's comptes rendus: that file waits (TRAITE), the
    others are acknowledged, and the next run deposits it."""
    from exchange.edges.transport.base import Refused
    from exchange.edges.transport.local import LocalTransport

    real = LocalTransport.write_retour
    waiting = "ESAT_81234567600017_RG_20251210_001.csv"

    def failing(self, account, name, data):  # noqa: ANN001 - the retour/ folder failing for one file
        if name.startswith(waiting):
            raise Refused(f"compte {account} : écriture impossible de retour/{name} : disque plein")
        return real(self, account, name, data)

    monkeypatch.setattr(LocalTransport, "write_retour", failing)
    code, out, err = cli(area, "run", "--as-of", AS_OF)
    assert (code, "Traceback" in out + err) == (1, False)
    files = ledger(area)
    assert files[("esat-seine", waiting)] == ("TRAITE", "ACCEPTE", None)
    assert "dépôt des comptes rendus impossible : compte esat-seine : écriture impossible" in last_run(area)["erreur"]
    others = {k: v for k, v in files.items() if k[1] != waiting}
    assert set(others.values()) == {("ACQUITTE", "ACCEPTE", None)} and len(others) == 3

    monkeypatch.setattr(LocalTransport, "write_retour", real)
    code, out, err = cli(area, "run", "--as-of", AS_OF)
    assert code == 0, out + err
    assert ledger(area)[("esat-seine", waiting)] == ("ACQUITTE", "ACCEPTE", None)
    assert (area / "drop" / "esat-seine" / "retour" / f"{waiting}.CR.xml").exists()
