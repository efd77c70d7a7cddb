"""Each mistake a payroll clerk makes (issue 12), fed through `check` and through `run`: the exact French
sentence (field label, value found, fix) in the compte rendu's CSV, XML and HTML forms."""

from __future__ import annotations

import csv
import html
import io
import shutil
from pathlib import Path

import pytest
from lxml import etree

from exchange.cli.main import main
from exchange.core.compte_rendu.forms import cr_schema
from tests.areas import cli, seed_examples
from tests.clerk import HORIZON, MARTIN, RG_CSV, RG_NAME, RG_XML, SEINE, martin
from tests.conftest import EXAMPLES
from tests.xlsx_files import workbook

NS = "{urn:esat:compte-rendu:v1}"
# (account, file name, content, statut, line, code, nom, exact French sentence)
CASES = [
    pytest.param(
        SEINE,
        RG_NAME,
        martin(date_naissance="31/02/1985"),
        "PARTIEL",
        "2",
        "R04",
        "Martin",
        "Le champ date de naissance (colonne date_naissance) vaut « 31/02/1985 », une date qui n'existe "
        "pas (février 1985 n'a que 28 jours) : corrigez le jour ou le mois.",
        id="jour-impossible",
    ),
    pytest.param(
        SEINE,
        RG_NAME,
        martin(date_naissance="23/11/90"),
        "PARTIEL",
        "2",
        "R04",
        "Martin",
        "Le champ date de naissance (colonne date_naissance) vaut « 23/11/90 » : l'année est écrite sur "
        "2 chiffres, il en faut 4 (JJ/MM/AAAA, par exemple 23/11/1990). Dans le tableur, mettez la colonne au format "
        "de date JJ/MM/AAAA avant d'enregistrer le CSV (sinon il l'écrit de nouveau ainsi), ou envoyez directement "
        "le classeur .xlsx ou .ods.",
        id="annee-2-chiffres",
    ),
    pytest.param(
        SEINE,
        RG_NAME,
        martin(remuneration_garantie_nette="1 862,35"),
        "PARTIEL",
        "2",
        "R06",
        "Martin",
        "Le champ rémunération garantie nette (colonne remuneration_garantie_nette) vaut « 1 862,35 » : "
        "le montant contient un séparateur de milliers ; il s'écrit sans espace ni point entre les "
        "milliers (par exemple 1862,35). Dans le tableur, mettez la colonne au format Nombre sans séparateur de "
        "milliers avant d'enregistrer le CSV (sinon il l'écrit de nouveau ainsi), ou envoyez directement le "
        "classeur .xlsx ou .ods.",
        id="separateur-milliers",
    ),
    pytest.param(
        SEINE,
        RG_NAME,
        martin(remuneration_garantie_nette="1\u00a0862,35"),
        "PARTIEL",
        "2",
        "R06",
        "Martin",
        "Le champ rémunération garantie nette (colonne remuneration_garantie_nette) vaut « 1\u00a0862,35 » : "
        "le montant contient une espace insécable ou fine (que le tableur ajoute entre les milliers) ; "
        "il s'écrit sans espace (par exemple 1862,35). Dans le tableur, mettez la colonne au format Nombre sans "
        "séparateur de milliers avant d'enregistrer le CSV (sinon il l'écrit de nouveau ainsi), ou envoyez "
        "directement le classeur .xlsx ou .ods.",
        id="espace-insecable",
    ),
    pytest.param(
        SEINE,
        RG_NAME,
        martin(part_financee_esat_nette="150,12 €"),
        "PARTIEL",
        "2",
        "R06",
        "Martin",
        "Le champ part financée par l'Esat (colonne part_financee_esat_nette) vaut « 150,12 € » : le montant "
        "s'écrit sans symbole monétaire (ni « € » ni « EUR »), par exemple 150,12. Dans le tableur, mettez la "
        "colonne au format Nombre (et non Monétaire) avant d'enregistrer le CSV (sinon il l'écrit de nouveau "
        "ainsi), ou envoyez directement le classeur .xlsx ou .ods.",
        id="symbole-euro",
    ),
    pytest.param(
        SEINE,
        RG_NAME,
        martin(taux_activite_esat="100 %"),
        "PARTIEL",
        "2",
        "R05",
        "Martin",
        "Le champ taux d'activité à l'Esat (colonne taux_activite_esat) vaut « 100 % » : le taux s'écrit "
        "sans le signe %, par exemple 80 ou 62,5. Dans le tableur, mettez la colonne au format Nombre (et non "
        "Pourcentage) avant d'enregistrer le CSV (sinon il l'écrit de nouveau ainsi), ou envoyez directement le "
        "classeur .xlsx ou .ods.",
        id="taux-pourcent",
    ),
    pytest.param(
        SEINE,
        RG_NAME,
        martin(siret_esat="8,12346E+13"),
        "REJETE",
        "",
        "F06",
        "",
        "Le SIRET de l'Esat (colonne siret_esat) s'affiche « 8,12346E+13 » : le tableur l'a converti en "
        "nombre en notation scientifique et a perdu des chiffres. Mettez la colonne au format Texte, "
        "saisissez à nouveau les 14 chiffres (ceux du nom du fichier sont 81234567600017) et renvoyez le "
        "fichier.",
        id="notation-scientifique",
    ),
    pytest.param(
        SEINE,
        RG_NAME,
        RG_CSV.replace(";", ","),
        "REJETE",
        "",
        "F03",
        "",
        "La ligne d'en-tête est séparée par des virgules (siret_esat,finess_esat,annee_reference,nir,nom,"
        "prenoms,date_…) : le fichier a été exporté en CSV avec la virgule comme séparateur. "
        "Enregistrez-le au format « CSV (séparateur : point-virgule) » ou envoyez directement le classeur .xlsx ou .ods.",
        id="export-virgule",
    ),
    pytest.param(
        SEINE,
        RG_NAME,
        RG_CSV.replace(MARTIN, "81234567600017"),
        "REJETE",
        "2",
        "F03",
        "",
        "Le nombre de champs de cette ligne (1 champ au lieu de 20) ne correspond pas à l'en-tête : "
        "vérifiez les séparateurs « ; » et les guillemets.",
        id="un-champ",
    ),
    pytest.param(
        SEINE,
        "ESAT_81234567600017_RG_20251210_002.ods",
        b"PK\x03\x04 ods",
        "REJETE",
        "",
        "F01",
        "",
        "Le classeur n'a pas pu être ouvert (le fichier est endommagé) : enregistrez-le au format .xlsx ou "
        ".ods (sans macro ni mot de passe) ou CSV, puis renvoyez-le.",
        id="ods-illisible",
    ),
    pytest.param(
        SEINE,
        "ESAT_81234567600017_RG_20251210_002.xls",
        b"\xd0\xcf\x11\xe0",
        "REJETE",
        "",
        "F02",
        "",
        "Le fichier « ESAT_81234567600017_RG_20251210_002.xls » est un classeur Excel 97-2003 (.xls), qui "
        "n'est pas accepté : enregistrez le classeur au format .xlsx ou .ods, ou CSV (séparateur « ; »), puis "
        "renvoyez-le.",
        id="xls",
    ),
    pytest.param(
        HORIZON,
        "ESAT_44306184100021_RG_20251211_002.xml",
        RG_XML.replace("<dateNaissance>1978-02-14</dateNaissance>", "<dateNaissance>1978-02-30</dateNaissance>"),
        "PARTIEL",
        "5",
        "R04",
        "Santoni",
        "Le champ date de naissance (élément <dateNaissance>) vaut « 1978-02-30 », une date qui n'existe "
        "pas (février 1978 n'a que 28 jours) : corrigez le jour ou le mois.",
        id="xml-jour-impossible",
    ),
    pytest.param(
        HORIZON,
        "ESAT_44306184100021_RG_20251211_002.xml",
        RG_XML.replace("<prenoms>Paul</prenoms>", "<prenom>Paul</prenom>"),
        "REJETE",
        "8",
        "F03",
        "",
        "Le fichier XML n'est pas conforme au schéma de la déclaration, ligne 8 : l'élément <prenom> n'est "
        "pas attendu à cet endroit (attendu : <prenoms>). Vérifiez son nom et sa place, puis renvoyez le "
        "fichier.",
        id="xml-element-inattendu",
    ),
    pytest.param(
        SEINE,
        "ESAT_81234567600017_RG_20251210_002.xlsx",
        workbook(RG_CSV, {(2, "date_naissance"): "31/02/1985"}),
        "PARTIEL",
        "2",
        "R04",
        "Martin",
        "Le champ date de naissance (colonne date_naissance, G) vaut « 31/02/1985 », une date qui n'existe "
        "pas (février 1985 n'a que 28 jours) : corrigez le jour ou le mois.",
        id="xlsx-jour-impossible",
    ),
]


