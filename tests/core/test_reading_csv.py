"""Reading CSV declarations: columns, header rules, quoting, encodings, exact line numbers."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core.reading import read_declaration
from exchange.core.reading.csv_reader import read_csv
from schemas.declaration import CA_COLUMNS, RG_COLUMNS, columns, parse_file_name
from tests.conftest import EXAMPLES

DEPOT = EXAMPLES / "drop" / "esat-seine" / "depot"
RG_HEADER = ";".join(RG_COLUMNS)
CA_HEADER = ";".join(CA_COLUMNS)
# One valid RG line (no cumul), fields in RG_COLUMNS order.
RG_LINE = "81234567600017;750012345;2025;185057800608491;Martin;Jérôme;12/05/1985;1234567;78;01/09/2010;100;862,35;150,12;712,23;N;;;;;"


def rg(*lines: str, header: str = RG_HEADER, eol: str = "\n") -> bytes:
    return eol.join([header, *lines]).encode("utf-8")


def only(result):
    assert result.frame is None
    assert len([a for a in result.anomalies if a.blocking]) == 1
    return result.blocking


def test_example_rg_reads_exact_values():
    name = "ESAT_81234567600017_RG_20251210_001.csv"
    result = read_declaration((DEPOT / name).read_bytes(), parse_file_name(name))
    assert result.anomalies == [] and result.encoding == "utf-8"
    frame = result.frame
    assert frame.columns == ["ligne", *RG_COLUMNS]
    assert frame.schema["ligne"] == pl.Int64
    assert all(frame.schema[c] == pl.String for c in RG_COLUMNS)
    assert frame["ligne"].to_list() == [2, 3, 4]
    assert frame["nom"].to_list() == ["Martin", "Lefèvre", "N'Diaye"]
    assert frame["numero_allocataire"].to_list() == ["1234567", None, "0456789"]
    last = frame.row(2, named=True)
    assert last["cumul_milieu_ordinaire"] == "O"
    assert (
        last["siret_employeur_mo"],
        last["type_contrat_mo"],
        last["date_debut_mo"],
        last["heures_hebdo_mo"],
        last["salaire_net_mo"],
    ) == ("30012345200157", "CDI", "2024-02-01", "14", "612,50")
    assert frame.row(0, named=True)["salaire_net_mo"] is None


def test_example_ca_reads_exact_values():
    name = "ESAT_81234567600017_CA_20251212_001.csv"
    result = read_declaration((DEPOT / name).read_bytes(), parse_file_name(name))
    assert result.anomalies == []
    frame = result.frame
    assert frame.columns == ["ligne", *CA_COLUMNS]
    assert frame["type_changement"].to_list() == ["HAUSSE_TAUX", "DEPART", "DEBUT_CUMUL_MO"]
    assert frame["motif_depart"].to_list() == [None, "ORIENTATION_MILIEU_ORDINAIRE", None]
    assert frame.row(2, named=True)["heures_hebdo_mo"] == "7"
    assert frame["ligne"].to_list() == [2, 3, 4]


def test_header_is_case_insensitive_trimmed_and_in_any_order():
    cols = list(reversed(RG_COLUMNS))
    header = ";".join(f"  {c.upper()} " for c in cols)
    values = list(reversed(RG_LINE.split(";")))
    result = read_csv(rg(";".join(values), header=header), "RG")
    assert result.anomalies == []
    assert result.frame.columns == ["ligne", *RG_COLUMNS]
    assert result.frame.row(0, named=True)["nir"] == "185057800608491"
    assert result.frame.row(0, named=True)["siret_esat"] == "81234567600017"


def test_optional_and_conditional_columns_may_be_absent():
    kept = [
        c
        for c in CA_COLUMNS
        if c in {"siret_esat", "nir", "nom", "prenoms", "date_naissance", "code_caf", "type_changement", "date_effet"}
    ]
    line = "81234567600017;185057800608491;Martin;Jérôme;12/05/1985;78;FIN_CUMUL_MO;2026-01-05"
    result = read_csv(";".join(kept).encode() + b"\n" + line.encode(), "CA")
    assert result.anomalies == []
    row = result.frame.row(0, named=True)
    assert row["type_changement"] == "FIN_CUMUL_MO"
    assert row["numero_allocataire"] is None and row["motif_depart"] is None
    assert result.frame.columns == ["ligne", *CA_COLUMNS]


def test_values_are_trimmed_and_empty_is_null():
    line = RG_LINE.replace("Martin", "  Martin \t").replace("1234567", "   ")
    row = read_csv(rg(line), "RG").frame.row(0, named=True)
    assert row["nom"] == "Martin"
    assert row["numero_allocataire"] is None
    assert row["siret_employeur_mo"] is None


def test_missing_required_columns_named_in_column_order():
    header = ";".join(c for c in RG_COLUMNS if c not in {"nom", "code_caf"})
    line = ";".join(v for c, v in zip(RG_COLUMNS, RG_LINE.split(";")) if c not in {"nom", "code_caf"})
    a = only(read_csv(rg(line, header=header), "RG"))
    assert (a.code, a.ligne) == ("F03", None)
    assert "Colonne obligatoire absente de la ligne d'en-tête : nom, code_caf." in a.message


def test_unknown_column_is_named_as_written():
    a = only(read_csv(rg(RG_LINE + ";x", header=RG_HEADER + "; Commentaire "), "RG"))
    assert a.code == "F03"
    assert "Colonne inconnue dans la ligne d'en-tête : Commentaire." in a.message


def test_typo_reports_the_unknown_name_rather_than_the_missing_one():
    a = only(read_csv(rg(RG_LINE, header=RG_HEADER.replace(";nom;", ";nomm;")), "RG"))
    assert "Colonne inconnue dans la ligne d'en-tête : nomm." in a.message


def test_repeated_column():
    a = only(read_csv(rg(RG_LINE + ";Martin", header=RG_HEADER + ";NOM"), "RG"))
    assert a.code == "F03"
    assert "Colonne présente deux fois dans la ligne d'en-tête : nom." in a.message


def test_a_ca_column_in_an_rg_file_is_unknown():
    a = only(read_csv(rg(RG_LINE + ";DEPART", header=RG_HEADER + ";type_changement"), "RG"))
    assert "Colonne inconnue dans la ligne d'en-tête : type_changement." in a.message


@pytest.mark.parametrize("quoted", [False, True])
def test_field_count_differs_from_header(quoted):
    short = ";".join(RG_LINE.split(";")[:12])
    first = RG_LINE.replace("Martin", '"Martin"') if quoted else RG_LINE
    a = only(read_csv(rg(first, "", RG_LINE, short, RG_LINE + ";"), "RG"))
    assert (a.code, a.ligne) == ("F03", 5)
    assert "(12 champs au lieu de 20)" in a.message


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_line_endings(eol):
    frame = read_csv(rg(RG_LINE, RG_LINE.replace("Martin", "Durand"), eol=eol), "RG").frame
    assert frame["ligne"].to_list() == [2, 3]
    assert frame["nom"].to_list() == ["Martin", "Durand"]


@pytest.mark.parametrize("quoted", [False, True])
def test_blank_lines_count_but_make_no_record(quoted):
    first = RG_LINE.replace("Jérôme", '"Jérôme"') if quoted else RG_LINE
    data = rg("", first, "   ", ";;;;;;;;;;;;;;;;;;;", " ; ;", RG_LINE.replace("Martin", "Durand"), "", "")
    frame = read_csv(data, "RG").frame
    assert frame["ligne"].to_list() == [3, 7]
    assert frame["nom"].to_list() == ["Martin", "Durand"]


def test_blank_lines_before_the_header():
    frame = read_csv(b"\n\n" + rg(RG_LINE), "RG").frame
    assert frame["ligne"].to_list() == [4]


def test_rfc4180_quoting():
    line = RG_LINE.replace("Martin", '"Martin; dit ""le Grand"""').replace("Jérôme", 'Jé"rô"me')
    row = read_csv(rg(line), "RG").frame.row(0, named=True)
    assert row["nom"] == 'Martin; dit "le Grand"'
    assert row["prenoms"] == 'Jé"rô"me'  # a quote inside an unquoted field is an ordinary character


