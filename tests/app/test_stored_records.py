"""The emission written from the rows the run itself stored (StoredRecords) is exactly the one read back from
the database; anything it does not hold exactly sends the emission back to the database."""

from __future__ import annotations

import polars as pl
import pytest
from sqlalchemy import select

from exchange.app.stored_records import StoredRecords
from exchange.core.caf_output import output_frame
from exchange.store import emissions as emission_store
from exchange.store.engine import open_database
from exchange.store.tables import emissions
from tests.areas import cli, corrected_seine_rg, seed_examples
from tests.conftest import EXAMPLES


@pytest.fixture
def area(tmp_path, db_url):
    seed_examples(tmp_path, db_url)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    return tmp_path


def _written_equals_database(base, url) -> int:
    """Every delta emission's Parquet file is the output frame of its records as the database holds them."""
    engine = open_database(url)
    n = 0
    with engine.connect() as conn:
        rows = conn.execute(
            select(emissions.c.id, emissions.c.flux, emissions.c.code_caf, emissions.c.name).where(
                emissions.c.flux.in_(("RG", "CA"))
            )
        ).all()
        for eid, flux, caf, name in rows:
            want = output_frame(emission_store.assigned_records(conn, [eid]), flux)
            got = pl.read_parquet(base / "outbound" / caf / f"{name}.parquet")
            assert got.schema == want.schema, name
            assert got.equals(want), name
            n += 1
    engine.dispose()
    return n


def test_the_run_writes_its_caf_files_from_what_it_stored_without_reading_them_back(area, db_url, monkeypatch):
    def refused(*_args, **_kwargs):
        raise AssertionError("records read back although the run stored them all")

    monkeypatch.setattr(emission_store, "assigned_records", refused)
    code, out, err = cli(area, "run", "--as-of", "2025-12-15")
    assert code == 0, out + err
    monkeypatch.undo()
    assert _written_equals_database(area, db_url) >= 2


def test_a_record_replaced_in_the_same_run_is_not_emitted_and_the_files_match_the_database(area, db_url):
    corrected_seine_rg(area)
    code, out, err = cli(area, "run", "--as-of", "2025-12-15")
    assert code == 0, out + err
    assert _written_equals_database(area, db_url) >= 2
    rg = pl.concat(pl.read_parquet(p) for p in (area / "outbound").glob("*/AAH-ESAT_RG_*.parquet"))
    seine = rg.filter(pl.col("siret_esat") == "81234567600017")
    assert seine["nir"].is_duplicated().sum() == 0  # the first file's records, replaced, never went out
    assert "870.00" in {str(v) for v in seine["remuneration_garantie_nette"].to_list()}


def _rows(emission_id: int, lignes: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "emission_id": [emission_id] * len(lignes),
            "file_id": [1] * len(lignes),
            "ligne": lignes,
            "nom": ["A"] * len(lignes),
        }
    )


def _keys(emission_id: int, lignes: list[int]) -> pl.DataFrame:
    return _rows(emission_id, lignes).drop("nom")


def test_held_gives_exactly_the_database_s_records_in_its_order():
    kept = StoredRecords()
    kept.add([_rows(7, [2, 3, 4]), _rows(8, [5])])
    held = kept.held(_keys(7, [4, 2]))  # 3 was replaced since: not in the database, not offered
    assert held is not None and held["ligne"].to_list() == [4, 2]


def test_held_refuses_when_a_record_is_missing_duplicated_or_past_the_bound():
    kept = StoredRecords()
    kept.add([_rows(7, [2, 3])])
    assert kept.held(_keys(7, [2, 3, 9])) is None  # one the run did not store (an earlier run's)
    assert kept.held(_keys(9, [2])) is None  # an emission it holds nothing of
    twice = StoredRecords()
    twice.add([_rows(7, [2]), _rows(7, [2])])
    assert twice.held(_keys(7, [2])) is None
    small = StoredRecords(limit=2)
    small.add([_rows(7, [2, 3, 4])])
    assert not small.usable and small.frames == [] and small.held(_keys(7, [2])) is None
    small.add([_rows(7, [5])])
    assert small.frames == []  # past the bound, nothing more is kept


def test_rows_of_a_transaction_that_did_not_commit_are_never_kept(area, db_url, monkeypatch):
    """A batch whose storing fails is stored again file by file: only what committed is kept, and the Caf files
    still equal the database."""
    import exchange.app.cycle as cycle

    real = cycle._store_many
    calls = {"n": 0}

    def failing_once(conn, items, inserted):
        calls["n"] += 1
        result = real(conn, items, inserted)
        if calls["n"] == 1 and len(items) > 1:
            raise RuntimeError("défaut simulé après l'insertion")
        return result

    monkeypatch.setattr(cycle, "_store_many", failing_once)
    code, out, err = cli(area, "run", "--as-of", "2025-12-15")
    assert calls["n"] > 1, out + err
    monkeypatch.undo()
    assert _written_equals_database(area, db_url) >= 2
