"""Alerts after each scheduled run: a failed or missed nightly, a file in quarantine, collects failing in a row
(exchange.core.health.COLLECT_FAILURES_ALERT), by mail (SMTP) and/or
webhook (`[alerts]`), each sent once (the keys sent are kept in [storage] dir/alertes-envoyees.json)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from exchange.config import Config
from exchange.core.alerts import Alert, alerts_due
from exchange.core.clock import utcnow
from exchange.core.perimeter import EVERYTHING
from exchange.core.vocabulary import FINISHED_RUN_STATUSES, OK
from exchange.edges.durable import write_atomic
from exchange.edges.notify import NotifyError, post_json, send_mail
from exchange.store.engine import Engine
from exchange.store.reads import files as file_reads
from exchange.store.reads import runs as run_reads
from exchange.store.watch import failed_collects_in_a_row

log = logging.getLogger("esat_exchange")
SENT_FILE = "alertes-envoyees.json"


def _sent_path(config: Config) -> Path:
    return config.storage_dir / SENT_FILE


def _load_sent(path: Path) -> set[str]:
    try:
        return set(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return set()


def _send(config: Config, alert: Alert) -> None:
    a = config.alerts
    if a.smtp_host:
        send_mail(a.smtp_host, a.smtp_port, a.smtp_from, a.smtp_to, alert.subject, alert.text)
    if a.webhook_url:
        post_json(a.webhook_url, alert.payload())


def send_alerts(config: Config, engine: Engine, now: datetime | None = None) -> list[str]:
    """Send every due alert not sent yet; the keys sent now. Nothing when `[alerts]` names no channel. A channel
    that fails is logged; its alert is tried again next time."""
    if not config.alerts.enabled:
        return []
    now = now or utcnow()
    with engine.connect() as conn:
        last = run_reads.last_run(conn, ("nightly",), FINISHED_RUN_STATUSES)
        last_ok = run_reads.last_run(conn, ("nightly",), (OK,))
        quarantined = file_reads.quarantined_files(conn, perimeter=EVERYTHING)  # to the service, not to a perimeter
        failed = failed_collects_in_a_row(conn)
    path = _sent_path(config)
    sent = _load_sent(path)
    new: list[str] = []
    for alert in alerts_due(last, quarantined, now, failed, last_ok):
        if alert.key in sent:
            continue
        try:
            _send(config, alert)
        except NotifyError as e:
            log.error(f"alerte « {alert.key} » non envoyée : {e}", extra={"event": {"alerte": alert.key}})
            continue
        log.warning(f"alerte envoyée : {alert.subject}", extra={"event": {"alerte": alert.key}})
        new.append(alert.key)
    if new:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(sorted(sent | set(new)), ensure_ascii=False).encode("utf-8"))
    return new


__all__ = ["send_alerts", "SENT_FILE"]
