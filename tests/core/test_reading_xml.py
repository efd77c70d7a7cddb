"""Reading XML declarations: the examples, the XSD (structure only), types, lines, streaming in chunks."""

from __future__ import annotations

import pytest

from exchange.core.reading import read_declaration
from exchange.core.reading.xml_reader import CHUNK_RECORDS, declaration_schema, read_xml
from schemas.declaration import CA_COLUMNS, RG_COLUMNS, parse_file_name
from tests.conftest import EXAMPLES

DEPOT = EXAMPLES / "drop" / "horizon-paie" / "depot"
RG_NAME = "ESAT_44306184100021_RG_20251211_001.xml"
CA_NAME = "ESAT_44306184100021_CA_20251212_001.xml"

SALARIE = """  <salarie>
    <nir>288076912345670</nir>
    <nom>{nom}</nom>
    <prenoms>Claire</prenoms>
    <dateNaissance>1988-07-30</dateNaissance>
    <codeCaf>69</codeCaf>
    <dateEntreeEsat>2012-09-17</dateEntreeEsat>
    <tauxActiviteEsat>50</tauxActiviteEsat>
    <remunerationGarantieNette>431.18</remunerationGarantieNette>
    <partFinanceeEsatNette>75.06</partFinanceeEsatNette>
    <aideAuPosteNette>356.12</aideAuPosteNette>
  </salarie>
"""  # 12 lines


def rg_doc(
    *records: str,
    head: str = "  <siretEsat>44306184100021</siretEsat>\n  <anneeReference>2025</anneeReference>\n",
    type_: str = "RG",
) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<declaration xmlns="urn:esat:declaration:v1" type="{type_}">\n'
        + head
        + "".join(records)
        + "</declaration>\n"
    ).encode("utf-8")


def refusal(result):
    assert result.frame is None
    assert len(result.anomalies) == 1
    return result.anomalies[0]


def test_both_examples_validate_against_the_xsd():
    from lxml import etree

    for name in (RG_NAME, CA_NAME):
        assert declaration_schema().validate(etree.parse(str(DEPOT / name)))


def test_example_rg_reads_exact_values():
    result = read_declaration((DEPOT / RG_NAME).read_bytes(), parse_file_name(RG_NAME))
    assert result.anomalies == [] and result.encoding == "utf-8"
    frame = result.frame
    assert frame.columns == ["ligne", *RG_COLUMNS]
    assert frame.to_dicts() == [
        {
            "ligne": 5,
            "siret_esat": "44306184100021",
            "finess_esat": None,
            "annee_reference": "2025",
            "nir": "178022A01234583",
            "nom": "Santoni",
            "prenoms": "Paul",
            "date_naissance": "1978-02-14",
            "numero_allocataire": None,
            "code_caf": "2A",
            "date_entree_esat": "2005-06-01",
            "taux_activite_esat": "80",
            "remuneration_garantie_nette": "689.88",
            "part_financee_esat_nette": "120.10",
            "aide_au_poste_nette": "569.78",
            "cumul_milieu_ordinaire": "N",
            "siret_employeur_mo": None,
            "type_contrat_mo": None,
            "date_debut_mo": None,
            "heures_hebdo_mo": None,
            "salaire_net_mo": None,
        },
        {
            "ligne": 17,
            "siret_esat": "44306184100021",
            "finess_esat": None,
            "annee_reference": "2025",
            "nir": "288076912345670",
            "nom": "Dubois",
            "prenoms": "Claire",
            "date_naissance": "1988-07-30",
            "numero_allocataire": "7654321",
            "code_caf": "69",
            "date_entree_esat": "2012-09-17",
            "taux_activite_esat": "50",
            "remuneration_garantie_nette": "431.18",
            "part_financee_esat_nette": "75.06",
            "aide_au_poste_nette": "356.12",
            "cumul_milieu_ordinaire": "O",
            "siret_employeur_mo": "52345678800109",
            "type_contrat_mo": "CDD",
            "date_debut_mo": "2025-09-01",
            "heures_hebdo_mo": "10.5",
            "salaire_net_mo": "402.00",
        },
    ]


