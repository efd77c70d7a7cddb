"""« Vérifier mon fichier »: a public page (no login) where a clerk drops a declaration and gets the compte rendu
`run` would give, without habilitations; nothing stored, nothing logged but counts.

Guards: the body is read up to max_file_bytes (+ the form's overhead) and never spooled to disk, the file is
judged by the same code as intake (F07 size and zip bombs, F08 XML entities), a sliding-window limit per
client address, at most CHECKS_AT_ONCE checks at once. CSRF: the form changes nothing and its answer is
only readable by the page that sent it, so no token (and no session cookie) is needed; a POST whose Origin
or Sec-Fetch-Site says it comes from another site (or Origin is « null ») is still refused, so that no other site spends a
clerk's quota. The compte rendu is answered with its own CSP allowing exactly its inline style (by hash).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from exchange.config import Config
from exchange.core.clock import today_in_paris
from exchange.core.compte_rendu.html import cr_html
from exchange.core.judge import judge
from exchange.errors import TerminalError
from exchange.web.security import client_address
from schemas.guide import render as render_guide

log = logging.getLogger("esat_exchange")
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and headers around the file
CHECKS_AT_ONCE = 2  # judging is CPU work: the console keeps serving operators meanwhile
MAX_NAME_CHARS = 255


@dataclass
class RequestLimiter:
    """Requests per client address within a sliding window; beyond `requests`, refused until it passes."""

    requests: int
    window_seconds: float
    seen: dict[str, deque[float]] = field(default_factory=dict)

    def wait_seconds(self, address: str, now: float | None = None) -> float:
        """0 when this request may go on (and counts it), else how long until the window lets one through."""
        now = time.monotonic() if now is None else now
        if len(self.seen) > 10_000:  # forget idle addresses
            self.seen = {k: q for k, q in self.seen.items() if q and q[-1] > now - self.window_seconds}
        q = self.seen.setdefault(address, deque())
        while q and q[0] <= now - self.window_seconds:
            q.popleft()
        if len(q) >= self.requests:
            return q[0] + self.window_seconds - now
        q.append(now)
        return 0.0


class Refusal(TerminalError):
    """A request the page answers with a French explanation instead of a compte rendu (terminal: the same request
    will not pass; a 429 passes later, as its page says)."""

    def __init__(self, status: int, title: str, text: str) -> None:
        super().__init__(text)
        self.status, self.title, self.text = status, title, text


def megabytes(n: int) -> str:
    return f"{n / 1_048_576:.0f} Mo" if n >= 1_048_576 else f"{n // 1024} Ko"


def file_name(disposition: str) -> str | None:
    """The file name of a multipart part's Content-Disposition, its folders dropped; None when absent."""
    _, options = parse_options_header(disposition)
    raw = options.get(b"filename")
    if raw is None:
        return None
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Refusal(
            400,
            "Nom de fichier illisible",
            "Le nom du fichier n'a pas pu être lu : renommez-le "
            "ESAT_<SIRET>_<RG ou CA>_<AAAAMMJJ>_<NNN>.xlsx (ou .ods, .csv, .xml), sans accent, puis "
            "recommencez.",
        ) from e
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def parse_upload(body: bytes, content_type: str) -> tuple[str, bytes]:
    """(file name, bytes) of the one file of a multipart form held in memory."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise Refusal(
            400,
            "Formulaire incomplet",
            "Le formulaire reçu est incomplet : choisissez votre fichier puis cliquez sur « Vérifier ».",
        )
    parts: list[dict[str, Any]] = []

    def begin() -> None:
        parts.append({"headers": {}, "data": bytearray(), "field": b""})

    def header_field(data: bytes, start: int, end: int) -> None:
        parts[-1]["field"] = parts[-1].get("field", b"") + data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        key = parts[-1]["field"].lower()
        parts[-1]["headers"][key] = parts[-1]["headers"].get(key, b"") + data[start:end]

    def header_end() -> None:
        parts[-1]["field"] = b""

    def data(chunk: bytes, start: int, end: int) -> None:
        parts[-1]["data"] += chunk[start:end]

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": begin,
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_part_data": data,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception as e:  # noqa: BLE001 - python-multipart raises several kinds for a broken form
        raise Refusal(
            400,
            "Formulaire incomplet",
            "Le formulaire reçu est incomplet ou abîmé : rechargez la "
            "page, choisissez votre fichier puis cliquez sur « Vérifier ».",
        ) from e
    for part in parts:
        disposition = part["headers"].get(b"content-disposition", b"").decode("latin-1")
        _, options = parse_options_header(disposition)
        if options.get(b"name") != b"fichier":
            continue
        name = file_name(disposition)
        if not name:
            break
        if len(name) > MAX_NAME_CHARS or any(ord(c) < 32 or c == "\x7f" for c in name) or name.startswith("."):
            raise Refusal(
                400,
                "Nom de fichier illisible",
                "Le nom du fichier contient des caractères qui ne sont "
                "pas permis : renommez-le ESAT_<SIRET>_<RG ou CA>_<AAAAMMJJ>_<NNN>.xlsx (ou .ods, .csv, .xml), "
                "puis recommencez.",
            )
        return name, bytes(part["data"])
    raise Refusal(
        400,
        "Aucun fichier reçu",
        "Aucun fichier n'a été reçu : choisissez votre fichier puis cliquez sur « Vérifier ».",
    )


STYLE_BLOCK = re.compile(rb"<style>(.*?)</style>", re.S)


def compte_rendu_csp(page: bytes) -> str:
    """The CSP under which a compte rendu page (this version's or an older one kept in retour/) renders
    styled: its own inline <style>, allowed by hash, and nothing else (no script, no fetch, no form). `sandbox`
    makes it an opaque origin without scripts, forms, automatic features (a `<meta http-equiv=refresh>` does
    nothing), popups or navigation of the console's window: a page planted in retour/ acts on nothing."""
    found = STYLE_BLOCK.search(page)
    style = "'sha256-" + base64.b64encode(hashlib.sha256(found.group(1)).digest()).decode() + "'" if found else "'none'"
    return (
        f"sandbox; default-src 'none'; style-src {style}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


@cache
def guide_html() -> str:
    """The Esats' guide (schemas.guide, the text of docs/guide-esat.md) as HTML, anchors kept."""
    html: str = MarkdownIt("commonmark", {"html": True}).enable("table").render(render_guide())
    return html


class Verifier:
    """The /verifier routes of one console, with their rate limit."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.limiter = RequestLimiter(config.web.verify_requests, config.web.verify_window_seconds)
        self.slots = asyncio.Semaphore(CHECKS_AT_ONCE)

    def routes(self) -> list[Route]:
        return [
            Route("/verifier", self.form, methods=["GET"]),
            Route("/verifier", self.check, methods=["POST"]),
            Route("/verifier/guide", self.guide, methods=["GET"]),
        ]

    def page(self, request: Request, template: str, status: int = 200, **context: object) -> Response:
        """A console page for an anonymous visitor (no session, no CSRF token: nothing to protect)."""
        ctx = {
            "base": self.config.web.base_path,
            "operator": None,
            "csrf": "",
            "flashes": [],
            "gestionnaire": False,
            "max_size": megabytes(self.config.limits.max_file_bytes),
            **context,
        }
        page: Response = request.app.state.templates.TemplateResponse(request, template, ctx, status_code=status)
        return page

    async def form(self, request: Request) -> Response:
        return self.page(request, "verify.html")

    async def guide(self, request: Request) -> Response:
        return self.page(request, "guide.html", guide=guide_html())

    async def check(self, request: Request) -> Response:
        try:
            return await self._check(request)
        except Refusal as r:
            headers = {"Retry-After": "60"} if r.status == 429 else None
            response = self.page(request, "verify.html", r.status, error=r.text, error_title=r.title)
            if headers:
                response.headers.update(headers)
            return response

    async def _check(self, request: Request) -> Response:
        site = request.headers.get("sec-fetch-site", "")
        origin = request.headers.get("origin", "")
        own = f"{request.url.scheme}://{request.url.netloc}"
        if site == "cross-site" or (origin and origin != own):  # « null » too: a sandboxed page or a redirect
            raise Refusal(
                403,
                "Demande refusée",
                "Cette vérification a été envoyée depuis un autre site : "
                "ouvrez la page « Vérifier mon fichier » et déposez votre fichier depuis celle-ci.",
            )
        wait = self.limiter.wait_seconds(client_address(request))  # the same hop as the login page's
        if wait > 0:
            minutes = max(1, round(wait / 60))
            raise Refusal(
                429,
                "Trop de vérifications",
                f"Vous avez fait beaucoup de vérifications en peu de temps : "
                f"réessayez dans {minutes} minute{'s' if minutes > 1 else ''}.",
            )
        limit = self.config.limits.max_file_bytes
        too_big = Refusal(
            413,
            "Fichier trop volumineux",
            f"Le fichier dépasse la taille maximale de "
            f"{megabytes(limit)} : découpez-le en plusieurs fichiers et vérifiez-les un par un.",
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
            raise too_big
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit + FORM_OVERHEAD:
                raise too_big
        name, data = parse_upload(bytes(body), request.headers.get("content-type", ""))
        del body
        async with self.slots:
            page, counts = await run_in_threadpool(self._judge, name, data)
        log.info("vérification d'un fichier sans dépôt : %d enregistrement(s), %d rejeté(s), %d anomalie(s)", *counts)
        return Response(
            page,
            media_type="text/html; charset=utf-8",
            headers={"content-security-policy": compte_rendu_csp(page), "cache-control": "no-store"},
        )

    def _judge(self, name: str, data: bytes) -> tuple[bytes, tuple[int, int, int]]:
        """The HTML compte rendu of one file, as `check` gives it, and the counts that may be logged."""
        as_of = today_in_paris()
        j = judge(
            data,
            name,
            as_of,
            max_file_bytes=self.config.limits.max_file_bytes,
            max_records=self.config.limits.max_records,
        )
        base = self.config.web.base_path
        page = cr_html(
            j, as_of, guide_url=f"{base}/verifier/guide", back=(f"{base}/verifier", "Vérifier un autre fichier")
        )
        return page, (j.records_in, j.records_rejected, j.anomalies.height)


def routes(config: Config) -> list[Route]:
    """The public routes of « Vérifier mon fichier », to add to the console's."""
    return Verifier(config).routes()
