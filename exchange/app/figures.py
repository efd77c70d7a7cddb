"""The figures /sante and /metrics publish, prepared in the background (after each change of the runs, files,
imports or pauses, and at least every minute) so that a probe or a scrape reads them and does no database work."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from exchange.app.depot_watch import DepotState
from exchange.core.clock import utcnow
from exchange.core.health import A_TRAITER, ALERTE, Health, Reason, depot_reason, purge_counts
from exchange.core.perimeter import EVERYTHING
from exchange.store.engine import Engine

log = logging.getLogger("esat_exchange")


@dataclass(frozen=True)
class Figures:
    """The service's health as the database says it (the drop area apart: it is the watch's), its counts for
    /metrics, the scheduled jobs paused, and when they were read."""

    health: Health
    counts: dict[str, Any]
    paused: frozenset[str]
    made_at: datetime


def read_figures(engine: Engine, now: datetime | None = None) -> Figures:
    """Read every figure now (the background's work)."""
    from exchange.app.status import database_health
    from exchange.store.metrics import service_counts
    from exchange.store.pauses import paused_jobs

    now = now or utcnow()
    health = database_health(engine, now, perimeter=EVERYTHING)
    with engine.connect() as conn:
        counts = service_counts(conn, perimeter=EVERYTHING)
        paused = frozenset(paused_jobs(conn))
    return Figures(health, counts, paused, now)


class FigureKeeper:
    """Keeps the Figures fresh in a background thread: every `poll_seconds` it reads a small version of the data
    (store.watch.health_version) and reads the figures again when it moved, or when they are `every_seconds` old
    (the verdict depends on the clock too: a nightly older than 26 h). `current()` answers at once; before the first
    reading it reads them itself (the database only, never the drop area)."""

    def __init__(
        self,
        engine: Engine,
        every_seconds: float = 60.0,
        poll_seconds: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine, self._every, self._poll, self._clock = engine, every_seconds, poll_seconds, clock
        self._lock = threading.Lock()
        self._figures: Figures | None = None
        self._version: tuple[Any, ...] | None = None
        self.failing = False  # the last reading failed (the database does not answer): /sante says so
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._wake = threading.Event()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="console-figures", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def nudge(self) -> None:
        """Read the figures again now, in the caller's thread (after an action of this console: a pause, a replay,
        an import), so that /sante says it at once; a failure leaves it to the background."""
        try:
            self.refresh()
        except Exception:  # noqa: BLE001 - the background reads them again at its next turn
            self.failing = True
            with self._lock:
                self._version = None
            self._wake.set()

    def _version_now(self) -> tuple[Any, ...]:
        from exchange.store.watch import health_version

        with self._engine.connect() as conn:
            return health_version(conn)

    def refresh(self) -> Figures:
        """Read the version and the figures now, and keep them."""
        version = self._version_now()
        figures = read_figures(self._engine, self._clock())
        with self._lock:
            self._figures, self._version, self.failing = figures, version, False
        return figures

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                with self._lock:
                    figures, version = self._figures, self._version
                stale = figures is None or self._clock() - figures.made_at >= timedelta(seconds=self._every)
                if stale or version is None or self._version_now() != version:
                    self.refresh()
            except Exception:  # noqa: BLE001 - a database down: /sante keeps the last figures, says how old
                if not self.failing:  # once per outage, not every poll
                    log.exception("chiffres de /sante et /metrics : lecture impossible")
                self.failing = True
            self._wake.wait(self._poll)
            self._wake.clear()

    def current(self) -> Figures | None:
        """The latest figures, at once once the background has read them; None when the database never answered."""
        if self._thread is None:
            self.start()
        with self._lock:
            figures = self._figures
        if figures is not None:
            return figures
        try:
            return self.refresh()
        except Exception:  # noqa: BLE001 - the database down: /sante says so with a code, /metrics with a gauge
            if not self.failing:
                log.exception("chiffres de /sante et /metrics : lecture impossible")
            self.failing = True
            return None


def _codes(reasons: list[Reason]) -> list[dict[str, Any]]:
    """Reasons as codes and counts only (/sante publishes no free text): one entry per code, counts summed."""
    out: dict[str, int] = {}
    for r in reasons:
        out[r.code] = out.get(r.code, 0) + r.count
    return [{"code": code, "nombre": n} for code, n in out.items()]


DATABASE_DOWN = Reason("base de données injoignable", code="BASE_DE_DONNEES_INJOIGNABLE")


def readiness(figures: Figures | None, depot: DepotState, now: datetime, database_down: bool = False) -> dict[str, Any]:
    """The body of /sante: the verdict and its reasons as codes and counts, the drop area's state, and when the
    figures were read (the last ones read, with BASE_DE_DONNEES_INJOIGNABLE, while the database does not answer).
    No operator's text, no account, no Esat, no file name."""
    h = figures.health if figures is not None else Health(checked_at=now)
    alerts = [*h.alerts, *depot_reason(depot.unreachable_since, depot.error, now)]
    if database_down or figures is None:
        alerts.append(DATABASE_DOWN)
    return {
        "etat": ALERTE if alerts else A_TRAITER if h.todo else "OK",
        "raisons": _codes(alerts),
        "a_traiter": _codes(h.todo),
        "avertissements": _codes(h.warnings),
        "zone_de_depot": {
            "repond": depot.up,
            "dernier_releve_reussi": depot.listed_at.isoformat() if depot.listed_at else None,
            "injoignable_depuis": depot.unreachable_since.isoformat() if depot.unreachable_since else None,
        },
        "purge": purge_counts(h),
        "chiffres_lus_le": figures.made_at.isoformat() if figures is not None else None,
        "verifie_le": now.isoformat(),
    }


def caf_files(figures: Figures) -> int:
    """Files awaiting the Caf (rejected for a habilitation code, none accepted since): files, not reasons."""
    return sum(r.count for r in figures.health.todo if r.code == "HABILITATIONS_A_CORRIGER")


__all__ = ["Figures", "FigureKeeper", "read_figures", "readiness", "caf_files"]