def test_example_ca_reads_exact_values():
    result = read_declaration((DEPOT / CA_NAME).read_bytes(), parse_file_name(CA_NAME))
    assert result.anomalies == []
    assert result.frame.columns == ["ligne", *CA_COLUMNS]
    assert result.frame.to_dicts() == [
        {
            "ligne": 4,
            "siret_esat": "44306184100021",
            "nir": "288076912345670",
            "nom": "Dubois",
            "prenoms": "Claire",
            "date_naissance": "1988-07-30",
            "numero_allocataire": "7654321",
            "code_caf": "69",
            "type_changement": "BAISSE_TAUX",
            "date_effet": "2025-12-01",
            "taux_activite_avant": "50",
            "taux_activite_apres": "40",
            "motif_depart": None,
            "siret_employeur_mo": None,
            "type_contrat_mo": None,
            "date_debut_mo": None,
            "heures_hebdo_mo": None,
        },
    ]


def test_header_values_are_copied_on_every_row_and_lines_are_start_tags():
    head = "  <siretEsat> 44306184100021 </siretEsat>\n  <finessEsat>750012345</finessEsat>\n  <anneeReference>2025</anneeReference>\n"
    frame = read_xml(rg_doc(SALARIE.format(nom="A"), SALARIE.format(nom="B"), head=head), "RG").frame
    assert frame["ligne"].to_list() == [6, 18]
    assert frame["siret_esat"].to_list() == ["44306184100021"] * 2
    assert frame["finess_esat"].to_list() == ["750012345"] * 2
    assert frame["nom"].to_list() == ["A", "B"]


def test_empty_element_is_null_and_values_trimmed():
    record = SALARIE.format(nom="  ").replace("<prenoms>Claire</prenoms>", "<prenoms>\n  Claire Marie \n</prenoms>")
    record = record.replace(
        "</aideAuPosteNette>",
        "</aideAuPosteNette><milieuOrdinaire><siretEmployeur/><typeContrat>CDI</typeContrat></milieuOrdinaire>",
    )
    row = read_xml(rg_doc(record), "RG").frame.row(0, named=True)
    assert row["nom"] is None
    assert row["prenoms"] == "Claire Marie"
    assert row["cumul_milieu_ordinaire"] == "O"
    assert row["siret_employeur_mo"] is None and row["type_contrat_mo"] == "CDI"
    assert row["salaire_net_mo"] is None


def test_comments_and_cdata_inside_records():
    record = SALARIE.format(nom="<![CDATA[D'Artagnan & fils]]><!-- note -->")
    row = read_xml(rg_doc(record), "RG").frame.row(0, named=True)
    assert row["nom"] == "D'Artagnan & fils"


def test_bad_value_is_not_a_structure_fault():
    record = SALARIE.format(nom="X").replace("1988-07-30", "30 juillet").replace("431.18", "beaucoup")
    result = read_xml(rg_doc(record), "RG")
    assert result.anomalies == []
    assert result.frame.row(0, named=True)["date_naissance"] == "30 juillet"


def test_type_attribute_differs_from_file_name():
    a = refusal(read_xml(rg_doc(SALARIE.format(nom="X")), "CA"))
    assert (a.code, a.ligne) == ("F03", 2)
    assert a.message.startswith("Le type déclaré dans le fichier (RG) diffère")


def test_type_attribute_out_of_list():
    a = refusal(read_xml(rg_doc(SALARIE.format(nom="X"), type_="XX"), "RG"))
    assert a.code == "F03" and "(XX)" in a.message


