"""The HTML compte rendu in a real headless Debian Chromium: it renders, holds nothing external, and a
10-anomaly compte rendu prints on ONE A4 page. Under CI=true a missing chromium fails."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from exchange.core.compte_rendu.forms import cr_html
from exchange.core.judge import judge
from fixtures import faulty_example
from fixtures.browser import chromium_binary, dump_dom, pdf_pages, png_size, print_to_pdf, screenshot
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES
from tests.services import unavailable

AS_OF = date(2025, 12, 15)
RG_CSV = (EXAMPLES / "drop" / "esat-seine" / "depot" / "ESAT_81234567600017_RG_20251210_001.csv").read_text(encoding="utf-8")
A4_POINTS = (595.0, 842.0)


def ten_anomalies() -> bytes:
    return faulty_example.ten_anomalies(RG_CSV)


@pytest.fixture
def browser():
    if chromium_binary() is None:
        unavailable("chromium (Debian package chromium)")


def write_page(tmp_path: Path, data: bytes, name: str = "ESAT_81234567600017_RG_20251210_002.csv") -> Path:
    j = judge(data, name, AS_OF, max_file_bytes=10_000_000, max_records=1000)
    page = tmp_path / f"{name}.CR.html"
    page.write_bytes(cr_html(j, AS_OF))
    return page


def test_the_page_is_self_contained():
    page = cr_html(judge(ten_anomalies(), "ESAT_81234567600017_RG_20251210_002.csv", AS_OF,
                         max_file_bytes=10_000_000, max_records=1000), AS_OF).decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="fr">' in page
    assert not re.search(r"<script|<link|<img|<iframe|src=|href=|url\(|@import|https?://", page, re.I)
    assert "@page { size: A4;" in page
    assert "185057800608491" not in page and "18505********91" in page


def test_ten_anomalies_print_on_one_a4_page(tmp_path, browser):
    data = ten_anomalies()
    j = judge(data, "ESAT_81234567600017_RG_20251210_002.csv", AS_OF, max_file_bytes=10_000_000, max_records=1000)
    assert j.anomalies.height == 10 and j.statut == "REJETE"
    page = write_page(tmp_path, data)
    pdf = tmp_path / "cr.pdf"
    print_to_pdf(page, pdf)
    pages = pdf_pages(pdf.read_bytes())
    assert len(pages) == 1
    width, height = pages[0]
    assert abs(width - A4_POINTS[0]) < 2 and abs(height - A4_POINTS[1]) < 2


def test_examples_compte_rendu_renders_in_chromium(tmp_path, browser):
    seed_examples(tmp_path)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    pages = sorted((tmp_path / "drop").glob("*/retour/*.CR.html"))
    assert len(pages) == 4
    for page in pages:
        dom = dump_dom(page)
        assert "Compte rendu de votre dépôt" in dom and "ACCEPTE" in dom
        assert "Rien à faire : toutes les lignes sont acceptées." in dom
    png = tmp_path / "cr.png"
    screenshot(pages[0], png)
    assert png_size(png.read_bytes()) == (900, 1100)


def test_a_faulty_file_renders_grouped_by_code(tmp_path, browser):
    dom = dump_dom(write_page(tmp_path, ten_anomalies()))
    headings = re.findall(r"<h2[^>]*>([^<]+)</h2>", dom)
    assert headings == ["R03 — 1 anomalie bloquante", "R04 — 2 anomalies bloquantes", "R05 — 2 anomalies bloquantes",
                        "R06 — 2 anomalies bloquantes", "R09 — 1 anomalie bloquante", "R11 — 2 anomalies bloquantes"]