def test_quote_inside_unquoted_field_without_any_quoted_field():
    row = read_csv(rg(RG_LINE.replace("Martin", "O'Hara 5\"")), "RG").frame.row(0, named=True)
    assert row["nom"] == "O'Hara 5\""


def test_quoted_field_spanning_lines_gets_its_first_line():
    multi = RG_LINE.replace("Jérôme", '"Jérôme\nPaul\r\nLouis"')
    frame = read_csv(rg(RG_LINE, multi, "", RG_LINE.replace("Martin", "Durand")), "RG").frame
    assert frame["ligne"].to_list() == [2, 3, 7]
    assert frame["prenoms"][1] == "Jérôme\nPaul\r\nLouis"


def test_unclosed_quote_is_a_field_count_fault_on_its_line():
    broken = RG_LINE.replace("Martin", '"Martin')
    a = only(read_csv(rg(RG_LINE, broken, RG_LINE, RG_LINE), "RG"))
    assert (a.code, a.ligne) == ("F03", 3)


def test_unnamed_trailing_column_without_values_is_tolerated():
    frame = read_csv(rg(RG_LINE + ";", RG_LINE + "; ", header=RG_HEADER + ";"), "RG").frame
    assert frame.height == 2 and frame.columns == ["ligne", *RG_COLUMNS]