def test_missing_type_attribute_is_an_xsd_fault():
    doc = rg_doc(SALARIE.format(nom="X")).replace(b' type="RG"', b"")
    a = refusal(read_xml(doc, "RG"))
    assert (a.code, a.ligne) == ("F03", 2)
    assert a.message == (
        "Le fichier XML n'est pas conforme au schéma de la déclaration, ligne 2 : dans <declaration>, "
        "l'attribut type est obligatoire mais absent. Corrigez-le, puis renvoyez le fichier."
    )


def test_missing_required_element_reports_xsd_message_and_line():
    second = SALARIE.format(nom="B").replace("    <codeCaf>69</codeCaf>\n", "")
    a = refusal(read_xml(rg_doc(SALARIE.format(nom="A"), second), "RG"))
    assert (a.code, a.ligne) == ("F03", 22)
    # never libxml2's English: the element, the line and what was expected, in French
    assert a.message == (
        "Le fichier XML n'est pas conforme au schéma de la déclaration, ligne 22 : l'élément "
        "<dateEntreeEsat> n'est pas attendu à cet endroit (attendu : l'un de <numeroAllocataire>, "
        "<codeCaf>). Vérifiez son nom et sa place, puis renvoyez le fichier."
    )
    assert "{urn:" not in a.message and "expected" not in a.message


def test_elements_out_of_order():
    record = SALARIE.format(nom="A").replace(
        "<nom>A</nom>\n    <prenoms>Claire</prenoms>", "<prenoms>Claire</prenoms>\n    <nom>A</nom>"
    )
    a = refusal(read_xml(rg_doc(record), "RG"))
    assert (a.code, a.ligne) == ("F03", 7)


def test_unknown_element_between_records():
    a = refusal(
        read_xml(rg_doc(SALARIE.format(nom="A"), "  <commentaire>x</commentaire>\n", SALARIE.format(nom="B")), "RG")
    )
    assert (a.code, a.ligne) == ("F03", 17)
    assert "commentaire" in a.message


def test_changement_inside_an_rg_declaration():
    a = refusal(read_xml(rg_doc(SALARIE.format(nom="A"), "  <changement/>\n"), "RG"))
    assert (a.code, a.ligne) == ("F03", 17)
    assert "l'élément changement n'est pas attendu dans une déclaration de type RG" in a.message


def test_rg_header_inside_a_ca_declaration():
    doc = rg_doc(head="  <siretEsat>44306184100021</siretEsat>\n  <anneeReference>2025</anneeReference>\n", type_="CA")
    a = refusal(read_xml(doc, "CA"))
    assert (a.code, a.ligne) == ("F03", 4)
    assert "anneeReference" in a.message


def test_salaire_net_is_not_part_of_a_ca_milieu_ordinaire():
    ca = (
        (DEPOT / CA_NAME)
        .read_bytes()
        .replace(
            b"</tauxActiviteApres>",
            b"</tauxActiviteApres>\n    <milieuOrdinaire><salaireNet>1</salaireNet></milieuOrdinaire>",
        )
    )
    a = refusal(read_xml(ca, "CA"))
    assert (a.code, a.ligne) == ("F03", 15)


def test_wrong_root_or_namespace():
    doc = rg_doc(SALARIE.format(nom="A")).replace(b"urn:esat:declaration:v1", b"urn:autre")
    a = refusal(read_xml(doc, "RG"))
    assert (a.code, a.ligne) == ("F03", 2)
    assert a.message == (
        "Le fichier XML n'utilise pas l'espace de noms de la déclaration (ligne 2, élément "
        '<declaration>) : l\'élément racine doit être <declaration xmlns="urn:esat:declaration:v1" '
        'type="RG"> (ou type="CA"). Corrigez-le, puis renvoyez le fichier.'
    )


