"""« Vérifier mon fichier » (/verifier): the real console under uvicorn, driven by Debian's Chromium and by plain
HTTP. No login; the compte rendu `check` gives, styled under its own CSP; a French page for every refusal;
nothing stored, nothing logged but counts."""

from __future__ import annotations

import contextlib
import html
import http.client
import io
import re
import zipfile
from pathlib import Path

import pytest

from exchange.cli.main import main
from exchange.core.clock import today_in_paris
from tests.areas import seed_examples, write_config
from tests.browser import free_port, launch_chromium, multipart, post, start_console
from tests.clerk import HEADER, MARTIN, RG_CSV
from tests.conftest import EXAMPLES
from tests.xlsx_files import styled_workbook

pytestmark = pytest.mark.browser
MAX_BYTES = 204_800
CA_CSV = EXAMPLES / "drop" / "esat-seine" / "depot" / "ESAT_81234567600017_CA_20251212_001.csv"
CA_NAME = "ESAT_81234567600017_CA_20251212_002.csv"
RG_XLSX = "ESAT_81234567600017_RG_20251210_002.xlsx"
RG_NAME = "ESAT_81234567600017_RG_20251210_002.csv"
NIR_SENTENCE = (
    "Le NIR s'affiche « 1,85058E+14 » : le tableur l'a converti en nombre en notation scientifique et a "
    "perdu des chiffres. Mettez la colonne au format Texte et saisissez à nouveau les 15 caractères du NIR."
)


def ca_text() -> str:
    return CA_CSV.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    base = tmp_path_factory.mktemp("verifier")
    port = free_port()
    cfg = seed_examples(base)
    write_config(base / "esat-exchange.toml", cfg)
    with open(base / "esat-exchange.toml", "a", encoding="utf-8") as f:
        f.write(f'[web]\nbind = "127.0.0.1:{port}"\ntrusted_proxies = ["127.0.0.1"]\nverify_requests = 40\n')
    text = (base / "esat-exchange.toml").read_text(encoding="utf-8")
    (base / "esat-exchange.toml").write_text(
        text.replace("max_file_bytes = 52428800", f"max_file_bytes = {MAX_BYTES}"), encoding="utf-8"
    )
    running = start_console(base / "esat-exchange.toml", port)
    before = {
        p.relative_to(base): p.stat().st_size
        for p in base.rglob("*")
        if p.is_file() and "web-" not in p.name and not p.name.endswith(("-wal", "-shm"))
    }
    state = {"base": base, "url": running.url, "port": port, "before": before}
    yield state
    log = running.stop()
    state["log"] = log


@pytest.fixture(scope="module")
def browser(console):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def check_html(tmp_path: Path, name: str, content: bytes) -> str:
    """What `check --format html` gives for the same file today (the page's reference)."""
    path = tmp_path / name
    path.write_bytes(content)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["check", str(path), "--as-of", today_in_paris().isoformat(), "--format", "html"])
    return out.getvalue()


def messages(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"<td>([^<]+)</td></tr>", page)]


def upload(browser, console, name: str, content: bytes):  # noqa: ANN001, ANN201
    page = browser.new_page()
    page.goto(console["url"] + "/verifier")
    assert page.title() == "Vérifier mon fichier — Échanges Esat"
    page.set_input_files("#fichier", files=[{"name": name, "mimeType": "application/octet-stream", "buffer": content}])
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


@pytest.mark.parametrize(
    "name,content,sentence",
    [
        pytest.param(
            CA_NAME,
            ca_text().replace(ca_text().splitlines()[1].split(";")[1], "1,85058E+14", 1).encode("cp1252"),
            NIR_SENTENCE,
            id="nir-notation-scientifique-ca",
        ),
        pytest.param(
            RG_NAME,
            RG_CSV.replace("prenoms", "prénoms", 1).encode(),
            "Colonne inconnue dans la ligne d'en-tête : prénoms (vouliez-vous dire prenoms ?). Renommez-la avec "
            "le nom attendu et renvoyez le fichier.",
            id="prenoms",
        ),
        pytest.param(
            RG_NAME,
            RG_CSV.replace(MARTIN, MARTIN.replace("81234567600017", "812 345 676 00017", 1)).encode(),
            "Le SIRET de l'Esat (colonne siret_esat) vaut « 812 345 676 00017 » : écrivez les 14 chiffres à la "
            "suite, sans espace, et renvoyez le fichier.",
            id="siret-espaces",
        ),
        pytest.param(
            RG_XLSX,
            styled_workbook(RG_CSV, after={"Feuil2": [HEADER, MARTIN.split(";")]}),
            "Le classeur contient des salariés sur plusieurs feuilles (« Salariés » et « Feuil2 ») : tous les "
            "salariés doivent être sur une seule feuille. Regroupez-les sur la feuille « Salariés » et renvoyez "
            "le classeur.",
            id="xlsx-deux-feuilles",
        ),
    ],
)
def test_a_dropped_file_gives_the_compte_rendu_of_check(browser, console, tmp_path, name, content, sentence):
    page = upload(browser, console, name, content)
    assert page.url == console["url"] + "/verifier"
    shown = page.content()
    assert "Compte rendu de votre dépôt" in shown and sentence in page.inner_text("body")
    reference = check_html(tmp_path, name, content)
    assert messages(shown) == messages(reference) and messages(shown)
    # styled under its own CSP: the inline style applies (the console's `style-src 'self'` would block it)
    assert page.eval_on_selector("h1", "e => getComputedStyle(e).color") == "rgb(0, 0, 145)"
    assert page.locator("a.guide").first.get_attribute("href").startswith("/verifier/guide#code-")
    page.click("text=Vérifier un autre fichier")
    page.wait_for_load_state()
    assert page.url == console["url"] + "/verifier"
    page.close()


