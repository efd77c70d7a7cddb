"""What the clerk sees is what the Caf gets (issue 22, spec v1.2): each case fed through `check` and through
`run`, with the exact French sentence in the compte rendu and, where a value reaches it, the Caf's file."""

from __future__ import annotations

import contextlib
import html
import io
from pathlib import Path

import polars as pl
import pytest

from exchange.cli.main import main
from tests.areas import cli
from tests.clerk import HEADER, MARTIN, RG_CSV, RG_NAME, SEINE, martin
from tests.core.test_clerk_cases import area, assert_in_every_form, cr_csv_rows  # noqa: F401 - `area` is a fixture
from tests.xlsx_files import styled_workbook

XLSX_NAME = "ESAT_81234567600017_RG_20251210_002.xlsx"
NIA = "385057800608488"  # a NIA (sex digit 3) with its key, born May 1985 like Martin
TOTAL_LINE = ";;;;TOTAL;;;;;;;1811,94;315,25;1496,69;;;;;;"


def letter(column: str) -> str:
    return "ABCDEFGHIJKLMNOPQRST"[HEADER.index(column)]


# (file name, content, statut, line, code, nom, exact French sentence)
CASES = [
    pytest.param(
        RG_NAME,
        martin(remuneration_garantie_nette="1.250"),
        "PARTIEL",
        "2",
        "R06",
        "Martin",
        "Le champ rémunération garantie nette (colonne remuneration_garantie_nette) vaut « 1.250 » : le point "
        "y sépare les milliers, ce qui n'est pas accepté ; écrivez le montant sans séparateur de milliers "
        "(par exemple 1250).",
        id="point-milliers",
    ),
    pytest.param(
        RG_NAME,
        martin(remuneration_garantie_nette="1,250.00").encode("cp1252"),
        "PARTIEL",
        "2",
        "R06",
        "Martin",
        "Le champ rémunération garantie nette (colonne remuneration_garantie_nette) vaut « 1,250.00 » : le "
        "montant contient un séparateur de milliers ; il s'écrit sans espace ni point entre les milliers (par "
        "exemple 1250.00). Dans le tableur, mettez la colonne au format Nombre sans séparateur de milliers avant "
        "d'enregistrer le CSV (sinon il l'écrit de nouveau ainsi), ou envoyez directement le classeur .xlsx ou .ods.",
        id="milliers-export-anglais-windows-1252",
    ),
    pytest.param(
        RG_NAME,
        RG_CSV + TOTAL_LINE + "\n",
        "PARTIEL",
        "5",
        "R01",
        "TOTAL",
        "La ligne 5 est une ligne de total (« TOTAL ») et non un salarié : supprimez-la du fichier.",
        id="ligne-total",
    ),
    pytest.param(
        RG_NAME,
        martin(siret_esat="812 345 676 00017"),
        "REJETE",
        "",
        "F06",
        "",
        "Le SIRET de l'Esat (colonne siret_esat) vaut « 812 345 676 00017 » : écrivez les 14 chiffres à la "
        "suite, sans espace, et renvoyez le fichier.",
        id="siret-espaces",
    ),
    pytest.param(
        RG_NAME,
        martin(nir="1,85058E+14"),
        "PARTIEL",
        "2",
        "R02",
        "Martin",
        "Le NIR s'affiche « 1,85058E+14 » : le tableur l'a converti en nombre en notation scientifique et a "
        "perdu des chiffres. Mettez la colonne au format Texte et saisissez à nouveau les 15 caractères du "
        "NIR.",
        id="nir-notation-scientifique",
    ),
    pytest.param(
        RG_NAME,
        martin(nir="1,85058E+14").encode("cp1252"),
        "PARTIEL",
        "2",
        "R02",
        "Martin",
        "Le NIR s'affiche « 1,85058E+14 » : le tableur l'a converti en nombre en notation scientifique et a "
        "perdu des chiffres. Mettez la colonne au format Texte et saisissez à nouveau les 15 caractères du "
        "NIR.",
        id="nir-notation-scientifique-windows-1252",
    ),
    pytest.param(
        RG_NAME,
        RG_CSV.replace("prenoms", "prénoms", 1),
        "REJETE",
        "",
        "F03",
        "",
        "Colonne inconnue dans la ligne d'en-tête : prénoms (vouliez-vous dire prenoms ?). Renommez-la avec "
        "le nom attendu et renvoyez le fichier.",
        id="prenoms-accent",
    ),
    pytest.param(
        RG_NAME,
        RG_CSV.replace("date_naissance", "Date de naissance", 1),
        "REJETE",
        "",
        "F03",
        "",
        "Colonne inconnue dans la ligne d'en-tête : Date de naissance (vouliez-vous dire date_naissance ?). "
        "Renommez-la avec le nom attendu et renvoyez le fichier.",
        id="date-de-naissance",
    ),
    pytest.param(
        RG_NAME,
        RG_CSV.replace("numero_allocataire", "N° allocataire", 1),
        "REJETE",
        "",
        "F03",
        "",
        "Colonne inconnue dans la ligne d'en-tête : N° allocataire (vouliez-vous dire numero_allocataire ?). "
        "Renommez-la avec le nom attendu et renvoyez le fichier.",
        id="numero-abrege",
    ),
    pytest.param(
        RG_NAME,
        martin(code_caf="100"),
        "PARTIEL",
        "2",
        "R09",
        "Martin",
        "Le champ code Caf (colonne code_caf) vaut « 100 », qui n'est le code d'aucune Caf : indiquez le code "
        "de la Caf qui verse l'AAH du salarié, celle qui figure sur ses courriers de la Caf (01 à 95, 2A, 2B, "
        "971 à 974).",
        id="code-caf",
    ),
    pytest.param(
        RG_NAME,
        martin(code_caf="1"),
        "PARTIEL",
        "2",
        "R09",
        "Martin",
        "Le champ code Caf (colonne code_caf) vaut « 1 » : un code Caf s'écrit sur 2 chiffres, le tableur a "
        "retiré le zéro. Écrivez 01 (colonne au format Texte pour que le zéro reste).",
        id="code-caf-zero",
    ),
    pytest.param(
        RG_NAME,
        martin(nir="1850578006084"),
        "PARTIEL",
        "2",
        "R02",
        "Martin",
        "Le NIR n'a que 13 caractères : il manque la clé (les 2 derniers chiffres, sur la carte Vitale ou "
        "l'attestation de droits). Ajoutez-la.",
        id="nir-sans-cle",
    ),
    pytest.param(
        RG_NAME,
        martin(taux_activite_esat="0,8"),
        "ACCEPTE",
        "2",
        "W01",
        "Martin",
        "Le taux d'activité à l'Esat (colonne taux_activite_esat) vaut « 0,8 », moins de 1 % : la "
        "rémunération garantie nette dépasse alors le maximum légal (maximum 15,96 €). Le taux est sans doute "
        "écrit en fraction : écrivez-le en pourcentage (par exemple 80 pour 80 %).",
        id="taux-en-fraction",
    ),
    pytest.param(
        RG_NAME,
        RG_CSV + ";;;;;;;;Sous-total;;;1811,94;315,25;1496,69;;;;;;\n",
        "PARTIEL",
        "5",
        "R01",
        "",
        "La ligne 5 est une ligne de total (« Sous-total ») et non un salarié : supprimez-la du fichier.",
        id="sous-total-dans-code-caf",
    ),
    pytest.param(
        RG_NAME,
        RG_CSV + "Total général;;;;;;;;;;;1811,94;315,25;1496,69;;;;;;\n",
        "PARTIEL",
        "5",
        "R01",
        "",
        "La ligne 5 est une ligne de total (« Total général ») et non un salarié : supprimez-la du fichier.",
        id="total-dans-siret",
    ),
    pytest.param(
        RG_NAME,
        martin(remuneration_garantie_nette="150", part_financee_esat_nette="100", aide_au_poste_nette="50"),
        "ACCEPTE",
        "2",
        "W11",
        "Martin",
        "La rémunération garantie nette vaut « 150 » pour un taux d'activité de 100 % (la moitié du minimum "
        "légal est 501,80 €) : c'est moins que la moitié du minimum légal, sans doute un montant horaire ou "
        "journalier ou un taux faux. Vérifiez que le montant est celui du mois de novembre entier et que le "
        "taux est juste.",
        id="w11",
    ),
    pytest.param(
        RG_NAME,
        martin(nir=NIA),
        "ACCEPTE",
        "2",
        "W10",
        "Martin",
        "NIR provisoire (commençant par 3, 4, 7 ou 8 : numéro d'attente ou NIA) : la ligne est acceptée, la "
        "Caf rapprochera le salarié manuellement ; indiquez le NIR définitif dès qu'il est connu.",
        id="nia",
    ),
]
CASES += [
    pytest.param(
        XLSX_NAME,
        styled_workbook(RG_CSV.replace("prenoms", "Prénoms", 1), titles=["Déclaration RG 2025", ""]),
        "REJETE",
        "3",
        "F03",
        "",
        "Colonne inconnue dans la ligne d'en-tête (ligne 3) : Prénoms (colonne F) (vouliez-vous dire "
        "prenoms ?). Renommez-la avec le nom attendu et renvoyez le fichier.",
        id="xlsx-entete-sous-titre",
    ),
    pytest.param(
        XLSX_NAME,
        styled_workbook(RG_CSV, after={"Feuil2": [HEADER, MARTIN.split(";")]}),
        "REJETE",
        "",
        "F03",
        "",
        "Le classeur contient des salariés sur plusieurs feuilles (« Salariés » et « Feuil2 ») : tous les "
        "salariés doivent être sur une seule feuille. Regroupez-les sur la feuille « Salariés » et renvoyez "
        "le classeur.",
        id="xlsx-deux-feuilles",
    ),
    pytest.param(
        XLSX_NAME,
        styled_workbook(RG_CSV, {(2, "remuneration_garantie_nette"): ("=M2+N2", "General")}),
        "REJETE",
        "",
        "F01",
        "",
        "Le classeur contient une formule sans valeur calculée (cellule L2) : il a été écrit par un programme "
        "sans être ouvert dans un tableur. Ouvrez-le dans votre tableur, enregistrez-le depuis votre tableur "
        "et renvoyez-le.",
        id="xlsx-formule-sans-valeur",
    ),
    pytest.param(
        XLSX_NAME,
        styled_workbook(RG_CSV, hidden=(3,)),
        "ACCEPTE",
        "3",
        "W12",
        "Lefèvre",
        "Cette ligne est masquée dans le classeur : elle est déclarée comme les autres. Si ce salarié ne doit "
        "pas être déclaré, supprimez la ligne (la masquer ne suffit pas).",
        id="xlsx-ligne-masquee",
    ),
    pytest.param(
        XLSX_NAME,
        styled_workbook(RG_CSV, {(2, "date_naissance"): ("31/02/1985", "@")}),
        "PARTIEL",
        "2",
        "R04",
        "Martin",
        f"Le champ date de naissance (colonne date_naissance, {letter('date_naissance')}) vaut « 31/02/1985 », "
        "une date qui n'existe pas (février 1985 n'a que 28 jours) : corrigez le jour ou le mois.",
        id="xlsx-lettre-de-colonne",
    ),
    pytest.param(
        XLSX_NAME,
        styled_workbook(RG_CSV, {(2, "taux_activite_esat"): (8, "0%")}),
        "PARTIEL",
        "2",
        "R05",
        "Martin",
        f"Le champ taux d'activité à l'Esat (colonne taux_activite_esat, {letter('taux_activite_esat')}) vaut "
        "« 800 » : un taux est un pourcentage supérieur à 0 et au plus 100, avec au plus 2 décimales (par "
        "exemple 80 ou 62,5), corrigez-le.",
        id="xlsx-pourcentage-800",
    ),
]


