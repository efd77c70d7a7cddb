"""Pausing a scheduled job from the console (issue 23), in a real browser: marie (national gestionnaire) suspends the
nightly from the dashboard, sees the banner and the job's state, the journal shows it, the launch page says it,
then she resumes it; paul (lecteur) sees the state but no button; axe-core finds nothing on the new pages."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from exchange.store.engine import in_transaction, open_database
from exchange.store.operators import add_operator
from tests.areas import seed_examples
from tests.browser import free_port, log_in, start_console

pytestmark = pytest.mark.browser
PASSWORDS = {"marie": "gestion-2026-marie", "paul": "lecture-2026-paul"}
STAMP = r"\d\d/\d\d/\d{4} \d\d:\d\d"


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    base = tmp_path_factory.mktemp("pause")
    port = free_port()
    cfg = seed_examples(base)
    with open(base / "esat-exchange.toml", "a", encoding="utf-8") as f:
        f.write(f'[web]\nbind = "127.0.0.1:{port}"\n')
    engine = open_database(cfg.database_url)
    in_transaction(engine, add_operator, "marie", "gestionnaire", PASSWORDS["marie"], ["national"])
    in_transaction(engine, add_operator, "paul", "lecteur", PASSWORDS["paul"], ["national"])
    console = start_console(base / "esat-exchange.toml", port)
    yield {"base": base, "url": console.url, "engine": engine}
    console.stop()
    engine.dispose()


def logged_in(browser, area, login: str):  # noqa: ANN001, ANN201
    return log_in(browser, area["url"], login, PASSWORDS[login])


def state(page, job: str) -> str:  # noqa: ANN001
    """A job's state cell as written (the DSFR badge shows it in capitals)."""
    return " ".join(page.locator(f"#tache-{job} td:nth-child(2)").text_content().split())


def sante(area) -> dict:  # noqa: ANN001
    try:
        with urllib.request.urlopen(area["url"] + "/sante") as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as e:  # 503 on ALERTE: the body is the same JSON
        return json.loads(e.read())


def paused_metric(area) -> dict[str, float]:  # noqa: ANN001
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(area["url"] + "/metrics") as answer:
        text = answer.read().decode()
    return {
        s.labels["tache"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "esat_job_paused"
    }


def test_marie_suspends_the_nightly_then_resumes_it_and_paul_only_sees_it(browser, area):
    from tests.axe import violations

    page = logged_in(browser, area, "marie")
    assert page.locator("#bandeau-suspension").count() == 0
    assert state(page, "nightly") == "active"
    page.click("#tache-nightly a:has-text('Suspendre')")
    assert page.url.endswith("/taches/nightly/suspendre")
    assert page.inner_text("h1") == "Suspendre la tâche planifiée « traitement de nuit » ?"
    what = page.inner_text("#ce-qui-va-se-passer")
    assert "ne sont pas rattrapés" in what and "Une exécution déjà en cours n'est pas arrêtée" in what
    assert violations(page) == []
    page.fill("#motif", "import Habpps prévu")
    page.click("#confirmer")

    assert page.url.rstrip("/") == area["url"]
    assert "Tâche traitement de nuit suspendue" in page.inner_text("[role=status]")
    banner = page.inner_text("#bandeau-suspension")
    assert "Une tâche planifiée suspendue" in banner
    assert re.search(
        rf"traitement de nuit : suspendue par marie depuis le {STAMP} \(motif : import Habpps prévu\)", banner
    )
    assert re.fullmatch(
        rf"suspendue par marie depuis le {STAMP} \(motif : import Habpps prévu\)", state(page, "nightly")
    )
    assert page.locator("#tache-nightly a:has-text('Reprendre')").count() == 1
    assert state(page, "collect") == "active"
    assert violations(page) == []  # the dashboard with its banner

    assert sante(area)["avertissements"] == [{"code": "TACHE_SUSPENDUE", "nombre": 1}]  # no login, no motif
    assert "marie" not in json.dumps(sante(area)) and "Habpps" not in json.dumps(sante(area))
    assert paused_metric(area) == {"collect": 0, "nightly": 1, "campaign": 0, "purge": 0}

    page.goto(area["url"] + "/taches/nightly/lancer")
    assert "Cette tâche est suspendue pour le planificateur par marie" in page.inner_text("#tache-suspendue")
    page.goto(area["url"] + "/taches/nightly/suspendre")  # already paused: nothing to do, no button
    assert "Cette tâche est déjà suspendue" in page.inner_text("#rien-a-faire")
    assert page.locator("#confirmer").count() == 0

    page.goto(area["url"] + "/journal")
    row = page.locator("tr", has_text="suspension_tache")
    assert row.count() == 1
    assert "marie" in row.inner_text() and "tâche nightly" in row.inner_text() and "OK" in row.inner_text()
    assert "Motif : import Habpps prévu" in row.inner_text()

    reader = logged_in(browser, area, "paul")
    assert "traitement de nuit : suspendue par marie" in reader.inner_text("#bandeau-suspension")
    assert state(reader, "nightly").startswith("suspendue par marie")
    assert reader.locator("a:has-text('Reprendre'), a:has-text('Suspendre')").count() == 0
    assert reader.goto(area["url"] + "/taches/nightly/reprendre").status == 403
    reader.context.close()

    page.goto(area["url"] + "/")
    page.click("#tache-nightly a:has-text('Reprendre')")
    assert page.inner_text("h1") == "Reprendre la tâche planifiée « traitement de nuit » ?"
    assert violations(page) == []
    page.click("#confirmer")
    assert "Tâche traitement de nuit reprise" in page.inner_text("[role=status]")
    assert page.locator("#bandeau-suspension").count() == 0
    assert state(page, "nightly") == "active"
    page.goto(area["url"] + "/journal")
    assert page.locator("tr", has_text="reprise_tache").count() == 1
    assert sante(area)["avertissements"] == []
    assert set(paused_metric(area).values()) == {0}
    page.context.close()


def test_suspend_and_resume_every_job_from_the_dashboard(browser, area):
    from tests.axe import violations

    page = logged_in(browser, area, "marie")
    page.click("#suspendre-toutes")
    assert page.inner_text("h1") == "Suspendre toutes les tâches planifiées ?"
    assert violations(page) == []
    page.click("#confirmer")
    assert "4 tâches planifiées suspendues" in page.inner_text("#bandeau-suspension")
    assert page.locator("#suspendre-toutes").count() == 0
    page.click("#reprendre-toutes")
    assert violations(page) == []
    page.click("#confirmer")
    assert "Tâches reprises : collecte, traitement de nuit, clôture de campagne, purge." in page.inner_text(
        "[role=status]"
    )
    assert page.locator("#bandeau-suspension").count() == 0
    page.goto(area["url"] + "/taches/toutes/reprendre")
    assert "Aucune tâche planifiée n'est suspendue" in page.inner_text("#rien-a-faire")
    assert violations(page) == []
    assert page.goto(area["url"] + "/taches/replay/suspendre").status == 404
    page.context.close()
