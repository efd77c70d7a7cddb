"""The console's watch on the drop area (exchange.app.depot_watch.DepotWatch): a background thread lists every
account's depot/; page views read what it last found and never list the drop area themselves; an unreachable
drop area is « injoignable depuis HH:MM » with a French reason. A real local drop area; the clock is the test's."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exchange.app.depot_watch import DepotWatch
from exchange.app.status import check_health
from exchange.config import ConfigError, load_config
from exchange.edges.transport.factory import open_transport
from exchange.store.engine import open_database
from tests.areas import seed_examples
from tests.conftest import EXAMPLES


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # 08:00 in Paris

    def __call__(self) -> datetime:
        return self.now


def wait_for(condition, seconds: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the background listing did not end"
        time.sleep(0.02)


def test_views_read_the_background_listing_and_never_list_the_drop_area(tmp_path: Path) -> None:
    cfg = seed_examples(tmp_path)
    opened: list[int] = []

    def transport():  # noqa: ANN202 - the real local drop area, counted
        opened.append(1)
        return open_transport(cfg)

    watch = DepotWatch(transport, 3600, 5)
    engine = open_database(cfg.database_url)
    try:
        watch.start()  # the console starting: its first listing, in the background
        wait_for(lambda: watch.state().listed_at is not None)
        first = check_health(engine, watch.state())
        assert sum(first.depot.values()) == 4 and len(opened) == 1
        extra = tmp_path / "drop" / "horizon-paie" / "depot" / "ESAT_44306184100021_RG_20251211_002.xml"
        shutil.copy(EXAMPLES / "drop" / "horizon-paie" / "depot" / "ESAT_44306184100021_RG_20251211_001.xml", extra)
        for _ in range(20):  # twenty page views: the same listing, the drop area untouched
            assert sum(check_health(engine, watch.state()).depot.values()) == 4
        assert len(opened) == 1
        before = watch.state().listed_at
        watch.nudge()  # after an action of the console: listed again, in the background
        wait_for(lambda: watch.state().listed_at != before)
        assert len(opened) == 2 and sum(check_health(engine, watch.state()).depot.values()) == 5
    finally:
        watch.stop()
        engine.dispose()


def test_an_unreachable_drop_area_says_since_when_and_why_in_french(tmp_path: Path) -> None:
    cfg = seed_examples(tmp_path)
    clock = Clock()
    watch = DepotWatch(lambda: open_transport(cfg), 60, 300, clock)  # patience far above a loaded machine's listing
    engine = open_database(cfg.database_url)
    moved = tmp_path / "ailleurs"
    try:
        watch.list_once()
        assert watch.state().up is True
        (tmp_path / "drop").rename(moved)
        clock.now += timedelta(minutes=12)
        watch.list_once()  # 08:12: fails
        clock.now += timedelta(minutes=3)
        watch.list_once()  # 08:15: fails again; still unreachable since 08:12
        state = watch.state()
        assert state.up is False and state.listed_at == datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
        health = check_health(engine, state, clock.now)
        assert health.depot is None and health.state == "ALERTE"
        alert = next(r for r in health.alerts if r.code == "ZONE_DE_DEPOT_INJOIGNABLE")
        assert alert.text.startswith(
            f"zone de dépôt injoignable depuis 08:12 : dossier de dépôt introuvable : {tmp_path / 'drop'} ; "
            "l'administrateur du service vérifie le serveur SFTP"
        ), alert.text
        assert alert.who == "l'administrateur du service"
        moved.rename(tmp_path / "drop")
        watch.list_once()
        assert watch.state().up is True and watch.state().unreachable_since is None
        assert sum(check_health(engine, watch.state(), clock.now).depot.values()) == 4
    finally:
        engine.dispose()


def test_links_and_folders_in_a_depot_are_never_counted_as_waiting(tmp_path: Path) -> None:
    cfg = seed_examples(tmp_path)
    depot = tmp_path / "drop" / "horizon-paie" / "depot"
    (depot / "lien.csv").symlink_to("/etc/hostname")
    (depot / "un-dossier").mkdir()
    watch = DepotWatch(lambda: open_transport(cfg), 60, 5)
    watch.list_once()
    engine = open_database(cfg.database_url)
    try:
        health = check_health(engine, watch.state())
        assert sum(health.depot.values()) == 4  # the four files of the examples, not the link nor the folder
        assert sorted(r["fichier"] for r in health.refused) == ["lien.csv", "un-dossier"]
    finally:
        engine.dispose()


def test_the_listing_interval_and_the_patience_are_checked(tmp_path: Path) -> None:
    assert load_config(None).web.depot_cache_seconds == 60
    assert load_config(None).web.depot_patience_seconds == 5
    path = tmp_path / "esat-exchange.toml"
    path.write_text("[web]\ndepot_cache_seconds = -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="web.depot_cache_seconds: doit être positif ou nul"):
        load_config(path)
    path.write_text("[web]\ndepot_patience_seconds = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="web.depot_patience_seconds: doit être strictement positif"):
        load_config(path)