def test_unnamed_column_with_values_is_refused():
    a = only(read_csv(rg(RG_LINE + ";", RG_LINE + ";oubli", header=RG_HEADER + ";"), "RG"))
    assert a.code == "F03"
    assert "colonne n° 21 sans nom" in a.message


def test_header_without_records():
    a = only(read_csv(rg("", "  ", ";;;"), "RG"))
    assert (a.code, a.ligne) == ("F01", None)
    assert a.message.startswith("Le fichier ne contient aucun enregistrement")


def test_windows_1252_is_read_with_w07():
    data = rg(RG_LINE).decode().encode("cp1252")
    result = read_csv(data, "RG")
    assert result.encoding == "windows-1252"
    assert [a.code for a in result.anomalies] == ["W07"]
    assert result.anomalies[0].ligne is None
    assert result.frame["prenoms"].to_list() == ["Jérôme"]


def test_windows_1252_with_a_refused_header_keeps_w07():
    data = rg(RG_LINE + ";x", header=RG_HEADER + ";Intitulé").decode().encode("cp1252")
    result = read_csv(data, "RG")
    assert result.frame is None
    assert [a.code for a in result.anomalies] == ["F03", "W07"]
    assert "Intitulé" in result.blocking.message


def test_neither_utf8_nor_windows_1252():
    data = rg(RG_LINE).replace(b"Martin", b"Mar\x81tin\xe9")
    a = only(read_csv(data, "RG"))
    assert a.code == "F01"
    assert "ni UTF-8 ni Windows-1252" in a.message
    assert read_csv(data, "RG").encoding == ""


def test_utf8_bom_is_not_part_of_the_first_column():
    result = read_csv(b"\xef\xbb\xbf" + rg(RG_LINE, eol="\r\n"), "RG")
    assert result.encoding == "utf-8-sig" and result.anomalies == []
    assert result.frame["siret_esat"].to_list() == ["81234567600017"]


def test_utf16_spreadsheet_export_is_unreadable():
    a = only(read_csv(b"\xff\xfe" + rg(RG_LINE).decode().encode("utf-16-le"), "RG"))
    assert a.code == "F01" and "UTF-16" in a.message


def test_100000_records_keep_their_lines():
    data = rg(*([RG_LINE] * 100_000))
    frame = read_csv(data, "RG").frame
    assert frame.height == 100_000
    assert frame["ligne"][0] == 2 and frame["ligne"][-1] == 100_001
    assert frame["nom"].unique().to_list() == ["Martin"]


