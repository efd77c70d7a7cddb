"""Sending an alert out: one mail over SMTP, one JSON POST to a webhook."""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any

from exchange.errors import TransientError

TIMEOUT_SECONDS = 30


class NotifyError(TransientError):
    """The mail server or the webhook did not take the alert: it is sent again after the next run."""

    stops_run = False


def send_mail(host: str, port: int, sender: str, to: list[str], subject: str, body: str) -> None:
    """One plain-text mail (UTF-8) through the SMTP server at host:port."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, ", ".join(to), subject
    message.set_content(body)
    try:
        with smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as e:
        raise NotifyError(f"envoi du courriel d'alerte impossible par {host}:{port} : {e}") from e


def post_json(url: str, payload: dict[str, Any]) -> None:
    """POST `payload` as JSON to `url`; a status other than 2xx is a failure."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"content-type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            if not 200 <= answer.status < 300:
                raise NotifyError(f"webhook d'alerte {url} : réponse HTTP {answer.status}")
    except (OSError, urllib.error.URLError) as e:
        raise NotifyError(f"webhook d'alerte {url} injoignable : {e}") from e
