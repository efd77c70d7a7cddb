"""Habpps extract import: the example imports, every problem kind is refused exactly, xlsx = CSV, re-import replaces."""

from __future__ import annotations

import argparse
import io
import json
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from stdnum import luhn
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

from exchange.app.habilitations import extract_sha256, import_extract
from exchange.cli.habilitations import add_commands
from exchange.edges.habpps import TABLES, Problem, read_extract, siret_defect
from exchange.store import tables
from exchange.store.engine import in_transaction, open_database
from exchange.store.habilitations import load_habilitations
from tests.conftest import EXAMPLES, make_config

HABPPS = EXAMPLES / "habpps"
EXAMPLE_COUNTS = {"partenaires": 2, "conventions": 2, "bulletins": 2, "groupes": 3, "utilisateurs": 3}


def copy_example(tmp_path: Path) -> Path:
    folder = tmp_path / "extrait"
    shutil.copytree(HABPPS, folder)
    return folder


def edit(folder: Path, table: str, change: Callable[[list[str]], list[str]]) -> None:
    """Rewrite <table>.csv through `change` (a function of its lines, header first)."""
    file = folder / f"{table}.csv"
    lines = file.read_text(encoding="utf-8").splitlines()
    file.write_text("\n".join(change(lines)) + "\n", encoding="utf-8")


def replace(old: str, new: str) -> Callable[[list[str]], list[str]]:
    def change(lines: list[str]) -> list[str]:
        assert any(old in line for line in lines), old
        return [line.replace(old, new) for line in lines]

    return change