def cr_csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))


def assert_in_every_form(
    csv_text: str, xml_bytes: bytes | None, html_text: str, statut: str, ligne: str, code: str, nom: str, sentence: str
) -> None:
    rows = [r for r in cr_csv_rows(csv_text) if r["code"] == code]
    assert [(r["statut"], r["ligne"], r["nom"], r["message"]) for r in rows] == [(statut, ligne, nom, sentence)]
    assert "n°" not in sentence and "Element '" not in sentence
    if xml_bytes is not None:
        root = etree.fromstring(xml_bytes)
        assert cr_schema().validate(root), cr_schema().error_log
        found = [a for a in root.findall(f"{NS}anomalie") if a.get("code") == code]
        assert [(a.get("ligne") or "", a.get("nom") or "", a.text) for a in found] == [(ligne, nom, sentence)]
    assert html.escape(sentence) in html_text
    assert "<script" not in html_text.lower()


def run_check(tmp_path: Path, name: str, content: str | bytes, fmt: str) -> tuple[int, str]:
    path = tmp_path / "check" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        code = main(["check", str(path), "--as-of", "2025-12-15", "--format", fmt])
    return code, out.getvalue()


@pytest.mark.parametrize("account,name,content,statut,ligne,code,nom,sentence", CASES)
def test_check_gives_the_sentence(tmp_path, account, name, content, statut, ligne, code, nom, sentence):
    exit_csv, csv_text = run_check(tmp_path, name, content, "csv")
    exit_html, html_text = run_check(tmp_path, name, content, "html")
    assert exit_csv == exit_html == 1
    assert_in_every_form(csv_text, None, html_text, statut, ligne, code, nom, sentence)
    _, text = run_check(tmp_path, name, content, "text")
    assert sentence in text


