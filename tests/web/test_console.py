"""The operator console in a real browser: Debian's Chromium driving `esat-exchange web` under uvicorn.

The database is filled by running the spec's examples with no habilitation extract (every file
rejected H05), as an operator finds it in the morning; the tests then act as each role would.
Set ESAT_CONSOLE_SCREENSHOTS=docs/console to (re)write the README's screenshots.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
from pathlib import Path

import pytest

from exchange.config import load_config
from exchange.store.engine import in_transaction, open_database
from exchange.store.operators import add_operator
from schemas.masking import NIR_SHAPED as NIR_PATTERN
from tests.areas import cli, seed_examples, write_config
from tests.browser import free_port, start_console
from tests.conftest import EXAMPLES
from tests.paths import ROOT

pytestmark = pytest.mark.browser
SEINE_RG = "ESAT_81234567600017_RG_20251210_001.csv"
PASSWORDS = {"marie": "gestion-2026-marie", "paul": "lecture-2026-paul", "claire": "lecture-2026-claire"}
SHOTS = os.environ.get("ESAT_CONSOLE_SCREENSHOTS")
NIR_SHAPED = re.compile(NIR_PATTERN)


def example_nirs() -> set[str]:
    """Every full NIR in the spec's example declarations (what must never be shown)."""
    found: set[str] = set()
    for path in (EXAMPLES / "drop").rglob("*"):
        if path.is_file():
            found |= {m.group(0) for m in NIR_SHAPED.finditer(path.read_text(encoding="utf-8", errors="replace"))}
    return found


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    base = tmp_path_factory.mktemp("console")
    port = free_port()
    cfg = seed_examples(base)
    rg = base / "drop" / "esat-seine" / "depot" / SEINE_RG  # one record without a name: a record anomaly
    rg.write_text(rg.read_text(encoding="utf-8").replace("Martin;Jérôme", ";Jérôme"), encoding="utf-8")
    write_config(base / "esat-exchange.toml", cfg)
    with open(base / "esat-exchange.toml", "a", encoding="utf-8") as f:
        f.write(f'[web]\nbind = "127.0.0.1:{port}"\ntrusted_proxies = ["127.0.0.1"]\nproxy_header = "X-Remote-User"\n')
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0  # last night: no extract yet, all H05
    engine = open_database(cfg.database_url)
    in_transaction(engine, add_operator, "marie", "gestionnaire", PASSWORDS["marie"], ["national"])
    in_transaction(engine, add_operator, "paul", "lecteur", PASSWORDS["paul"], ["national"])
    in_transaction(engine, add_operator, "claire", "lecteur", PASSWORDS["claire"], ["national"])
    engine.dispose()
    console = start_console(base / "esat-exchange.toml", port)
    state = {"base": base, "url": console.url, "port": port, "log": ""}
    yield state
    state["log"] = console.stop()


def shot(page, name: str) -> None:  # noqa: ANN001
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def logged_in(browser, area, login: str):  # noqa: ANN001, ANN201
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(area["url"] + "/")
    assert "/connexion" in page.url  # nobody logged in: the login page
    page.fill("#login", login)
    page.fill("#password", PASSWORDS[login])
    page.click("button:has-text('Se connecter')")
    assert page.url == area["url"] + "/"
    assert login in page.inner_text("#operateur")
    return page


def rejected_seine_rg(page, area) -> int:  # noqa: ANN001
    page.goto(area["url"] + "/fichiers?statut=REJETE&compte=esat-seine")
    link = page.locator(f"a:text-is('{SEINE_RG}')")
    return int(link.get_attribute("href").rsplit("/", 1)[1])


