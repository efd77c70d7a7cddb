"""The live log of a run in a real browser (issue 23): marie launches a collect from the console, lands on the run
page, sees its log lines appear while it runs, then its final status, without reloading; the whole log page by
page and as text; a Caf-75 operator sees no line about an Esat outside Caf 75.

The drop area: a generated campaign (fixtures/generate.py, 300 Esats, ~330 files) with its Habpps extract
imported, so that the collect judges every record and lasts several seconds.
"""

from __future__ import annotations

import html
import re
import shutil

import pytest

from exchange.store.engine import in_transaction, open_database
from exchange.store.habilitations import load_habilitations
from exchange.store.operators import add_operator
from exchange.store.reads import runs as run_reads
from fixtures.generate import generate
from tests.areas import cli, write_config
from tests.browser import free_port, log_in, start_console
from tests.conftest import make_config

pytestmark = pytest.mark.browser
PASSWORDS = {"marie": "gestion-2026-marie", "louise": "lecture-2026-louise-75"}


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    base = tmp_path_factory.mktemp("journal")
    generate(base / "gen", esats=300, workers=26_000)
    shutil.copytree(base / "gen" / "drop", base / "drop")
    port = free_port()
    cfg = make_config(base)
    write_config(base / "esat-exchange.toml", cfg)
    with open(base / "esat-exchange.toml", "a", encoding="utf-8") as f:
        f.write(f'[web]\nbind = "127.0.0.1:{port}"\n')
    assert cli(base, "habilitations", "import", str(base / "gen" / "habpps"))[0] == 0
    engine = open_database(cfg.database_url)
    in_transaction(engine, add_operator, "marie", "gestionnaire", PASSWORDS["marie"], ["national"])
    in_transaction(engine, add_operator, "louise", "lecteur", PASSWORDS["louise"], ["75"])
    with engine.connect() as conn:
        extract = load_habilitations(conn)
    partners = [(p.siret, p.code_caf, p.portee) for p in extract.partenaires.values()]
    logins = [(m.login, m.siret) for m in extract.utilisateurs]
    in_75 = {s for s, caf, portee in partners if caf == "75" and portee != "MULTI_DEPARTEMENTALE"}
    console = start_console(base / "esat-exchange.toml", port)
    yield {
        "base": base,
        "url": console.url,
        "engine": engine,
        "in_75": in_75,
        "outside_75": ({s for s, _, _ in partners} - in_75) | {login for login, s in logins if s not in in_75},
        "accounts_75": {login for login, s in logins if s in in_75},
    }
    console.stop()
    engine.dispose()


def logged_in(browser, area, login: str):  # noqa: ANN001, ANN201
    return log_in(browser, area["url"], login, PASSWORDS[login])


