"""The console at national size in a real browser (issue 23 §2): a generated campaign of 300 Esats, twelve of
them rejected H05 (their user deactivated in the extract), processed in one run. Every list is paginated,
filtered and sorted; the run and campaign pages summarise first and stay a few screens tall.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from exchange.store.engine import in_transaction, open_database
from exchange.store.operators import add_operator
from fixtures.generate import generate
from tests.areas import cli, write_config
from tests.browser import free_port, launch_chromium, start_console
from tests.conftest import make_config

pytestmark = pytest.mark.browser
ESATS = 300
DEACTIVATED = 12
PASSWORD = "gestion-2026-marie"
SCREEN = 900


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    base = tmp_path_factory.mktemp("national")
    manifest = generate(base, esats=ESATS, workers=9000, ca_files=5)
    users = base / "habpps" / "utilisateurs.csv"
    lines = users.read_text(encoding="utf-8").splitlines()
    changed = 0
    for i, line in enumerate(lines[1:], 1):  # the first DEACTIVATED declarant logins: their files are H05
        if changed < DEACTIVATED and line.endswith(";O") and "-direction;" not in line:
            lines[i] = line[:-1] + "N"
            changed += 1
    users.write_text("\n".join(lines) + "\n", encoding="utf-8")
    port = free_port()
    cfg = make_config(base)
    write_config(base / "esat-exchange.toml", cfg)
    with open(base / "esat-exchange.toml", "a", encoding="utf-8") as f:
        f.write(f'[web]\nbind = "127.0.0.1:{port}"\n')
    assert cli(base, "habilitations", "import", str(base / "habpps"))[0] == 0
    code, out, err = cli(base, "run", "--as-of", "2025-12-15")
    assert code == 0, out + err
    engine = open_database(cfg.database_url)
    in_transaction(engine, add_operator, "marie", "gestionnaire", PASSWORD, ["national"])
    engine.dispose()
    console = start_console(base / "esat-exchange.toml", port)
    yield {"base": base, "url": console.url, "files": manifest["files"]["total"]}
    console.stop()


@pytest.fixture(scope="module")
def page(browser_instance, area):
    context = browser_instance.new_context(locale="fr-FR", viewport={"width": 1280, "height": SCREEN})
    p = context.new_page()
    p.goto(area["url"] + "/connexion")
    p.fill("#login", "marie")
    p.fill("#password", PASSWORD)
    p.click("button:has-text('Se connecter')")
    yield p
    context.close()


@pytest.fixture(scope="module")
def browser_instance(area):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def screens(page) -> float:  # noqa: ANN001
    return page.evaluate("document.documentElement.scrollHeight") / SCREEN


def test_files_list_pages_filters_and_sorts_the_nation(page, area):
    page.goto(area["url"] + "/fichiers")
    total = area["files"]
    last = -(-total // 25)
    assert page.inner_text("#compte-fichiers").startswith(f"{total} fichiers, page 1 sur {last}.")
    assert page.locator(".esat-files tbody tr").count() == 25
    page.click("a:text-is('Page suivante')")
    assert "page 2 sur" in page.inner_text("#compte-fichiers")
    page.goto(area["url"] + "/fichiers?code=H")
    assert page.inner_text("#compte-fichiers").startswith(f"{DEACTIVATED} fichiers.")
    esats = page.locator(".esat-files tbody tr td:nth-child(3)").all_inner_texts()
    assert all(e.strip() for e in esats)  # each with its Esat's name
    caf = page.locator(".esat-files tbody tr td:nth-child(4)").first.inner_text()
    page.goto(area["url"] + f"/fichiers?caf={caf}&tri=esat&ordre=asc")
    names = [n.split("\n")[0] for n in page.locator(".esat-files tbody tr td:nth-child(3)").all_inner_texts()]
    assert names == sorted(names, key=str.lower) or names == sorted(names)
    assert set(page.locator(".esat-files tbody tr td:nth-child(4)").all_inner_texts()) == {caf}
    with page.expect_download() as download:
        page.click("a:has-text('Exporter ces fichiers en CSV')")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig")), delimiter=";"))
    assert rows and {r["caf"] for r in rows} == {caf}
    assert screens(page) < 5


def test_run_page_summarises_first_and_stays_short(page, area):
    page.goto(area["url"] + "/executions/1")
    summary = page.inner_text("#par-statut")
    assert re.search(rf"REJETE\tH05\t{DEACTIVATED} fichiers", summary), summary
    rows = page.locator(".esat-files tbody tr")
    assert rows.count() == 15
    assert rows.first.locator("td:nth-child(7)").inner_text() == "REJETE"  # rejected first
    assert screens(page) < 5, screens(page)
    page.click("#par-statut a:has-text('12 fichiers')")
    assert page.inner_text("#compte-fichiers").startswith(f"{DEACTIVATED} fichiers.")


def test_campaign_of_a_year_without_any_rg_is_paginated(page, area):
    page.goto(area["url"] + "/campagne?annee=2026")
    assert re.search(rf"N'a rien envoyé\t{ESATS}\t", page.inner_text("#situations"))
    assert page.locator("table.esat-sans-rg tbody tr").count() == 30
    assert "Page 1 sur 10" in page.inner_text("nav.fr-pagination")
    assert screens(page) < 5, screens(page)
    page.goto(area["url"] + "/campagne?annee=2025")
    situations = page.inner_text("#situations")
    assert re.search(rf"Rejeté pour une erreur d'habilitation \(à corriger par la Caf\)\t{DEACTIVATED}\t", situations)
    assert screens(page) < 5, screens(page)


def test_dashboard_verdict_is_a_caf_action_item(page, area):
    page.goto(area["url"] + "/")
    assert f"{DEACTIVATED} fichiers rejetés pour une erreur d'habilitation (H05 × {DEACTIVATED})" in page.inner_text(
        "#etat"
    )
    assert screens(page) < 5, screens(page)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/fichiers",
        "/fichiers?code=H",
        "/executions",
        "/executions/1",
        "/campagne?annee=2025",
        "/campagne?annee=2026",
        "/journal",
    ],
)
def test_national_pages_have_no_axe_violation(page, area, path):
    from tests.axe import violations

    page.goto(area["url"] + path)
    assert violations(page) == []


def test_runs_and_campaign_progress_over_time_as_charts_with_their_figures(page, area):
    page.goto(area["url"] + "/executions")  # the runs as a job × day grid: today, one run OK
    assert page.locator("#grille-executions thead th").count() == 15
    (row,) = page.locator("#grille-executions tbody tr").all()
    assert row.locator("td").last.text_content().startswith("1 OK")
    page.goto(area["url"] + "/campagne?annee=2025")
    title = page.locator("svg[aria-labelledby='progression-campagne-title'] title").first.text_content()
    assert title == f"Esats ayant déclaré leurs RG 2025, jour après jour, sur {ESATS}"
    page.click("summary:has-text('Les chiffres')")
    last = page.locator("#progression tbody tr").last.inner_text()
    assert last.endswith(f"{ESATS - DEACTIVATED} sur {ESATS}"), last