def test_login_page_then_dashboard_shows_last_nights_run(browser, area):
    page = logged_in(browser, area, "paul")
    assert page.locator("html").get_attribute("lang") == "fr"
    page.keyboard.press("Tab")  # keyboard first: the skip link, then the main content
    assert page.evaluate("document.activeElement.textContent") == "Aller au contenu"
    page.keyboard.press("Enter")
    assert page.url.endswith("/#contenu")
    assert page.inner_text("#etat").startswith("ÉTAT : ")
    runs = page.inner_text("#dernieres-executions")
    assert re.search(r"cycle complet\s+n° 1\s+OK", runs), runs
    assert "jamais exécutée" in runs  # nightly/collect never ran on this database
    assert "n'a jamais démarré" in page.inner_text("#prochaines")
    assert page.locator("svg.esat-chart title").first.text_content() == "Fichiers rejetés par code, 30 derniers jours"
    assert "H05" in page.inner_text("main")
    shot(page, "tableau-de-bord")
    page.click("a.fr-nav__link:text-is('Exécutions')")
    assert "cycle complet" in page.inner_text("#executions")
    shot(page, "executions")
    page.click("#executions a:text-is('n° 1')")
    assert "Exécution n° 1 (cycle complet)" in page.inner_text("h1")
    assert "H05" in page.inner_text("main") and SEINE_RG in page.inner_text("main")
    shot(page, "execution")
    page.context.close()


def test_lecteur_opens_rejected_file_and_its_compte_rendu_but_cannot_replay(browser, area):
    page = logged_in(browser, area, "paul")
    file_id = rejected_seine_rg(page, area)
    page.goto(f"{area['url']}/fichiers/{file_id}")
    assert page.inner_text("#statut") == "REJETE H05"
    assert page.locator("#rejouer").count() == 0
    assert "Importez d'abord l'extrait corrigé par la Caf" in page.inner_text("#rejeu-impossible")
    assert "H05" in page.inner_text("#anomalies")
    with page.expect_download() as download:
        page.click(f"#comptes-rendus a:has-text('{SEINE_RG}.CR.csv')")
    cr = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "H05" in cr and "REJETE" in cr
    # the HTML compte rendu opens in the console styled: its inline style is allowed by its own CSP
    page.goto(f"{area['url']}/fichiers/{file_id}/cr/{SEINE_RG}.CR.html")
    assert page.eval_on_selector("h1", "e => getComputedStyle(e).color") == "rgb(0, 0, 145)"
    # the confirmation page and the action itself are refused to a lecteur
    response = page.goto(f"{area['url']}/fichiers/{file_id}/rejouer")
    assert response.status == 403 and "réservée aux gestionnaires" in page.inner_text("main")
    page.goto(f"{area['url']}/fichiers/{file_id}")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    response = page.request.post(f"{area['url']}/fichiers/{file_id}/rejouer", form={"csrf": token})
    assert response.status == 403 and "réservée aux gestionnaires" in response.text()
    page.goto(f"{area['url']}/fichiers/{file_id}")
    assert page.inner_text("#statut") == "REJETE H05"
    page.context.close()


def test_forged_form_without_csrf_token_is_refused(browser, area):
    page = logged_in(browser, area, "marie")
    file_id = rejected_seine_rg(page, area)
    for form in ({}, {"csrf": "jeton-contrefait"}):
        response = page.request.post(f"{area['url']}/fichiers/{file_id}/rejouer", form=form)
        assert response.status == 403
        assert "jeton de sécurité (CSRF) absent ou invalide" in response.text()
    page.goto(f"{area['url']}/fichiers/{file_id}")
    assert page.inner_text("#statut") == "REJETE H05"  # nothing was replayed
    page.context.close()


