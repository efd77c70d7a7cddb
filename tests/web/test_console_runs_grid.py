"""Reading runs at scale and driving them (issue 29 §3-4) in a real browser: the runs list as a job × day grid
(96 collects a day folded into one cell, failures in red), a long run log filtered by level with « aller aux
erreurs », every page under 5 screens of 1280 × 900; the bulk replay run in the background with its progress on
the run page, a running job stopped between two files, a finished one re-run from its page.

The database: the spec's examples run with no habilitation extract (every file rejected H05), then 14 days of a
collect every 15 minutes and a nightly, and a long log on the first run."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest

from exchange.core.clock import PARIS, today_in_paris
from exchange.store import run_log
from exchange.store.engine import open_database
from exchange.store.operators import add_operator
from exchange.web.lists import JOURNAL_PAGE_SIZE
from tests.areas import cli, seed_examples
from tests.browser import free_port, log_in, start_console
from tests.conftest import EXAMPLES
from tests.rows import plant_run, plant_runs, set_run

pytestmark = pytest.mark.browser
PASSWORDS = {"marie": "gestion-2026-marie", "paul": "lecture-2026-paul", "louise": "gestion-2026-louise"}
SCREEN = 900
FAILED_DAY = 3  # days ago: the two collects that failed
LOG_LINES = 3000


def _runs_of_fourteen_days() -> list[dict]:
    """A collect every 15 minutes and a nightly at 02:00 (Paris) for the 14 days before today, all OK but two."""
    rows = []
    today = today_in_paris()
    for back in range(1, 15):
        day = today - timedelta(days=back)
        for slot in range(96):
            start = datetime.combine(day, time(slot // 4, 15 * (slot % 4)), PARIS).astimezone(UTC)
            failed = back == FAILED_DAY and slot in (40, 41)
            rows.append(
                {
                    "job": "collect",
                    "started_at": start,
                    "ended_at": start + timedelta(seconds=20),
                    "status": "ECHEC" if failed else "OK",
                    "error": "zone de dépôt injoignable : connexion refusée" if failed else None,
                }
            )
        start = datetime.combine(day, time(2, 0), PARIS).astimezone(UTC)
        rows.append(
            {
                "job": "nightly",
                "started_at": start,
                "ended_at": start + timedelta(minutes=5),
                "status": "OK",
                "error": None,
            }
        )
    return rows


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    base = tmp_path_factory.mktemp("grille")
    port = free_port()
    cfg = seed_examples(base)
    with open(base / "esat-exchange.toml", "a", encoding="utf-8") as f:
        f.write(f'[web]\nbind = "127.0.0.1:{port}"\n')
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0  # no extract yet: all four files H05
    engine = open_database(cfg.database_url)
    with engine.begin() as conn:
        plant_runs(conn, _runs_of_fourteen_days())
    now = datetime.now(UTC)
    lines = [
        {"at": now, "level": "INFO", "message": f"fichier traité : ligne {n}", "fields": None, "account": None}
        for n in range(LOG_LINES)
    ]
    lines[1234] = {**lines[1234], "level": "WARNING", "message": "nom refusé : caractère de contrôle"}
    lines[2345] = {**lines[2345], "level": "ERROR", "message": "compte esat-seine illisible : connexion refusée"}
    with engine.begin() as conn:
        run_log.append_lines(conn, 1, lines)
        add_operator(conn, "marie", "gestionnaire", PASSWORDS["marie"], ["national"])
        add_operator(conn, "paul", "lecteur", PASSWORDS["paul"], ["national"])
        add_operator(conn, "louise", "gestionnaire", PASSWORDS["louise"], ["75"])
    console = start_console(base / "esat-exchange.toml", port)
    yield {"base": base, "url": console.url, "engine": engine}
    console.stop()
    engine.dispose()


def logged_in(browser, area, login: str):  # noqa: ANN001, ANN201
    return log_in(browser, area["url"], login, PASSWORDS[login])


def screens(page) -> float:  # noqa: ANN001
    """The page's height in screens of 1280 × 900, as fixtures/bench_console.py measures it."""
    return page.evaluate("document.documentElement.scrollHeight") / SCREEN


