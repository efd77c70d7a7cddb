"""SQLite's plans for the reads that name a few Esats: they seek them, never walk a whole year of records."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.engine import Connection

from exchange.core.perimeter import Perimeter
from exchange.store.engine import open_current
from exchange.store.reads.campaign import accepted_rg_per_caf
from exchange.store.records import esats_rg_in_force
from tests.conftest import upgrade_database

SEEK = "ix_records_campaign (kind=? AND annee_reference=? AND siret_esat=?)"


def _plan_of_records_read(tmp_path, read: Callable[[Connection], object]) -> str:
    """SQLite's plan (EXPLAIN QUERY PLAN) of the query on `records` that `read` runs, on a database at head."""
    url = f"sqlite:///{tmp_path / 'exchange.db'}"
    upgrade_database(url)
    engine = open_current(url)
    seen: list[tuple[str, object]] = []
    event.listen(engine, "before_cursor_execute", lambda c, cur, sql, params, ctx, many: seen.append((sql, params)))
    with engine.connect() as conn:
        read(conn)
        sql, params = next((s, p) for s, p in seen if "FROM records" in s)
        return " | ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))


def test_a_batch_reads_its_esats_records_in_force_by_seeking_them(tmp_path):
    plan = _plan_of_records_read(
        tmp_path, lambda conn: conn.execute(esats_rg_in_force(["19542896611225", "44306184100047"], [2024, 2025]))
    )
    # one seek per (year, SIRET); ix_records_rg_caf would walk every record of the year for every batch
    assert SEEK in plan, plan
    assert "ix_records_rg_caf" not in plan, plan


def test_the_campaign_of_a_caf_perimeter_seeks_its_esats(tmp_path):
    plan = _plan_of_records_read(
        tmp_path, lambda conn: accepted_rg_per_caf(conn, 2025, perimeter=Perimeter(cafs=frozenset({"75"})))
    )
    assert SEEK in plan, plan
    assert "ix_records_rg_caf" not in plan, plan