def test_gestionnaire_imports_an_extract_then_replays_the_file(browser, area, tmp_path):
    page = logged_in(browser, area, "marie")
    page.click("a.fr-nav__link:text-is('Habilitations')")
    assert "Aucun extrait importé" in page.inner_text("#en-vigueur")
    # a broken extract: refused whole, every problem listed, nothing in force
    broken = tmp_path / "casse"
    shutil.copytree(EXAMPLES / "habpps", broken)
    text = (broken / "partenaires.csv").read_text(encoding="utf-8")
    (broken / "partenaires.csv").write_text(text.replace("81234567600017", "81234567600018", 1), encoding="utf-8")
    page.set_input_files("#extrait", sorted(str(p) for p in broken.glob("*.csv")))
    page.click("button:text-is('Importer')")
    assert "Extrait refusé" in page.inner_text("#resultat")
    assert "partenaires" in page.inner_text("#resultat")
    assert "Aucun extrait importé" in page.inner_text("#en-vigueur")
    # the real one
    page.set_input_files("#extrait", sorted(str(p) for p in (EXAMPLES / "habpps").glob("*.csv")))
    page.click("button:text-is('Importer')")
    assert "Extrait importé (import n° 1)" in page.inner_text("#resultat")
    assert "marie" in page.inner_text("#en-vigueur")
    shot(page, "habilitations")

    file_id = rejected_seine_rg(page, area)
    shot(page, "fichiers")
    page.goto(f"{area['url']}/fichiers/{file_id}")
    shot(page, "fichier-rejete")
    page.click("#rejouer")
    assert "Rejouer le fichier n°" in page.inner_text("h1")
    shot(page, "rejouer")
    page.click("#confirmer")
    assert page.url == f"{area['url']}/fichiers/{file_id}"
    message = page.inner_text("[role=status]")
    assert f"Fichier n° {file_id} rejoué (jugé au 15/12/2025) : PARTIEL." in message
    assert page.inner_text("#statut") == "PARTIEL"
    anomalies = page.inner_text("#anomalies")
    assert re.search(r"\t\d{5}\*{8}\d{2}\t", anomalies), anomalies  # the record's NIR, masked
    crs = page.inner_text("#comptes-rendus")  # the new one, served rebuilt from the ledger
    assert f"{SEINE_RG}.CR.csv" in crs and f"{SEINE_RG}.{file_id}.CR.csv" not in crs
    assert f"{SEINE_RG}.{file_id}.CR.csv" in page.inner_text("#comptes-rendus-precedents")  # the kept one, named
    assert "ne peut pas être rejoué" in page.inner_text("#rejeu-impossible")
    shot(page, "fichier-rejoue")
    page.context.close()


def test_gestionnaire_closes_the_campaign_then_logs_out(browser, area):
    page = logged_in(browser, area, "marie")
    page.goto(area["url"] + "/campagne?annee=2025")
    page.click("button:has-text('Écrire les fichiers de campagne 2025')")  # not confirmed: nothing written
    assert page.url == area["url"] + "/campagne?annee=2025"
    assert "Cochez la case de confirmation" in page.inner_text("[role=alert]")
    page.check("#confirmation", force=True)
    page.click("button:has-text('Écrire les fichiers de campagne 2025')")
    run_id = int(re.fullmatch(re.escape(area["url"]) + r"/executions/(\d+)", page.url).group(1))
    message = page.inner_text("[role=status]")
    assert f"Fichiers de campagne 2025 écrits : 1 fichier Caf (exécution n° {run_id})." in message, message
    emitted = page.inner_text("#emis")
    name = re.search(r"75/(AAH-ESAT_RG-CAMPAGNE_2025_75_\d{8})\.parquet", emitted).group(1)
    out = load_config(area["base"] / "esat-exchange.toml").output_dir / "75"
    assert {p.name for p in out.glob(name + ".*")} == {f"{name}.parquet", f"{name}.csv", f"{name}.manifest.json"}
    page.goto(area["url"] + "/journal")
    assert re.search(r"marie\s+cloture_campagne\s+campagne 2025\s+OK", page.inner_text("#journal"))
    page.click("button:has-text('Se déconnecter')")
    assert "/connexion" in page.url
    page.goto(area["url"] + "/")
    assert "/connexion" in page.url  # logged out: the pages ask for a login again
    page.context.close()


