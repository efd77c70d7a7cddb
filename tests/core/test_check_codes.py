"""`check` end to end: for each rule code, a failing file gives exactly that code, line, severity, field,
statut and exit code; the unmodified file passes. (History codes W05/W06 and F04 need the ledger:
tests/app/test_history.py; H codes need habilitations: tests/app/test_run_reconcile.py.)"""

from __future__ import annotations

import json

import pytest

from exchange.cli.main import main
from tests.conftest import EXAMPLES

RG_HEADER = (
    "siret_esat;finess_esat;annee_reference;nir;nom;prenoms;date_naissance;numero_allocataire;code_caf;"
    "date_entree_esat;taux_activite_esat;remuneration_garantie_nette;part_financee_esat_nette;"
    "aide_au_poste_nette;cumul_milieu_ordinaire;siret_employeur_mo;type_contrat_mo;date_debut_mo;"
    "heures_hebdo_mo;salaire_net_mo"
)
MARTIN = dict(
    zip(
        RG_HEADER.split(";"),
        [
            "81234567600017",
            "750012345",
            "2025",
            "185057800608491",
            "Martin",
            "Jérôme",
            "12/05/1985",
            "1234567",
            "78",
            "01/09/2010",
            "100",
            "862,35",
            "150,12",
            "712,23",
            "N",
            "",
            "",
            "",
            "",
            "",
        ],
    )
)
LEFEVRE = "81234567600017;750012345;2025;292027512345620;Lefèvre;Anne Marie;03/02/1992;;75;15/03/2018;50;431,18;75,06;356,12;N;;;;;"
NDIAYE = dict(
    zip(
        RG_HEADER.split(";"),
        [
            "81234567600017",
            "750012345",
            "2025",
            "190111305512391",
            "N'Diaye",
            "Moussa",
            "1990-11-23",
            "0456789",
            "75",
            "2016-01-04",
            "60",
            "517,41",
            "90,07",
            "427,34",
            "O",
            "30012345200157",
            "CDI",
            "2024-02-01",
            "14",
            "612,50",
        ],
    )
)
RG_NAME = "ESAT_81234567600017_RG_20251210_001.csv"
CA_NAME = "ESAT_81234567600017_CA_20251212_001.csv"


def nir_with_key(first13: str) -> str:
    n = int(first13.replace("2A", "19").replace("2B", "18"))
    return f"{first13}{97 - n % 97:02d}"


def rg(first: dict | None = None, **overrides: str) -> str:
    record = {**(first or MARTIN), **overrides}
    return "\n".join([RG_HEADER, ";".join(record[c] for c in RG_HEADER.split(";")), LEFEVRE]) + "\n"


def check(tmp_path, name: str, content: str | bytes, as_of: str = "2025-12-15", *extra: str):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*extra, "check", str(path), "--as-of", as_of, "--format", "json"])
    return code, json.loads(out.getvalue())


def found(report: dict) -> list[tuple]:
    return [(a["code"], a["ligne"], a["gravite"], a["champ"]) for a in report["anomalies"]]


