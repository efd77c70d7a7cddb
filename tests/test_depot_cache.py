"""The console's drop-area listing (exchange.app.status.DepotCache): one listing of every account's depot/ serves
the page views of the next `[web] depot_cache_seconds`; then the drop area is listed again, and an unreachable
drop area is tried again at the next view. A real local drop area; the clock is the test's."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from exchange.app.status import DepotCache, check_health
from exchange.config import ConfigError, load_config
from exchange.edges.transport.factory import open_transport
from exchange.store.engine import open_database
from tests.areas import seed_examples
from tests.conftest import EXAMPLES


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_for(condition, seconds: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the background listing did not end"
        time.sleep(0.02)


def test_one_listing_serves_the_next_minute_then_is_shown_while_the_drop_area_is_listed_again(tmp_path: Path) -> None:
    cfg = seed_examples(tmp_path)
    opened: list[int] = []

    def transport():  # noqa: ANN202 - the real local drop area, counted
        opened.append(1)
        return open_transport(cfg)

    clock = Clock()
    cache = DepotCache(transport, 60, clock)
    engine = open_database(cfg.database_url)
    try:
        cache.warm()  # the console starting: its first listing, in the background
        wait_for(lambda: cache.read_at is not None)
        first = check_health(engine, cache)
        assert sum(first.depot.values()) == 4 and len(opened) == 1
        extra = tmp_path / "drop" / "horizon-paie" / "depot" / "ESAT_44306184100021_RG_20251211_002.xml"
        shutil.copy(EXAMPLES / "drop" / "horizon-paie" / "depot" / "ESAT_44306184100021_RG_20251211_001.xml", extra)
        clock.now += 59
        assert sum(check_health(engine, cache).depot.values()) == 4 and len(opened) == 1  # the same listing
        clock.now += 1  # a minute old: still shown, while a new listing is made in the background
        read_before = cache.read_at
        assert sum(check_health(engine, cache).depot.values()) == 4
        wait_for(lambda: cache.read_at != read_before)
        assert len(opened) == 2 and sum(check_health(engine, cache).depot.values()) == 5
        extra.unlink()
        clock.now += 60 * DepotCache.STALE_FACTOR  # too old to be shown: this view lists the drop area itself
        assert sum(check_health(engine, cache).depot.values()) == 4 and len(opened) == 3
    finally:
        engine.dispose()


def test_an_unreachable_drop_area_is_an_alert_and_is_tried_again_at_the_next_view(tmp_path: Path) -> None:
    cfg = seed_examples(tmp_path)
    clock = Clock()
    cache = DepotCache(lambda: open_transport(cfg), 60, clock)
    engine = open_database(cfg.database_url)
    moved = tmp_path / "ailleurs"
    try:
        (tmp_path / "drop").rename(moved)
        health = check_health(engine, cache)
        assert health.depot is None and any("zone de dépôt injoignable" in r for r in health.reasons)
        moved.rename(tmp_path / "drop")
        assert sum(check_health(engine, cache).depot.values()) == 4  # not cached: the next view lists it
        # a background listing that fails is not hidden behind the last listing: the next view says why
        clock.now += 60
        (tmp_path / "drop").rename(moved)
        assert sum(check_health(engine, cache).depot.values()) == 4  # the last listing, while it lists again
        wait_for(lambda: not cache._listing.locked())
        health = check_health(engine, cache)
        assert health.depot is None and any("zone de dépôt injoignable" in r for r in health.reasons)
        moved.rename(tmp_path / "drop")
    finally:
        engine.dispose()


def test_zero_lists_at_every_view_and_a_negative_age_is_refused(tmp_path: Path) -> None:
    assert load_config(None).web.depot_cache_seconds == 60
    path = tmp_path / "esat-exchange.toml"
    path.write_text("[web]\ndepot_cache_seconds = -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="web.depot_cache_seconds: doit être positif ou nul"):
        load_config(path)
    cfg = seed_examples(tmp_path / "zone")
    opened: list[int] = []
    cache = DepotCache(lambda: opened.append(1) or open_transport(cfg), 0, Clock())
    cache.depot_snapshot()
    cache.depot_snapshot()
    assert len(opened) == 2
