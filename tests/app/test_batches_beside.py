"""On PostgreSQL a batch is stored by a second thread while the next one is received and judged: the outcome is
exactly that of one batch after the other (SQLite), whatever the batch size; a failure there stops nothing else."""

from __future__ import annotations

import json
import threading

import polars as pl
import pytest

import exchange.app.cycle
from tests.areas import SEINE_RG, cli, corrected_seine_rg, seed_examples
from tests.conftest import EXAMPLES
from tests.expected import read_cr

RG = SEINE_RG


def _area(base, url):
    seed_examples(base, url)
    assert cli(base, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    corrected_seine_rg(base)  # received after the first, in a later batch


def _outcome(base) -> dict:
    """What users see: each file's state, statut and counts; every compte rendu's rows; the Caf files' rows."""
    listed = json.loads(cli(base, "files", "list", "--format", "json")[1])
    files = sorted(
        (f["compte"], f["fichier"], f["etat"], f["statut"], f.get("acceptes"), f.get("rejetes")) for f in listed
    )
    crs = {
        p.name: [(r["statut"], r["ligne"], r["code"]) for r in read_cr(p)]
        for p in sorted((base / "drop").glob("*/retour/*.CR.csv"))
    }
    outputs = {}
    for flux in ("RG", "CA"):
        frames = [pl.read_parquet(p) for p in sorted((base / "outbound").glob(f"*/AAH-ESAT_{flux}_*.parquet"))]
        if frames:
            rows = pl.concat(frames).drop("date_reception", "id_fichier_source")
            outputs[flux] = sorted(rows.rows())
    return {"files": files, "crs": crs, "outputs": outputs}


def test_postgresql_batches_stored_beside_give_what_sqlite_gives_one_after_the_other(tmp_path, pg_url, monkeypatch):
    monkeypatch.setattr(exchange.app.cycle, "BATCH_FILES", 2)  # the examples in several batches
    threads: set[str] = set()
    real = exchange.app.cycle._store_batch

    def watched(ctx, items):  # noqa: ANN001
        threads.add(threading.current_thread().name)
        return real(ctx, items)

    monkeypatch.setattr(exchange.app.cycle, "_store_batch", watched)
    outcomes = {}
    for name, url in (("sqlite", None), ("postgresql", pg_url)):
        base = tmp_path / name
        base.mkdir()
        _area(base, url)
        code, out, err = cli(base, "run", "--as-of", "2025-12-15")
        assert code == 0, out + err
        outcomes[name] = _outcome(base)
    assert any(t.startswith("enregistrement") for t in threads)  # PostgreSQL stored beside
    assert outcomes["postgresql"] == outcomes["sqlite"]
    second = outcomes["postgresql"]["crs"]["ESAT_81234567600017_RG_20251211_002.csv.CR.csv"]
    assert second == [("ACCEPTE", "2", "W05"), ("ACCEPTE", "3", "W05"), ("ACCEPTE", "4", "W05")]


def test_a_failed_store_beside_is_retried_file_by_file_and_sets_aside_only_its_file(tmp_path, pg_url, monkeypatch):
    monkeypatch.setattr(exchange.app.cycle, "BATCH_FILES", 2)
    _area(tmp_path, pg_url)
    real = exchange.app.cycle._store_many

    def flaky(conn, items, inserted):  # noqa: ANN001
        if any(row["name"] == RG for row, _ in items):
            raise RuntimeError("défaut simulé")
        return real(conn, items, inserted)

    monkeypatch.setattr(exchange.app.cycle, "_store_many", flaky)
    code, out, err = cli(tmp_path, "run", "--as-of", "2025-12-15")
    assert code == 1 and "quarantaine" in out, out + err
    listed = {f["fichier"]: f for f in json.loads(cli(tmp_path, "files", "list", "--format", "json")[1])}
    assert listed[RG]["etat"] == "QUARANTAINE"
    assert {f["etat"] for n, f in listed.items() if n != RG} == {"ACQUITTE"}


@pytest.mark.parametrize("batch_files", [1, 3])
def test_stopping_between_batches_leaves_no_batch_stored_and_unanswered(tmp_path, pg_url, monkeypatch, batch_files):
    monkeypatch.setattr(exchange.app.cycle, "BATCH_FILES", batch_files)
    _area(tmp_path, pg_url)
    asked = {"n": 0}
    real = exchange.app.cycle._judged

    def judged_then_stop(ctx, ids):  # noqa: ANN001
        asked["n"] += 1
        if asked["n"] == 2:
            ctx.stop = lambda: True
        return real(ctx, ids)

    monkeypatch.setattr(exchange.app.cycle, "_judged", judged_then_stop)
    cli(tmp_path, "run", "--as-of", "2025-12-15")
    listed = json.loads(cli(tmp_path, "files", "list", "--format", "json")[1])
    assert {f["etat"] for f in listed} <= {"ACQUITTE"}  # every file taken was answered; the rest wait in depot/
    assert asked["n"] == 2