def test_the_guide_links_land_on_the_code(browser, console):
    page = upload(browser, console, RG_NAME, RG_CSV.replace("prenoms", "prénoms", 1).encode())
    page.click("a.guide")
    page.wait_for_load_state()
    assert page.url.endswith("/verifier/guide#code-f03")
    assert "F03 — Structure du fichier" in page.inner_text("#code-f03 >> xpath=..")
    page.close()


def test_too_big_is_refused_with_a_french_page(browser, console):
    page = upload(browser, console, RG_NAME, b"x" * (MAX_BYTES + 70_000))
    assert page.inner_text("#refus") == (
        "Fichier trop volumineux\n\nLe fichier dépasse la taille maximale de 200 Ko : "
        "découpez-le en plusieurs fichiers et vérifiez-les un par un."
    )
    page.close()


def refusal(text: str) -> str:
    found = re.search(r'<div class="fr-alert fr-alert--error fr-mb-3w" role="alert" id="refus">(.*?)</div>', text, re.S)
    assert found, text[:2000]
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1)).split("  ")[-1].strip())


def test_every_refusal_has_its_french_page(console):
    body, kind = multipart(RG_NAME, RG_CSV.encode())
    status, text, _ = post(console, body, "text/plain", **{"X-Forwarded-For": "192.0.2.10"})
    assert status == 400 and "Le formulaire reçu est incomplet" in text
    status, text, _ = post(console, *multipart("", b""), **{"X-Forwarded-For": "192.0.2.10"})
    assert status == 400 and refusal(text) == (
        "Aucun fichier n'a été reçu : choisissez votre fichier puis cliquez sur « Vérifier »."
    )
    status, text, _ = post(console, *multipart("ESAT\x01.csv", b"x"), **{"X-Forwarded-For": "192.0.2.10"})
    assert status == 400 and "Le nom du fichier contient des caractères qui ne sont pas permis" in text
    status, text, _ = post(
        console, body, kind, **{"X-Forwarded-For": "192.0.2.10", "Origin": "https://ailleurs.example"}
    )
    assert status == 403 and "envoyée depuis un autre site" in text


def test_a_client_beyond_its_quota_is_told_when_to_come_back(console):
    body, kind = multipart(CA_NAME, ca_text().encode())
    statuses = [post(console, body, kind, **{"X-Forwarded-For": "198.51.100.7"})[0] for _ in range(40)]
    assert statuses == [200] * 40
    status, text, headers = post(console, body, kind, **{"X-Forwarded-For": "198.51.100.7"})
    assert status == 429 and headers["retry-after"] == "60"
    assert "Vous avez fait beaucoup de vérifications en peu de temps : réessayez dans 10 minutes." in text
    assert post(console, body, kind, **{"X-Forwarded-For": "198.51.100.8"})[0] == 200  # another client goes on


def test_the_compte_rendu_answer_has_its_own_csp_and_no_login(console):
    body, kind = multipart(CA_NAME, ca_text().encode())
    status, text, headers = post(console, body, kind, **{"X-Forwarded-For": "203.0.113.5"})
    assert status == 200 and "set-cookie" not in headers
    csp = headers["content-security-policy"]
    assert csp.startswith("sandbox; default-src 'none'; style-src 'sha256-") and "'unsafe-inline'" not in csp
    assert "<script" not in text.lower()
    conn = http.client.HTTPConnection("127.0.0.1", console["port"], timeout=30)
    conn.request("GET", "/verifier")
    r = conn.getresponse()
    assert r.status == 200 and "set-cookie" not in {k.lower() for k, _ in r.getheaders()}
    conn.close()


def test_nothing_is_stored_and_only_counts_are_logged(console):
    body, kind = multipart(CA_NAME, ca_text().replace("Martin", "Zorglub").encode())
    assert post(console, body, kind, **{"X-Forwarded-For": "203.0.113.9"})[0] == 200
    base: Path = console["base"]
    after = {
        p.relative_to(base): p.stat().st_size
        for p in base.rglob("*")
        if p.is_file() and "web-" not in p.name and not p.name.endswith(("-wal", "-shm"))
    }
    assert after == console["before"]  # no file kept, the database untouched
    log = next(base.glob("web-*.log")).read_text(encoding="utf-8", errors="replace")
    assert "vérification d'un fichier sans dépôt : 3 enregistrement(s), 0 rejeté(s), 0 anomalie(s)" in log
    assert "Zorglub" not in log and CA_NAME not in log and "81234567600017" not in log


def test_the_intake_guards_hold_zip_bombs_and_xml_entities(console):
    """The file is judged like a received one: a workbook expanding past max_file_bytes × 20 is F07 before it is
    opened, an XML with an entity is F08 before any parser."""
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<w/>")
        z.writestr("xl/worksheets/sheet1.xml", b"0" * (MAX_BYTES * 20 + 1))
    assert len(bomb.getvalue()) < MAX_BYTES
    status, text, _ = post(console, *multipart(RG_XLSX, bomb.getvalue()), **{"X-Forwarded-For": "203.0.113.20"})
    assert (
        status == 200
        and html.escape(
            f"Le classeur se décompresse en plus de {MAX_BYTES * 20} octets : il est "
            "trop volumineux, découpez-le en plusieurs fichiers."
        )
        in text
    )
    xml = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><declaration xmlns="urn:esat:declaration:v1" '
        b'type="RG">&a;</declaration>'
    )
    status, text, _ = post(
        console, *multipart("ESAT_81234567600017_RG_20251210_002.xml", xml), **{"X-Forwarded-For": "203.0.113.20"}
    )
    assert status == 200 and "Le fichier XML contient une déclaration DOCTYPE" in text
