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
RG_CSV = (EXAMPLES / "drop" / "esat-seine" / "depot" / "ESAT_81234567600017_RG_20251210_001.csv").read_text(
    encoding="utf-8"
)
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
    page = cr_html(
        judge(
            ten_anomalies(),
            "ESAT_81234567600017_RG_20251210_002.csv",
            AS_OF,
            max_file_bytes=10_000_000,
            max_records=1000,
        ),
        AS_OF,
    ).decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="fr">' in page
    assert not re.search(r"<script|<link|<img|<iframe|src=|href=\"(?!#code-)|url\(|@import|https?://", page, re.I)
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


def test_a_faulty_file_renders_per_worker_and_per_code(tmp_path, browser):
    dom = dump_dom(write_page(tmp_path, ten_anomalies()))
    assert re.findall(r"<h2[^>]*>([^<]+)</h2>", dom) == [
        "Par salarié : les anomalies de chaque ligne",
        "Par code : ce qui ne va pas et comment le corriger",
    ]
    titles = re.findall(r'<th colspan="3" scope="rowgroup">([^<]+)</th>', dom)
    assert titles == [
        "R03 — SIRET · 1 anomalie bloquante",
        "R04 — Date · 2 anomalies bloquantes",
        "R05 — Taux ou heures · 2 anomalies bloquantes",
        "R06 — Montant · 2 anomalies bloquantes",
        "R09 — Code hors liste · 1 anomalie bloquante",
        "R11 — FINESS ou numéro allocataire · 2 anomalies bloquantes",
    ]
    assert re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', dom) == [
        "Ligne",
        "Salarié",
        "Anomalies (code, colonne)",
        "Ligne",
        "Salarié",
        "Ce qui ne va pas, et comment le corriger",
    ]
    worker = re.search(r'<tr><td class="ligne">4</td><td class="salarie">N\'Diaye Moussa.*?</tr>', dom).group(0)
    assert re.findall(r'href="#(code-r\d\d)"', worker) == ["code-r03", "code-r05"]


def test_identical_anomalies_are_grouped_and_codes_link_to_the_guide():
    lines = RG_CSV.splitlines()
    many = [lines[0]] + [
        lines[1].replace("185057800608491", nir).replace(";78;", ";;")
        for nir in ("185057800608491", "292027512345620", "190111305512391")
    ]
    j = judge(
        ("\n".join(many) + "\n").encode(),
        "ESAT_81234567600017_RG_20251210_002.csv",
        AS_OF,
        max_file_bytes=10_000_000,
        max_records=1000,
    )
    page = cr_html(j, AS_OF, guide_url="https://esat.example/verifier/guide").decode()
    assert page.count("Le champ code Caf (colonne code_caf) est obligatoire et il est vide : renseignez-le.") == 1
    assert '<td class="ligne">3 lignes : 2, 3, 4</td>' in page
    assert '<a class="guide" href="https://esat.example/verifier/guide#code-r01">voir le guide</a>' in page