CASES = {
    # name: (content, expected anomalies (code, ligne, gravite, champ), statut)
    "R01": (rg(nom=""), [("R01", 2, "BLOQUANTE", "nom")], "PARTIEL"),
    "R02": (rg(nir="185057800608492"), [("R02", 2, "BLOQUANTE", "nir")], "PARTIEL"),
    "R03": (
        rg(NDIAYE, siret_employeur_mo="30012345200158"),
        [("R03", 2, "BLOQUANTE", "siret_employeur_mo")],
        "PARTIEL",
    ),
    "R04": (rg(date_naissance="31/02/1985"), [("R04", 2, "BLOQUANTE", "date_naissance")], "PARTIEL"),
    "R05": (rg(taux_activite_esat="120"), [("R05", 2, "BLOQUANTE", "taux_activite_esat")], "PARTIEL"),
    "R06": (rg(part_financee_esat_nette="150,13"), [("R06", 2, "BLOQUANTE", "remuneration_garantie_nette")], "PARTIEL"),
    "R07": (rg(NDIAYE, salaire_net_mo=""), [("R07", 2, "BLOQUANTE", "salaire_net_mo")], "PARTIEL"),
    "R09": (rg(code_caf="99"), [("R09", 2, "BLOQUANTE", "code_caf")], "PARTIEL"),
    "R09-mayotte": (rg(code_caf="976"), [("R09", 2, "BLOQUANTE", "code_caf")], "PARTIEL"),
    "R11": (rg(numero_allocataire="12345678"), [("R11", 2, "BLOQUANTE", "numero_allocataire")], "PARTIEL"),
    "W01": (
        rg(remuneration_garantie_nette="2000,00", part_financee_esat_nette="1287,77"),
        [("W01", 2, "NON_BLOQUANTE", "remuneration_garantie_nette")],
        "ACCEPTE",
    ),
    "W02": (
        rg(remuneration_garantie_nette="1000,00", part_financee_esat_nette="50,00", aide_au_poste_nette="950,00"),
        [("W02", 2, "NON_BLOQUANTE", "aide_au_poste_nette")],
        "ACCEPTE",
    ),
    "W03": (
        rg(
            NDIAYE,
            taux_activite_esat="80",
            remuneration_garantie_nette="690,00",
            part_financee_esat_nette="120,00",
            aide_au_poste_nette="570,00",
        ),
        [("W03", 2, "NON_BLOQUANTE", "heures_hebdo_mo")],
        "ACCEPTE",
    ),
    "W04": (rg(date_entree_esat="01/12/2025"), [("W04", 2, "NON_BLOQUANTE", "date_entree_esat")], "ACCEPTE"),
    "W10": (rg(nir=nir_with_key("7850578006084")), [("W10", 2, "NON_BLOQUANTE", "nir")], "ACCEPTE"),
}


def test_the_example_files_pass(tmp_path):
    for path in sorted((EXAMPLES / "drop").glob("*/depot/*")):
        code, report = check(tmp_path, path.name, path.read_bytes())
        assert (code, report["statut"], report["anomalies"]) == (0, "ACCEPTE", []), path.name


@pytest.mark.parametrize("case", sorted(CASES))
def test_record_code(tmp_path, case):
    content, expected, statut = CASES[case]
    code, report = check(tmp_path, RG_NAME, content)
    assert found(report) == expected
    assert report["statut"] == statut
    assert report["enregistrements_recus"] == 2
    assert report["enregistrements_rejetes"] == (1 if statut == "PARTIEL" else 0)
    assert code == (0 if statut == "ACCEPTE" else 1)
    a = report["anomalies"][0]
    assert a["nir_masque"].count("*") == 8 and len(a["nir_masque"]) == 15
    assert a["message"] and a["message"][0].isupper() and " : " in a["message"]


def test_r08_every_occurrence_of_a_repeated_nir(tmp_path):
    content = "\n".join([RG_HEADER, ";".join(MARTIN.values()), LEFEVRE, ";".join(MARTIN.values())]) + "\n"
    code, report = check(tmp_path, RG_NAME, content)
    assert found(report) == [("R08", 2, "BLOQUANTE", "nir"), ("R08", 4, "BLOQUANTE", "nir")]
    assert (code, report["statut"], report["enregistrements_rejetes"]) == (1, "PARTIEL", 2)


def test_every_record_rejected_is_rejete_and_all_faults_reported(tmp_path):
    bad = {**MARTIN, "nom": "", "nir": "185057800608492", "code_caf": "99"}
    content = "\n".join([RG_HEADER, ";".join(bad.values())]) + "\n"
    code, report = check(tmp_path, RG_NAME, content)
    assert sorted(c for c, *_ in found(report)) == ["R01", "R02", "R09"]
    assert (code, report["statut"]) == (1, "REJETE")


def ca(line: str) -> str:
    header = (EXAMPLES / "drop" / "esat-seine" / "depot" / CA_NAME).read_text(encoding="utf-8").splitlines()[0]
    return f"{header}\n{line}\n"


CA_BASE = "81234567600017;292027512345620;Lefèvre;Anne Marie;03/02/1992;;75;HAUSSE_TAUX;01/01/2026;50;80;;;;;"


