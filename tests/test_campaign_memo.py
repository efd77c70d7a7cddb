"""The console's campaign reads are kept until the data they read changes (exchange.app.memo.VersionedMemo keyed
by store.reads.campaign.campaign_data_version): a collect that received nothing keeps them; a run that received files, a
replay, a Habpps import or a run in progress makes the next view read again. A real SQLite database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from exchange.app.memo import VersionedMemo
from exchange.store.engine import open_database
from exchange.store.reads.campaign import campaign_data_version
from exchange.store.tables import runs
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES


def test_a_memo_gives_back_its_value_while_the_version_stays_and_reads_again_once_it_moved() -> None:
    version: list[object] = [1]
    computed: list[int] = []
    memo = VersionedMemo(lambda: version[0], size=2)

    def compute() -> int:
        computed.append(1)
        return len(computed)

    assert memo.get("a", compute) == 1 and memo.get("a", compute) == 1 and len(computed) == 1
    version[0] = 2
    assert memo.get("a", compute) == 2 and len(computed) == 2
    version[0] = None  # data being written: read every time, never kept
    assert memo.get("a", compute) == 3 and memo.get("a", compute) == 4
    version[0] = 3
    memo.get("b", compute), memo.get("c", compute), memo.get("d", compute)  # size 2: the oldest forgotten
    before = len(computed)
    memo.get("b", compute)
    assert len(computed) == before + 1


def version_of(base: Path):  # noqa: ANN201
    from exchange.config import load_config

    engine = open_database(load_config(base / "esat-exchange.toml").database_url)
    try:
        with engine.connect() as conn:
            return campaign_data_version(conn)
    finally:
        engine.dispose()


def test_the_campaign_data_version_moves_with_what_changes_records_or_habilitations(tmp_path: Path) -> None:
    cfg = seed_examples(tmp_path)
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0  # four files, all H05
    first = version_of(tmp_path)
    assert first is not None
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0  # nothing left in depot/: records unchanged
    assert version_of(tmp_path) == first
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    imported = version_of(tmp_path)
    assert imported != first
    assert cli(tmp_path, "files", "replay", "2")[0] == 0  # a replay writes records
    replayed = version_of(tmp_path)
    assert replayed != imported
    engine = open_database(cfg.database_url)
    try:
        with engine.begin() as conn:  # a run in progress: its records are being written
            conn.execute(update(runs).where(runs.c.id == 1).values(status="EN_COURS"))
        assert version_of(tmp_path) is None
    finally:
        engine.dispose()
