"""History across files: corrections (W05, RECTIFICATIVE), repeated events (W06), duplicates (F04),
resending a name, badly named files, and the campaign snapshot."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from exchange.app.campaign import campaign_status
from exchange.app.run import run_job
from exchange.core.perimeter import EVERYTHING
from exchange.store.engine import open_database
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES
from tests.expected import read_cr

SEINE = "81234567600017"
RG = "ESAT_81234567600017_RG_20251210_001.csv"
CA = "ESAT_81234567600017_CA_20251212_001.csv"


@pytest.fixture
def area(tmp_path):
    cfg = seed_examples(tmp_path)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    return tmp_path, cfg


def depot(base, account="esat-seine"):
    return base / "drop" / account / "depot"


def example(name: str, account="esat-seine") -> str:
    return (EXAMPLES / "drop" / account / "depot" / name).read_text(encoding="utf-8")


def rg_outputs(base) -> pl.DataFrame:
    frames = [pl.read_parquet(p) for p in sorted((base / "outbound").glob("*/AAH-ESAT_RG_*.parquet"))]
    return pl.concat(frames) if frames else pl.DataFrame()


def test_correction_after_emission_is_rectificative(area):
    base, _ = area
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0
    corrected = example(RG).replace("862,35;150,12;712,23", "870,00;157,77;712,23")
    (depot(base) / "ESAT_81234567600017_RG_20251216_002.csv").write_text(corrected, encoding="utf-8")
    code, out, err = cli(base, "run", "--as-of", "2025-12-16")
    assert code == 0, out + err
    rows = read_cr(base / "drop" / "esat-seine" / "retour" / "ESAT_81234567600017_RG_20251216_002.csv.CR.csv")
    assert {r["statut"] for r in rows} == {"ACCEPTE"}
    assert [(r["ligne"], r["code"], r["gravite"], r["nir_masque"]) for r in rows] == [
        ("2", "W05", "NON_BLOQUANTE", "18505********91"),
        ("3", "W05", "NON_BLOQUANTE", "29202********20"),
        ("4", "W05", "NON_BLOQUANTE", "19011********91"),
    ]
    # the earlier file is named as the Esat knows it: its name and reception time (never a ledger id)
    assert re.fullmatch(
        r"Cet enregistrement remplace celui reçu précédemment pour ce salarié et cette année \(fichier "
        r"« ESAT_81234567600017_RG_20251210_001\.csv » reçu le [0-3][0-9]/[01][0-9]/20[0-9]{2} à [0-2][0-9]:[0-5][0-9]\) : "
        r"le plus récent est retenu\.",
        rows[0]["message"],
    ), rows[0]["message"]
    assert "n°" not in rows[0]["message"]
    assert [(r["nom"], r["prenoms"]) for r in rows] == [
        ("Martin", "Jérôme"),
        ("Lefèvre", "Anne Marie"),
        ("N'Diaye", "Moussa"),
    ]
    out = rg_outputs(base).filter(pl.col("siret_esat") == SEINE)
    assert out.height == 6  # three INITIALE, then three RECTIFICATIVE
    assert sorted(out["nature"].to_list()) == ["INITIALE"] * 3 + ["RECTIFICATIVE"] * 3
    martin = out.filter((pl.col("nom") == "MARTIN") & (pl.col("nature") == "RECTIFICATIVE"))
    assert martin["remuneration_garantie_nette"].to_list() == [Decimal("870.00")]

    # the campaign snapshot keeps only the latest record per worker
    code, out_text, _ = cli(base, "campaign", "close", "--year", "2025")
    assert code == 0
    snap = pl.concat([pl.read_parquet(p) for p in (base / "outbound").glob("*/AAH-ESAT_RG-CAMPAGNE_2025_*.parquet")])
    seine = snap.filter(pl.col("siret_esat") == SEINE)
    assert seine.height == 3
    assert seine.filter(pl.col("nom") == "MARTIN")["remuneration_garantie_nette"].to_list() == [Decimal("870.00")]
    assert snap.height == 5  # 3 seine + 2 horizon
    for m in (base / "outbound").glob("*/AAH-ESAT_RG-CAMPAGNE_*.manifest.json"):
        meta = json.loads(m.read_text())
        assert meta["flux"] == "RG-CAMPAGNE" and meta["annee_reference"] == 2025
    # closing twice the same day rewrites the same snapshot, no second file
    before = sorted(p.name for p in (base / "outbound").rglob("*CAMPAGNE*"))
    assert cli(base, "campaign", "close", "--year", "2025")[0] == 0
    assert sorted(p.name for p in (base / "outbound").rglob("*CAMPAGNE*")) == before


def test_correction_before_emission_emits_only_the_latest_as_initiale(area):
    base, cfg = area
    engine = open_database(cfg.database_url)
    assert run_job(cfg, engine, job="collect", as_of=date(2025, 12, 15), emit=False).status == "OK"
    corrected = example(RG).replace("862,35;150,12;712,23", "870,00;157,77;712,23")
    (depot(base) / "ESAT_81234567600017_RG_20251216_002.csv").write_text(corrected, encoding="utf-8")
    assert run_job(cfg, engine, job="nightly", as_of=date(2025, 12, 16)).status == "OK"
    out = rg_outputs(base).filter(pl.col("siret_esat") == SEINE)
    assert out.height == 3 and set(out["nature"]) == {"INITIALE"}
    assert out.filter(pl.col("nom") == "MARTIN")["remuneration_garantie_nette"].to_list() == [Decimal("870.00")]
    assert set(out["id_fichier_source"]) == {"5"}


def test_repeated_change_events_get_w06_and_are_not_emitted_again(area):
    base, _ = area
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0
    again = example(CA) + "\n"  # same events, other bytes (not a duplicate file)
    (depot(base) / "ESAT_81234567600017_CA_20251220_002.csv").write_text(again, encoding="utf-8")
    assert cli(base, "run", "--as-of", "2025-12-20")[0] == 0
    rows = read_cr(base / "drop" / "esat-seine" / "retour" / "ESAT_81234567600017_CA_20251220_002.csv.CR.csv")
    assert [(r["statut"], r["ligne"], r["code"]) for r in rows] == [
        ("ACCEPTE", "2", "W06"),
        ("ACCEPTE", "3", "W06"),
        ("ACCEPTE", "4", "W06"),
    ]
    ca_files = list((base / "outbound").glob("*/AAH-ESAT_CA_*.parquet"))
    assert sum(pl.read_parquet(p).height for p in ca_files) == 4  # the four events of the first run only


def test_same_event_twice_in_one_file(area):
    base, _ = area
    lines = example(CA).splitlines()
    (depot(base) / CA).write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0
    rows = read_cr(base / "drop" / "esat-seine" / "retour" / f"{CA}.CR.csv")
    assert [(r["statut"], r["ligne"], r["code"]) for r in rows] == [("ACCEPTE", "5", "W06")]


def test_same_content_again_is_doublon(area):
    base, _ = area
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0
    (depot(base) / "ESAT_81234567600017_RG_20251210_009.csv").write_text(example(RG), encoding="utf-8")
    code, out, _ = cli(base, "run", "--as-of", "2025-12-16")
    assert code == 0 and "1 DOUBLON" in out
    rows = read_cr(base / "drop" / "esat-seine" / "retour" / "ESAT_81234567600017_RG_20251210_009.csv.CR.csv")
    assert [(r["statut"], r["code"], r["gravite"]) for r in rows] == [("DOUBLON", "F04", "BLOQUANTE")]
    assert re.fullmatch(
        r"Ce fichier a déjà été reçu avec un contenu identique \(fichier « ESAT_81234567600017_RG_20251210_001\.csv » "
        r"reçu le [0-3][0-9]/[01][0-9]/20[0-9]{2} à [0-2][0-9]:[0-5][0-9]\) : il n'est pas traité une seconde fois\. "
        r"Rien à faire s'il s'agit d'un renvoi involontaire\.",
        rows[0]["message"],
    ), rows[0]["message"]
    assert rows[0]["que_faire"].startswith("Rien à faire : ce contenu a déjà été reçu et traité")
    assert rows[0]["enregistrements_acceptes"] == "0"
    assert (base / "drop" / "esat-seine" / "archive" / "ESAT_81234567600017_RG_20251210_009.csv").exists()
    assert rg_outputs(base).filter(pl.col("siret_esat") == SEINE).height == 3
    code, out, _ = cli(base, "files", "list", "--status", "DOUBLON", "--format", "json")
    assert [f["fichier"] for f in json.loads(out)] == ["ESAT_81234567600017_RG_20251210_009.csv"]


def test_same_name_again_keeps_previous_compte_rendu_and_archive(area):
    base, _ = area
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0
    broken = example(RG).replace("862,35;150,12;712,23", "862,35;150,12;712,24")
    (depot(base) / RG).write_text(broken, encoding="utf-8")
    assert cli(base, "run", "--as-of", "2025-12-16")[0] == 0
    acc = base / "drop" / "esat-seine"
    new = read_cr(acc / "retour" / f"{RG}.CR.csv")
    assert [(r["statut"], r["ligne"], r["code"]) for r in new] == [
        ("PARTIEL", "2", "R06"),
        ("PARTIEL", "3", "W05"),
        ("PARTIEL", "4", "W05"),
    ]
    old = read_cr(acc / "retour" / f"{RG}.2.CR.csv")  # the first reception of that name was file 2
    assert [(r["statut"], r["code"]) for r in old] == [("ACCEPTE", "")]
    assert (acc / "retour" / f"{RG}.2.CR.xml").exists()
    archived = sorted(p.name for p in (acc / "archive").iterdir())
    assert RG in archived and f"{RG}.5" in archived


def test_badly_named_file_is_acknowledged_under_its_name(area):
    base, _ = area
    (depot(base) / "declaration novembre.csv").write_text(example(RG) + "\n", encoding="utf-8")
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0
    rows = read_cr(base / "drop" / "esat-seine" / "retour" / "declaration novembre.csv.CR.csv")
    assert [(r["fichier"], r["statut"], r["code"]) for r in rows] == [("declaration novembre.csv", "REJETE", "F02")]
    assert (base / "drop" / "esat-seine" / "archive" / "declaration novembre.csv").exists()


def test_campaign_status_lists_esats_without_rg(area):
    base, cfg = area
    engine = open_database(cfg.database_url)
    rows = campaign_status(engine, 2025, date(2025, 12, 20), perimeter=EVERYTHING)
    assert [(r["siret"], r["caf_gestionnaire"], r["jours_restants"]) for r in rows] == [
        ("81234567600017", "75", 26),
        ("44306184100021", "78", 26),
    ]
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0
    assert campaign_status(engine, 2025, date(2025, 12, 20), perimeter=EVERYTHING) == []
    code, out, _ = cli(base, "campaign", "status", "--year", "2024", "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == "siret;raison_sociale;caf_gestionnaire;jours_restants"
