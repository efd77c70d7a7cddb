"""The figures /sante and /metrics publish (exchange.app.figures.FigureKeeper): read in the background when the data
moved, so that a probe reads them without touching the database; a database that does not answer is a code."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import event

from exchange.app.depot_watch import DepotState
from exchange.app.figures import FigureKeeper, readiness
from exchange.app.pauses import pause
from exchange.store.engine import open_database
from tests.areas import cli, seed_examples
from tests.browser import free_port

NOW = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)


def wait_for(condition, seconds: float = 20.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the figures were not read again"
        time.sleep(0.05)


def test_probes_read_prepared_figures_and_see_a_change_made_by_another_process(tmp_path):
    cfg = seed_examples(tmp_path)
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    engine = open_database(cfg.database_url)
    keeper = FigureKeeper(engine, every_seconds=3600, poll_seconds=0.2)
    statements: list[str] = []
    try:
        keeper.start()
        wait_for(lambda: keeper._figures is not None)
        keeper.stop()  # no background reading from here: what a probe costs alone
        time.sleep(0.5)
        event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        up = DepotState(NOW, {}, NOW)
        for _ in range(50):  # fifty probes: not one statement
            body = readiness(keeper.current(), up, NOW, keeper.failing)
        assert statements == []
        assert body["etat"] == "ALERTE" and {"code": "EXTRAIT_HABPPS_ABSENT", "nombre": 1} in body["raisons"]
        assert body["a_traiter"] == [{"code": "HABILITATIONS_A_CORRIGER", "nombre": 4}]
        assert body["avertissements"] == []
        keeper = FigureKeeper(engine, every_seconds=3600, poll_seconds=0.2)
        keeper.start()
        wait_for(lambda: keeper._figures is not None)
        pause(engine, "collect", "cli:exploitation", "maintenance du serveur SFTP")  # as the command line does
        wait_for(lambda: readiness(keeper.current(), up, NOW)["avertissements"] != [])
        assert readiness(keeper.current(), up, NOW)["avertissements"] == [{"code": "TACHE_SUSPENDUE", "nombre": 1}]
    finally:
        keeper.stop()
        engine.dispose()


def test_a_database_that_does_not_answer_is_a_code_not_an_error_page(tmp_path):
    engine = open_database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2")
    keeper = FigureKeeper(engine, poll_seconds=3600)
    try:
        figures = keeper.current()
        assert figures is None and keeper.failing
        body = readiness(figures, DepotState(NOW), NOW, keeper.failing)
        assert body["etat"] == "ALERTE" and body["raisons"] == [{"code": "BASE_DE_DONNEES_INJOIGNABLE", "nombre": 1}]
        assert body["zone_de_depot"] == {"repond": None, "dernier_releve_reussi": None, "injoignable_depuis": None}
    finally:
        keeper.stop()
        engine.dispose()