def test_the_runs_list_is_a_job_by_day_grid_collects_folded_failures_standing_out(browser, area):
    page = logged_in(browser, area, "paul")
    page.goto(area["url"] + "/executions")
    assert screens(page) < 5, screens(page)  # 14 × 97 runs and the list of the newest: under 5 screens
    assert page.locator("#grille-executions thead th").count() == 15  # the job, then 14 days
    collect = page.locator("#grille-collect td")
    assert collect.count() == 14
    texts = [t.strip() for t in collect.all_text_contents()]  # the badges show them in capitals
    failed_column = 13 - FAILED_DAY  # today is the last column
    assert texts[failed_column].startswith("2 échecs")
    assert all(t.startswith("96 OK") for i, t in enumerate(texts[:13]) if i != failed_column)
    assert "fr-badge--error" in collect.nth(failed_column).locator("a").get_attribute("class")
    assert page.inner_text("#grille-resume").startswith("2 exécutions en échec en 14 jours")
    assert page.locator("#executions tbody tr").count() == 20  # the newest runs, one line each, a page of 20
    collect.nth(failed_column).locator("a").click()
    day = (today_in_paris() - timedelta(days=FAILED_DAY)).isoformat()
    assert page.url == f"{area['url']}/executions?job=collect&du={day}&au={day}&statut=ECHEC"
    assert page.locator("#executions tbody tr").count() == 2
    assert "zone de dépôt injoignable" in page.inner_text("#executions")
    page.context.close()


def test_a_long_log_is_filtered_by_level_and_opens_on_its_error(browser, area):
    from tests.axe import violations

    page = logged_in(browser, area, "paul")
    page.goto(area["url"] + "/executions/1")
    assert screens(page) < 5, screens(page)
    assert page.inner_text("#journal-alertes").startswith("1 erreur, 1 avertissement dans le journal")
    page.click("#aller-aux-erreurs")
    assert page.url == area["url"] + "/executions/1/journal?niveau=ERROR"
    assert page.locator("#journal-lignes tr").count() == 1
    assert page.inner_text("#journal-lignes").count("compte esat-seine illisible : connexion refusée") == 1
    assert "Erreurs (1)" in page.inner_text("#filtre-niveau") and "Avertissements et erreurs (2)" in page.inner_text(
        "#filtre-niveau"
    )
    assert violations(page) == []
    page.click("#journal-lignes a:has-text('voir dans le journal')")  # the error among the lines around it
    assert re.search(r"/executions/1/journal\?autour=\d+#ligne-\d+$", page.url)
    marked = page.locator("#journal-lignes tr.esat-ligne-visee")
    assert marked.count() == 1 and "illisible" in marked.inner_text()
    assert page.locator("#journal-lignes tr").count() == JOURNAL_PAGE_SIZE  # 40
    before = page.locator("#journal-lignes td.esat-journal-message").first.inner_text()
    number = int(re.search(r"ligne (\d+)", before).group(1))
    assert number <= 2345 < number + JOURNAL_PAGE_SIZE  # the page that holds it
    assert screens(page) < 5, screens(page)
    page.click("#filtre-niveau a:has-text('Avertissements et erreurs')")
    assert [t.split(" voir")[0] for t in page.locator("#journal-lignes td.esat-journal-message").all_inner_texts()] == [
        "nom refusé : caractère de contrôle",
        "compte esat-seine illisible : connexion refusée",
    ]
    page.goto(area["url"] + "/executions/1/journal?page=30")
    assert screens(page) < 5, screens(page)
    assert page.goto(area["url"] + "/executions/1/journal?niveau=DEBUG").status == 400
    page.context.close()


