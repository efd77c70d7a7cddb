"""insert_frame / read_frame round trip, on SQLite (executemany) and PostgreSQL (COPY of polars' CSV)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import psycopg
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from exchange.store.bulk import insert_frame, read_frame
from exchange.store.engine import open_current
from exchange.store.tables import anomalies, files, records

TRICKY = ["", None, 'guillemet " et ; virgule, fin', "deux\nlignes", "Éloïse Ñ œ — 🙂", "  espaces  ", "\\N", "NULL"]


def _file(conn) -> int:
    now = datetime(2025, 12, 12, 9, 30, tzinfo=UTC)
    return int(
        conn.execute(
            insert(files).values(
                account="esat-a",
                name="ESAT_1_RG_20251212_001.csv",
                size=1,
                state="TRAITE",
                state_changed_at=now,
                received_at=now,
                processing_date=date(2025, 12, 15),
            )
        ).inserted_primary_key[0]
    )


def test_every_text_null_and_empty_string_comes_back_as_stored(db_url):
    engine = open_current(db_url)
    with engine.begin() as conn:
        fid = _file(conn)
        frame = pl.DataFrame(
            {
                "file_id": [fid] * len(TRICKY),
                "ligne": list(range(2, 2 + len(TRICKY))),
                "code": ["R02"] * len(TRICKY),
                "gravite": ["BLOQUANTE"] * len(TRICKY),
                "message": [t if t is not None else "—" for t in TRICKY],
                "nom": TRICKY,
            }
        )
        assert insert_frame(conn, anomalies, frame) == len(TRICKY)
    with engine.connect() as conn:
        back = read_frame(conn, select(anomalies.c.ligne, anomalies.c.message, anomalies.c.nom).order_by("ligne"))
    assert back["nom"].to_list() == TRICKY  # "" stays "", None stays NULL, "\\N" and "NULL" are text
    assert back["message"].to_list() == [t if t is not None else "—" for t in TRICKY]


def test_dates_datetimes_booleans_and_integers_come_back_as_stored(db_url):
    engine = open_current(db_url)
    received = datetime(2025, 12, 12, 23, 59, 58, 123456, tzinfo=UTC)
    with engine.begin() as conn:
        fid = _file(conn)
        frame = pl.DataFrame(
            {
                "file_id": [fid, fid],
                "kind": ["RG", "RG"],
                "ligne": [2, 3],
                "received_at": [received, received],
                "siret_esat": ["19542896611225", "19542896611225"],
                "annee_reference": [2025, None],
                "nir": ["184127645108946", "284127645108946"],
                "nom": ["DUPONT", ""],
                "prenoms": ["Jean", "Zoé"],
                "date_naissance": [date(1984, 12, 1), None],
                "code_caf": ["751", "751"],
                "remuneration_garantie_nette_c": [123456, None],
                "cumul_milieu_ordinaire": [True, None],
                "superseded": [False, True],
            },
            schema_overrides={"received_at": pl.Datetime("us", "UTC")},
        )
        insert_frame(conn, records, frame)
    with engine.connect() as conn:
        back = read_frame(conn, select(*(records.c[c] for c in frame.columns)).order_by(records.c.ligne))
    assert back["received_at"].dt.replace_time_zone(None).to_list() == [received.replace(tzinfo=None)] * 2
    assert back["date_naissance"].to_list() == [date(1984, 12, 1), None]
    assert back["annee_reference"].to_list() == [2025, None]
    assert back["remuneration_garantie_nette_c"].to_list() == [123456, None]
    assert back["cumul_milieu_ordinaire"].to_list() == [True, None]
    assert back["superseded"].to_list() == [False, True]
    assert back["nom"].to_list() == ["DUPONT", ""]
    assert back["prenoms"].to_list() == ["Jean", "Zoé"]


def test_a_null_cell_is_null_to_sql_itself_and_not_null_still_refuses_it(db_url):
    """On SQLite a NULL is bound as NaN (bulk.SQLITE_NULL): SQL sees NULL, never a number or a text."""
    engine = open_current(db_url)
    with engine.begin() as conn:
        fid = _file(conn)
        frame = pl.DataFrame(
            {
                "file_id": [fid, fid],
                "ligne": [2, 3],
                "code": ["R02", "R03"],
                "gravite": ["BLOQUANTE", "BLOQUANTE"],
                "message": ["m", "m"],
                "nom": [None, "x"],
                "prenoms": [None, None],
            },
            schema_overrides={"prenoms": pl.String},
        )
        insert_frame(conn, anomalies, frame)
        got = conn.exec_driver_sql(
            "SELECT ligne, nom IS NULL, prenoms IS NULL, coalesce(nom, 'vide') FROM anomalies ORDER BY ligne"
        ).all()
    assert [tuple(r) for r in got] == [(2, True, True, "vide"), (3, False, True, "x")]
    with engine.connect() as conn:
        back = read_frame(conn, select(anomalies.c.nom, anomalies.c.prenoms).order_by(anomalies.c.ligne))
    assert back["nom"].to_list() == [None, "x"] and back["prenoms"].to_list() == [None, None]
    with engine.begin() as conn:
        fid = _file(conn)
        bad = pl.DataFrame(
            {"file_id": [fid], "ligne": [2], "code": ["R02"], "gravite": ["BLOQUANTE"], "message": [None]},
            schema_overrides={"message": pl.String},
        )
        with pytest.raises((IntegrityError, psycopg.IntegrityError)):  # PostgreSQL's COPY is the driver's own
            insert_frame(conn, anomalies, bad)
