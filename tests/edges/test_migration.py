"""The Habtiers → MCP migration report on fixtures/habtiers-example.csv: each case, each alert, CSV and xlsx."""

from __future__ import annotations

import argparse
import csv
import io

import polars as pl
import pytest

from exchange.cli.habilitations import add_commands
from exchange.edges.habtiers import (
    ACTIONS,
    MigrationError,
    migration_report,
    write_migration_csv,
)
from tests.conftest import ROOT

EXAMPLE = ROOT / "fixtures" / "habtiers-example.csv"


@pytest.fixture(scope="module")
def report() -> pl.DataFrame:
    return migration_report(EXAMPLE)


def line(report: pl.DataFrame, siret: str) -> dict:
    rows = report.filter(pl.col("siret") == siret).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_one_line_per_partner_in_input_order(report):
    assert report.columns == ["siret", "raison_sociale", "cas", "actions", "alertes"]
    assert report["cas"].to_list() == ["1", "2", "2", "3", "3", "A_EXAMINER", "1", "3"]


def test_case_1_unknown_everywhere_gets_the_new_partner_process(report):
    r = line(report, "78234567800018")
    assert r["cas"] == "1" and r["alertes"] == []
    assert r["actions"] == [
        "Suivre le processus de conventionnement d'un nouveau partenaire pour lui ouvrir les accès",
        "Faire signer les trois documents contractuels : convention d'accès (convention juridique), "
        "contrat de services et bulletin d'adhésion Esat",
        "Ouvrir le service Esat selon la contractualisation",
    ]


def test_case_2_known_in_habtiers_only(report):
    r = line(report, "50213400000012")
    assert r["cas"] == "2" and r["alertes"] == []
    assert r["actions"][0] == "S'assurer que le partenaire identifié dans l'extraction Habtiers est toujours actif"
    assert r["actions"][-1] == "Aucune action à effectuer côté Habtiers"


def test_case_2_inactive_in_habtiers_is_flagged(report):
    r = line(report, "33012345600023")
    assert r["cas"] == "2"
    assert r["alertes"] == [
        "Partenaire inactif dans Habtiers (actif_habtiers = N) : vérifiez qu'il est "
        "toujours actif avant toute contractualisation"
    ]


def test_case_3_known_in_mcp_only(report):
    r = line(report, "44123987600010")
    assert r["cas"] == "3" and r["alertes"] == []
    assert r["actions"] == [
        "Faire compléter et signer uniquement le bulletin d'adhésion Esat par le partenaire",
        "Faire un avenant à la convention juridique existante pour vérifier certaines informations, "
        "notamment la mission du partenaire",
        "Ouvrir le service en fonction des informations communiquées sur le bulletin d'adhésion",
    ]


def test_bulletin_siret_differing_from_convention_is_alerted(report):
    r = line(report, "69011223300018")
    assert r["cas"] == "3"
    assert r["alertes"] == [
        "Le SIRET du bulletin d'adhésion Esat (69011223300026) diffère de celui de la "
        "convention MCP (69011223300018) : il doit être le même avant l'ouverture du service"
    ]


def test_known_in_both_is_left_to_a_person(report):
    r = line(report, "31309876500016")
    assert r["cas"] == "A_EXAMINER" and r["alertes"] == []
    assert r["actions"] == list(ACTIONS["A_EXAMINER"])
    assert "à examiner" in r["actions"][0]


def test_siret_failing_its_check_digit_is_alerted(report):
    r = line(report, "13456789000015")
    assert r["cas"] == "1"
    assert r["alertes"] == ["SIRET du partenaire 13456789000015 invalide (chiffre de contrôle faux) : vérifiez-le"]


def test_la_poste_siret_is_checked_on_its_digit_sum(report):
    assert line(report, "35600000012341")["alertes"] == []