def test_campaign_page_chart_and_export(browser, area):
    page = logged_in(browser, area, "paul")
    page.goto(area["url"] + "/campagne?annee=2025")
    assert "Campagne RG 2025" in page.inner_text("h1")
    assert "15/01/2026" in page.inner_text("#echeance")
    assert page.locator("svg.esat-chart").count() == 2  # the progress over time, the RG per Caf
    assert page.inner_text("#rg-par-caf")  # the replayed RG is accepted: one Caf at least
    assert "réservée aux gestionnaires" in page.inner_text("main")
    shot(page, "campagne")
    with page.expect_download() as download:
        page.click("a:has-text('Exporter en CSV ces Esats')")
    lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "caf_gestionnaire;siret;raison_sociale;jours_restants;situation;dernier_fichier_rg"
    assert all(";81234567600017;" not in line for line in lines)  # it has an accepted RG now
    page.context.close()


def test_audit_page_lists_every_action(browser, area):
    page = logged_in(browser, area, "paul")
    page.click("a.fr-nav__link:text-is('Journal des actions')")
    journal = page.inner_text("#journal")
    for expected in ("import_habilitations", "rejeu", "connexion"):
        assert expected in journal
    assert re.search(r"marie\s+rejeu\s+fichier n° \d+\s+OK", journal), journal
    assert "REFUSE" in journal  # the broken extract
    shot(page, "journal")
    page.goto(area["url"] + "/migration")
    page.set_input_files("#classeur", str(ROOT / "fixtures" / "habtiers-example.csv"))
    page.click("button:has-text('Afficher le rapport')")
    assert re.search(r"\d+ partenaires?\b", page.inner_text("main")) and page.locator("#rapport tbody tr").count() >= 1
    shot(page, "migration")
    page.context.close()


def test_no_page_holds_a_full_nir(browser, area):
    from tests.axe import violations

    nirs = example_nirs()
    assert nirs, "the examples hold NIRs: the check below means something"
    page = logged_in(browser, area, "marie")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    seen = set()
    todo = ["/"]
    while todo:  # every page reachable from the dashboard through the console's own links
        path = todo.pop()
        if path in seen or len(seen) > 80:
            continue
        seen.add(path)
        response = page.goto(area["url"] + path)
        assert response.status == 200, path
        html = page.content()
        assert not NIR_SHAPED.search(html), path
        assert not any(n in html for n in nirs) and not NIR_SHAPED.search(page.url), path
        assert violations(page) == [], path  # axe-core: no WCAG 2.1 A/AA violation on any page
        for href in page.eval_on_selector_all("a[href^='/']", "els => els.map(e => e.getAttribute('href'))"):
            if href.startswith("/api/"):  # the API's JSON (its OpenAPI document, from « Jetons d'API »): not a page
                continue
            wanted = not href.startswith(("/static", "/fichiers/")) or re.fullmatch(r"/fichiers/\d+", href)
            if wanted and "/cr/" not in href and "rejouer" not in href and ".csv" not in href and ".txt" not in href:
                todo.append(href)
    assert {"/", "/executions", "/fichiers", "/campagne", "/habilitations", "/journal", "/jetons"} <= seen
    assert problems == []  # no script error and nothing the CSP had to block (DSFR assets all local)
    assert any(re.fullmatch(r"/fichiers/\d+", p) for p in seen) and "/executions/1" in seen
    page.context.close()


