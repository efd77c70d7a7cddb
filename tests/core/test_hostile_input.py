"""Hostile uploads answered with a code (issue 10): control characters, false encodings, attribute floods,
non-ASCII digits, and no message that ever quotes a NIR."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from lxml import etree

from exchange.core.compte_rendu.forms import cr_csv, cr_json, cr_schema, cr_text, cr_xml
from exchange.core.judge import judge
from exchange.core.reading.xml_reader import read_xml
from exchange.core.safe_text import safe_text
from schemas.catalogue import catalogue
from schemas.declaration import CA_COLUMNS, RG_COLUMNS, parse_file_name
from schemas.masking import mask_nirs_in
from tests.conftest import EXAMPLES

AS_OF = date(2025, 12, 15)
SEINE = EXAMPLES / "drop" / "esat-seine" / "depot"
HORIZON = EXAMPLES / "drop" / "horizon-paie" / "depot"
RG_CSV_NAME = "ESAT_81234567600017_RG_20251210_001.csv"
CA_CSV_NAME = "ESAT_81234567600017_CA_20251212_001.csv"
RG_XML_NAME = "ESAT_44306184100021_RG_20251211_001.xml"
RG_CSV = (SEINE / RG_CSV_NAME).read_bytes()
CA_CSV = (SEINE / CA_CSV_NAME).read_bytes()
RG_XML = (HORIZON / RG_XML_NAME).read_bytes()
NIR = "185057800608491"  # Martin's, in the example file


def judged(data: bytes, name: str):
    return judge(data, name, AS_OF, max_file_bytes=50 << 20, max_records=100_000)


def written_out(j) -> dict[str, str]:
    """Every form a compte rendu takes, as text; the XML one also validated against its XSD."""
    xml = cr_xml(j, AS_OF)
    assert cr_schema().validate(etree.fromstring(xml)), cr_schema().error_log
    report = json.loads(cr_json(j, AS_OF))
    as_json = " ".join([str(v) for v in report.values()] + [str(v) for a in report["anomalies"] for v in a.values()])
    return {
        "csv": cr_csv(j, AS_OF).decode("utf-8"),
        "xml": xml.decode("utf-8"),
        "json": as_json,
        "text": cr_text(j, AS_OF),
    }


# -- 1. control characters reach no compte rendu, page or log as they are ------------------------------


@pytest.mark.parametrize(
    "char, escape",
    [
        ("\x0b", "\\x0b"),
        ("\x1b", "\\x1b"),
        ("\x0c", "\\x0c"),
        ("\x85", "\\x85"),
        ("\u202e", "\\u202e"),
        ("\u2066", "\\u2066"),
        ("\ufffe", "\\ufffe"),
        ("\ud800", "\\ud800"),
    ],
)
def test_safe_text_shows_unsafe_characters_as_escapes(char, escape):
    assert safe_text(f"n{char}om") == f"n{escape}om"
    assert safe_text("ligne 1\nligne 2\tfin\r") == "ligne 1\\x0aligne 2\\x09fin\\x0d"
    assert safe_text("ligne 1\nligne 2", keep_lines=True) == "ligne 1\nligne 2"
    assert safe_text("Jérôme N'Diaye « ok » – €") == "Jérôme N'Diaye « ok » – €"


def test_vertical_tab_in_a_csv_header_gives_f03_in_every_compte_rendu():
    data = RG_CSV.replace(b"nom;", b"n\x0bom;", 1)
    j = judged(data, RG_CSV_NAME)
    assert (j.statut, j.file_code) == ("REJETE", "F03")
    for form, text in written_out(j).items():
        assert "\x0b" not in text, form
        assert "n\\x0bom" in text, form


def test_bidi_and_c1_controls_in_a_header_are_neutralised_for_terminals():
    data = RG_CSV.replace(b"nom;", "\x9b2J\u202enom;".encode(), 1)  # CSI (C1) and RIGHT-TO-LEFT OVERRIDE
    out = written_out(judged(data, RG_CSV_NAME))["text"]
    assert "\x9b" not in out and "\u202e" not in out
    assert "\\x9b2J\\u202enom" in out


# -- 4. an encoding Python knows but that is no character set: F01 -------------------------------------


@pytest.mark.parametrize(
    "encoding",
    [
        "rot13",
        "base64",
        "hex",
        "zlib",
        "punycode",
        "undefined",
        "bz2",
        "uu",
        "quopri",
        "idna",
        "unicode_escape",
        "raw_unicode_escape",
    ],
)
def test_xml_declaring_a_non_text_encoding_is_f01(encoding):
    data = RG_XML.replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode())
    j = judged(data, RG_XML_NAME)
    assert (j.statut, j.file_code) == ("REJETE", "F01")
    assert j.anomalies["message"][0] == (
        f"Le fichier est illisible (« {encoding} » n'est pas un encodage de caractères accepté) : envoyez un "
        "fichier CSV (séparateur « ; », UTF-8), un classeur .xlsx ou .ods, ou un fichier XML au format de la déclaration."
    )


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "ISO-8859-15", "windows-1252", "US-ASCII", "UTF-8"])
def test_real_character_sets_are_still_read(encoding):
    data = RG_XML.replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode())
    if encoding not in ("UTF-8",):
        data = data.decode("utf-8").encode(encoding, errors="xmlcharrefreplace")
    j = judged(data, RG_XML_NAME)
    assert j.statut == "ACCEPTE", j.anomalies.to_dicts()


# -- 5. an attribute flood on the root: F03 at once -----------------------------------------------------


@pytest.mark.parametrize("attribute", ['a{i}="x"', 'xmlns:p{i}="urn:p{i}"'])
def test_root_attribute_flood_is_f03(attribute):
    # 60 000 attributes (0.8 MB): before the bound, copying them took minutes while holding the cycle lock
    flood = " ".join(attribute.format(i=i) for i in range(60_000))
    data = RG_XML.replace(b'type="RG"', f'type="RG" {flood}'.encode())
    result = read_xml(data, "RG")
    assert result.frame is None
    [a] = result.anomalies
    assert (a.code, a.ligne) == ("F03", 2)
    assert "l'élément racine porte 60001" in a.message and "seul l'attribut type est attendu" in a.message


def test_a_root_with_its_usual_attributes_is_read():
    data = RG_XML.replace(
        b'type="RG"',
        b'type="RG" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:schemaLocation="urn:esat:declaration:v1 declaration-v1.xsd"',
    )
    assert read_xml(data, "RG").frame["nom"].to_list() == ["Santoni", "Dubois"]


# -- 7. names: ASCII digits only ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "ESAT_81234567600017_RG_٢٠٢٥١٢١٠_001.csv",  # Arabic-Indic date
        "ESAT_81234567600017_RG_20251210_００１.csv",  # fullwidth sequence number
        "ESAT_８１２３４５６７６０００１７_RG_20251210_001.csv",  # fullwidth SIRET
        "ESAT_81234567600017_RG_۲۰۲۵۱۲۱۰_001.csv",  # extended Arabic-Indic
        "ESAT_81234567600017_RG_20251210_001.csv\n",
    ],
)
def test_non_ascii_digits_in_a_name_are_f02(name):
    assert parse_file_name(name) is None
    j = judged(RG_CSV, name)
    assert (j.statut, j.file_code) == ("REJETE", "F02")


# -- 8. no message ever quotes a NIR ------------------------------------------------------------------------


def nir_free(text: str, nir: str = NIR) -> bool:
    """True when neither the NIR nor its first 13 characters appear, even split by separators."""
    squeezed = re.sub(r"[^0-9A-Za-z]", "", text)
    return nir[:13] not in text and nir[:13] not in squeezed


def test_a_forgotten_header_does_not_quote_the_first_record():
    data = b"\n".join(RG_CSV.split(b"\n")[1:])
    j = judged(data, RG_CSV_NAME)
    assert (j.statut, j.file_code) == ("REJETE", "F03")
    assert j.anomalies["message"].to_list() == [
        "La ligne d'en-tête est absente : la première ligne ne contient aucun nom de colonne de la déclaration. "
        "Ajoutez la ligne d'en-tête (voir le format de la déclaration) et renvoyez le fichier."
    ]
    for form, text in written_out(j).items():
        assert nir_free(text) and "Martin" not in text and "12/05/1985" not in text, form


@pytest.mark.parametrize("key", sorted(catalogue()), ids=lambda k: f"{k[0]}-{k[1] or '_'}")
def test_every_catalogue_message_masks_a_nir_in_its_fields(key):
    rule = catalogue()[key]
    for value in (NIR, NIR[:13], f"x{NIR}y", f"nom;{NIR};Martin", "178022A01234583"):
        message = rule.render(champ=value, detail=value)
        assert nir_free(message, value if value[0].isdigit() else NIR), message
    assert mask_nirs_in(f"a {NIR} b") == "a 18505********91 b"
    assert mask_nirs_in("1780225A01234583") == "1780225A01234583"  # not NIR-shaped (16 characters)


def _with_value(header: bytes, line: bytes, column: str, value: str, *, in_header: bool = False) -> bytes:
    names = header.decode().rstrip("\r").split(";")
    cells = line.decode().rstrip("\r").split(";")
    cells[names.index(column)] = value
    if in_header:
        names[names.index(column)] = value
    return ";".join(names).encode() + b"\n" + ";".join(cells).encode() + b"\n"


@pytest.mark.parametrize("kind, column", [("RG", c) for c in RG_COLUMNS] + [("CA", c) for c in CA_COLUMNS])
def test_a_nir_in_any_field_is_never_quoted_by_a_message(kind, column):
    """A NIR-shaped value (of another person) put in each field: every message of every code it triggers
    leaves it masked; the NIR column itself is only ever shown masked."""
    other = "292027512345620"
    source, name = (RG_CSV, RG_CSV_NAME) if kind == "RG" else (CA_CSV, CA_CSV_NAME)
    header, first = source.split(b"\n")[:2]
    for in_header in (False, True):
        j = judged(_with_value(header, first, column, other, in_header=in_header), name)
        if in_header:
            assert j.file_code == "F03"
        for message in j.anomalies["message"]:
            assert nir_free(message, other), message
        for form, text in written_out(j).items():
            assert nir_free(text, other), (form, text)


def test_a_header_flood_is_f03_at_once():
    # found by the fuzz: a million `;` before the header took minutes (a frame of a million columns)
    data = b";" * 1_000_000 + RG_CSV
    j = judged(data, RG_CSV_NAME)
    assert (j.statut, j.file_code) == ("REJETE", "F03")
    assert j.anomalies["message"][0].startswith(
        "Colonne inconnue dans la ligne d'en-tête : 1000020 colonnes (au plus 256)."
    )


def test_a_namespace_uri_lxml_refuses_is_f03():
    # found by the fuzz: libxml2 parses it, lxml refuses to build an element with it (was a ValueError)
    data = RG_XML.replace(b'xmlns="urn:esat:declaration:v1"', 'xmlns="\u0101urn:esat:declaration:v1"'.encode())
    [a] = read_xml(data, "RG").anomalies
    assert a.code == "F03" and "nom d'élément ou espace de noms invalide" in a.message


def test_nirs_glued_together_in_a_header_are_masked():
    # found by the fuzz: a NIR glued to digits escaped the NIR-shaped pattern and was quoted
    data = CA_CSV.replace(b"siret_esat;", f"x{NIR}{NIR}siret_esat;".encode(), 1)
    j = judged(data, CA_CSV_NAME)
    assert j.file_code == "F03"
    for form, text in written_out(j).items():
        assert NIR not in text and NIR[:13] not in text, form
    assert mask_nirs_in(f"{NIR}{NIR}") == "18505********"
    assert mask_nirs_in("SIRET 81234567600017") == "SIRET 81234567600017"


def test_root_attribute_flood_followed_by_a_syntax_error_is_still_bounded():
    # found by the fuzz: the sniffer stopped on the later error, and the root was copied unchecked
    flood = " ".join(f'a{i}="x"' for i in range(70_000))
    data = RG_XML.replace(b'type="RG"', f'type="RG" {flood}'.encode()).replace(b"</nom>", b"</nomx>", 1)
    [a] = read_xml(data, "RG").anomalies
    assert a.code == "F03" and "l'élément racine porte 70001 attributs" in a.message


@pytest.mark.parametrize(
    "nir, masked",
    [
        ("1\x0b85057800608491", "*****"),
        ("18505 7800608491", "*****"),
        ("185057", "*****"),
        ("1850", "****"),
        ("é85057800608491", "*****"),
        ("178022A01234583", "17802********83"),
        ("", ""),
    ],
)
def test_a_masked_nir_always_has_the_compte_rendu_form(nir, masked):
    # found by the fuzz: a control character inside the NIR made the CR XML invalid against its XSD
    from schemas.masking import mask_nir

    assert mask_nir(nir) == masked
    assert re.fullmatch(r"[0-9A-Za-z*]{0,5}(\*{8}[0-9A-Za-z]{2})?", mask_nir(nir))


@pytest.mark.parametrize("encoding", ["rot13", "base64", "punycode", "undefined"])
def test_check_answers_f01_for_a_non_text_encoding(tmp_path, encoding):
    import contextlib
    import io

    from exchange.cli.main import main

    path = tmp_path / RG_XML_NAME
    path.write_bytes(RG_XML.replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode()))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", str(path), "--as-of", "2025-12-15", "--format", "json"])
    assert code == 1 and err.getvalue() == ""
    report = json.loads(out.getvalue())
    assert report["statut"] == "REJETE" and [a["code"] for a in report["anomalies"]] == ["F01"]
