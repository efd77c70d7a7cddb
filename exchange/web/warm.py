"""The console's campaign reads prepared in the background: computed again as soon as a run or an import moved them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable

from exchange.app.campaign import campaign_followup
from exchange.app.memo import VersionedMemo
from exchange.core.clock import today_in_paris
from exchange.core.perimeter import Perimeter
from exchange.store.engine import Engine
from exchange.store.errors import DATABASE_ERRORS
from exchange.web.pages import campaign_figures, current_campaign

log = logging.getLogger("esat_exchange")
EVERY_SECONDS = 5.0  # how often the data version is read (three small queries)
NATIONAL = Perimeter(national=True)


class CampaignWarmer:
    """A daemon thread that, whenever the campaign's data version moved (and no run is writing), reads the
    national campaign in progress and the one before into `memo` and computes again every other key pages asked
    for since (their perimeters, their Cafs), so that a page's first view after a run, an import or a restart finds them
    ready instead of reading a national year of records while the operator waits."""

    def __init__(self, engine: Engine, memo: VersionedMemo, every: float = EVERY_SECONDS) -> None:
        self.engine, self.memo, self.every = engine, memo, every
        self._prepared: Hashable | None = None  # the version last prepared
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once the first look is over (prepared, or the database away)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="campagne-preparee", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every + 5)

    def prepare(self) -> bool:
        """One look: the reads computed again when the version moved since the last look; whether they were."""
        version = self.memo.version()
        if version is None or version == self._prepared:
            return False
        today = today_in_paris()
        current = current_campaign(today)
        for year in (current, current - 1):  # the campaign in progress, and the one before (its close, its figures)
            campaign_followup(self.engine, None, year, today, None, perimeter=NATIONAL, memo=self.memo)
            campaign_figures(self.engine, self.memo, year, NATIONAL)
        self.memo.refresh()
        self._prepared = version
        return True

    def _loop(self) -> None:
        wait = 0.0  # the first look at once: the console starting
        while not self._stop.wait(wait):
            wait = self.every
            try:
                self.prepare()
            except DATABASE_ERRORS as e:  # the database away for a while: the pages read for themselves meanwhile
                log.warning(f"console : préparation de la campagne impossible ({type(e).__name__})")
            finally:
                self.ready.set()
