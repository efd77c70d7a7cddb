"""The console's campaign reads are kept until the data they read changes (exchange.app.memo.VersionedMemo keyed
by store.reads.campaign.campaign_data_version): a collect that received nothing keeps them; a run that received files, a
replay, a Habpps import or a run in progress makes the next view read again. A real SQLite database."""

from __future__ import annotations

from pathlib import Path

from exchange.app.memo import VersionedMemo
from exchange.store.engine import open_database
from exchange.store.reads.campaign import campaign_data_version
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES
from tests.rows import set_run


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
            set_run(conn, 1, status="EN_COURS")
        assert version_of(tmp_path) is None
    finally:
        engine.dispose()


def test_refresh_computes_again_only_the_keys_asked_for_since_the_last_one() -> None:
    version: list[object] = [1]
    computed: list[str] = []
    memo = VersionedMemo(lambda: version[0])

    def compute(key: str):  # noqa: ANN202
        return lambda: computed.append(key) or f"{key}{version[0]}"

    memo.get("a", compute("a")), memo.get("b", compute("b"))
    version[0] = 2
    assert sorted(memo.refresh()) == ["a", "b"] and sorted(computed) == ["a", "a", "b", "b"]
    assert memo.get("a", compute("never")) == "a2"  # ready: the page does not read
    version[0] = 3
    assert memo.refresh() == ["a"]  # b was not asked for since: refreshed once, then left
    version[0] = None  # a run writing: nothing computed in the background
    assert memo.refresh() == []


def test_the_console_prepares_the_national_campaign_before_any_page_asks_and_after_each_change(
    tmp_path: Path,
) -> None:
    from exchange.app.campaign import campaign_followup
    from exchange.core.clock import today_in_paris
    from exchange.web.app import campaign_version
    from exchange.web.pages import campaign_figures, current_campaign
    from exchange.web.warm import NATIONAL, CampaignWarmer

    cfg = seed_examples(tmp_path)
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    engine = open_database(cfg.database_url)
    try:
        memo = VersionedMemo(lambda: campaign_version(engine))
        warmer = CampaignWarmer(engine, memo)
        assert warmer.prepare() and not warmer.prepare()  # once per version

        def fail():  # noqa: ANN202
            raise AssertionError("read while the operator waits")

        today = today_in_paris()
        year = current_campaign(today)
        assert memo.get(("suivi", year, today, None, NATIONAL), fail) == ([], {})  # no habilitations yet
        assert memo.get(("acceptes", year, NATIONAL), fail) == campaign_figures(engine, memo, year, NATIONAL)[0]
        assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
        assert warmer.prepare()  # the import moved the version: read again in the background
        missing, _ = memo.get(("suivi", year, today, None, NATIONAL), fail)
        assert sorted(m["siret"] for m in missing) == ["44306184100021", "81234567600017"]
        shown = campaign_followup(engine, None, year, today, None, perimeter=NATIONAL, memo=memo)
        assert [m["siret"] for m in shown] == [m["siret"] for m in missing]  # what the page shows, unread again
    finally:
        engine.dispose()
