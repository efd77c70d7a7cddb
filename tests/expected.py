"""examples/EXPECTED.md as assertions, shared by the tests that run the spec's examples (tests/system/test_expected.py,
the crash and SFTP runs, the cycle's tests in tests/app): the comptes rendus read, the Caf outputs gathered."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl

from tests.paths import EXAMPLES

FILES = {
    ("esat-seine", "ESAT_81234567600017_RG_20251210_001.csv"),
    ("esat-seine", "ESAT_81234567600017_CA_20251212_001.csv"),
    ("horizon-paie", "ESAT_44306184100021_RG_20251211_001.xml"),
    ("horizon-paie", "ESAT_44306184100021_CA_20251212_001.xml"),
}


def read_cr(path: Path) -> list[dict]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "the compte rendu CSV starts with a BOM"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))


def outputs(base: Path, flux: str) -> dict[str, pl.DataFrame]:
    found: dict[str, list[pl.DataFrame]] = {}
    for p in sorted((base / "outbound").glob(f"*/AAH-ESAT_{flux}_*.parquet")):
        found.setdefault(p.parent.name, []).append(pl.read_parquet(p))
    return {caf: pl.concat(frames) for caf, frames in found.items()}


def assert_expected(area: Path, drop: Path) -> None:
    """Every line of examples/EXPECTED.md for a run over the examples' drop area."""
    for account, name in FILES:
        acc = drop / account
        assert not (acc / "depot" / name).exists()
        assert (acc / "archive" / name).read_bytes() == (EXAMPLES / "drop" / account / "depot" / name).read_bytes()
        rows = read_cr(acc / "retour" / f"{name}.CR.csv")
        assert len(rows) == 1
        assert rows[0]["fichier"] == name and rows[0]["statut"] == "ACCEPTE"
        assert rows[0]["date_traitement"] == "2025-12-15"
        assert [rows[0][c] for c in ("ligne", "nir_masque", "code", "gravite", "champ", "message")] == [""] * 6
        assert rows[0]["enregistrements_rejetes"] == "0"
        assert (acc / "retour" / f"{name}.CR.xml").exists()

    rg = outputs(area, "RG")
    assert {caf: sorted(f["nom"].to_list()) for caf, f in rg.items()} == {
        "78": ["MARTIN"],
        "75": ["LEFÈVRE", "N'DIAYE"],
        "2A": ["SANTONI"],
        "69": ["DUBOIS"],
    }
    ca = outputs(area, "CA")
    assert {caf: sorted(zip(f["nom"].to_list(), f["type_changement"].to_list())) for caf, f in ca.items()} == {
        "75": [("BERNARD", "DEPART"), ("LEFÈVRE", "HAUSSE_TAUX")],
        "78": [("MARTIN", "DEBUT_CUMUL_MO")],
        "69": [("DUBOIS", "BAISSE_TAUX")],
    }
    for frames in (rg, ca):
        for f in frames.values():
            for siret, gest in zip(f["siret_esat"], f["caf_gestionnaire"]):
                assert gest == {"81234567600017": "75", "44306184100021": "78"}[siret]
    assert all(n == "INITIALE" for f in rg.values() for n in f["nature"])