def append(*rows: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: lines + list(rows)


def write_xlsx(folder: Path, out: Path, typed: bool = False) -> Path:
    """The CSV folder as a workbook, one sheet per table; `typed` stores SIRETs as numbers and dates as dates."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for table in TABLES:
        ws = wb.create_sheet(table)
        lines = (folder / f"{table}.csv").read_text(encoding="utf-8-sig").splitlines()
        header = lines[0].split(";")
        ws.append(header)
        for line in lines[1:]:
            cells: list[object] = line.split(";")
            if typed:
                for i, col in enumerate(header):
                    v = cells[i]
                    if col == "siret" and isinstance(v, str) and v.isdigit():
                        cells[i] = int(v)
                    elif col.startswith("date_") and v:
                        cells[i] = date.fromisoformat(v)  # type: ignore[arg-type]
            ws.append(cells)
    wb.save(out)
    return out


@pytest.fixture
def engine(db_url):
    e = open_database(db_url)
    yield e
    e.dispose()


def table_counts(engine) -> dict[str, int]:
    by_name = {
        "partenaires": tables.hab_partenaires,
        "conventions": tables.hab_conventions,
        "bulletins": tables.hab_bulletins,
        "groupes": tables.hab_groupes,
        "utilisateurs": tables.hab_utilisateurs,
    }
    with engine.connect() as c:
        return {t: c.execute(select(func.count()).select_from(tbl)).scalar_one() for t, tbl in by_name.items()}


# -- the example ----------------------------------------------------------------------------------


def test_example_extract_imports_with_its_counts(engine):
    result = import_extract(engine, HABPPS, actor="operateur")
    assert result.accepted and result.problems == []
    assert result.counts == EXAMPLE_COUNTS
    assert table_counts(engine) == EXAMPLE_COUNTS
    with engine.connect() as c:
        row = c.execute(select(tables.hab_imports)).one()
    assert row.id == result.import_id
    assert row.imported_by == "operateur"
    assert row.source == str(HABPPS.resolve())
    assert json.loads(row.counts) == EXAMPLE_COUNTS
    assert row.sha256 == extract_sha256(HABPPS) and len(row.sha256) == 64
    habs = in_transaction(engine, load_habilitations)
    assert habs.import_id == result.import_id
    assert habs.caf_gestionnaire("81234567600017") == "75"
    assert habs.caf_gestionnaire("44306184100021") == "78"
    conv = {c.id_convention: c for c in habs.conventions}
    assert conv["CONV-75-0001"].date_fin is None
    assert conv["CONV-13-0042"].date_fin == date(2028, 2, 29)


def test_folder_sha256_is_the_table_files_in_name_order():
    import hashlib

    h = hashlib.sha256()
    for name in sorted(f"{t}.csv" for t in TABLES):
        h.update((HABPPS / name).read_bytes())
    assert extract_sha256(HABPPS) == h.hexdigest()


def test_no_import_yet_gives_empty_habilitations(engine):
    habs = in_transaction(engine, load_habilitations)
    assert habs.import_id is None and habs.partenaires == {} and habs.utilisateurs == ()


def test_bom_french_dates_and_empty_table_are_accepted(tmp_path):
    folder = copy_example(tmp_path)
    edit(folder, "conventions", replace("2025-03-01;2028-02-29", "01/03/2025;29/02/2028"))
    (folder / "partenaires.csv").write_bytes(b"\xef\xbb\xbf" + (folder / "partenaires.csv").read_bytes())
    edit(folder, "bulletins", lambda lines: lines[:1])
    frames, problems = read_extract(folder)
    assert problems == []
    assert frames["bulletins"].height == 0
    assert frames["partenaires"]["siret"].to_list() == ["81234567600017", "44306184100021"]
    conv = frames["conventions"].row(1, named=True)
    assert (conv["date_debut"], conv["date_fin"]) == (date(2025, 3, 1), date(2028, 2, 29))


# -- every problem kind, refused with table, line and reason; the previous extract stays ---------

CASES: dict[str, tuple[list[tuple[str, Callable]], list[Problem]]] = {
    "colonne manquante": (
        [("partenaires", lambda ls: [";".join(line.split(";")[:4]) for line in ls])],
        [Problem("partenaires", 1, "colonne obligatoire absente : portee")],
    ),
    "colonne inconnue": (
        [("groupes", lambda ls: [ls[0] + ";commentaire"] + [line + ";" for line in ls[1:]])],
        [Problem("groupes", 1, "colonne inconnue : commentaire")],
    ),
    "table absente": (
        [("groupes", None)],
        [Problem("groupes", None, "table absente de l'extrait (fichier groupes.csv attendu)")],
    ),
    "nombre de champs": (
        [("utilisateurs", replace("horizon-direction;", "horizon-direction;;"))],
        [
            Problem(
                "utilisateurs",
                4,
                "nombre de champs (5) différent de celui de l'en-tête (4) : vérifiez les séparateurs « ; »",
            )
        ],
    ),
    "portee inconnue": (
        [("partenaires", replace(";MULTI_DEPARTEMENTALE", ";NATIONALE"))],
        [
            Problem(
                "partenaires",
                3,
                "portee : valeur « NATIONALE » inconnue (valeurs admises : DEPARTEMENTALE, MULTI_DEPARTEMENTALE)",
            )
        ],
    ),
    "statut de convention inconnu": (
        [("conventions", replace("CONV-75-0001;81234567600017;ACTIVE", "CONV-75-0001;81234567600017;SUSPENDUE"))],
        [Problem("conventions", 2, "statut : valeur « SUSPENDUE » inconnue (valeurs admises : ACTIVE, CLOTUREE)")],
    ),
    "mode de gestion inconnu": (
        [("conventions", replace("DELEGUE", "MIXTE"))],
        [Problem("conventions", 3, "mode_gestion : valeur « MIXTE » inconnue (valeurs admises : CENTRALISE, DELEGUE)")],
    ),
    "statut de bulletin inconnu": (
        [("bulletins", replace("2025-06-02;SIGNE", "2025-06-02;VALIDE"))],
        [Problem("bulletins", 3, "statut : valeur « VALIDE » inconnue (valeurs admises : SIGNE, EN_ATTENTE, RESILIE)")],
    ),
    "role inconnu": (
        [("groupes", replace(";CONSULTANT", ";ADMIN"))],
        [Problem("groupes", 4, "role : valeur « ADMIN » inconnue (valeurs admises : DECLARANT, CONSULTANT)")],
    ),
    "actif inconnu": (
        [
            (
                "utilisateurs",
                replace(
                    "esat-seine;81234567600017;G-75-0001-ESAT-DECL;O",
                    "esat-seine;81234567600017;G-75-0001-ESAT-DECL;OUI",
                ),
            )
        ],
        [Problem("utilisateurs", 2, "actif : valeur « OUI » inconnue (valeurs admises : O, N)")],
    ),
    "siret mal forme": (
        [("bulletins", replace("CONV-13-0042;ESAT;44306184100021", "CONV-13-0042;ESAT;4430618410002"))],
        [Problem("bulletins", 3, "siret : SIRET « 4430618410002 » mal formé (14 chiffres attendus)")],
    ),
    "siret cle fausse": (
        [("bulletins", replace("CONV-13-0042;ESAT;44306184100021", "CONV-13-0042;ESAT;44306184100022"))],
        [Problem("bulletins", 3, "siret : SIRET « 44306184100022 » invalide (chiffre de contrôle faux)")],
    ),
    "date invalide": (
        [("conventions", replace("2025-03-01;2028-02-29", "2025-02-30;2028-02-29"))],
        [Problem("conventions", 3, "date_debut : date « 2025-02-30 » invalide (AAAA-MM-JJ ou JJ/MM/AAAA attendu)")],
    ),
    "date mal ecrite": (
        [("bulletins", replace("2025-05-20", "20.05.2025"))],
        [Problem("bulletins", 2, "date_signature : date « 20.05.2025 » invalide (AAAA-MM-JJ ou JJ/MM/AAAA attendu)")],
    ),
    "date_fin avant date_debut": (
        [("conventions", replace("2025-03-01;2028-02-29", "2025-03-01;2025-02-28"))],
        [Problem("conventions", 3, "date_fin (28/02/2025) antérieure à date_debut (01/03/2025)")],
    ),
    "valeur obligatoire vide": (
        [("groupes", replace("G-75-0001-ESAT-DECL;CONV-75-0001;ESAT;", "G-75-0001-ESAT-DECL;CONV-75-0001;;"))],
        [Problem("groupes", 2, "service : valeur obligatoire manquante")],
    ),
    "bulletin signe sans date": (
        [("bulletins", replace("2025-06-02;SIGNE", ";SIGNE"))],
        [Problem("bulletins", 3, "date_signature : obligatoire pour un bulletin SIGNE")],
    ),
    "id en double": (
        [("groupes", append("G-13-0042-ESAT-CONS;CONV-13-0042;ESAT;DECLARANT"))],
        [Problem("groupes", 5, "id_groupe « G-13-0042-ESAT-CONS » en double (déjà ligne 4)")],
    ),
    "convention vers partenaire inconnu": (
        [("conventions", append("CONV-78-0009;78234567800018;CLOTUREE;2020-01-01;2023-12-31;CENTRALISE;"))],
        [Problem("conventions", 4, "siret « 78234567800018 » : partenaire inconnu(e) dans la table partenaires")],
    ),
    "bulletin vers convention inconnue": (
        [("bulletins", append("BA-X;CONV-X;ESAT;81234567600017;2025-05-20;EN_ATTENTE"))],
        [Problem("bulletins", 4, "id_convention « CONV-X » : convention inconnu(e) dans la table conventions")],
    ),
    "groupe vers convention inconnue": (
        [("groupes", append("G-X;CONV-X;ESAT;DECLARANT"))],
        [Problem("groupes", 5, "id_convention « CONV-X » : convention inconnu(e) dans la table conventions")],
    ),
    "utilisateur vers groupe inconnu": (
        [("utilisateurs", append("esat-seine-2;81234567600017;G-X;O"))],
        [Problem("utilisateurs", 5, "id_groupe « G-X » : groupe inconnu(e) dans la table groupes")],
    ),
    "utilisateur vers partenaire inconnu": (
        [("utilisateurs", append("esat-seine-2;78234567800018;G-75-0001-ESAT-DECL;O"))],
        [Problem("utilisateurs", 5, "siret « 78234567800018 » : partenaire inconnu(e) dans la table partenaires")],
    ),
    "deux conventions actives": (
        [("conventions", append("CONV-75-0002;81234567600017;ACTIVE;2025-01-01;;DELEGUE;2025-01-01"))],
        [
            Problem(
                "conventions",
                4,
                "deuxième convention ACTIVE pour le SIRET 81234567600017 (déjà ligne 2) : "
                "un partenaire n'a qu'une convention active à la fois",
            )
        ],
    ),
    "login sous deux partenaires": (
        [("utilisateurs", append("esat-seine;44306184100021;G-13-0042-ESAT-CONS;O"))],
        [
            Problem(
                "utilisateurs",
                5,
                "login « esat-seine » rattaché à deux partenaires (81234567600017 ligne 2, 44306184100021)",
            )
        ],
    ),
    "code caf inconnu": (
        [("partenaires", replace("ESAT Les Ateliers de la Seine;75;75", "ESAT Les Ateliers de la Seine;99;75"))],
        [
            Problem(
                "partenaires",
                2,
                "code_caf : code « 99 » inconnu (département de la Caf attendu : 01 à 95, 2A, 2B, 971 à 976)",
            )
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_problem_is_refused_and_previous_extract_stays(case, engine, tmp_path):
    first = import_extract(engine, HABPPS)
    assert first.accepted
    folder = copy_example(tmp_path)
    edits, expected = CASES[case]
    for table, change in edits:
        if change is None:
            (folder / f"{table}.csv").unlink()
        else:
            edit(folder, table, change)
    result = import_extract(engine, folder)
    assert not result.accepted
    assert result.problems == expected
    assert result.import_id is None and result.counts == {}
    assert table_counts(engine) == EXAMPLE_COUNTS
    assert in_transaction(engine, load_habilitations).import_id == first.import_id
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(tables.hab_imports)).scalar_one() == 1


def test_every_problem_is_listed_not_only_the_first(tmp_path):
    folder = copy_example(tmp_path)
    edit(folder, "partenaires", replace(";MULTI_DEPARTEMENTALE", ";NATIONALE"))
    edit(folder, "conventions", replace("DELEGUE", "MIXTE"))
    edit(folder, "groupes", replace(";CONSULTANT", ";ADMIN"))
    edit(folder, "utilisateurs", append("x;81234567600017;G-X;N"))
    frames, problems = read_extract(folder)
    assert frames is None
    assert [(p.table, p.ligne) for p in problems] == [
        ("partenaires", 3),
        ("conventions", 3),
        ("groupes", 4),
        ("utilisateurs", 5),
    ]


def test_not_an_extract_is_a_problem(tmp_path, engine):
    (tmp_path / "extrait.txt").write_text("x")
    result = import_extract(engine, tmp_path / "extrait.txt")
    assert result.problems == [
        Problem("extrait", None, "l'extrait doit être un classeur .xlsx ou un dossier de fichiers <table>.csv")
    ]
    result = import_extract(engine, tmp_path / "absent.xlsx")
    assert result.problems == [Problem("extrait", None, f"chemin introuvable : {tmp_path / 'absent.xlsx'}")]


# -- xlsx = CSV; re-import --------------------------------------------------------------------------


@pytest.mark.parametrize("typed", [False, True], ids=["text-cells", "number-and-date-cells"])
def test_xlsx_gives_the_same_result_as_the_csv_folder(tmp_path, typed):
    workbook = write_xlsx(HABPPS, tmp_path / "extrait.xlsx", typed=typed)
    from_xlsx, p1 = read_extract(workbook)
    from_csv, p2 = read_extract(HABPPS)
    assert p1 == p2 == []
    for table in TABLES:
        assert from_xlsx[table].equals(from_csv[table]), table


def test_xlsx_problems_name_sheet_rows(tmp_path):
    workbook = write_xlsx(HABPPS, tmp_path / "ok.xlsx")
    from openpyxl import load_workbook

    wb = load_workbook(workbook)
    wb["groupes"]["D4"] = "ADMIN"
    del wb["bulletins"]
    wb.save(tmp_path / "ko.xlsx")
    frames, problems = read_extract(tmp_path / "ko.xlsx")
    assert frames is None
    assert problems == [
        Problem("bulletins", None, "table absente de l'extrait (feuille « bulletins » attendu)"),
        Problem("groupes", 4, "role : valeur « ADMIN » inconnue (valeurs admises : DECLARANT, CONSULTANT)"),
    ]


def test_reimport_replaces_everything_atomically(engine, tmp_path):
    first = import_extract(engine, HABPPS)
    folder = copy_example(tmp_path)
    edit(folder, "utilisateurs", lambda ls: ls[:2])
    edit(folder, "groupes", append("G-75-0001-ESAT-CONS;CONV-75-0001;ESAT;CONSULTANT"))
    second = import_extract(engine, write_xlsx(folder, tmp_path / "v2.xlsx"), actor="b")
    assert second.accepted and second.import_id != first.import_id
    expected = dict(EXAMPLE_COUNTS, groupes=4, utilisateurs=1)
    assert second.counts == expected == table_counts(engine)
    habs = in_transaction(engine, load_habilitations)
    assert habs.import_id == second.import_id
    assert [m.login for m in habs.utilisateurs] == ["esat-seine"]
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(tables.hab_imports)).scalar_one() == 2


# -- SIRET check --------------------------------------------------------------------------------


@given(st.text(alphabet="0123456789", min_size=14, max_size=14))
def test_siret_check_agrees_with_python_stdnum(value):
    # rules.md checks the 14-digit Luhn only; stdnum also checks the SIREN's own key
    if stdnum_siren.is_valid(value[:9]):
        assert (siret_defect(value) is None) == stdnum_siret.is_valid(value)
    else:
        assert (siret_defect(value) is None) == luhn.is_valid(value)


@pytest.mark.parametrize(
    "value,defect",
    [
        ("81234567600017", None),
        ("35600000000048", None),
        ("35600000012341", None),
        ("35600000012344", "cle"),
        ("81234567600018", "cle"),
        ("8123456760001", "forme"),
        ("8123456760001A", "forme"),
    ],
)
def test_siret_defect(value, defect):
    assert siret_defect(value) == defect


# -- the command ----------------------------------------------------------------------------------


def run_cli(argv: list[str], config) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out = io.StringIO()
    return args.handler(args, config, out=out), out.getvalue()


def test_command_imports_and_prints_counts(tmp_path, db_url):
    config = make_config(tmp_path, db_url)
    code, out = run_cli(["habilitations", "import", str(HABPPS)], config)
    assert code == 0
    assert "Extrait Habpps importé" in out
    for table, n in EXAMPLE_COUNTS.items():
        assert f"{table} ; {n}" in out


def test_command_refuses_and_lists_every_problem(tmp_path, db_url):
    config = make_config(tmp_path, db_url)
    folder = copy_example(tmp_path)
    edit(folder, "groupes", replace(";CONSULTANT", ";ADMIN"))
    edit(folder, "conventions", replace("DELEGUE", "MIXTE"))
    code, out = run_cli(["habilitations", "import", str(folder)], config)
    assert code == 1
    assert "Extrait Habpps refusé (2 problème(s))" in out
    assert "- conventions, ligne 3 : mode_gestion : valeur « MIXTE » inconnue" in out
    assert "- groupes, ligne 4 : role : valeur « ADMIN » inconnue" in out


def test_an_import_waits_for_the_one_running_then_takes_effect(tmp_path, db_url):
    """The use case the CLI and the console call holds the import lock: a second import waits, then runs."""
    import threading

    from exchange.app.habilitations import import_habilitations
    from exchange.store.fences import HABILITATIONS_LOCK, timings_of, try_lock

    cfg = make_config(tmp_path, db_url)
    engine = open_database(cfg.database_url)
    held = try_lock(engine, HABILITATIONS_LOCK, timings_of(cfg))  # another import is running
    assert held is not None
    waited = threading.Event()
    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            import_habilitations(cfg, engine, EXAMPLES / "habpps", "console:marie", on_wait=waited.set)
        )
    )
    worker.start()
    assert waited.wait(30)
    assert (
        results == [] and in_transaction(engine, load_habilitations).import_id is None
    )  # nothing imported while it waits
    held.release()
    worker.join(60)
    assert results[0].accepted and results[0].busy is None
    assert in_transaction(engine, load_habilitations).import_id == results[0].import_id
    engine.dispose()