def test_r10_and_w08_on_change_declarations(tmp_path):
    code, report = check(tmp_path, CA_NAME, ca(CA_BASE.replace(";50;80;", ";80;50;")))
    assert found(report) == [("R10", 2, "BLOQUANTE", "taux_activite_apres")]
    assert (code, report["statut"]) == (1, "REJETE")
    code, report = check(tmp_path, CA_NAME, ca(CA_BASE.replace("01/01/2026", "01/01/2027")))
    assert found(report) == [("W08", 2, "NON_BLOQUANTE", "date_effet")]
    assert (code, report["statut"]) == (0, "ACCEPTE")
    code, report = check(tmp_path, CA_NAME, ca(CA_BASE.replace(";50;80;;", ";50;80;DECES;")))
    assert found(report) == [("R01", 2, "BLOQUANTE", "motif_depart")]


def test_w07_windows_1252(tmp_path):
    code, report = check(tmp_path, RG_NAME, rg().encode("cp1252"))
    assert found(report) == [("W07", None, "NON_BLOQUANTE", "")]
    assert (code, report["statut"]) == (0, "ACCEPTE")


def test_w09_after_15_january(tmp_path):
    code, report = check(tmp_path, RG_NAME, rg(), "2026-01-20")
    assert found(report) == [("W09", None, "NON_BLOQUANTE", "")]
    assert (code, report["statut"]) == (0, "ACCEPTE")


FILE_CASES = {
    "F01": (RG_NAME, b"", "F01"),
    "F02": ("ESAT_81234567600017_RG_2025121_001.csv", rg(), "F02"),
    "F03": (RG_NAME, rg().replace("aide_au_poste_nette;", ""), "F03"),
    "F06": (RG_NAME.replace("81234567600017", "44306184100021"), rg(), "F06"),
    "F08": (
        "ESAT_44306184100021_RG_20251211_001.xml",
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><declaration>&x;</declaration>',
        "F08",
    ),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_file_code(tmp_path, case):
    name, content, expected = FILE_CASES[case]
    code, report = check(tmp_path, name, content)
    assert [a["code"] for a in report["anomalies"]] == [expected]
    assert report["anomalies"][0]["gravite"] == "BLOQUANTE"
    assert (code, report["statut"]) == (1, "REJETE")
    assert report["enregistrements_acceptes"] == 0
    assert "root:" not in json.dumps(report)


def test_f05_outside_the_window(tmp_path):
    code, report = check(tmp_path, RG_NAME, rg(), "2026-03-01")
    assert found(report) == [("F05", None, "BLOQUANTE", "annee_reference")]
    assert (code, report["statut"], report["enregistrements_rejetes"]) == (1, "REJETE", 2)


def test_f07_too_many_records(tmp_path):
    cfg = tmp_path / "limits.toml"
    cfg.write_text("[limits]\nmax_records = 1\n")
    code, report = check(tmp_path, RG_NAME, rg(), "2025-12-15", "--config", str(cfg))
    assert found(report) == [("F07", None, "BLOQUANTE", "")]
    assert (code, report["statut"]) == (1, "REJETE")


def test_check_csv_and_text_formats(tmp_path):
    path = tmp_path / RG_NAME
    path.write_text(rg(nom=""), encoding="utf-8")
    import contextlib
    import io

    for fmt in ("csv", "text"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["check", str(path), "--as-of", "2025-12-15", "--format", fmt]) == 1
        text = out.getvalue()
        assert "185057800608491" not in text and "18505********91" in text
        if fmt == "csv":
            lines = text.splitlines()
            assert not text.startswith("\ufeff")
            assert lines[0] == (
                "fichier;date_traitement;statut;enregistrements_recus;enregistrements_acceptes;"
                "enregistrements_rejetes;ligne;nir_masque;code;gravite;champ;message;nom;prenoms;"
                "synthese;que_faire"
            )
            assert lines[1].startswith(f"{RG_NAME};2025-12-15;PARTIEL;2;1;1;2;18505********91;R01;BLOQUANTE;nom;")
        else:
            assert "Statut : PARTIEL" in text and "R01" in text


def test_check_usage_errors_exit_2(tmp_path, capsys):
    assert main(["check", str(tmp_path / "missing.csv")]) == 2
    with pytest.raises(SystemExit) as e:
        main(["check", "x.csv", "--as-of", "15/12/2025"])
    assert e.value.code == 2