def _request(
    area, method: str, path: str, headers: dict | None = None, body: str | None = None, source: str = "127.0.0.1"
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", area["port"], timeout=30, source_address=(source, 0))
    conn.request(method, path, body=body, headers=headers or {})
    return conn.getresponse()


def test_proxy_header_accepted_only_from_listed_proxy(area):
    answer = _request(area, "GET", "/", {"X-Remote-User": "paul"})
    assert answer.status == 200 and "paul (lecteur, périmètre national)" in answer.read().decode()
    assert _request(area, "GET", "/", {"X-Remote-User": "inconnu"}).status == 403
    answer = _request(area, "GET", "/", {"X-Remote-User": "marie"}, source="127.0.0.2")  # not a listed proxy
    assert answer.status == 303 and "/connexion" in answer.getheader("location")


def test_session_cookie_flags_and_security_headers(area):
    answer = _request(area, "GET", "/connexion", {"X-Forwarded-Proto": "https"})
    html = answer.read().decode()
    cookie = answer.getheader("set-cookie")
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and "secure" in cookie.lower()
    csp = answer.getheader("content-security-policy")
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in html and " style=" not in html  # nothing inline for the CSP to allow
    plain = _request(area, "GET", "/connexion").getheader("set-cookie")
    assert "secure" not in plain.lower()  # plain http on the loopback: no Secure flag
    assert "https://" not in html  # every asset served locally (no CDN)


def test_console_log_holds_no_full_nir(area):
    # the module's console is still running: read what it logged so far
    log = (area["base"] / f"web-{area['port']}.log").read_text(encoding="utf-8", errors="replace")
    assert "Console disponible" in log
    assert not NIR_SHAPED.search(log)


def test_console_behind_a_base_path(area):
    port = free_port()
    text = (area["base"] / "esat-exchange.toml").read_text(encoding="utf-8")
    config = area["base"] / "sous-chemin.toml"
    config.write_text(
        re.sub(r'bind = "127.0.0.1:\d+"', f'bind = "127.0.0.1:{port}"\nbase_path = "/esat"', text), encoding="utf-8"
    )
    console = start_console(config, port, "/esat")
    try:

        def get(path: str) -> http.client.HTTPResponse:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path)
            return conn.getresponse()

        answer = get("/esat/")
        assert answer.status == 303 and answer.getheader("location") == "/esat/connexion?suite=%2Fesat%2F"
        page = get("/esat/connexion")
        html = page.read().decode()
        assert page.status == 200 and 'action="/esat/connexion"' in html
        assert 'href="/esat/static/dsfr/dsfr.min.css"' in html
        assert "path=/esat" in page.getheader("set-cookie")
        assert get("/esat/static/dsfr/dsfr.min.css").status == 200
        assert get("/connexion").status == 404
    finally:
        console.stop()


def test_esat_accounts_and_pause_pages_as_a_national_gestionnaire_sees_them(browser, area):
    page = logged_in(browser, area, "marie")
    page.goto(area["url"] + "/esats/81234567600017")
    assert "81234567600017" in page.inner_text("main") and SEINE_RG in page.inner_text("main")
    shot(page, "esat")
    page.click("a.fr-nav__link:text-is('Comptes')")
    assert page.inner_text("h1") == "Comptes des opérateurs"
    assert "marie" in page.inner_text("main") and "paul" in page.inner_text("main")
    shot(page, "comptes")
    page.goto(area["url"] + "/taches/nightly/suspendre")
    assert page.inner_text("h1") == "Suspendre la tâche planifiée « traitement de nuit » ?"
    shot(page, "suspendre")
    page.goto(area["url"] + "/executions/1")  # the run page ends with its log, in a box that scrolls
    assert page.locator("#journal-defilement #journal-lignes tr").count() >= 4
    line = page.locator("#journal-lignes tr", has_text="fichier traité : " + SEINE_RG)
    assert line.locator("td:nth-child(4)").inner_text().split() == ["n°", "2", "esat-seine"]
    line.locator("a:text-is('n° 2')").click()  # the file the line is about
    assert SEINE_RG in page.inner_text("h1")
    page.goto(area["url"] + "/executions/1")
    box = page.locator("#journal-defilement")  # the box opens on its latest lines
    assert box.evaluate("b => b.scrollHeight - b.scrollTop - b.clientHeight") < 5
    page.context.close()