FIELD = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters=';"\u0085'), max_size=8
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(FIELD, min_size=8, max_size=8), min_size=1, max_size=5))
def test_plain_and_quoted_readings_agree(records):
    """The vectorised path (no quote in the file) and csv.reader give the same frame."""
    names = ["siret_esat", "nir", "nom", "prenoms", "date_naissance", "code_caf", "type_changement", "date_effet"]
    lines = [";".join(r) for r in records]
    plain = read_csv("\n".join([";".join(names), *lines]).encode(), "CA")
    quoted = read_csv("\n".join(['"siret_esat"' + ";".join([""] + names[1:]), *lines]).encode(), "CA")
    assert plain.anomalies == quoted.anomalies
    if plain.frame is None:
        assert quoted.frame is None
    else:
        assert plain.frame.equals(quoted.frame)
        expected = [[v.strip() or None for v in r] for r in records if "".join(r).strip()]
        assert [[row[c] for c in names] for row in plain.frame.iter_rows(named=True)] == expected


LARGE_CASES = {
    "example": rg(RG_LINE, RG_LINE.replace("Martin", " Dubois\u3000"), eol="\r\n"),
    "blank_lines_and_cr": ("\n\n" + RG_HEADER + "\r;;;;\r" + RG_LINE + "\r\n \t\n" + RG_LINE).encode(),
    "white_space_cells": rg(RG_LINE.replace("Martin", "\xa0\x85").replace(";N;", "; N\t;")),
    "unnamed_columns_empty": rg(RG_LINE + ";; ", header=RG_HEADER + ";;"),
    "unnamed_column_with_value": rg(RG_LINE + ";;x", RG_LINE + ";;", header=RG_HEADER + ";;"),
    "field_count": rg(RG_LINE, RG_LINE + ";x", RG_LINE[:-1]),
    "header_only": rg(),
    "all_blank": b";;;\n \n",
    "typo": rg(RG_LINE, header=RG_HEADER.replace("nom;", "nomm;")),
    "windows_1252": rg(RG_LINE).decode().encode("cp1252"),
}


@pytest.mark.parametrize("case", sorted(LARGE_CASES))
def test_python_and_vectorised_plain_readings_agree(case, monkeypatch):
    """A plain CSV past LARGE_LINES lines is read with polars (csv_large): both readings give the same result."""
    import exchange.core.reading.csv_reader as csv_reader

    small = read_csv(LARGE_CASES[case], "RG")
    monkeypatch.setattr(csv_reader, "LARGE_LINES", 0)
    large = read_csv(LARGE_CASES[case], "RG")
    assert (small.anomalies, small.encoding) == (large.anomalies, large.encoding)
    assert (small.frame is None) == (large.frame is None)
    if small.frame is not None:
        assert small.frame.schema == large.frame.schema and small.frame.equals(large.frame)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(FIELD | st.sampled_from(["", " ", "\u3000x\xa0", "\t"]), min_size=7, max_size=9),
        min_size=1,
        max_size=5,
    )
)
def test_python_and_vectorised_plain_readings_agree_on_any_cells(records):
    import exchange.core.reading.csv_reader as csv_reader

    names = ["siret_esat", "nir", "nom", "prenoms", "date_naissance", "code_caf", "type_changement", "date_effet"]
    data = "\n".join([";".join(names), *(";".join(r) for r in records)]).encode()
    small = read_csv(data, "CA")
    saved, csv_reader.LARGE_LINES = csv_reader.LARGE_LINES, 0
    try:
        large = read_csv(data, "CA")
    finally:
        csv_reader.LARGE_LINES = saved
    assert small.anomalies == large.anomalies
    assert (small.frame is None and large.frame is None) or small.frame.equals(large.frame)


def test_columns_helper_matches_frame():
    frame = read_csv(rg(RG_LINE), "RG").frame
    assert tuple(frame.columns[1:]) == columns("RG")