def test_a_wrong_type_and_a_syntax_error_the_first_that_is_met():
    """The root is judged on its start tag, parsed alone before the document: a syntax error in the prolog
    or in that tag wins, the root wins over any syntax error after it, near or far (under any lxml)."""
    in_prolog = rg_doc(SALARIE.format(nom="A"), type_="CA").replace(b'version="1.0"', b'version="1.0', 1)
    assert "mal formé : ligne 1" in refusal(read_xml(in_prolog, "RG")).message
    in_root_tag = rg_doc(SALARIE.format(nom="A"), type_="CA").replace(b'type="CA"', b'type="CA" type="CA"', 1)
    assert "mal formé : ligne 2" in refusal(read_xml(in_root_tag, "RG")).message
    next_line = rg_doc(SALARIE.format(nom="A"), type_="CA").replace(b"<siretEsat>", b"<<siretEsat>", 1)
    assert refusal(read_xml(next_line, "RG")).message.startswith("Le type déclaré dans le fichier (CA)")
    after = rg_doc(SALARIE.format(nom="A"), SALARIE.format(nom="B").replace("</nom>", "</nomm>"), type_="CA")
    assert refusal(read_xml(after, "RG")).message.startswith("Le type déclaré dans le fichier (CA)")
    far = rg_doc(SALARIE.format(nom="A"), type_="CA").replace(
        b"<siretEsat>", b"<!--" + b"x" * 70_000 + b"--><<siretEsat>", 1
    )
    assert refusal(read_xml(far, "RG")).message.startswith("Le type déclaré dans le fichier (CA)")
    commented = rg_doc(SALARIE.format(nom="A"), type_="CA").replace(
        b"<declaration", b"<!-- > ' \" --><?pi >?>\n<declaration", 1
    )
    assert refusal(read_xml(commented.replace(b"<siretEsat>", b"<<siretEsat>", 1), "RG")).message.startswith(
        "Le type déclaré dans le fichier (CA)"
    )  # comments and PIs before the root, `>` and quotes inside
    quoted = rg_doc(SALARIE.format(nom="A"), type_="CA").replace(b'type="CA"', b'type="CA" xmlns:a="x>y\'"', 1)
    assert refusal(read_xml(quoted.replace(b"<siretEsat>", b"<<siretEsat>", 1), "RG")).message.startswith(
        "Le type déclaré dans le fichier (CA)"
    )  # a `>` inside an attribute value does not end the tag


def test_malformed_xml_gives_its_line():
    doc = rg_doc(SALARIE.format(nom="A"), SALARIE.format(nom="B").replace("</nom>", "</nomm>"))
    a = refusal(read_xml(doc, "RG"))
    assert (a.code, a.ligne) == ("F03", 19)
    assert a.message.startswith("Le fichier XML est mal formé : ligne 19 : ")


def test_truncated_file_is_malformed():
    doc = rg_doc(SALARIE.format(nom="A"))[:-30]
    a = refusal(read_xml(doc, "RG"))
    assert a.code == "F03" and "mal formé" in a.message


def test_no_record():
    a = refusal(read_xml(rg_doc(), "RG"))
    assert (a.code, a.ligne) == ("F01", None)
    assert a.message.startswith("Le fichier ne contient aucun enregistrement")


def test_not_xml_at_all():
    a = refusal(read_xml(b"siret_esat;nom\n1;2\n", "RG"))
    assert a.code == "F01" and "le contenu n'est pas du XML" in a.message


def test_latin1_declared_encoding():
    doc = rg_doc(SALARIE.format(nom="Lefèvre")).decode().replace("UTF-8", "ISO-8859-1").encode("latin-1")
    result = read_xml(doc, "RG")
    assert result.anomalies == [] and result.encoding == "iso8859-1"
    assert result.frame["nom"].to_list() == ["Lefèvre"]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_documents(codec):
    doc = rg_doc(SALARIE.format(nom="Lefèvre")).decode().replace("UTF-8", codec.upper()[:6]).encode(codec)
    result = read_xml(doc, "RG")
    assert result.anomalies == []
    assert result.frame["nom"].to_list() == ["Lefèvre"]
    assert result.frame["ligne"].to_list() == [5]


