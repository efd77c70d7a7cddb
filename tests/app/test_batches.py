"""Files judged together in one batch stay independent: R08 within a file, one defect quarantines one file."""

from __future__ import annotations

import json

import polars as pl

import exchange.app.cycle
from tests.areas import SEINE_RG, cli, corrected_seine_rg, seed_examples
from tests.conftest import EXAMPLES
from tests.expected import read_cr

RG = SEINE_RG


def test_same_workers_in_two_files_of_one_batch(tmp_path):
    seed_examples(tmp_path)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    second = corrected_seine_rg(tmp_path)  # received after the first one
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    first_cr = read_cr(tmp_path / "drop" / "esat-seine" / "retour" / f"{RG}.CR.csv")
    assert [(r["statut"], r["code"]) for r in first_cr] == [("ACCEPTE", "")]  # no R08 across files
    second_cr = read_cr(tmp_path / "drop" / "esat-seine" / "retour" / f"{second.name}.CR.csv")
    assert [(r["statut"], r["ligne"], r["code"]) for r in second_cr] == [
        ("ACCEPTE", "2", "W05"),
        ("ACCEPTE", "3", "W05"),
        ("ACCEPTE", "4", "W05"),
    ]
    rg = pl.concat([pl.read_parquet(p) for p in (tmp_path / "outbound").glob("*/AAH-ESAT_RG_*.parquet")])
    seine = rg.filter(pl.col("siret_esat") == "81234567600017")
    assert seine.height == 3 and set(seine["nature"]) == {"INITIALE"}  # only the latest, emitted once


def test_a_defect_on_one_file_quarantines_it_and_not_the_batch(tmp_path, monkeypatch):
    seed_examples(tmp_path)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    real = exchange.app.cycle.judge_records

    def flaky(batch, as_of):  # noqa: ANN001
        if any(p.name == RG for p in batch):
            raise RuntimeError("défaut simulé")
        return real(batch, as_of)

    monkeypatch.setattr(exchange.app.cycle, "judge_records", flaky)
    code, out, err = cli(tmp_path, "run", "--as-of", "2025-12-15")
    assert code == 1 and "quarantaine" in out
    listed = {f["fichier"]: f for f in json.loads(cli(tmp_path, "files", "list", "--format", "json")[1])}
    assert listed[RG]["etat"] == "QUARANTAINE"
    assert {f["statut"] for n, f in listed.items() if n != RG} == {"ACCEPTE"}
    assert not (tmp_path / "drop" / "esat-seine" / "retour" / f"{RG}.CR.csv").exists()

    monkeypatch.setattr(exchange.app.cycle, "judge_records", real)  # the defect is fixed: replay the file
    code, out, err = cli(tmp_path, "files", "replay", str(listed[RG]["id"]))
    assert code == 0, out + err
    assert read_cr(tmp_path / "drop" / "esat-seine" / "retour" / f"{RG}.CR.csv")[0]["statut"] == "ACCEPTE"
