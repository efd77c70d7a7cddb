"""Browser-test helpers: the real console under uvicorn on a free port, and Debian's Chromium through Playwright."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.services import unavailable

CHROMIUM = Path(os.environ.get("ESAT_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Console:
    """A running `esat-exchange web` process."""

    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> str:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.log.read_text(encoding="utf-8", errors="replace")


def start_console(config_path: Path, port: int, base_path: str = "") -> Console:
    """`esat-exchange --config … web` in a child process, once it accepts connections."""
    log = config_path.parent / f"web-{port}.log"
    out = open(log, "wb")  # noqa: SIM115 - closed with the process
    env = {**os.environ, "ESAT_EXCHANGE_WEB_SECRET": "clé-de-test-" + "x" * 40}
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "--config", str(config_path), "--log-level", "INFO", "web"],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the console exited early: {log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError("the console did not start listening within 60 s")
    return Console(f"http://127.0.0.1:{port}{base_path}", process, log)


def launch_chromium(playwright):  # noqa: ANN001, ANN201 - playwright objects
    """Debian's Chromium (Playwright's own browser download is not used); fails under CI when absent."""
    if not CHROMIUM.exists():
        unavailable(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


def log_in(browser, url: str, login: str, password: str, width: int = 1280):  # noqa: ANN001, ANN201
    """A page of a new browser context (French, `width` × 900), logged in to the console at `url` as `login`."""
    page = browser.new_context(locale="fr-FR", viewport={"width": width, "height": 900}).new_page()
    page.goto(url + "/connexion")
    page.fill("#login", login)
    page.fill("#password", password)
    page.click("button:has-text('Se connecter')")
    return page


def post(console, body: bytes, content_type: str, **headers: str) -> tuple[int, str, dict]:
    """POST to the console's « Vérifier mon fichier » page (console: {"port": …}): status, text, headers."""
    conn = http.client.HTTPConnection("127.0.0.1", console["port"], timeout=30)
    conn.request("POST", "/verifier", body=body, headers={"Content-Type": content_type, **headers})
    r = conn.getresponse()
    text = r.read().decode("utf-8")
    conn.close()
    return r.status, text, {k.lower(): v for k, v in r.getheaders()}


def multipart(name: str, content: bytes) -> tuple[bytes, str]:
    """A one-file form as the page's form sends it (field `fichier`): body and content type."""
    boundary = "----verifier0123456789"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="fichier"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