def check_cli(tmp_path: Path, name: str, content: str | bytes, fmt: str, as_of: str = "2025-12-15") -> tuple[int, str]:
    path = tmp_path / "check" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["check", str(path), "--as-of", as_of, "--format", fmt])
    return code, out.getvalue()


@pytest.mark.parametrize("name,content,statut,ligne,code,nom,sentence", CASES)
def test_check_gives_the_sentence(tmp_path, name, content, statut, ligne, code, nom, sentence):
    exit_csv, csv_text = check_cli(tmp_path, name, content, "csv")
    _, html_text = check_cli(tmp_path, name, content, "html")
    assert exit_csv == (0 if statut == "ACCEPTE" else 1)
    assert_in_every_form(csv_text, None, html_text, statut, ligne, code, nom, sentence)


@pytest.mark.parametrize("name,content,statut,ligne,code,nom,sentence", CASES)
def test_run_writes_the_sentence(area, name, content, statut, ligne, code, nom, sentence):
    (area / "drop" / SEINE / "depot" / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    exit_code, out, err = cli(area, "run", "--as-of", "2025-12-15")
    assert exit_code == 0, out + err
    retour = area / "drop" / SEINE / "retour"
    assert_in_every_form(
        (retour / f"{name}.CR.csv").read_text(encoding="utf-8"),
        (retour / f"{name}.CR.xml").read_bytes(),
        (retour / f"{name}.CR.html").read_text(encoding="utf-8"),
        statut,
        ligne,
        code,
        nom,
        sentence,
    )


def caf_rows(base: Path) -> pl.DataFrame:
    """Every RG row the run wrote for the Cafs (the CSV twins, as text), with the Caf's folder."""
    frames = [
        pl.read_csv(p, separator=";", infer_schema=False).with_columns(pl.lit(p.parent.name).alias("dossier"))
        for p in sorted((base / "outbound").glob("*/AAH-ESAT_RG_*.csv"))
    ]
    return pl.concat(frames) if frames else pl.DataFrame()


def run_one(base: Path, name: str, content: bytes | str, as_of: str = "2025-12-15") -> list[dict]:
    (base / "drop" / SEINE / "depot" / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    code, out, err = cli(base, "run", "--as-of", as_of)
    assert code == 0, out + err
    return cr_csv_rows((base / "drop" / SEINE / "retour" / f"{name}.CR.csv").read_text(encoding="utf-8"))


def check_accepts(tmp_path: Path, name: str, content: bytes | str, records: int = 3) -> None:
    """`check` accepts the file whole, with no anomaly at all."""
    code, text = check_cli(tmp_path, name, content, "csv")
    rows = cr_csv_rows(text)
    assert code == 0 and [(r["statut"], r["enregistrements_recus"], r["code"]) for r in rows] == [
        ("ACCEPTE", str(records), "")
    ]


def test_a_percentage_cell_reaches_the_caf_as_the_percent_shown(area, tmp_path):
    content = styled_workbook(RG_CSV, {(2, "taux_activite_esat"): (0.8, "0%")})
    check_accepts(tmp_path, XLSX_NAME, content)
    rows = run_one(area, XLSX_NAME, content)
    assert {r["statut"] for r in rows} == {"ACCEPTE"} and {r["code"] for r in rows} == {""}
    martin_row = caf_rows(area).filter(pl.col("nom") == "MARTIN").row(0, named=True)
    assert martin_row["taux_activite_esat"] == "80.00"


def test_zero_padded_cells_reach_the_caf_as_shown(area, tmp_path):
    content = styled_workbook(RG_CSV, {(2, "code_caf"): (1, "00"), (2, "numero_allocataire"): (45678, "0000000")})
    check_accepts(tmp_path, XLSX_NAME, content)
    rows = run_one(area, XLSX_NAME, content)
    assert {r["statut"] for r in rows} == {"ACCEPTE"}
    martin_row = caf_rows(area).filter(pl.col("nom") == "MARTIN").row(0, named=True)
    assert (martin_row["dossier"], martin_row["code_caf"], martin_row["numero_allocataire"]) == ("01", "01", "0045678")


def test_every_stored_row_is_read_whatever_the_recorded_size(area, tmp_path):
    check_accepts(tmp_path, XLSX_NAME, styled_workbook(RG_CSV, dimension="A1:T2"))
    rows = run_one(area, XLSX_NAME, styled_workbook(RG_CSV, dimension="A1:T2"))
    assert [(r["statut"], r["enregistrements_recus"], r["enregistrements_acceptes"]) for r in rows] == [
        ("ACCEPTE", "3", "3")
    ]
    assert sorted(caf_rows(area)["nom"].to_list()) == ["LEFÈVRE", "MARTIN", "N'DIAYE"]


def test_a_guide_sheet_first_and_titles_above_the_header_are_skipped(area, tmp_path):
    guide = [["Mode d'emploi"], ["Une ligne par salarié ; ne modifiez pas la ligne d'en-tête."]]
    content = styled_workbook(
        RG_CSV,
        titles=["Déclaration RG 2025 — Esat de la Seine", ""],
        before={"Mode d'emploi": guide},
        after={"Vide": []},
    )
    check_accepts(tmp_path, XLSX_NAME, content)
    rows = run_one(area, XLSX_NAME, content)
    assert [(r["statut"], r["enregistrements_recus"]) for r in rows] == [("ACCEPTE", "3")]
    assert sorted(caf_rows(area)["ligne_source"].to_list()) == ["4", "5", "6"]  # rows of the sheet


def test_an_independent_second_activity_is_declared_without_hours_or_pay(area, tmp_path):
    content = martin(
        cumul_milieu_ordinaire="O",
        siret_employeur_mo="30012345200157",
        type_contrat_mo="INDEPENDANT",
        date_debut_mo="01/03/2024",
    )
    check_accepts(tmp_path, RG_NAME, content)
    rows = run_one(area, RG_NAME, content)
    assert [(r["statut"], r["code"]) for r in rows] == [("ACCEPTE", "")]
    martin_row = caf_rows(area).filter(pl.col("nom") == "MARTIN").row(0, named=True)
    assert (martin_row["type_contrat_mo"], martin_row["heures_hebdo_mo"]) == ("INDEPENDANT", None)
    assert martin_row["cumul_milieu_ordinaire"] == "true"


def test_a_nia_reaches_the_caf(area):
    run_one(area, RG_NAME, martin(nir=NIA))
    assert caf_rows(area).filter(pl.col("nom") == "MARTIN")["nir"].to_list() == [NIA]


def test_a_worker_listed_twice_gets_advice_that_does_not_fail_again(area, tmp_path):
    content = RG_CSV + MARTIN.replace("862,35;150,12;712,23", "862,36;150,13;712,23") + "\n"
    sentence = (
        "Ce salarié (même NIR) figure sur plusieurs lignes du fichier (lignes 2, 5) : aucune n'est acceptée. "
        "Gardez une seule ligne pour lui, avec les bonnes valeurs, et envoyez-la seule dans un nouveau fichier."
    )
    _, text = check_cli(tmp_path, RG_NAME, content, "csv")
    found = [(r["ligne"], r["message"]) for r in cr_csv_rows(text) if r["code"] == "R08"]
    assert found == [("2", sentence), ("5", sentence)]
    rows = run_one(area, RG_NAME, content)
    assert [(r["ligne"], r["message"]) for r in rows if r["code"] == "R08"] == [("2", sentence), ("5", sentence)]
    # following the advice: one line for Martin, alone, in a new file → accepted
    again = RG_CSV.splitlines()[0] + "\n" + MARTIN + "\n"
    rows = run_one(area, "ESAT_81234567600017_RG_20251210_003.csv", again)
    assert [(r["statut"], r["code"]) for r in rows] == [("ACCEPTE", "")]


def test_an_rg_in_june_says_only_the_caf_can_help(area, tmp_path):
    sentence = (
        "La période de déclaration RG de l'année 2025 est close (fin février 2026) : le fichier ne peut plus "
        "être traité ici. Contactez votre Caf pour lui transmettre ces rémunérations."
    )
    _, text = check_cli(tmp_path, RG_NAME, RG_CSV, "csv", as_of="2026-06-15")
    assert [(r["code"], r["message"]) for r in cr_csv_rows(text)] == [("F05", sentence)]
    assert "Vérifiez l'année" not in text
    rows = run_one(area, RG_NAME, RG_CSV, as_of="2026-06-15")
    assert [(r["statut"], r["code"], r["message"]) for r in rows] == [("REJETE", "F05", sentence)]


def test_a_hidden_worker_is_declared_and_reaches_the_caf(area):
    run_one(area, XLSX_NAME, styled_workbook(RG_CSV, hidden=(3,)))
    assert "LEFÈVRE" in caf_rows(area)["nom"].to_list()


def test_html_quotes_the_sentence_once_per_line(tmp_path):
    _, page = check_cli(tmp_path, RG_NAME, RG_CSV + TOTAL_LINE + "\n", "html")
    assert html.escape("supprimez-la du fichier") in page
