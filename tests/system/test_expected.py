"""examples/EXPECTED.md, held exactly: statuses, comptes rendus, archives, Caf outputs, rerun, F05."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tests.areas import cli, seed_examples, tree
from tests.conftest import EXAMPLES
from tests.expected import FILES, assert_expected, outputs, read_cr


@pytest.fixture
def area(tmp_path, db_url):
    seed_examples(tmp_path, db_url)
    code, out, err = cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))
    assert code == 0, out + err
    return tmp_path


def test_examples_give_expected(area):
    code, out, err = cli(area, "run", "--as-of", "2025-12-15")
    assert code == 0, out + err
    assert "4 ACCEPTE" in out
    assert_expected(area, area / "drop")


def test_second_run_changes_nothing(area):
    assert cli(area, "run", "--as-of", "2025-12-15")[0] == 0
    before = tree(area / "drop") | {f"out/{k}": v for k, v in tree(area / "outbound").items()}
    code, out, _ = cli(area, "run", "--as-of", "2025-12-15")
    assert code == 0
    assert "Fichiers traités : 0" in out
    after = tree(area / "drop") | {f"out/{k}": v for k, v in tree(area / "outbound").items()}
    assert after == before


def test_after_the_window_rg_files_get_f05(area):
    code, out, err = cli(area, "run", "--as-of", "2026-03-01")
    assert code == 0, out + err
    for account, name in FILES:
        rows = read_cr(area / "drop" / account / "retour" / f"{name}.CR.csv")
        if "_RG_" in name:
            assert [(r["statut"], r["code"], r["gravite"]) for r in rows] == [("REJETE", "F05", "BLOQUANTE")]
            assert "est close" in rows[0]["message"]
        else:
            assert rows[0]["statut"] == "ACCEPTE"
    assert outputs(area, "RG") == {}


def test_outputs_types_values_and_manifests(area):
    assert cli(area, "run", "--as-of", "2025-12-15")[0] == 0
    f = outputs(area, "RG")["75"].sort("nom")
    assert f.columns == [
        "nature",
        "code_caf",
        "caf_gestionnaire",
        "siret_esat",
        "annee_reference",
        "date_effet_droits",
        "nir",
        "nom",
        "prenoms",
        "date_naissance",
        "date_entree_esat",
        "numero_allocataire",
        "taux_activite_esat",
        "remuneration_garantie_nette",
        "part_financee_esat_nette",
        "aide_au_poste_nette",
        "cumul_milieu_ordinaire",
        "siret_employeur_mo",
        "type_contrat_mo",
        "date_debut_mo",
        "heures_hebdo_mo",
        "salaire_net_mo",
        "id_fichier_source",
        "ligne_source",
        "date_reception",
    ]
    assert f.schema["remuneration_garantie_nette"] == pl.Decimal(10, 2)
    assert f.schema["taux_activite_esat"] == pl.Decimal(5, 2)
    assert f.schema["date_naissance"] == pl.Date
    assert f.schema["cumul_milieu_ordinaire"] == pl.Boolean
    assert f.schema["date_reception"] == pl.Datetime("us", "UTC")
    ndiaye = f.row(1, named=True)
    from datetime import date
    from decimal import Decimal

    assert ndiaye["nom"] == "N'DIAYE" and ndiaye["prenoms"] == "MOUSSA"
    assert ndiaye["remuneration_garantie_nette"] == Decimal("517.41")
    assert ndiaye["part_financee_esat_nette"] + ndiaye["aide_au_poste_nette"] == Decimal("517.41")
    assert ndiaye["salaire_net_mo"] == Decimal("612.50") and ndiaye["heures_hebdo_mo"] == Decimal("14.00")
    assert ndiaye["cumul_milieu_ordinaire"] is True and ndiaye["type_contrat_mo"] == "CDI"
    assert ndiaye["date_effet_droits"] == date(2026, 1, 1) and ndiaye["date_naissance"] == date(1990, 11, 23)
    assert ndiaye["numero_allocataire"] == "0456789" and ndiaye["ligne_source"] == 4
    lefevre = f.row(0, named=True)
    assert lefevre["numero_allocataire"] is None and lefevre["siret_employeur_mo"] is None
    assert lefevre["cumul_milieu_ordinaire"] is False

    import hashlib
    import stat

    for m in (area / "outbound").glob("*/*.manifest.json"):
        meta = json.loads(m.read_text())
        parquet, twin = m.parent / meta["file"], m.parent / meta["csv"]
        assert meta["schema_version"] == "1" and meta["code_caf"] == m.parent.name
        assert hashlib.sha256(parquet.read_bytes()).hexdigest() == meta["sha256"]
        assert hashlib.sha256(twin.read_bytes()).hexdigest() == meta["csv_sha256"]
        assert pl.read_parquet(parquet).height == meta["rows"]
        assert pl.read_csv(twin, separator=";").height == meta["rows"]
        assert meta["source_files"] and all(s.isdigit() for s in meta["source_files"])
        for p in (parquet, twin, m):
            assert stat.S_IMODE(p.stat().st_mode) & 0o137 == 0, f"{p.name} is 0640 or tighter"


def test_ca_outputs_columns_and_types(area):
    assert cli(area, "run", "--as-of", "2025-12-15")[0] == 0
    from datetime import date
    from decimal import Decimal

    f = pl.concat(outputs(area, "CA").values())
    assert f.columns == [
        "code_caf",
        "caf_gestionnaire",
        "siret_esat",
        "nir",
        "nom",
        "prenoms",
        "date_naissance",
        "numero_allocataire",
        "type_changement",
        "date_effet",
        "taux_activite_avant",
        "taux_activite_apres",
        "motif_depart",
        "siret_employeur_mo",
        "type_contrat_mo",
        "date_debut_mo",
        "heures_hebdo_mo",
        "id_fichier_source",
        "ligne_source",
        "date_reception",
    ]
    assert f.schema["taux_activite_avant"] == pl.Decimal(5, 2) and f.schema["date_effet"] == pl.Date
    rows = {r["nom"]: r for r in f.iter_rows(named=True)}
    assert (rows["LEFÈVRE"]["taux_activite_avant"], rows["LEFÈVRE"]["taux_activite_apres"]) == (
        Decimal("50.00"),
        Decimal("80.00"),
    )
    assert (
        rows["BERNARD"]["motif_depart"] == "ORIENTATION_MILIEU_ORDINAIRE"
        and rows["BERNARD"]["taux_activite_avant"] is None
    )
    assert rows["MARTIN"]["heures_hebdo_mo"] == Decimal("7.00") and rows["MARTIN"]["date_debut_mo"] == date(2026, 1, 5)
    assert rows["DUBOIS"]["date_effet"] == date(2025, 12, 1) and rows["DUBOIS"]["caf_gestionnaire"] == "78"
