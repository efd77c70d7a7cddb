"""Logging: one line per event, human by default or JSON lines; a last guard masks anything NIR-shaped."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO

from exchange.core.clock import PARIS
from exchange.core.safe_text import safe_text, safe_value
from schemas.masking import mask_nirs_in as scrub  # the last guard: anything NIR-shaped is masked

__all__ = ["scrub", "setup_logging"]


class _Human(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", {}) or {}
        # Paris time, with its offset: a line read on a UTC host or in summer is never ambiguous
        stamp = datetime.fromtimestamp(record.created, PARIS).strftime("%Y-%m-%d %H:%M:%S%z")
        fields = " ".join(f"{k}={safe_text(str(v))}" for k, v in event.items() if v not in (None, ""))
        line = f"{stamp} {record.levelname:<7} {safe_text(record.getMessage())}" + (f" [{fields}]" if fields else "")
        if record.exc_info:
            line += "\n" + safe_text(self.formatException(record.exc_info), keep_lines=True)
        return scrub(line)


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", {}) or {}
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": safe_text(record.getMessage()),
            **{k: safe_value(v) for k, v in event.items()},
        }
        if record.exc_info:
            payload["exception"] = safe_text(self.formatException(record.exc_info), keep_lines=True)
        return scrub(json.dumps(payload, ensure_ascii=False, default=str))


def setup_logging(fmt: str = "human", level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Configure the `esat_exchange` logger (and APScheduler's) for this process."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_Json() if fmt == "json" else _Human())
    handler.setLevel(level)  # the terminal's verbosity; the logger itself lets INFO through for the run log
    for name in ("esat_exchange", "apscheduler"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        # a run's log (exchange.app.run_log) keeps its INFO lines whatever the terminal shows
        logger.setLevel(min(logging.getLevelName(level), logging.INFO) if name == "esat_exchange" else "WARNING")
        logger.propagate = False