@pytest.fixture
def area(tmp_path):
    seed_examples(tmp_path)
    code, out, err = cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))
    assert code == 0, out + err
    for account in (SEINE, HORIZON):
        shutil.rmtree(tmp_path / "drop" / account / "depot")
        (tmp_path / "drop" / account / "depot").mkdir()
    return tmp_path


@pytest.mark.parametrize("account,name,content,statut,ligne,code,nom,sentence", CASES)
def test_run_writes_the_sentence_in_csv_xml_and_html(area, account, name, content, statut, ligne, code, nom, sentence):
    (area / "drop" / account / "depot" / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    exit_code, out, err = cli(area, "run", "--as-of", "2025-12-15")
    assert exit_code == 0, out + err
    retour = area / "drop" / account / "retour"
    assert_in_every_form(
        (retour / f"{name}.CR.csv").read_bytes().decode("utf-8"),
        (retour / f"{name}.CR.xml").read_bytes(),
        (retour / f"{name}.CR.html").read_text(encoding="utf-8"),
        statut,
        ligne,
        code,
        nom,
        sentence,
    )


def test_partiel_says_what_to_send_next(area):
    name = RG_NAME
    (area / "drop" / SEINE / "depot" / name).write_text(martin(date_naissance="31/02/1985"), encoding="utf-8")
    assert cli(area, "run", "--as-of", "2025-12-15")[0] == 0
    rows = cr_csv_rows((area / "drop" / SEINE / "retour" / f"{name}.CR.csv").read_text(encoding="utf-8"))
    expected = (
        "Corrigez la ligne rejetée et envoyez-la seule dans un nouveau fichier (nouveau numéro d'ordre) : "
        "les lignes acceptées sont déjà transmises à la Caf, et une ligne renvoyée pour un salarié déjà "
        "accepté remplace la précédente (W05)."
    )
    assert {r["que_faire"] for r in rows} == {expected}
    assert {r["synthese"] for r in rows} == {"1 anomalie bloquante (R04 : 1)."}
    page = (area / "drop" / SEINE / "retour" / f"{name}.CR.html").read_text(encoding="utf-8")
    assert html.escape(expected) in page and "1 enregistrement rejeté" not in page
    assert "3 enregistrements reçus, 2 acceptés, 1 rejeté" in page


def test_french_plural_rules():
    from schemas.fields import plural

    assert [plural(n, "champ", "champs") for n in (0, 1, 2)] == ["0 champ", "1 champ", "2 champs"]


def test_run_summary_agrees_in_number(area):
    (area / "drop" / SEINE / "depot" / RG_NAME).write_text(
        RG_CSV.splitlines()[0] + "\n" + MARTIN.replace("12/05/1985", "31/02/1985") + "\n", encoding="utf-8"
    )
    code, out, err = cli(area, "run", "--as-of", "2025-12-15")
    assert code == 0, out + err
    assert "Enregistrements : 1 reçu, 0 accepté, 1 rejeté." in out
