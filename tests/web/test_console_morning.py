"""The 8 a.m. console (issue 23 §1-2) in a real browser: what an operator must act on, the compte rendu page
styled under its own CSP, a replay refused until the corrected extract is in, the campaign split by situation,
the files list searched, sorted and exported, and nothing wider than a 390 px phone.

The database: the spec's examples run with no habilitation extract (every file rejected H05), as in
tests/web/test_console.py; the tests follow each other as the morning goes.
"""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from exchange.core.clock import utcnow
from exchange.store.engine import in_transaction, open_database
from exchange.store.operators import add_operator
from tests.areas import cli, seed_examples
from tests.browser import free_port, log_in, start_console
from tests.conftest import EXAMPLES
from tests.rows import plant_run

pytestmark = pytest.mark.browser
SEINE_RG = "ESAT_81234567600017_RG_20251210_001.csv"
HORIZON_RG = "ESAT_44306184100021_RG_20251211_001.xml"
PASSWORDS = {"marie": "gestion-2026-marie", "paul": "lecture-2026-paul"}


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    base = tmp_path_factory.mktemp("matin")
    port = free_port()
    cfg = seed_examples(base)
    with open(base / "esat-exchange.toml", "a", encoding="utf-8") as f:
        # the drop area listed at each page view (tests/app/test_depot_cache.py: the 60 s default)
        f.write(f'[web]\nbind = "127.0.0.1:{port}"\ndepot_cache_seconds = 0\n')
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0  # no extract yet: all four files H05
    engine = open_database(cfg.database_url)
    in_transaction(engine, add_operator, "marie", "gestionnaire", PASSWORDS["marie"], ["national"])
    in_transaction(engine, add_operator, "paul", "lecteur", PASSWORDS["paul"], ["national"])
    console = start_console(base / "esat-exchange.toml", port)
    yield {"base": base, "url": console.url, "engine": engine}
    console.stop()
    engine.dispose()


def logged_in(browser, area, login: str, width: int = 1280):  # noqa: ANN001, ANN201
    return log_in(browser, area["url"], login, PASSWORDS[login], width)


def file_id(page, area, name: str) -> int:  # noqa: ANN001
    page.goto(area["url"] + "/fichiers?" + f"nom={name}")
    return int(page.locator(f"a:text-is('{name}')").get_attribute("href").rsplit("/", 1)[1])


def test_dashboard_says_what_to_act_on_with_links_and_french_job_names(browser, area):
    page = logged_in(browser, area, "paul")
    assert page.inner_text(".esat-verdict") == "ÉTAT : ALERTE"
    alert = page.locator("#etat li.esat-alerte", has_text="Aucun extrait Habpps importé")
    assert alert.locator("a").inner_text() == "Importer un extrait Habpps"
    assert "esat-exchange" not in page.inner_text("#etat")  # links, not shell commands
    todo = page.inner_text("#etat li.esat-a-traiter")
    assert todo.startswith(
        "À traiter par la Caf : 4 fichiers rejetés pour une erreur d'habilitation (H05 × 4), sans "
        "fichier accepté depuis : la Caf corrige ses données dans Habpps"
    ), todo
    runs_table = page.inner_text("#dernieres-executions")
    assert "cycle complet" in runs_table and "traitement de nuit" in runs_table and "nightly" not in runs_table
    assert "(s)" not in page.inner_text("main")
    page.click("#etat li.esat-a-traiter a:text-is('Voir les fichiers rejetés pour une habilitation')")
    assert page.url == area["url"] + "/fichiers?statut=REJETE&code=H"
    assert page.inner_text("#compte-fichiers").startswith("4 fichiers.")
    page.goto(area["url"] + "/executions/1")
    assert page.inner_text("h1").startswith("Exécution n° 1 (cycle complet)")
    assert "0 accepté, 0 partiel, 4 rejetés, 0 doublon" in page.inner_text("#resume")
    page.context.close()


