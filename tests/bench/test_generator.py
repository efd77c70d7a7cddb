"""The synthetic national campaign generator: determinism, valid identifiers, faults as declared, Habpps coherence."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from stdnum.fr import nir as stdnir
from stdnum.fr import siret as stdsiret

from fixtures.generate import distribute, generate, load_caf_codes, luhn_digit, main, nir_key
from schemas.declaration import CA_COLUMNS, MO_FIELDS_RG, MO_XML_NAMES, RG_COLUMNS, parse_file_name
from tests.paths import ROOT

NS = "{urn:esat:declaration:v1}"
XSD = ROOT / "schemas" / "declaration-v1.xsd"
SMIC_MONTHLY = Decimal("1801.80")
RG_XML_ORDER = [
    "nir",
    "nom",
    "prenoms",
    "dateNaissance",
    "numeroAllocataire",
    "codeCaf",
    "dateEntreeEsat",
    "tauxActiviteEsat",
    "remunerationGarantieNette",
    "partFinanceeEsatNette",
    "aideAuPosteNette",
    "milieuOrdinaire",
]
CA_XML_ORDER = [
    "nir",
    "nom",
    "prenoms",
    "dateNaissance",
    "numeroAllocataire",
    "codeCaf",
    "typeChangement",
    "dateEffet",
    "tauxActiviteAvant",
    "tauxActiviteApres",
    "motifDepart",
    "milieuOrdinaire",
]


def snake(tag: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in tag)


def read_csv(path: Path) -> list[tuple[int, dict[str, str]]]:
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    header = rows[0]
    return [(i + 2, dict(zip(header, row))) for i, row in enumerate(rows[1:])]


def read_xml(path: Path) -> list[tuple[int, dict[str, str]]]:
    root = etree.parse(str(path)).getroot()
    out = []
    for rec in root:
        if rec.tag not in (NS + "salarie", NS + "changement"):
            continue
        values = {"siret_esat": root.findtext(NS + "siretEsat")}
        for child in rec:
            name = etree.QName(child).localname
            if name == "milieuOrdinaire":
                for mo in child:
                    values[MO_XML_NAMES[etree.QName(mo).localname]] = mo.text or ""
            else:
                values[snake(name)] = child.text or ""
        if rec.tag == NS + "salarie":
            values["cumul_milieu_ordinaire"] = "O" if rec.find(NS + "milieuOrdinaire") is not None else "N"
        out.append((rec.sourceline, values))
    return out


def read_records(path: Path) -> list[tuple[int, dict[str, str]]]:
    return read_xml(path) if path.suffix == ".xml" else read_csv(path)


def cents(text: str) -> int:
    return int(Decimal(text.replace(",", ".")) * 100)


def parse_day(text: str) -> date:
    if "/" in text:
        d, m, y = text.split("/")
        return date(int(y), int(m), int(d))
    return date.fromisoformat(text)


def files_of(out: Path) -> list[Path]:
    return sorted(out.glob("drop/*/depot/*"))


def tree_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("campaign")
    manifest = generate(out, esats=20, workers=2000, seed=7, ca_files=5, fault_rate=0.02, mo_rate=0.10)
    return out, manifest


@pytest.fixture(scope="module")
def faults(campaign) -> dict[tuple[str, int], dict]:
    _, manifest = campaign
    return {(f["file"], f["ligne"]): f for f in manifest["faults"]}


@pytest.fixture(scope="module")
def records(campaign) -> list[tuple[Path, int, dict[str, str]]]:
    out, _ = campaign
    return [(p, line, rec) for p in files_of(out) for line, rec in read_records(p)]


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    a = generate(tmp_path / "a", esats=8, workers=600, seed=42, ca_files=3)
    b = generate(tmp_path / "b", esats=8, workers=600, seed=42, ca_files=3)
    generate(tmp_path / "c", esats=8, workers=600, seed=43, ca_files=3)
    assert a == b
    bytes_a, bytes_b = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    assert len(bytes_a) == 8 + 3 + 5 + 1  # RG files, CA files, Habpps tables, manifest
    assert bytes_a == bytes_b
    assert bytes_a != tree_bytes(tmp_path / "c")


def test_manifest_counts_match_the_files(campaign, records):
    out, m = campaign
    assert m["seed"] == 7 and m["esats"] == 20
    assert m["files"] == {"total": 25, "RG": 20, "CA": 5, "csv": m["files"]["csv"], "xml": m["files"]["xml"]}
    assert len(files_of(out)) == 25
    rg = sum(1 for p, _, _ in records if "_RG_" in p.name)
    ca = sum(1 for p, _, _ in records if "_CA_" in p.name)
    assert m["records"] == {"total": rg + ca, "RG": rg, "CA": ca}
    assert rg == 2000
    assert sum(1 for p, _, r in records if "_RG_" in p.name and r["cumul_milieu_ordinaire"] == "O") == m["mo_records"]
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8")) == m
    assert {f["file"]: f["records"] for f in m["file_list"]} == {p.name: len(read_records(p)) for p in files_of(out)}


def test_file_names_are_well_formed_and_name_the_accounts_partner(campaign):
    out, _ = campaign
    declarants = {g["id_groupe"] for g in read_table(out, "groupes") if g["role"] == "DECLARANT"}
    partners = {r["login"]: r["siret"] for r in read_table(out, "utilisateurs") if r["id_groupe"] in declarants}
    for path in files_of(out):
        parsed = parse_file_name(path.name)
        assert parsed is not None, path.name
        assert parsed.siret == partners[path.parent.parent.name]
        assert date(2025, 12, 1) <= parsed.produced_on <= date(2025, 12, 15)
        assert parsed.sequence == 1
        assert parsed.extension == path.suffix[1:]
        assert all(rec["siret_esat"] == parsed.siret for _, rec in read_records(path))
    assert sorted(p.name for p in (out / "drop").iterdir()) == sorted(partners)


def test_identifiers_are_valid_except_the_declared_faulty_nirs(records, faults):
    bad_keys = 0
    for path, line, rec in records:
        fault = faults.get((path.name, line))
        if fault and fault["kind"] == "nir_key":
            bad_keys += 1
            assert not stdnir.is_valid(rec["nir"]), (path.name, line)
            assert rec["nir"][13:] != nir_key(rec["nir"][:13])
        else:
            assert stdnir.is_valid(rec["nir"]), (path.name, line, rec["nir"])
        assert rec["nir"][0] in "12"
        assert stdsiret.is_valid(rec["siret_esat"])
        if rec.get("siret_employeur_mo"):
            assert stdsiret.is_valid(rec["siret_employeur_mo"])
    assert bad_keys == sum(f["kind"] == "nir_key" for f in faults.values()) > 0


def test_nir_agrees_with_birth_date_and_ages_are_18_to_65(records, faults):
    corsica = 0
    for _path, _line, rec in records:
        if not rec["date_naissance"]:
            continue
        born = parse_day(rec["date_naissance"])
        assert rec["nir"][1:3] == f"{born.year % 100:02d}"
        assert rec["nir"][3:5] == f"{born.month:02d}"
        age = (date(2025, 12, 15) - born).days / 365.25
        assert 18 <= age <= 66
        corsica += rec["nir"][5:7] in ("2A", "2B")
    assert corsica > 0 or len(records) < 1000


def test_fault_rate_is_as_asked_and_each_fault_is_the_one_declared(campaign, records, faults):
    _, m = campaign
    total = m["records"]["total"]
    assert m["faulty_records"]["total"] == round(total * 0.02) == len(faults)
    assert sum(v for k, v in m["faulty_records"].items() if k != "total") == len(faults)
    by_line = {(p.name, line): rec for p, line, rec in records}
    for key, fault in faults.items():
        rec = by_line[key]
        assert (fault["code"], fault["variant"]) == {
            "nir_key": ("R02", "cle"),
            "somme": ("R06", "somme"),
            "champ_manquant": ("R01", "obligatoire"),
        }[fault["kind"]]
        if fault["kind"] == "somme":
            diff = (
                cents(rec["part_financee_esat_nette"])
                + cents(rec["aide_au_poste_nette"])
                - cents(rec["remuneration_garantie_nette"])
            )
            assert abs(diff) == 1
        if fault["kind"] == "champ_manquant":
            assert rec.get(fault["champ"], "") == ""
            assert fault["champ"] in ("nom", "prenoms", "code_caf", "date_entree_esat", "date_effet")


def test_clean_records_are_complete_and_sums_exact_to_the_cent(records, faults):
    for path, line, rec in records:
        if (path.name, line) in faults:
            continue
        required = ("nir", "nom", "prenoms", "date_naissance", "code_caf")
        assert all(rec.get(c) for c in required), (path.name, line)
        if "_RG_" not in path.name:
            assert rec["type_changement"] and rec["date_effet"]
            continue
        assert rec["annee_reference"] == "2025" if "annee_reference" in rec else True
        assert cents(rec["part_financee_esat_nette"]) + cents(rec["aide_au_poste_nette"]) == cents(
            rec["remuneration_garantie_nette"]
        )


def test_amounts_rates_and_codes_stay_within_the_rules(records, faults):
    cafs = set(load_caf_codes())
    assert "976" not in cafs
    used = set()
    for path, _line, rec in records:
        if rec["code_caf"]:
            assert rec["code_caf"] in cafs
            used.add(rec["code_caf"])
        if "_RG_" not in path.name:
            continue
        taux = int(rec["taux_activite_esat"])
        assert 30 <= taux <= 100 and taux % 5 == 0
        smic = SMIC_MONTHLY * taux / 100
        assert Decimal(cents(rec["remuneration_garantie_nette"])) / 100 <= smic * Decimal("1.107")
        assert Decimal(cents(rec["aide_au_poste_nette"])) / 100 <= smic * Decimal("0.507")
        assert cents(rec["part_financee_esat_nette"]) > 0
        if rec["date_entree_esat"]:
            assert parse_day(rec["date_entree_esat"]) <= date(2025, 11, 30)
        if rec.get("numero_allocataire"):
            assert len(rec["numero_allocataire"]) == 7 and rec["numero_allocataire"].isdigit()
    assert len(used) >= 10


def test_ordinary_employment_has_its_five_fields_and_mostly_fits_35_hours(campaign, records):
    _, m = campaign
    over = 0
    for path, _, rec in records:
        if "_RG_" not in path.name:
            continue
        filled = [bool(rec.get(c)) for c in MO_FIELDS_RG]
        if rec["cumul_milieu_ordinaire"] == "O":
            assert all(filled)
            h = Decimal(rec["heures_hebdo_mo"].replace(",", "."))
            assert 0 < h < 35 and h * 2 == int(h * 2)
            assert rec["type_contrat_mo"] in ("CDI", "CDD", "CTT", "AUTRE")
            assert parse_day(rec["date_debut_mo"]) >= date(2023, 1, 1)
            over += Decimal(rec["taux_activite_esat"]) / 100 * 35 + h > 35
        else:
            assert rec["cumul_milieu_ordinaire"] == "N" and not any(filled)
    assert over == m["warnings"]["W03"]
    assert over < m["mo_records"] / 4


def test_csv_files_have_all_columns_french_decimals_and_both_date_forms(campaign):
    out, _ = campaign
    iso = fr = 0
    for path in files_of(out):
        if path.suffix != ".csv":
            continue
        text = path.read_text(encoding="utf-8-sig")
        header = text.split("\n", 1)[0].split(";")
        assert tuple(header) == (RG_COLUMNS if "_RG_" in path.name else CA_COLUMNS)
        for _, rec in read_csv(path):
            assert len(rec) == len(header)
            for col in ("remuneration_garantie_nette", "salaire_net_mo"):
                if rec.get(col):
                    assert "," in rec[col] and "." not in rec[col]
            iso += "-" in rec["date_naissance"]
            fr += "/" in rec["date_naissance"]
    assert iso > 0 and fr > 0


def test_format_split_is_about_70_30(tmp_path):
    m = generate(tmp_path, esats=100, workers=2000, seed=3, ca_files=0)
    rg = [f for f in m["file_list"] if f["kind"] == "RG"]
    assert sum(f["format"] == "xml" for f in rg) == 30
    assert m["files"] == {"total": 100, "RG": 100, "CA": 0, "csv": 70, "xml": 30}


def test_xml_follows_the_declared_structure(campaign, faults):
    out, _ = campaign
    schema = etree.XMLSchema(etree.parse(str(XSD))) if XSD.exists() else None
    xml_files = [p for p in files_of(out) if p.suffix == ".xml"]
    assert xml_files
    emptied = sum(f["kind"] == "champ_manquant" for (name, _), f in faults.items() if name.endswith(".xml"))
    assert emptied == sum(len(etree.parse(str(p)).xpath("//*[not(*) and not(text())]")) for p in xml_files) > 0
    for path in xml_files:
        raw = path.read_bytes()
        assert b"<!DOCTYPE" not in raw and b"<!ENTITY" not in raw
        tree = etree.parse(str(path))
        root = tree.getroot()
        kind = parse_file_name(path.name).kind
        assert root.tag == NS + "declaration" and root.get("type") == kind
        heads = [etree.QName(c).localname for c in root if etree.QName(c).localname not in ("salarie", "changement")]
        expected = (
            [["siretEsat", "finessEsat", "anneeReference"], ["siretEsat", "anneeReference"]]
            if kind == "RG"
            else [["siretEsat"]]
        )
        assert heads in expected
        order = RG_XML_ORDER if kind == "RG" else CA_XML_ORDER
        for rec in root.iterchildren(NS + ("salarie" if kind == "RG" else "changement")):
            names = [etree.QName(c).localname for c in rec]
            assert names == sorted(names, key=order.index)
            mo = rec.find(NS + "milieuOrdinaire")
            if mo is not None:
                assert [etree.QName(c).localname for c in mo] == (
                    ["siretEmployeur", "typeContrat", "dateDebut", "heuresHebdo", "salaireNet"][
                        : 5 if kind == "RG" else 4
                    ]
                )
            for child in rec.iter():
                if child.text and child.text.strip() and any(ch.isdigit() for ch in child.text):
                    assert "," not in child.text
        if schema is not None:
            assert schema.validate(tree), schema.error_log


def test_fault_lines_point_at_the_faulty_record(campaign, faults):
    out, _ = campaign
    for (name, line), fault in faults.items():
        path = next(out.glob(f"drop/{fault['login']}/depot/{name}"))
        physical = path.read_text(encoding="utf-8-sig").split("\n")[line - 1]
        if path.suffix == ".xml":
            assert physical.strip() in ("<salarie>", "<changement>")
        else:
            assert physical.split(";")[0] == parse_file_name(name).siret


def read_table(out: Path, name: str) -> list[dict[str, str]]:
    with open(out / "habpps" / f"{name}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def test_habpps_gives_every_login_a_complete_habilitation(campaign):
    out, m = campaign
    partners = {r["siret"]: r for r in read_table(out, "partenaires")}
    conventions = read_table(out, "conventions")
    bulletins = read_table(out, "bulletins")
    groups = {r["id_groupe"]: r for r in read_table(out, "groupes")}
    users = read_table(out, "utilisateurs")
    assert len(partners) == 20 and m["habpps"]["partenaires"] == 20
    assert {r["portee"] for r in partners.values()} <= {"DEPARTEMENTALE", "MULTI_DEPARTEMENTALE"}
    assert all(r["departement"] != "976" and r["code_caf"] == r["departement"] for r in partners.values())
    by_conv = {c["id_convention"]: c for c in conventions}
    assert len(by_conv) == len(conventions)
    logins = [r["login"] for r in users]
    assert len(logins) == len(set(logins))
    drop_logins = {p.name for p in (out / "drop").iterdir()}
    assert drop_logins <= set(logins)
    as_of = "2025-12-01"
    for user in users:
        assert user["actif"] == "O" and user["siret"] in partners
        group = groups[user["id_groupe"]]
        conv = by_conv[group["id_convention"]]
        assert conv["siret"] == user["siret"] and conv["statut"] == "ACTIVE"
        assert conv["date_debut"] <= as_of and (not conv["date_fin"] or conv["date_fin"] >= "2026-03-01")
        assert conv["date_contrat_service"] and conv["date_contrat_service"] <= as_of
        assert conv["mode_gestion"] in ("CENTRALISE", "DELEGUE")
        signed = [
            b
            for b in bulletins
            if b["id_convention"] == conv["id_convention"]
            and b["service"] == "ESAT"
            and b["statut"] == "SIGNE"
            and b["date_signature"] <= as_of
        ]
        assert len(signed) == 1 and signed[0]["siret"] == conv["siret"]
        if user["login"] in drop_logins:
            assert group["service"] == "ESAT" and group["role"] == "DECLARANT"
    for siret in partners:
        assert sum(c["siret"] == siret and c["statut"] == "ACTIVE" for c in conventions) == 1


def test_some_partners_are_multi_departmental_nationally(tmp_path):
    m = generate(tmp_path, esats=300, workers=6000, seed=11, ca_files=0, fault_rate=0)
    multi = [r for r in read_table(tmp_path, "partenaires") if r["portee"] == "MULTI_DEPARTEMENTALE"]
    assert len(multi) == m["multi_departementales"] > 0
    assert m["faulty_records"]["total"] == 0 and m["faults"] == []


def test_scale_multiplies_each_esats_workers(tmp_path):
    one = generate(tmp_path / "x1", esats=5, workers=400, seed=5, ca_files=0)
    three = generate(tmp_path / "x3", esats=5, workers=400, seed=5, ca_files=0, scale=3)
    assert [f["records"] * 3 for f in one["file_list"]] == [f["records"] for f in three["file_list"]]
    assert three["records"]["RG"] == 1200


def test_distribution_is_skewed_bounded_and_sums_to_the_target():
    import random

    counts = distribute(random.Random(1), 1400, 120_000)
    assert sum(counts) == 120_000
    assert min(counts) >= 20 and max(counts) <= 250
    assert max(counts) > 2 * (sum(counts) / len(counts))
    assert distribute(random.Random(1), 10, 100) == [20] * 10  # infeasible target: the floor wins


def test_luhn_and_nir_key_helpers_agree_with_stdnum():
    assert luhn_digit("81234567600017"[:-1]) == "7"
    assert nir_key("1780220012345") == stdnir.calc_check_digits("178022001234500")
    assert nir_key("178022A012345") == "83"  # the example's Corsican NIR


def test_refuses_to_write_into_a_non_empty_campaign(tmp_path):
    (tmp_path / "drop" / "someone").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="n'est pas vide"):
        generate(tmp_path, esats=2, workers=40, seed=1)
    assert list((tmp_path / "drop").iterdir()) == [tmp_path / "drop" / "someone"]


def test_command_line_writes_a_campaign_and_rejects_bad_options(tmp_path, capsys):
    assert main([str(tmp_path / "cli"), "--esats", "3", "--workers", "90", "--ca-files", "1", "--seed", "9"]) == 0
    assert "3 Esat, 4 fichiers" in capsys.readouterr().out
    assert json.loads((tmp_path / "cli" / "manifest.json").read_text(encoding="utf-8"))["seed"] == 9
    assert main([str(tmp_path / "cli"), "--esats", "3"]) == 2
    assert "n'est pas vide" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "bad"), "--fault-rate", "1.5"])
    assert exc.value.code == 2
    assert "valeurs hors limites" in capsys.readouterr().err


def test_the_projects_judge_finds_exactly_the_declared_faults(campaign):
    from exchange.core.judge import judge

    out, m = campaign
    expected = {(f["file"], f["ligne"]): f["code"] for f in m["faults"]}
    statut = {f["file"]: f["expected_statut"] for f in m["file_list"]}
    blocking: dict[tuple[str, int], str] = {}
    w03 = 0
    for path in files_of(out):
        j = judge(path.read_bytes(), path.name, date(2025, 12, 15), max_file_bytes=50 << 20, max_records=100_000)
        assert j.statut == statut[path.name], path.name
        for row in j.anomalies.iter_rows(named=True):
            assert row["code"] in ("R01", "R02", "R06", "W03"), (path.name, row)
            w03 += row["code"] == "W03"
            if row["gravite"] == "BLOQUANTE":
                assert (path.name, row["ligne"]) not in blocking
                blocking[(path.name, row["ligne"])] = row["code"]
    assert blocking == expected
    assert w03 == m["warnings"]["W03"]
