"""The one guarded state move: a row moves only from the expected state; otherwise LedgerConflict and nothing moved."""

from __future__ import annotations

from datetime import date

import pytest

from exchange.core.perimeter import EVERYTHING
from exchange.core.tally import RunTally
from exchange.core.vocabulary import ECHEC, EN_COURS, OK
from exchange.store import runs
from exchange.store.engine import open_database
from exchange.store.moves import LedgerConflict, guarded_move
from exchange.store.reads.runs import get_run
from exchange.store.tables import runs as runs_table


def _status(engine, run_id: int) -> str:
    with engine.connect() as conn:
        return get_run(conn, run_id, perimeter=EVERYTHING)["statut"]


def test_a_run_finishes_once_and_a_second_finish_changes_nothing(db_url):
    engine = open_database(db_url)
    with engine.begin() as conn:
        run_id = runs.start_run(conn, "run", date(2025, 12, 15))
    with engine.begin() as conn:
        runs.finish_run(conn, run_id, OK, RunTally())
    assert _status(engine, run_id) == OK
    with (
        pytest.raises(LedgerConflict, match=rf"run {run_id}: expected state {EN_COURS} to move to {ECHEC}, found {OK}"),
        engine.begin() as conn,
    ):
        runs.finish_run(conn, run_id, ECHEC, RunTally(), "trop tard")
    assert _status(engine, run_id) == OK


def test_many_rows_move_together_or_not_at_all(db_url):
    engine = open_database(db_url)
    with engine.begin() as conn:
        ids = [runs.start_run(conn, "collect", None) for _ in range(3)]
    with engine.begin() as conn:
        runs.finish_run(conn, ids[1], OK, RunTally())
    with (
        pytest.raises(
            LedgerConflict, match=rf"runs {{{ids[1]}: '{OK}'}}: expected state {EN_COURS} to move to {ECHEC}"
        ),
        engine.begin() as conn,
    ):
        guarded_move(conn, runs_table, ids, (EN_COURS,), ECHEC, state="status", what="run", error="arrêt")
    assert [_status(engine, i) for i in ids] == [EN_COURS, OK, EN_COURS]  # the transaction rolled back: none moved
    with engine.begin() as conn:
        runs.close_interrupted_runs(conn, ("collect",))
    assert [_status(engine, i) for i in ids] == [ECHEC, OK, ECHEC]