def get(area, path: str) -> tuple[int, str, str]:
    """An unauthenticated GET, as a monitoring system makes it: status, content type, body."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(area["url"] + path, timeout=30) as answer:
            return answer.status, answer.headers["content-type"], answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["content-type"], e.read().decode()


def test_sante_is_503_on_alerte_without_a_login(area):
    import json

    status, kind, body = get(area, "/sante")
    data = json.loads(body)
    assert status == 503 and kind == "application/json" and data["etat"] == "ALERTE"
    assert {"code": "EXTRAIT_HABPPS_ABSENT", "nombre": 1} in data["raisons"]
    assert data["a_traiter"] == [{"code": "HABILITATIONS_A_CORRIGER", "nombre": 4}]  # files, not reasons
    assert "esat-exchange" not in body and not re.search(r"\d{13}", body)  # no command, no NIR-like number


def test_compte_rendu_page_is_styled_under_its_own_policy(browser, area):
    page = logged_in(browser, area, "paul")
    seine = file_id(page, area, SEINE_RG)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    response = page.goto(f"{area['url']}/fichiers/{seine}/cr/{SEINE_RG}.CR.html")
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert csp.startswith("sandbox; default-src 'none'; style-src 'sha256-") and "script" not in csp
    assert "'unsafe-inline'" not in csp
    assert page.evaluate("getComputedStyle(document.querySelector('h1')).color") == "rgb(0, 0, 145)"  # its style
    assert "H05" in page.inner_text("body")
    assert problems == []  # nothing blocked
    page.context.close()


def test_replay_before_the_corrected_extract_is_refused_with_what_to_do(browser, area):
    page = logged_in(browser, area, "marie")
    seine = file_id(page, area, SEINE_RG)
    page.goto(f"{area['url']}/fichiers/{seine}")
    advice = page.inner_text("#rejeu-impossible")
    assert advice.startswith(f"Le fichier n° {seine} a été rejeté pour H05 (habilitation) le ")
    assert "Importez d'abord l'extrait corrigé par la Caf, puis rejouez le fichier." in advice
    assert page.locator("#rejouer").count() == 0
    assert page.locator('a:text-is("Importer l\'extrait Habpps corrigé")').count() == 1
    response = page.goto(f"{area['url']}/fichiers/{seine}/rejouer")
    assert response.status == 400 and "Importez d'abord l'extrait corrigé" in page.inner_text("main")
    page.goto(f"{area['url']}/fichiers/{seine}")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.request.post(f"{area['url']}/fichiers/{seine}/rejouer", form={"csrf": token})
    shown = html.unescape(answer.text())
    assert "Importez d'abord l'extrait corrigé" in shown and "rejoué (jugé" not in shown
    page.goto(f"{area['url']}/fichiers/{seine}")
    assert page.inner_text("#statut") == "REJETE H05"  # nothing ran: no second rejection sent
    page.context.close()


def test_after_the_extract_the_caf_items_remain_until_replayed(browser, area):
    assert cli(area["base"], "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    start = utcnow() - timedelta(hours=1)
    with area["engine"].begin() as conn:  # last night's nightly ran fine
        plant_run(conn, job="nightly", started_at=start, ended_at=start + timedelta(minutes=2), status="OK")
    page = logged_in(browser, area, "marie")
    assert page.inner_text(".esat-verdict") == "ÉTAT : À TRAITER"
    assert page.locator("#etat li.esat-alerte").count() == 0
    seine = file_id(page, area, SEINE_RG)
    page.goto(f"{area['url']}/fichiers/{seine}")
    page.click("#rejouer")
    page.click("#confirmer")
    assert f"Fichier n° {seine} rejoué (jugé au 15/12/2025) : ACCEPTE." in page.inner_text("[role=status]")
    assert page.inner_text("#statut") == "ACCEPTE"
    page.goto(area["url"] + "/")
    assert "3 fichiers rejetés pour une erreur d'habilitation (H05 × 3)" in page.inner_text("#etat")
    page.context.close()


def test_campaign_splits_esats_without_an_accepted_rg_by_situation(browser, area):
    page = logged_in(browser, area, "paul")
    page.goto(area["url"] + "/campagne?annee=2025")
    situations = page.inner_text("#situations")
    assert re.search(r"Rejeté pour une erreur d'habilitation \(à corriger par la Caf\)\t1\tla Caf", situations), (
        situations
    )
    assert re.search(r"N'a rien envoyé\t0", situations), situations
    # a corrected RG waits in Horizon's depot/: that Esat did its job
    depot = area["base"] / "drop" / "horizon-paie" / "depot"
    shutil.copy(
        EXAMPLES / "drop" / "horizon-paie" / "depot" / HORIZON_RG, depot / HORIZON_RG.replace("_001.xml", "_002.xml")
    )
    waiting = r"Fichier en attente ou en cours de traitement\t1\tle service : la prochaine collecte le juge"
    for _ in range(100):  # the console's background lister sees the new file within a second or two
        page.reload()
        situations = page.inner_text("#situations")
        if re.search(waiting, situations):
            break
        page.wait_for_timeout(200)
    assert re.search(waiting, situations), situations
    assert "personne" not in situations  # every situation names who acts
    assert re.search(r"Rejeté pour une erreur d'habilitation \(à corriger par la Caf\)\t0", situations), situations
    page.click("#situations a:has-text('Fichier en attente')")
    assert "situation=en_attente" in page.url
    rows = page.locator("table.esat-sans-rg tbody tr")
    assert rows.count() == 1 and "44306184100021" in rows.first.inner_text()
    with page.expect_download() as download:
        page.click("a:has-text('Exporter en CSV ces Esats')")
    lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "caf_gestionnaire;siret;raison_sociale;jours_restants;situation;dernier_fichier_rg"
    assert len(lines) == 2 and ";44306184100021;" in lines[1]
    assert "fichier en attente ou en cours de traitement" in lines[1]
    page.context.close()


def test_files_list_searches_sorts_and_exports(browser, area):
    page = logged_in(browser, area, "paul")
    page.goto(area["url"] + "/fichiers")
    page.fill("#esat", "horizon")
    page.click("button:text-is('Filtrer')")
    assert page.inner_text("#compte-fichiers").startswith("2 fichiers.")
    table = page.inner_text(".esat-files tbody")
    assert table.count("Association Horizon Travail") == 2 and "\t78\t" in table  # multi-departmental: the CNA
    page.fill("#esat", "")
    page.fill("#nom", "_rg_")
    page.click("button:text-is('Filtrer')")
    assert page.inner_text("#compte-fichiers").startswith("2 fichiers.")
    page.click(".esat-files th a:has-text('Esat')")  # sorted by Esat name, A to Z
    assert page.locator(".esat-files th[aria-sort=ascending]").inner_text().startswith("Esat")
    names = page.locator(".esat-files tbody tr td:nth-child(2) a").all_inner_texts()
    assert names == [HORIZON_RG, SEINE_RG]
    page.click(".esat-files th a:has-text('Esat')")  # then Z to A
    assert page.locator(".esat-files tbody tr td:nth-child(2) a").all_inner_texts() == [SEINE_RG, HORIZON_RG]
    with page.expect_download() as download:
        page.click("a:has-text('Exporter ces fichiers en CSV')")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig")), delimiter=";"))
    assert [r["fichier"] for r in rows] == [SEINE_RG, HORIZON_RG]  # the list's filters and order
    assert rows[1]["esat"] == "Association Horizon Travail (ESAT multi-sites)" and rows[1]["caf"] == "78"
    response = page.goto(area["url"] + "/fichiers?tri=inconnu")
    assert response.status == 400 and "Valeur inconnue pour « tri »" in page.inner_text("main")
    page.context.close()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/fichiers",
        "/fichiers/1",
        "/executions",
        "/executions/1",
        "/campagne?annee=2025",
        "/habilitations",
        "/journal",
    ],
)
def test_no_page_is_wider_than_a_phone(browser, area, path):
    page = logged_in(browser, area, "marie", width=390)
    page.goto(area["url"] + path)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{path}: {width} px"
    page.context.close()


def test_runs_and_journal_are_sorted_filtered_and_exported(browser, area):
    page = logged_in(browser, area, "paul")
    page.goto(area["url"] + "/executions")
    page.click("#executions th a:has-text('Tâche')")  # by the job, descending first
    assert page.locator("#executions th[aria-sort=descending]").inner_text().startswith("Tâche")
    jobs = page.locator("#executions tbody tr td:nth-child(2)").all_inner_texts()
    assert jobs == ["cycle complet", "rejeu", "traitement de nuit"]
    with page.expect_download() as download:
        page.click("a:has-text('Exporter ces exécutions en CSV')")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig")), delimiter=";"))
    assert [r["job"] for r in rows] == ["run", "replay", "nightly"]  # the page's order
    assert rows[0]["statut"] == "OK" and rows[0]["fichiers"] == "4"
    page.goto(area["url"] + "/journal")
    page.fill("#filtre-operateur", "marie")  # a national operator filters the journal by operator, Esat and dates
    page.click("button:text-is('Filtrer')")
    journal = page.inner_text("#journal tbody")
    assert "rejeu" in journal and "paul" not in journal
    with page.expect_download() as download:
        page.click("a:has-text('Exporter ce journal en CSV')")
    lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "date;operateur;action;objet;resultat;detail;adresse;siret;fichier" and len(lines) > 2
    assert all(";marie;" in line for line in lines[1:]) and any(";marie;rejeu;" in line for line in lines[1:])
    page.context.close()


def test_esat_page_then_replay_all_its_habilitation_rejections_at_once(browser, area):
    page = logged_in(browser, area, "marie")
    page.goto(area["url"] + "/fichiers?esat=horizon")
    page.click(".esat-files tbody tr:first-child td:nth-child(3) a")
    assert page.url == area["url"] + "/esats/44306184100021"
    assert page.inner_text("h1") == "Association Horizon Travail (ESAT multi-sites)"
    facts = page.inner_text("#esat")
    assert "78 (CNA : partenaire multi-départemental, convention avec la Caf 13)" in facts
    assert "CONV-13-0042" in page.inner_text("#conventions") and "horizon-paie" in page.inner_text("#contacts")
    assert page.locator(".esat-files tbody tr").count() == 2
    page.click("#rejouer-esat")
    assert page.inner_text("h1") == "Rejouer les fichiers de l'Esat 44306184100021 ?"
    assert page.locator("#a-rejouer tbody tr").count() == 2
    assert "2 fichiers rejetés pour une erreur d'habilitation seront jugés de nouveau" in page.inner_text("main")
    page.click("#confirmer")  # one run in the background: its page shows its progress, file by file
    run_id = int(re.fullmatch(re.escape(area["url"]) + r"/executions/(\d+)", page.url).group(1))
    assert page.inner_text("[role=status]") == (
        f"Rejeu groupé lancé : exécution n° {run_id}. Rejeu des 2 fichiers de l'Esat 44306184100021 : "
        "suivez-le ci-dessous."
    )
    for _ in range(120):
        if page.locator("#en-cours").count() == 0:
            break
        page.wait_for_timeout(500)
        page.reload()
    assert "(rejeu) OK" in page.inner_text("h1").replace("\n", " ")
    page.goto(area["url"] + "/esats/44306184100021")
    assert page.inner_text("#rien-a-rejouer") == "Aucun fichier de cet Esat n'attend un rejeu."
    assert set(page.locator(".esat-files tbody tr td:nth-child(7)").all_inner_texts()) == {"ACCEPTE"}
    page.goto(area["url"] + "/journal?action=rejeu_groupe")
    assert re.search(r"marie\s+rejeu_groupe\s+Esat 44306184100021\s+OK", page.inner_text("#journal"))
    # each file's own line carries its number and its Esat: the journal filtered by SIRET finds both
    page.goto(area["url"] + "/journal?action=rejeu&siret=44306184100021")
    assert len(re.findall(r"marie\s+rejeu\s+fichier n° \d+\s+OK", page.inner_text("#journal"))) == 2
    page.goto(area["url"] + "/esats/00000000000000")
    assert page.inner_text("h1") == "Page introuvable"
    page.context.close()


def test_gestionnaire_starts_a_collect_now_and_is_refused_while_a_cycle_runs(browser, area):
    from exchange.store.fences import holding

    page = logged_in(browser, area, "marie")
    page.click("a:has-text('Lancer maintenant : collecte')")
    assert page.inner_text("h1") == "Lancer maintenant : collecte ?"
    page.click("#confirmer")
    run_id = int(re.fullmatch(re.escape(area["url"]) + r"/executions/(\d+)", page.url).group(1))
    assert page.inner_text("[role=status]") == f"Tâche lancée : exécution n° {run_id}."
    for _ in range(60):  # the page refreshes itself while the run is EN_COURS
        if page.locator("#en-cours").count() == 0:
            break
        page.wait_for_timeout(500)
        page.reload()
    assert "Exécution n° " + str(run_id) + " (collecte) OK" in page.inner_text("h1").replace("\n", " ")
    assert HORIZON_RG.replace("_001.xml", "_002.xml") in page.inner_text(".esat-files")  # what waited in depot/
    with holding(area["engine"], "cycle") as held:  # another process runs a cycle
        assert held is not None
        page.goto(area["url"] + "/taches/nightly/lancer")
        page.click("#confirmer")
        assert page.inner_text("[role=alert]") == (
            "Tâche non lancée : un autre processus exécute déjà un cycle. Réessayez quand elle sera terminée."
        )
    lecteur = logged_in(browser, area, "paul")
    assert lecteur.locator("a:has-text('Lancer maintenant')").count() == 0
    assert lecteur.goto(area["url"] + "/taches/collect/lancer").status == 403
    lecteur.context.close()
    page.context.close()


def test_sante_and_metrics_once_the_service_runs(area):
    import json

    status, _kind, body = get(area, "/sante")
    assert status == 200 and json.loads(body)["etat"] == "À TRAITER"  # Seine's CA still waits for a replay
    status, kind, text = get(area, "/metrics")
    assert status == 200 and kind.startswith("text/plain; version=")
    from prometheus_client.parser import text_string_to_metric_families

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("esat_runs_total", (("statut", "OK"), ("tache", "run")))] == 1
    assert samples[("esat_files", (("etat", "ACQUITTE"), ("statut", "REJETE")))] == 1
    assert samples[("esat_anomalies", (("code", "H05"),))] == 1  # Seine CA: the replayed files were judged anew
    assert samples[("esat_health_alert", ())] == 0 and samples[("esat_health_caf_items", ())] == 1
    assert samples[("esat_last_success_timestamp_seconds", (("tache", "collect"),))] > 1.7e9
    assert ("esat_last_run_duration_seconds", (("tache", "replay"),)) in samples


AXE_PAGES = [
    "/",
    "/fichiers",
    "/fichiers?statut=REJETE&code=H",
    "/fichiers/1",
    "/fichiers/1/rejouer",
    "/executions",
    "/executions/1",
    "/campagne?annee=2025",
    "/habilitations",
    "/migration",
    "/journal",
    "/esats/81234567600017",
    "/rejeux",
    "/taches/collect/lancer",
    "/taches/nightly/suspendre",
    "/taches/toutes/reprendre",
    "/accessibilite",
    "/mentions-legales",
    "/donnees-personnelles",
    "/page-inconnue",
]


def test_every_page_has_no_axe_violation(browser, area):
    from tests.axe import violations

    page = logged_in(browser, area, "marie")
    found = {}
    for path in AXE_PAGES:
        page.goto(area["url"] + path)
        problems = violations(page)
        if problems:
            found[path] = problems
    page.context.close()
    anonymous = browser.new_context(locale="fr-FR").new_page()
    anonymous.goto(area["url"] + "/connexion")
    if violations(anonymous):
        found["/connexion"] = violations(anonymous)
    anonymous.context.close()
    assert found == {}


def test_footer_links_to_the_accessibility_statement_and_legal_pages(browser, area):
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.goto(area["url"] + "/connexion")  # reachable before logging in
    footer = page.locator("footer")
    assert footer.locator("a:text-is('Accessibilité : non conforme')").count() == 1
    page.click("footer a:text-is('Accessibilité : non conforme')")
    assert page.inner_text("h1") == "Déclaration d'accessibilité"
    assert "non conforme" in page.inner_text("#etat-de-conformite")
    page.click("footer a:text-is('Mentions légales')")
    assert page.inner_text("h1") == "Mentions légales"
    page.click("footer a:text-is('Données personnelles')")
    assert page.inner_text("h1") == "Données personnelles"
    assert "NIR" in page.inner_text("main")
    context.close()


def test_a_run_page_explains_files_answered_against_files_received(browser, area):
    page = logged_in(browser, area, "paul")
    page.goto(area["url"] + "/executions/1")  # its four files answered, some replayed since under their own run
    received = int(re.search(r"Fichiers reçus par cette exécution : (\d+)", page.inner_text("main")).group(1))
    assert received < 4
    gap = page.inner_text("#ecart-fichiers")
    assert gap.startswith(f"4 fichiers répondus (comptes rendus déposés) pour {received} fichier")
    assert "rejoués depuis (ils figurent sous l'exécution du rejeu)" in gap
    page.context.close()
