"""Logging: one line per event, human by default or JSON lines; a last guard masks anything NIR-shaped."""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
# 15 characters of the NIR form (sex, year, month, département incl. 2A/2B, 6 digits, key)
NIR_SHAPED = re.compile(r"\b[1-8]\d{4}(?:\d{2}|2[AB])\d{8}\b", re.IGNORECASE)


def scrub(text: str) -> str:
    """Mask every NIR-shaped run of characters as formats.md §6 does (5 characters, ********, key)."""
    return NIR_SHAPED.sub(lambda m: m.group(0)[:5] + "********" + m.group(0)[-2:], text)


class _Human(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", {}) or {}
        # Paris time, with its offset: a line read on a UTC host or in summer is never ambiguous
        stamp = datetime.fromtimestamp(record.created, PARIS).strftime("%Y-%m-%d %H:%M:%S%z")
        fields = " ".join(f"{k}={v}" for k, v in event.items() if v not in (None, ""))
        line = f"{stamp} {record.levelname:<7} {record.getMessage()}" + (f" [{fields}]" if fields else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return scrub(line)


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", {}) or {}
        payload = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "message": record.getMessage(), **event,
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(payload, ensure_ascii=False, default=str))


def setup_logging(fmt: str = "human", level: str = "INFO", stream=None) -> None:  # noqa: ANN001
    """Configure the `esat_exchange` logger (and APScheduler's) for this process."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_Json() if fmt == "json" else _Human())
    for name in ("esat_exchange", "apscheduler"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level if name == "esat_exchange" else "WARNING")
        logger.propagate = False