def test_a_running_job_is_stopped_between_two_files_from_the_command_of_its_page(area):
    """The stop the run page and the API ask (app.stop) is read by the job wrapper between two files: the bulk replay
    ends its run after the file in hand, the others left as they were, and says so in its log."""
    from exchange.app.replay import replayable_after_import
    from exchange.app.replay_run import replay_in_one_run
    from exchange.app.stop import ask_stop
    from exchange.config import load_config
    from exchange.core.perimeter import Perimeter
    from exchange.store.reads.runs import last_run

    assert cli(area["base"], "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    engine, config = area["engine"], load_config(area["base"] / "esat-exchange.toml")
    waiting = replayable_after_import(engine, perimeter=Perimeter.of(["national"]))
    assert len(waiting) >= 3
    told: list[tuple[int, bool]] = []

    def journal(file_id: int, done: bool, message: str) -> None:
        told.append((file_id, done))
        if len(told) == 1:  # the operator clicks « Arrêter » while the first file is replayed
            with engine.connect() as conn:
                running = last_run(conn, ("replay",))
            assert ask_stop(engine, running["id"], "marie").done

    outcome = replay_in_one_run(config, engine, [w["id"] for w in waiting], journal=journal)
    assert outcome.status == "OK" and len(told) == 1 and told[0][1] is True
    with engine.connect() as conn:
        lines = [
            line["message"] for line in run_log.read_lines(conn, outcome.run_id, perimeter=Perimeter.of(["national"]))
        ]
    assert any(line.startswith("arrêt demandé par marie : le fichier en cours est terminé") for line in lines)
    left = len(waiting) - 1
    assert f"arrêt demandé : {left} fichiers non rejoués, à rejouer plus tard" in lines
    assert len(replayable_after_import(engine, perimeter=Perimeter.of(["national"]))) == left
    assert ask_stop(engine, outcome.run_id, "marie").message.startswith(
        f"L'exécution n° {outcome.run_id} n'est pas en cours (OK)"
    )


def test_the_bulk_replay_runs_in_the_background_with_its_progress_on_the_run_page(browser, area):
    from playwright.sync_api import expect

    page = logged_in(browser, area, "marie")
    page.goto(area["url"] + "/rejeux")
    count = page.locator("#a-rejouer tbody tr").count()
    assert count >= 2
    page.click("#confirmer")
    moved = re.fullmatch(re.escape(area["url"]) + r"/executions/(\d+)", page.url)
    assert moved, (page.url, page.content()[-3000:])
    run_id = int(moved.group(1))
    assert page.inner_text("[role=status]") == (
        f"Rejeu groupé lancé : exécution n° {run_id}. Rejeu des {count} fichiers rejetés pour une habilitation : "
        "suivez-le ci-dessous."
    )
    expect(page.locator("#statut-execution")).to_have_text("OK", timeout=300_000)  # live, or reloaded by noscript
    page.reload()
    messages = page.locator("#journal-lignes td.esat-journal-message").all_inner_texts()
    assert messages[1] == f"rejeu groupé : {count} fichiers à rejouer"
    assert [m.split(" (")[0] for m in messages if re.match(r"fichier \d+/", m)] == [
        f"fichier {n}/{count} rejoué" for n in range(1, count + 1)
    ]
    assert f"rejeu groupé : {count} fichiers rejoués sur {count}" in messages
    assert page.locator("#relancer").count() == 0  # a replay is not re-run from here: the files changed
    page.goto(area["url"] + "/journal?action=rejeu")
    journal = page.inner_text("#journal")
    assert len(re.findall(r"marie\s+rejeu\s+fichier n° \d+\s+OK", journal)) >= count
    page.context.close()


def test_stop_and_re_run_are_on_the_run_page_for_national_gestionnaires_only(browser, area):
    engine = area["engine"]
    start = datetime.now(UTC)
    with engine.begin() as conn:  # a collect running in another process (the scheduler)
        running = plant_run(conn, job="collect", started_at=start, status="EN_COURS")
    for login in ("paul", "louise"):
        other = logged_in(browser, area, login)
        other.goto(f"{area['url']}/executions/{running}")
        assert other.locator("#arreter").count() == 0 and other.locator("#en-cours").count() == 1
        other.goto(f"{area['url']}/executions/1")
        assert other.locator("#relancer").count() == 0
        assert other.goto(f"{area['url']}/taches/collect/lancer").status == 403  # the rule, not only the button
        other.context.close()
    page = logged_in(browser, area, "marie")
    page.goto(f"{area['url']}/executions/{running}")
    page.click("#arreter")
    assert page.url == f"{area['url']}/executions/{running}"
    assert page.inner_text("[role=status]").startswith(
        f"Arrêt de l'exécution n° {running} demandé : le fichier en cours"
    )
    assert page.inner_text("#arret-demande").startswith("Arrêt demandé par marie le ")
    assert page.locator("#arreter").count() == 0
    page.goto(f"{area['url']}/journal?action=arret")
    assert re.search(rf"marie\s+arret\s+exécution n° {running}\s+OK", page.inner_text("#journal"))
    with engine.begin() as conn:  # that process ended (the next holder of the lock would close it so)
        set_run(conn, running, status="ECHEC", ended_at=datetime.now(UTC))
    page.goto(f"{area['url']}/executions/{running}")
    page.click("#relancer")
    assert page.url == area["url"] + "/taches/collect/lancer"
    assert page.inner_text("h1") == "Lancer maintenant : collecte ?"
    page.context.close()
