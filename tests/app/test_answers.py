"""The console serves a reception's comptes rendus rebuilt from the ledger (exchange.app.answers), never read from
the drop area on a page view: byte for byte what the cycle wrote to retour/, for every file of the spec's examples,
first answers and replayed ones."""

from __future__ import annotations

from pathlib import Path

from exchange.app.answers import answer_names, rebuilt_answer
from exchange.config import load_config
from exchange.store import ledger
from exchange.store.engine import open_database
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES
from tests.rows import all_files


def _compare(base: Path, engine, cfg) -> int:  # noqa: ANN001
    compared = 0
    with engine.connect() as conn:
        rows = [ledger.get_file(conn, f["id"]) for f in all_files(conn)]
        for row in rows:
            latest = ledger.latest_answered_all(conn, [(row["account"], row["name"])])[(row["account"], row["name"])]
            for name in answer_names(row, latest["id"]):
                written = (base / "drop" / row["account"] / "retour" / name).read_bytes()
                assert rebuilt_answer(cfg, engine, row, name, latest["id"]) == written, name
                compared += 1
    return compared


def test_rebuilt_comptes_rendus_are_the_ones_written(tmp_path):
    cfg = seed_examples(tmp_path)
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0  # every file H05
    engine = open_database(load_config(tmp_path / "esat-exchange.toml").database_url)
    try:
        assert _compare(tmp_path, engine, cfg) == 12  # four files, three forms each
        assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
        assert cli(tmp_path, "files", "replay", "--habilitation")[0] == 0  # each file answered a second time
        assert _compare(tmp_path, engine, cfg) == 12
        with engine.connect() as conn:
            row = ledger.get_file(conn, 1)
        assert rebuilt_answer(cfg, engine, row, "autre.CR.csv", 1) is None  # only its own names
    finally:
        engine.dispose()