def test_unknown_declared_encoding():
    doc = rg_doc(SALARIE.format(nom="X")).replace(b"UTF-8", b"KLINGON-8")
    a = refusal(read_xml(doc, "RG"))
    assert a.code == "F01" and "KLINGON-8" in a.message


def test_utf8_bom():
    result = read_xml(b"\xef\xbb\xbf" + rg_doc(SALARIE.format(nom="X")), "RG")
    assert result.encoding == "utf-8-sig" and result.frame.height == 1


def test_many_records_across_validation_chunks():
    n = CHUNK_RECORDS * 2 + 500
    frame = read_xml(rg_doc(*[SALARIE.format(nom=f"N{i}") for i in range(n)]), "RG").frame
    assert frame.height == n
    assert frame["ligne"].to_list() == [5 + 12 * i for i in range(n)]
    assert frame["nom"][-1] == f"N{n - 1}"
    assert frame["annee_reference"].unique().to_list() == ["2025"]


def test_fault_in_a_later_chunk_keeps_its_line():
    records = [SALARIE.format(nom=f"N{i}") for i in range(CHUNK_RECORDS * 2 + 10)]
    bad = CHUNK_RECORDS * 2 + 3
    records[bad] = records[bad].replace("<prenoms>Claire</prenoms>", "<prenom>Claire</prenom>")
    a = refusal(read_xml(rg_doc(*records), "RG"))
    assert (a.code, a.ligne) == ("F03", 5 + 12 * bad + 3)
    assert "l'élément <prenom> n'est pas attendu à cet endroit (attendu : <prenoms>)" in a.message


def test_misplaced_header_element_after_records():
    records = [SALARIE.format(nom=f"N{i}") for i in range(CHUNK_RECORDS + 2)]
    records.insert(CHUNK_RECORDS, "  <anneeReference>2025</anneeReference>\n")
    a = refusal(read_xml(rg_doc(*records), "RG"))
    assert (a.code, a.ligne) == ("F03", 5 + 12 * CHUNK_RECORDS)


def test_dispatch_by_extension():
    name = parse_file_name("ESAT_44306184100021_RG_20251211_001.XML")
    assert read_declaration((DEPOT / RG_NAME).read_bytes(), name).frame.height == 2


def test_missing_element_and_syntax_errors_are_french():
    from exchange.core.reading.xml_errors import schema_error, syntax_error

    a = schema_error(
        7,
        1871,
        "Element '{urn:esat:declaration:v1}salarie': Missing child element(s). "
        "Expected is ( {urn:esat:declaration:v1}prenoms ).",
    )
    assert a.message == (
        "Le fichier XML n'est pas conforme au schéma de la déclaration, ligne 7 : il manque "
        "l'élément <prenoms> dans <salarie>. Ajoutez-le, puis renvoyez le fichier."
    )
    a = schema_error(
        3,
        1840,
        "Element '{urn:esat:declaration:v1}declaration', attribute 'type': [facet "
        "'enumeration'] The value 'XX' is not an element of the set {'RG', 'CA'}.",
    )
    assert a.message == (
        "Le fichier XML n'est pas conforme au schéma de la déclaration, ligne 3 : la valeur « XX » "
        "de <declaration (attribut type)> n'est pas permise. Corrigez-la, puis renvoyez le fichier."
    )
    a = syntax_error(4, "Excessive depth in document: 256 use XML_PARSE_HUGE option")
    assert a.message == (
        "Le fichier XML est mal formé : ligne 4 : un élément ou un texte dépasse la taille permise. "
        "Corrigez-le et renvoyez le fichier."
    )
    a = syntax_error(5, "Opening and ending tag mismatch: nom line 5 and prenoms")
    assert a.message == (
        "Le fichier XML est mal formé : ligne 5 : la balise <nom> est fermée par </prenoms>. "
        "Corrigez-le et renvoyez le fichier."
    )
    a = syntax_error(9, "Something libxml2 says in English")
    assert "English" not in a.message and a.message.startswith("Le fichier XML est mal formé : ligne 9 : ")
