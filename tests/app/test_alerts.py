"""Alerts (issue 23 §5): a failed or missed nightly and a file in quarantine, by mail to a real local SMTP server
(aiosmtpd) and by webhook to a real local HTTP server, sent by the alerts step after a scheduled run, each once."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from exchange.config import ConfigError, parse_config
from exchange.core.clock import utcnow
from exchange.store.engine import open_database
from tests.areas import cli, seed_examples
from tests.browser import free_port
from tests.rows import plant_run, set_file


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.mails: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 - aiosmtpd's hook
            self.mails.append((envelope.rcpt_tos, message_from_bytes(envelope.original_content)))
            return "250 OK"

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, inbox.mails
    controller.stop()


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's hook
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append({"path": self.path, "type": self.headers["content-type"], "json": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], received
    server.shutdown()


def subject(mail) -> str:  # noqa: ANN001
    return str(make_header(decode_header(mail["Subject"])))


def test_failed_nightly_and_quarantine_are_sent_once_by_mail_and_webhook(tmp_path, db_url, smtp, webhook):
    smtp_port, mails = smtp
    hook_port, posts = webhook
    cfg = seed_examples(
        tmp_path,
        db_url,
        alerts={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_from": "esat-exchange@caf.example",
            "smtp_to": ["exploitation@caf.example"],
            "webhook_url": f"http://127.0.0.1:{hook_port}/alertes",
        },
    )
    with open(tmp_path / "esat-exchange.toml", "a", encoding="utf-8") as f:
        f.write(
            f'[alerts]\nsmtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\nsmtp_from = "esat-exchange@caf.example"\n'
            f'smtp_to = ["exploitation@caf.example"]\nwebhook_url = "http://127.0.0.1:{hook_port}/alertes"\n'
        )
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    engine = open_database(cfg.database_url)
    start = utcnow() - timedelta(hours=2)
    with engine.begin() as conn:
        failed = plant_run(
            conn,
            job="nightly",
            started_at=start,
            ended_at=start + timedelta(minutes=1),
            status="ECHEC",
            error="dossier de dépôt introuvable",
        )
        set_file(conn, 2, state="QUARANTAINE", error="ValueError: défaut")

    from jobs import tasks

    tasks.scheduled("collect", str(tmp_path / "esat-exchange.toml"))  # a scheduled run, then its alerts step
    assert sorted(subject(m) for _to, m in mails) == [
        "[esat-exchange] Fichier n° 2 en quarantaine",
        f"[esat-exchange] Traitement de nuit en échec (exécution n° {failed})",
    ]
    assert all(to == ["exploitation@caf.example"] for to, _m in mails)
    body = next(m for _to, m in mails if "échec" in subject(m)).get_payload(decode=True).decode("utf-8")
    assert "a échoué : dossier de dépôt introuvable." in body
    assert [p["path"] for p in posts] == ["/alertes", "/alertes"]
    assert posts[0]["type"].startswith("application/json")
    assert {p["json"]["cle"] for p in posts} == {f"nightly-echec-{failed}", "quarantaine-2"}
    tasks.scheduled("collect", str(tmp_path / "esat-exchange.toml"))  # nothing new: nothing sent again
    assert len(mails) == 2 and len(posts) == 2
    engine.dispose()


def test_a_missed_nightly_is_sent_and_an_unreachable_server_is_retried(tmp_path, smtp):
    from exchange.app.alerts import send_alerts

    smtp_port, mails = smtp
    down = free_port()  # nothing listens there
    cfg = seed_examples(
        tmp_path,
        alerts={
            "smtp_host": "127.0.0.1",
            "smtp_port": down,
            "smtp_from": "a@caf.example",
            "smtp_to": ["b@caf.example"],
        },
    )
    engine = open_database(cfg.database_url)
    assert send_alerts(cfg, engine) == []  # the mail server is down: kept for next time
    from dataclasses import replace

    cfg = replace(cfg, alerts=replace(cfg.alerts, smtp_port=smtp_port))
    assert send_alerts(cfg, engine) == ["nightly-manquant-0"]
    assert subject(mails[0][1]) == "[esat-exchange] Aucun traitement de nuit depuis plus de 26 h"
    assert send_alerts(cfg, engine) == []
    engine.dispose()


def test_alerts_configuration_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="alerts.smtp_from"):
        parse_config({"alerts": {"smtp_host": "smtp.caf.example", "smtp_to": ["x@caf.example"]}}, tmp_path)
    with pytest.raises(ConfigError, match="alerts.webhook_url"):
        parse_config({"alerts": {"webhook_url": "ftp://x"}}, tmp_path)
    assert not parse_config({}, tmp_path).alerts.enabled


def _run(conn, job: str, status: str, start, error: str | None = None, outputs: list[str] | None = None) -> int:  # noqa: ANN001
    return plant_run(
        conn,
        job=job,
        started_at=start,
        ended_at=start + timedelta(minutes=1),
        status=status,
        error=error,
        outputs=json.dumps(outputs) if outputs is not None else None,
    )


def test_alert_texts_match_the_run_they_describe_and_failed_collects_alert_once(tmp_path, webhook):
    from exchange.app.alerts import send_alerts

    hook_port, posts = webhook
    cfg = seed_examples(tmp_path, alerts={"webhook_url": f"http://127.0.0.1:{hook_port}/alertes"})
    engine = open_database(cfg.database_url)
    start = utcnow() - timedelta(hours=3)
    written = [f"{caf}/AAH-ESAT_RG-DELTA_{caf}_20261207.parquet" for caf in ("13", "75")]
    with engine.begin() as conn:
        nightly = _run(conn, "nightly", "ECHEC", start, "disque plein pendant l'écriture du manifeste", written)
        _run(conn, "collect", "OK", start + timedelta(minutes=10))
        first = _run(conn, "collect", "ECHEC", start + timedelta(minutes=15), "serveur SFTP injoignable")
        _run(conn, "collect", "ECHEC", start + timedelta(minutes=30), "serveur SFTP injoignable")
    assert send_alerts(cfg, engine) == [f"nightly-echec-{nightly}"]  # two failed collects: not yet
    text = posts[0]["json"]["texte"]
    assert "Il a écrit 2 fichiers Caf avant d'échouer : ceux-là sont produits" in text
    assert "ne sont pas produits" not in text  # the run wrote Caf files: the alert must not say otherwise
    assert "Qui agit : l'administrateur du service" in text and "nightly" not in text
    with engine.begin() as conn:
        last = _run(conn, "collect", "ECHEC", start + timedelta(minutes=45), "serveur SFTP injoignable")
    assert send_alerts(cfg, engine) == [f"collectes-en-echec-{first}"]
    sent = posts[1]["json"]
    assert sent["sujet"] == "[esat-exchange] 3 collectes de suite en échec"
    assert f"la dernière (n° {last}) : serveur SFTP injoignable" in sent["texte"]
    assert "les fichiers déposés attendent sans perte" in sent["texte"]
    with engine.begin() as conn:
        _run(conn, "collect", "ECHEC", start + timedelta(minutes=60), "serveur SFTP injoignable")
    assert send_alerts(cfg, engine) == []  # the same series: sent once
    with engine.begin() as conn:
        failed = _run(conn, "nightly", "ECHEC", start + timedelta(minutes=70), None, [])
    assert send_alerts(cfg, engine) == [f"nightly-echec-{failed}"]
    text = posts[2]["json"]["texte"]
    assert "a échoué : cause non enregistrée." in text and "None" not in text
    assert "Aucun fichier Caf n'a été écrit par cette exécution" in text
    engine.dispose()