def test_bad_values_give_alerts_not_failures(tmp_path):
    src = tmp_path / "m.csv"
    src.write_text(
        "siret;raison_sociale;connu_mcp;connu_habtiers;actif_habtiers;siret_convention_mcp;siret_bulletin_esat\n"
        "78234567800018;A;oui;N;X;7823456780001;78234567800019\n",
        encoding="utf-8",
    )
    r = migration_report(src).row(0, named=True)
    assert r["cas"] == "A_EXAMINER"
    assert r["alertes"] == [
        "Valeur de connu_mcp illisible (« oui », O ou N attendu) : cas à examiner",
        "SIRET de la convention MCP « 7823456780001 » mal formé (14 chiffres attendus) : vérifiez-le",
        "SIRET du bulletin d'adhésion Esat 78234567800019 invalide (chiffre de contrôle faux) : vérifiez-le",
        "Le SIRET du bulletin d'adhésion Esat (78234567800019) diffère de celui de la convention MCP "
        "(7823456780001) : il doit être le même avant l'ouverture du service",
        "Valeur de actif_habtiers illisible (« X », O, N ou vide attendu)",
    ]


def test_missing_column_is_refused_in_french(tmp_path):
    src = tmp_path / "m.csv"
    src.write_text("siret;raison_sociale;connu_mcp\n78234567800018;A;N\n", encoding="utf-8")
    with pytest.raises(
        MigrationError,
        match="Colonne\\(s\\) absente\\(s\\) du classeur de migration : "
        "connu_habtiers, actif_habtiers, siret_convention_mcp, "
        "siret_bulletin_esat",
    ):
        migration_report(src)


def test_xlsx_first_sheet_gives_the_same_report(tmp_path, report):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Partenaires"
    for i, row in enumerate(csv.reader(EXAMPLE.read_text(encoding="utf-8").splitlines(), delimiter=";")):
        # SIRETs typed as numbers, as a spreadsheet does
        ws.append([int(c) if i and c.isdigit() and len(c) == 14 else c for c in row])
    wb.create_sheet("Notes").append(["ignorée"])
    wb.save(tmp_path / "m.xlsx")
    assert migration_report(tmp_path / "m.xlsx").equals(report)


def test_csv_output_bom_separator_joined_lists_and_formula_guard(tmp_path, report):
    evil = pl.DataFrame(
        {
            "siret": ["78234567800018"],
            "raison_sociale": ['=HYPERLINK("x")'],
            "cas": ["1"],
            "actions": [["a", "b"]],
            "alertes": [["-1", "c"]],
        }
    )
    out = tmp_path / "rapport.csv"
    write_migration_csv(pl.concat([report, evil]), out)
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["siret", "raison_sociale", "cas", "actions", "alertes"]
    assert len(rows) == 1 + report.height + 1
    assert rows[3] == [
        "33012345600023",
        "ESAT La Garonne (ancien)",
        "2",
        " | ".join(ACTIONS["2"]),
        "Partenaire inactif dans Habtiers (actif_habtiers = N) : "
        "vérifiez qu'il est toujours actif avant toute contractualisation",
    ]
    assert rows[-1] == ["78234567800018", '\'=HYPERLINK("x")', "1", "a | b", "'-1 | c"]


def run_cli(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out = io.StringIO()
    return args.handler(args, None, out=out), out.getvalue()


def test_command_prints_the_report_and_writes_csv(tmp_path):
    out_file = tmp_path / "rapport.csv"
    code, out = run_cli(["migration", "report", str(EXAMPLE), "--out", str(out_file)])
    assert code == 0
    assert "8 partenaire(s)" in out
    assert "Par cas : 1 : 2, 2 : 2, 3 : 3, A_EXAMINER : 1" in out
    assert "78234567800018 ; ESAT Les Jardins de Versailles ; 1 ; Suivre le processus" in out
    assert out_file.read_bytes().startswith(b"\xef\xbb\xbfsiret;raison_sociale;cas;actions;alertes\n")


def test_command_on_missing_file_returns_1(tmp_path):
    code, out = run_cli(["migration", "report", str(tmp_path / "absent.csv")])
    assert code == 1
    assert out.strip() == f"Fichier introuvable : {tmp_path / 'absent.csv'}"
