"""The doors of issue 28, through HTTP against the real console: only national gestionnaires act for every Caf
(launch, close, import), no free-text line crosses a perimeter (a run's error, its log, the Esat page), a
planted compte rendu acts on nothing, and the smaller doors (logins, sessions before login, huge numbers,
Content-Disposition, /verifier's address and Origin)."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import func, select

from exchange.store.engine import in_transaction, open_database
from exchange.store.operators import add_operator
from exchange.store.tables import web_sessions  # no read counts sessions: the rows themselves are the subject
from exchange.web.kit import disposition
from tests import rows
from tests.access_area import ACCOUNTS, ESATS, PASSWORD, RHONE, SEINE, Client, seed_three_perimeters
from tests.areas import cli
from tests.browser import free_port, log_in, start_console

READ_ONLY = "Action réservée aux gestionnaires : votre compte est en lecture seule."
NATIONAL_ONLY = "Action réservée aux opérateurs de périmètre national."
CROSS_NAME = f"ESAT_{RHONE['siret']}_RG_20251210_002.csv"  # Caf 69's SIRET, uploaded by Caf 75's account
PLANTED = (
    '<!doctype html><html><head><meta http-equiv="refresh" content="0; url=/mentions-legales">'
    "<title>Compte rendu</title></head><body><p id=cr>Compte rendu</p>"
    "<script>document.title = 'script exécuté'; window.location = '/mentions-legales'</script></body></html>"
)


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    base = tmp_path_factory.mktemp("doors")
    port = free_port()
    config = seed_three_perimeters(base, None, port)  # run 1: the files of Caf 75, Caf 69 and the CNA
    with open(config, "a", encoding="utf-8") as f:
        f.write("verify_requests = 3\n")  # still [web]: the last table of the file
    # a Caf 75 account uploading under a Caf 69 Esat's SIRET: run 2
    seine_rg = base / "drop" / "esat-seine" / "depot"
    (seine_rg / CROSS_NAME).write_text(
        (base / "drop" / "esat-seine" / "archive" / f"ESAT_{SEINE['siret']}_RG_20251210_001.csv")
        .read_text(encoding="utf-8")
        .replace(SEINE["siret"], RHONE["siret"]),
        encoding="utf-8",
    )
    assert cli(base, "run", "--as-of", "2025-12-15")[0] in (0, 1)
    engine = open_database(f"sqlite:///{base / 'exchange.db'}")
    in_transaction(engine, add_operator, "vide-gestionnaire", "gestionnaire", PASSWORD)  # without a perimeter
    in_transaction(engine, add_operator, "nat", "lecteur", PASSWORD, ["national"])
    files = json.loads(cli(base, "files", "list", "--format", "json")[1])
    # run 2's error as the cycle writes it when files are set aside (exchange.app.cycle._quarantine): one of
    # Caf 69, one of Caf 75 (whose own reason Caf 75 reads)
    rhone = next(f for f in files if f["compte"] == "esat-rhone")
    cross = next(f for f in files if f["fichier"] == CROSS_NAME)
    with engine.begin() as conn:
        rows.set_run(
            conn,
            2,
            status="ECHEC",
            error=f"fichier n° {rhone['id']} (esat-rhone/{rhone['fichier']}) en quarantaine : OSError: illisible; "
            f"fichier n° {cross['id']} (esat-seine/{CROSS_NAME}) en quarantaine : OSError: illisible",
        )
        rows.set_file(conn, cross["id"], error="OSError: illisible")
    console = start_console(config, port)
    yield {"base": base, "port": port, "engine": engine, "files": files, "url": f"http://127.0.0.1:{port}"}
    console.stop()
    engine.dispose()


def logged_in(area, login: str) -> Client:
    client = Client(area["port"])
    assert client.login(login).status == 303, login
    return client


def run_count(area) -> int:
    with area["engine"].connect() as conn:
        return rows.run_count(conn)


# -- item 2: one rule for what acts for every Caf ------------------------------------------------------------

REFUSED = {
    "national-lecteur": READ_ONLY,
    "75-lecteur": READ_ONLY,
    "cna-lecteur": READ_ONLY,
    "75-gestionnaire": NATIONAL_ONLY,
    "cna-gestionnaire": NATIONAL_ONLY,
    "vide-gestionnaire": NATIONAL_ONLY,
}


@pytest.mark.parametrize("login", sorted(REFUSED))
@pytest.mark.parametrize("job", ["collect", "nightly", "campaign"])
def test_only_a_national_gestionnaire_launches_a_job(area, login, job):
    client = logged_in(area, login)
    before = run_count(area)
    confirm = client.get(f"/taches/{job}/lancer")
    assert confirm.status == 403 and REFUSED[login] in html.unescape(confirm.text)
    assert "<h1" in confirm.text and "Accès refusé" in confirm.text  # the console's French error page
    answer = client.post(f"/taches/{job}/lancer")
    assert answer.status == 403 and REFUSED[login] in html.unescape(answer.text)
    assert run_count(area) == before  # nothing run, nothing recorded
    assert 'href="/taches/' + job + '/lancer"' not in client.get("/").text  # and no button offered


@pytest.mark.parametrize("login", sorted(REFUSED))
def test_closing_and_importing_are_refused_alike(area, login):
    client = logged_in(area, login)
    before = run_count(area)
    for path in ("/campagne/cloture", "/habilitations"):
        answer = client.post(path, {"annee": "2025", "confirmation": "oui"})
        assert answer.status == 403 and REFUSED[login] in html.unescape(answer.text), path
    assert run_count(area) == before


def test_a_national_gestionnaire_is_offered_the_launch(area):
    client = logged_in(area, "national-gestionnaire")
    assert client.get("/taches/collect/lancer").status == 200
    assert 'href="/taches/collect/lancer"' in client.get("/").text


# -- item 5: no free-text line crosses a perimeter ------------------------------------------------------------


def foreign_to(perimeter: str, area) -> list[str]:
    """What this perimeter must never read: other perimeters' SIRETs, accounts and file names, other Cafs' files."""
    others = [k for k in ("75", "69", "cna") if k != perimeter]
    names = [f["fichier"] for f in area["files"] if f["compte"] not in ACCOUNTS[perimeter]]
    return [s for k in others for s in ESATS[k]] + [a for k in others for a in ACCOUNTS[k]] + names


RUN_TEXTS = [
    "/",
    "/executions",
    "/executions.csv",
    "/executions/1",
    "/executions/2",
    "/executions/1/journal",
    "/executions/2/journal",
    "/executions/1/journal.txt",
    "/executions/2/journal.txt",
    "/executions/1/journal.json?apres=0",
    "/executions/2/journal.json?apres=0",
]


@pytest.mark.parametrize("perimeter", ["cna", "75"])
@pytest.mark.parametrize("path", RUN_TEXTS)
def test_no_free_text_line_crosses_the_perimeter(area, perimeter, path):
    answer = logged_in(area, f"{perimeter}-lecteur").get(path)
    assert answer.status == 200, path
    shown = html.unescape(answer.text)
    foreign = foreign_to(perimeter, area)
    if perimeter == "75":  # Caf 75's own file, uploaded under a Caf 69 SIRET: its name and SIRET are Caf 75's to read
        shown = shown.replace(CROSS_NAME, "")
        foreign.remove(RHONE["siret"])  # (Rhône's own files, named after it, are still checked)
    leaked = [m for m in foreign if m in shown]
    assert leaked == [], leaked
    assert "relevé des dépôts" not in shown  # the drop area's national count
    assert not re.search(r"fichier Caf écrit : Caf (?!75\b)", shown)  # another Caf's file
    if path.startswith("/executions/1/journal"):
        assert "début de l'exécution" in shown and "fin de l'exécution" in shown  # the run's own lines are there


def test_a_national_operator_reads_the_whole_error_and_each_perimeter_its_own(area):
    rhone = next(f for f in area["files"] if f["compte"] == "esat-rhone")
    cross = next(f for f in area["files"] if f["fichier"] == CROSS_NAME)
    national = html.unescape(logged_in(area, "national-lecteur").get("/executions/2").text)
    assert f"fichier n° {rhone['id']} (esat-rhone/{rhone['fichier']}) en quarantaine" in national
    assert "relevé des dépôts" in logged_in(area, "national-lecteur").get("/executions/1/journal.txt").text
    paris = html.unescape(logged_in(area, "75-lecteur").get("/executions/2").text)
    assert "détail réservé aux opérateurs de périmètre national (il peut concerner des Esats d'autres Caf)" in paris
    assert f"fichier n° {cross['id']} : OSError: illisible" in paris  # its own file's reason
    assert "esat-rhone" not in paris and rhone["fichier"] not in paris
    cna = html.unescape(logged_in(area, "cna-lecteur").get("/executions/2").text)
    assert "détail réservé aux opérateurs de périmètre national" in cna and "illisible" not in cna
    csv_75 = logged_in(area, "75-lecteur").get("/executions.csv").text
    assert "esat-rhone" not in csv_75 and "détail réservé" in csv_75


def test_the_esat_page_of_another_perimeter_is_404_whoever_uploaded_under_it(area):
    cross = [f for f in area["files"] if f["fichier"] == CROSS_NAME]
    assert cross and cross[0]["compte"] == "esat-seine" and cross[0]["siret"] == RHONE["siret"]
    paris, national = logged_in(area, "75-lecteur"), logged_in(area, "national-lecteur")
    unknown = paris.get("/esats/00000000000000")
    answer = paris.get(f"/esats/{RHONE['siret']}")
    assert (answer.status, answer.body) == (404, unknown.body)
    assert paris.get(f"/esats/{SEINE['siret']}").status == 200
    assert national.get(f"/esats/{RHONE['siret']}").status == 200
    assert paris.get(f"/fichiers/{cross[0]['id']}").status == 200  # the file itself is Caf 75's (its account's)


# -- item 6: a planted compte rendu acts on nothing -------------------------------------------------------------


def test_a_planted_compte_rendu_is_sandboxed(area, browser):
    seine = next(f for f in area["files"] if f["compte"] == "esat-seine" and f["siret"] == SEINE["siret"])
    retour = area["base"] / "drop" / "esat-seine" / "retour"
    (retour / f"{seine['fichier']}.CR.html").write_text(PLANTED, encoding="utf-8")
    path = f"/fichiers/{seine['id']}/cr/{seine['fichier']}.CR.html"
    answer = logged_in(area, "75-lecteur").get(path)
    assert answer.status == 200
    csp = answer.headers["content-security-policy"]
    assert csp.startswith("sandbox;") and "default-src 'none'" in csp and "script-src" not in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    page = log_in(browser, area["url"], "75-lecteur", PASSWORD)
    page.goto(area["url"] + path)
    page.wait_for_load_state("load")
    page.wait_for_timeout(1500)  # what a refresh of 0 s or the script would have done by now
    assert page.url == area["url"] + path  # no redirect
    # served rebuilt from the ledger, never the planted file: its title, not the planted one's, and no script ran
    assert page.title() == f"Compte rendu — {seine['fichier']}"
    page.context.close()


# -- item 7: the smaller doors --------------------------------------------------------------------------------


@pytest.mark.parametrize("login", ["cli:root", "nat\u200b", "NAT", "Nat", " ", "é-lecteur", "a" * 101, "_x", "a/b"])
def test_logins_outside_the_character_set_or_twins_by_case_are_refused(area, login):
    code, out, err = cli(
        area["base"], "operators", "add", login, "--role", "lecteur", "--perimetre", "75", "--proxy-only"
    )
    assert code == 1 and out == "", (login, code, out, err)
    assert "identifiant" in err or "désigne le compte existant « nat »" in err, err
    client = logged_in(area, "national-gestionnaire")
    answer = client.post(
        "/operateurs/nouveau",
        {"login": login, "role": "lecteur", "cafs": "75", "password": PASSWORD, "password2": PASSWORD},
    )
    assert answer.status == 422, (login, answer.status)
    assert "identifiant" in html.unescape(answer.text)
    listed = cli(area["base"], "operators", "list", "--format", "json")[1]
    assert sorted(o["login"].lower() for o in json.loads(listed)).count("nat") == 1


def test_no_session_row_before_login(area):
    def rows() -> int:
        with area["engine"].connect() as conn:
            return conn.execute(select(func.count()).select_from(web_sessions)).scalar_one()

    before = rows()
    for _ in range(100):
        for path in ("/connexion", "/", "/verifier", "/fichiers?page=2"):
            assert Client(area["port"]).get(path).status in (200, 303)
    assert rows() == before
    client = logged_in(area, "75-lecteur")  # the login form's token travelled in the signed cookie
    assert rows() == before + 1 and client.get("/fichiers").status == 200
    forged = Client(area["port"], cookie="esat_console=v.eyJjc3JmIjoieCJ9.AAAA")  # {"csrf": "x"}, badly signed
    answer = forged.request("POST", "/connexion", {"login": "75-lecteur", "password": PASSWORD, "suite": ""})
    assert answer.status == 403


HUGE = "1" + "0" * 30


@pytest.mark.parametrize(
    "path",
    [
        f"/fichiers?page={HUGE}",
        f"/fichiers?execution={HUGE}",
        f"/fichiers.csv?execution={HUGE}",
        f"/executions?page={HUGE}",
        f"/executions/1/journal?page={HUGE}",
        f"/executions/1/journal.json?apres={HUGE}",
        f"/journal?page={HUGE}",
        f"/campagne?annee={HUGE}",
        f"/campagne?page={HUGE}",
        f"/esats/{SEINE['siret']}?page={HUGE}",
        "/fichiers/" + "9" * 40,
        "/fichiers/" + "9" * 40 + "/rejouer",
        "/fichiers/" + "9" * 40 + "/cr/x.CR.html",
        "/executions/" + "9" * 40,
        "/executions/" + "9" * 40 + "/journal.txt",
    ],
)
def test_numbers_beyond_any_row_are_404(area, path):
    assert logged_in(area, "national-gestionnaire").get(path).status == 404, path


@pytest.mark.parametrize("caf", ["€", '"; filename="x.html', "75\r\nX-Injecte: 1", "7" * 10])
def test_a_bad_caf_code_is_400_never_a_header(area, caf):
    from urllib.parse import quote

    answer = logged_in(area, "national-lecteur").get(f"/campagne.csv?annee=2025&caf={quote(caf)}")
    assert answer.status == 400 and "x-injecte" not in answer.headers
    assert "Code de Caf invalide" in html.unescape(answer.text)


def test_content_disposition_names_cannot_add_a_parameter():
    value = disposition('campagne-"; filename="x.html')
    plain = re.fullmatch(r'attachment; filename="([^"]*)"; filename\*=UTF-8\'\'(\S+)', value)
    assert plain and plain.group(1) == "campagne-___filename__x.html"
    assert '"' not in plain.group(2) and ";" not in plain.group(2)
    assert disposition("execution-1-journal.txt") == (
        "attachment; filename=\"execution-1-journal.txt\"; filename*=UTF-8''execution-1-journal.txt"
    )


def verify_post(area, forwarded: str | None = None, origin: str | None = None):  # noqa: ANN201
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    if origin is not None:
        headers["Origin"] = origin
    boundary = "frontiere"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="fichier"; filename="x.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\na;b\r\n--{boundary}--\r\n"
    )
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", area["port"], timeout=60)
    conn.request(
        "POST", "/verifier", body=body, headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    r = conn.getresponse()
    text = r.read().decode("utf-8", "replace")
    conn.close()
    return r.status, html.unescape(text)


def test_verifier_refuses_origin_null(area):
    status, text = verify_post(area, "10.0.0.9", origin="null")
    assert status == 403 and "envoyée depuis un autre site" in text


def test_verifier_counts_the_client_the_proxy_saw_like_the_login_page(area):
    """Behind the trusted proxy (127.0.0.1), the client is the nearest hop that is not a trusted proxy: another
    client behind the same proxy chain keeps its own quota, and a forged left part changes nothing."""
    for n in range(3):
        assert verify_post(area, f"203.0.113.{n}, 10.1.1.1, 127.0.0.1")[0] != 429  # 3 allowed (verify_requests)
    assert verify_post(area, "198.51.100.7, 10.1.1.1, 127.0.0.1")[0] == 429  # the same client, forged left part
    assert verify_post(area, "10.1.1.2, 127.0.0.1")[0] != 429  # another client: its own quota