def test_marie_launches_a_collect_and_watches_its_log_live_then_reads_it_all(browser, area):
    from playwright.sync_api import expect

    from tests.axe import violations

    page = logged_in(browser, area, "marie")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(area["url"] + "/taches/collect/lancer")
    page.click("#confirmer")
    run_id = int(re.fullmatch(re.escape(area["url"]) + r"/executions/(\d+)", page.url).group(1))
    assert page.inner_text("#statut-execution") == "EN_COURS", "the collect ended before its page was shown"
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page.content()  # without JavaScript
    assert page.locator("#journal h2").inner_text() == "Journal de l'exécution"
    assert page.locator("#journal-etat").get_attribute("aria-live") == "polite"
    assert page.locator("#journal-lignes").get_attribute("aria-live") is None  # the lines are not announced
    assert violations(page) == []  # axe-core, while the run is in progress
    page.evaluate("window.esatSansRechargement = true")  # gone if the page were reloaded
    before = page.locator("#journal-lignes tr").count()
    seen_live = 0
    for _ in range(600):  # lines appear while the run is still EN_COURS
        if page.inner_text("#statut-execution") != "EN_COURS":
            break
        seen_live = max(seen_live, page.locator("#journal-lignes tr").count() - before)
        if seen_live and re.fullmatch(r"\d+ fichiers? traités?", page.inner_text("#journal-progression")):
            break
        page.wait_for_timeout(200)
    assert seen_live > 0, "no line appeared while the run was in progress"
    expect(page.locator("#statut-execution")).to_have_text("OK", timeout=300_000)  # the script's, no reload
    expect(page.locator("#journal-lignes td.esat-journal-message").last).to_have_text(
        "fin de l'exécution : OK", timeout=15_000
    )
    assert page.evaluate("window.esatSansRechargement") is True  # no reload: the script did it all
    assert page.inner_text("#journal-etat").startswith("Exécution terminée : OK.")
    assert page.locator("#en-cours").count() == 0
    shown = page.locator("#journal-lignes td.esat-journal-message").all_inner_texts()
    assert any(t.startswith("fichier traité : ESAT_") for t in shown)
    assert page.locator("#journal-lignes .fr-badge--info").count() > 0
    assert violations(page) == []
    # the whole log, page by page, and as text
    page.reload()
    assert page.inner_text("#statut-execution") == "OK"
    assert page.locator("#journal-lignes tr").count() == 200  # the last 200 lines on the run page
    page.click("#journal a:has-text('Voir tout le journal')")
    assert page.url == f"{area['url']}/executions/{run_id}/journal"
    assert page.inner_text("h1").startswith(f"Journal de l'exécution n° {run_id}")
    total = int(re.match(r"([\d\u202f]+) lignes", page.inner_text("#journal-total")).group(1).replace("\u202f", ""))
    assert total > 330 * 3  # archived, judged, answered per file, at least
    first = page.locator("#journal-lignes td.esat-journal-message").all_inner_texts()
    assert first[0] == "début de l'exécution" and len(first) == 40  # 40 lines a page: under 5 screens at 10×
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", page.locator("#journal-lignes td").first.inner_text())
    assert violations(page) == []
    page.click("a:has-text('Page suivante')")
    assert page.url.endswith("/journal?page=2")
    assert page.locator("#journal-lignes td.esat-journal-message").first.inner_text() not in first[:1]
    text = page.request.get(f"{area['url']}/executions/{run_id}/journal.txt")
    assert text.status == 200 and text.headers["content-type"] == "text/plain; charset=utf-8"
    assert f'filename="execution-{run_id}-journal.txt"' in text.headers["content-disposition"]
    lines = text.text().splitlines()
    assert len(lines) == total and " INFO    début de l'exécution" in lines[0]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4} INFO    fin de l'exécution : OK", lines[-1])
    assert problems == []  # no script error, nothing the CSP blocked
    page.context.close()


def test_a_caf_75_operator_sees_no_line_about_an_esat_outside_caf_75(browser, area):
    with area["engine"].connect() as conn:  # the collect the test above launched from the console
        collect = run_reads.last_run(conn, ("collect",))
    assert collect is not None and collect["statut"] == "OK", "the collect of the test above did not run"
    run_id = collect["id"]
    assert area["in_75"] and area["outside_75"]
    page = logged_in(browser, area, "louise")
    page.goto(f"{area['url']}/executions/{run_id}")
    run_page = html.unescape(page.content())
    text = page.request.get(f"{area['url']}/executions/{run_id}/journal.txt").text()
    national = open_database_lines(area, run_id)
    assert 0 < len(text.splitlines()) < national
    for shown in (run_page, text):
        leaked = sorted(m for m in area["outside_75"] if m in shown)
        assert leaked == [], leaked[:5]
    assert any(s in text for s in area["in_75"] | area["accounts_75"])  # and the lines about Caf 75's Esats are there
    assert "fin de l'exécution : OK" in text  # the run's own lines, about no Esat
    page.context.close()


def open_database_lines(area, run_id: int) -> int:  # noqa: ANN001
    from exchange.core.perimeter import EVERYTHING
    from exchange.store.run_log import count_lines

    with area["engine"].connect() as conn:
        return count_lines(conn, run_id, perimeter=EVERYTHING)
