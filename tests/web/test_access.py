"""Who sees what, through HTTP against the real console: every route × national, CNA and Caf 75 perimeters ×
an object inside and outside, for a lecteur and a gestionnaire; on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import json
import re
from contextlib import nullcontext

import pytest

from tests.access_area import ACCOUNTS, ESATS, HORIZON, RHONE, SEINE, Client, seed_three_perimeters
from tests.areas import cli
from tests.browser import free_port, start_console
from tests.services import private_pg_schema

PERIMETERS = ("national", "cna", "75")
ROLES = ("lecteur", "gestionnaire")
UNKNOWN_ID = 987654
SEEN = {"national": ("75", "69", "cna"), "cna": ("cna",), "75": ("75",)}  # whose Esats each perimeter sees


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def area(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"access-{request.param}")
    with private_pg_schema() if request.param == "postgresql" else nullcontext() as db_url:
        port = free_port()
        config = seed_three_perimeters(base, db_url, port)
        files = json.loads(cli(base, "files", "list", "--format", "json")[1])
        console = start_console(config, port)
        state = {"base": base, "port": port, "files": files, "db_url": db_url}
        yield state
        console.stop()


def rg_of(area, account: str) -> dict:
    (row,) = [f for f in area["files"] if f["compte"] == account and f["type"] == "RG"]
    return row


def inside_and_outside(area, perimeter: str) -> tuple[dict, dict | None]:
    """A file the perimeter sees, and one it does not (None for national: it sees every file)."""
    return {
        "national": (rg_of(area, RHONE["account"]), None),
        "cna": (rg_of(area, HORIZON["account"]), rg_of(area, SEINE["account"])),
        "75": (rg_of(area, SEINE["account"]), rg_of(area, RHONE["account"])),
    }[perimeter]


def foreign(perimeter: str) -> list[str]:
    """What must never appear to this perimeter: the other perimeters' SIRETs (in every file name) and accounts."""
    others = [k for k in ("75", "69", "cna") if k not in SEEN[perimeter]]
    return [s for k in others for s in ESATS[k]] + [a for k in others for a in ACCOUNTS[k]]


@pytest.fixture(scope="module")
def clients(area):
    """One logged-in client per perimeter and role."""
    made = {}
    for perimeter in PERIMETERS:
        for role in ROLES:
            client = Client(area["port"])
            assert client.login(f"{perimeter}-{role}").status == 303
            made[(perimeter, role)] = client
    return made


def assert_nothing_foreign(answer, perimeter: str, where: str) -> None:
    leaked = [m for m in foreign(perimeter) if m in answer.text]
    assert leaked == [], f"{where}: {leaked}"


def assert_same_as_unknown(client: Client, answer, unknown_path: str) -> None:
    """Outside the perimeter: the very answer an unknown identifier gets (status and body)."""
    unknown = (
        client.request("GET", unknown_path) if not unknown_path.startswith("POST ") else client.post(unknown_path[5:])
    )
    assert (answer.status, answer.body) == (404, unknown.body) and unknown.status == 404


READ_PAGES = [
    "/",
    "/fichiers",
    "/fichiers?statut=ACCEPTE",
    "/executions",
    "/executions/1",
    "/campagne?annee=2025",
    "/campagne.csv?annee=2025",
    "/journal",
    "/habilitations",
    "/migration",
    "/executions/1/journal",
    "/executions/1/journal.txt",
    "/executions/1/journal.json?apres=0",
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("perimeter", PERIMETERS)
@pytest.mark.parametrize("path", READ_PAGES)
def test_pages_lists_counts_and_exports_hold_nothing_outside_the_perimeter(area, clients, perimeter, role, path):
    answer = clients[(perimeter, role)].get(path)
    assert answer.status == 200, path
    assert_nothing_foreign(answer, perimeter, path)
    inside, _outside = inside_and_outside(area, perimeter)
    if path.startswith(("/fichiers", "/executions/1")):
        assert inside["fichier"] in answer.text  # and what is inside is shown


NO_FILE = re.compile(r'id="compte-fichiers"[^>]*>0 fichier[.,]')


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("perimeter", PERIMETERS)
def test_counts_are_those_of_the_perimeter(area, clients, perimeter, role):
    client = clients[(perimeter, role)]
    files = {"national": 5, "cna": 2, "75": 2}[perimeter]
    assert re.search(rf'id="compte-fichiers"[^>]*>{files} fichiers?[.,]', client.get("/fichiers").text)
    run = client.get("/executions/1").text
    assert f"Fichiers reçus par cette exécution : {files}" in run
    assert re.search(rf"<dt>Fichiers répondus</dt><dd>{files} : {files} acceptés", run), run
    other = {"national": None, "cna": "esat-seine", "75": "horizon-paie"}[perimeter]
    if other:  # asking for another perimeter's account or SIRET finds nothing
        assert NO_FILE.search(client.get(f"/fichiers?compte={other}").text)
        assert NO_FILE.search(client.get(f"/fichiers?siret={ESATS['69'][0]}").text)
    csv_lines = client.get("/campagne.csv?annee=2025").text.splitlines()
    silent = sorted(s for k in SEEN[perimeter] for s in ESATS[k][1:])
    assert sorted(line.split(";")[1] for line in csv_lines[1:]) == silent


FILE_ROUTES = [
    ("GET", "/fichiers/{id}"),
    ("GET", "/fichiers/{id}/cr/{name}.CR.csv"),
    ("GET", "/fichiers/{id}/cr/{name}.CR.html"),
    ("GET", "/fichiers/{id}/rejouer"),
    ("POST", "/fichiers/{id}/rejouer"),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("perimeter", PERIMETERS)
@pytest.mark.parametrize("method,route", FILE_ROUTES)
@pytest.mark.parametrize("where", ["inside", "outside"])
def test_a_file_outside_the_perimeter_is_the_same_404_as_an_unknown_one(
    area, clients, perimeter, role, method, route, where
):
    client = clients[(perimeter, role)]
    inside, outside = inside_and_outside(area, perimeter)
    row = inside if where == "inside" else outside
    if row is None:  # national sees every file: an unknown one stands for « outside »
        row = {"id": UNKNOWN_ID, "fichier": "INCONNU.csv"}
    path = route.format(id=row["id"], name=row["fichier"])
    client.get("/migration")  # shows (and so clears) any message left by an earlier action
    answer = client.request(method, path, {} if method == "POST" else None)
    gestion_only = route.endswith("rejouer")
    if gestion_only and role == "lecteur":
        assert answer.status == 403  # the role is checked first, the same inside and outside
        return
    if where == "outside":
        assert_same_as_unknown(
            client, answer, ("POST " if method == "POST" else "") + route.format(id=UNKNOWN_ID, name=row["fichier"])
        )
        return
    expected = {"GET": {200, 400}, "POST": {303}}[method] if gestion_only else {200}
    assert answer.status in expected, (path, answer.status, answer.text[:500])
    assert_nothing_foreign(answer, perimeter, path)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("perimeter", ["cna", "75"])
@pytest.mark.parametrize(
    "path", ["/campagne/cloture", "/habilitations", "/taches/nightly/suspendre", "/taches/toutes/reprendre"]
)
def test_actions_on_every_caf_are_for_national_operators_only(area, clients, perimeter, role, path):
    client = clients[(perimeter, role)]
    answer = client.post(path, {"annee": "2025", "confirmation": "oui"})
    assert answer.status == 403
    reason = (
        "Action réservée aux gestionnaires : votre compte est en lecture seule."
        if role == "lecteur"
        else "Action réservée aux opérateurs de périmètre national."
    )
    assert reason in answer.text
    page = client.get("/campagne?annee=2025" if "campagne" in path else "/habilitations").text
    if role == "gestionnaire":
        assert "aux gestionnaires de périmètre national." in page


PAUSE_ROUTES = [
    "/taches/nightly/suspendre",
    "/taches/nightly/reprendre",
    "/taches/toutes/suspendre",
    "/taches/toutes/reprendre",
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("perimeter", PERIMETERS)
@pytest.mark.parametrize("path", PAUSE_ROUTES)
def test_scheduled_jobs_are_paused_by_national_gestionnaires_only(area, clients, perimeter, role, path):
    """The scheduler serves every Caf: its confirmation pages and actions are a national gestionnaire's; every
    other operator sees each job's state on the dashboard, without a button."""
    client = clients[(perimeter, role)]
    allowed = perimeter == "national" and role == "gestionnaire"
    dashboard = client.get("/").text
    assert 'id="tache-nightly"' in dashboard
    assert ('href="/taches/nightly/suspendre"' in dashboard) == allowed  # every job active between these tests
    answer = client.get(path)
    assert answer.status == (200 if allowed else 403), (path, answer.status)
    answer = client.post(path, {"motif": "test d'accès"})
    assert answer.status == (303 if allowed else 403), (path, answer.status)
    if not allowed:
        assert (
            "Action réservée aux gestionnaires : votre compte est en lecture seule."
            if role == "lecteur"
            else "Action réservée aux opérateurs de périmètre national."
        ) in answer.text
    elif path.endswith("suspendre"):  # leave the jobs as they were for the other tests
        assert client.post(path.replace("suspendre", "reprendre")).status == 303
    client.get("/migration")  # shows (and so clears) the action's message


def test_an_account_without_perimeter_sees_nothing(area):
    client = Client(area["port"])
    assert client.login("sans-perimetre").status == 303
    assert NO_FILE.search(client.get("/fichiers").text)
    for path in READ_PAGES:
        answer = client.get(path)
        assert answer.status == 200
        assert [m for k in ESATS for m in ESATS[k] + ACCOUNTS[k] if m in answer.text] == [], path
    assert client.get(f"/fichiers/{rg_of(area, SEINE['account'])['id']}").status == 404


# the accounts pages and forms (/operateurs): national gestionnaires only. The forms name an account that does not
# exist (or are incomplete), so a national gestionnaire's request is answered without changing any account.
ACCOUNT_ROUTES = [
    ("GET", "/operateurs"),
    ("GET", "/operateurs/nouveau"),
    ("POST", "/operateurs/nouveau"),
    ("GET", "/operateurs/compte?login=75-lecteur"),
    ("POST", "/operateurs/acces"),
    ("POST", "/operateurs/mot-de-passe"),
    ("POST", "/operateurs/etat"),
    ("GET", "/operateurs/suppression?login=75-lecteur"),
    ("POST", "/operateurs/suppression"),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("perimeter", PERIMETERS)
@pytest.mark.parametrize("method,path", ACCOUNT_ROUTES)
def test_accounts_are_managed_by_national_gestionnaires_only(area, clients, perimeter, role, method, path):
    client = clients[(perimeter, role)]
    form = {"login": "compte-inexistant", "role": "lecteur", "cafs": "75", "etat": "desactiver"}
    answer = client.request(method, path, form if method == "POST" else None)
    if (perimeter, role) == ("national", "gestionnaire"):
        expected = {"GET": {200}, "POST": {303, 422}}[method]
        assert answer.status in expected, (path, answer.status, answer.text[:500])
        return
    assert answer.status == 403, path
    reason = (
        "Action réservée aux gestionnaires : votre compte est en lecture seule."
        if role == "lecteur"
        else "Action réservée aux opérateurs de périmètre national."
    )
    assert reason in answer.text


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("perimeter", PERIMETERS)
def test_the_accounts_menu_entry_is_shown_only_to_national_gestionnaires(clients, perimeter, role):
    shown = 'href="/operateurs"' in clients[(perimeter, role)].get("/").text
    assert shown == ((perimeter, role) == ("national", "gestionnaire"))


@pytest.mark.parametrize("perimeter", PERIMETERS)
@pytest.mark.parametrize(
    "route", ["/executions/{id}/journal", "/executions/{id}/journal.txt", "/executions/{id}/journal.json?apres=0"]
)
def test_the_log_of_an_unknown_run_is_404_and_a_known_one_shows_the_perimeters_lines(area, clients, perimeter, route):
    client = clients[(perimeter, "lecteur")]
    assert client.get(route.format(id=UNKNOWN_ID)).status == 404
    answer = client.get(route.format(id=1))
    shown = html.unescape(answer.text)
    assert answer.status == 200 and "fin de l'exécution : OK" in shown
    inside, outside = inside_and_outside(area, perimeter)
    assert f"fichier traité : {inside['fichier']}" in shown
    if outside is not None:
        assert outside["fichier"] not in shown


# -- the whole matrix: every route of the console (exchange/web/app.py) and who may use it ---------------------------
PUBLIC = "public"  # anyone, logged in or not
READ = "lecture"  # every operator, narrowed to their perimeter
EXPORT = "export"  # every operator, narrowed to their perimeter: a download (CSV, text, JSON)
FILE = "fichier"  # every operator whose perimeter holds the file (else the unknown file's 404)
GESTION = "gestion"  # gestionnaires, within their perimeter
EVERY_CAF = "toutes-les-caf"  # national gestionnaires only: the action acts for every Caf
MATRIX = {
    ("GET", "/"): READ,
    ("GET", "/executions"): READ,
    ("GET", "/executions.csv"): EXPORT,
    ("GET", "/executions/{run_id:int}"): READ,
    ("GET", "/executions/{run_id:int}/journal"): READ,
    ("GET", "/executions/{run_id:int}/journal.txt"): EXPORT,
    ("GET", "/executions/{run_id:int}/journal.json"): EXPORT,
    ("GET", "/fichiers"): READ,
    ("GET", "/fichiers.csv"): EXPORT,
    ("GET", "/fichiers/{file_id:int}"): FILE,
    ("GET", "/fichiers/{file_id:int}/cr/{name}"): FILE,
    ("GET", "/fichiers/{file_id:int}/rejouer"): FILE,
    ("POST", "/fichiers/{file_id:int}/rejouer"): FILE,
    ("GET", "/esats/{siret}"): FILE,
    ("GET", "/rejeux"): GESTION,
    ("POST", "/rejeux"): GESTION,
    ("GET", "/taches/{job}/lancer"): EVERY_CAF,
    ("POST", "/taches/{job}/lancer"): EVERY_CAF,
    ("GET", "/taches/{job}/suspendre"): EVERY_CAF,
    ("POST", "/taches/{job}/suspendre"): EVERY_CAF,
    ("GET", "/taches/{job}/reprendre"): EVERY_CAF,
    ("POST", "/taches/{job}/reprendre"): EVERY_CAF,
    ("GET", "/campagne"): READ,
    ("GET", "/campagne.csv"): EXPORT,
    ("POST", "/campagne/cloture"): EVERY_CAF,
    ("GET", "/habilitations"): READ,
    ("POST", "/habilitations"): EVERY_CAF,
    ("GET", "/migration"): READ,
    ("POST", "/migration"): READ,  # a report on the workbook the operator sends: nothing of anyone's
    ("GET", "/journal"): READ,
    ("GET", "/journal.csv"): EXPORT,
    ("GET", "/jetons"): READ,  # one's own API tokens
    ("POST", "/jetons"): READ,
    ("POST", "/jetons/revocation"): READ,
    ("POST", "/executions/{run_id:int}/arreter"): EVERY_CAF,
    ("GET", "/operateurs"): EVERY_CAF,
    ("GET", "/operateurs/nouveau"): EVERY_CAF,
    ("POST", "/operateurs/nouveau"): EVERY_CAF,
    ("GET", "/operateurs/compte"): EVERY_CAF,
    ("POST", "/operateurs/acces"): EVERY_CAF,
    ("POST", "/operateurs/mot-de-passe"): EVERY_CAF,
    ("POST", "/operateurs/etat"): EVERY_CAF,
    ("GET", "/operateurs/suppression"): EVERY_CAF,
    ("POST", "/operateurs/suppression"): EVERY_CAF,
    ("GET", "/accessibilite"): PUBLIC,
    ("GET", "/mentions-legales"): PUBLIC,
    ("GET", "/donnees-personnelles"): PUBLIC,
    ("GET", "/sante"): PUBLIC,
    ("GET", "/sante/vivant"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/connexion"): PUBLIC,
    ("POST", "/connexion"): PUBLIC,
    ("POST", "/deconnexion"): READ,
    ("GET", "/verifier"): PUBLIC,
    ("POST", "/verifier"): PUBLIC,
    ("GET", "/verifier/guide"): PUBLIC,
    ("GET", "/connexion/oidc"): PUBLIC,
    ("GET", "/connexion/oidc/retour"): PUBLIC,
}


def console_routes() -> set[tuple[str, str]]:
    """Every (method, path) the console serves, read from the application web/app.py builds (static files apart)."""
    import tempfile
    from pathlib import Path

    from starlette.routing import Route

    from exchange.store.engine import open_database
    from exchange.web.app import create_app
    from tests.conftest import make_config

    with tempfile.TemporaryDirectory() as tmp:
        config = make_config(Path(tmp))
        engine = open_database(config.database_url)
        app = create_app(config, engine).plain.app  # ProxyAndHeaders → ServerSessions → Starlette
        engine.dispose()
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }


def test_every_route_of_the_console_has_its_line_in_the_matrix():
    """A new route without a line here fails: say who may use it, and the tests below check it."""
    assert console_routes() == set(MATRIX)


def concrete(area, method: str, path: str, perimeter: str = "national") -> str:
    """The route's path with an object of the perimeter in it (run 1, a file it sees, job nightly, an account)."""
    inside, _ = inside_and_outside(area, perimeter)
    query = {
        "/executions/{run_id:int}/journal.json": "?apres=0",
        "/operateurs/compte": "?login=75-lecteur",
        "/operateurs/suppression": "?login=75-lecteur" if method == "GET" else "",
    }.get(path, "")
    return (
        path.replace("{run_id:int}", "1")
        .replace("{file_id:int}", str(inside["id"]))
        .replace("{name}", inside["fichier"] + ".CR.csv")
        .replace("{siret}", inside["siret"])
        .replace("{job}", "nightly")
    ) + query


GUARDED = sorted(k for k, v in MATRIX.items() if v != PUBLIC)


@pytest.mark.parametrize("method,path", GUARDED)
def test_nobody_logged_in_gets_nothing(area, method, path):
    client = Client(area["port"])
    answer = client.request(method, concrete(area, method, path), {} if method == "POST" else None)
    if method == "GET":
        assert answer.status == 303 and answer.headers["location"].startswith("/connexion?suite="), path
    else:
        assert answer.status == 403 and "Session expirée : reconnectez-vous." in html.unescape(answer.text), path


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("perimeter", PERIMETERS)
@pytest.mark.parametrize("method,path", sorted(k for k, v in MATRIX.items() if v in (EVERY_CAF, GESTION)))
def test_every_action_checks_its_role_and_perimeter_before_anything(area, clients, perimeter, role, method, path):
    """EVERY_CAF: national gestionnaires only; GESTION: gestionnaires. The allowed reach the form's CSRF check (a
    forged token here, so nothing is done); the others are refused first, with the French reason."""
    client = clients[(perimeter, role)]
    allowed = role == "gestionnaire" and (perimeter == "national" or MATRIX[(method, path)] == GESTION)
    target = concrete(area, method, path, perimeter)
    answer = client.request(method, target, {"csrf": "jeton-forge"} if method == "POST" else None)
    text = html.unescape(answer.text)
    if not allowed:
        reason = (
            "Action réservée aux gestionnaires : votre compte est en lecture seule."
            if role == "lecteur"
            else "Action réservée aux opérateurs de périmètre national."
        )
        assert answer.status == 403 and reason in text, (target, answer.status)
    elif method == "POST":
        assert answer.status == 403 and "jeton de sécurité (CSRF) absent ou invalide" in text, target
    else:
        assert answer.status == 200, (target, answer.status)
    client.get("/migration")  # shows (and so clears) any message


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("perimeter", PERIMETERS)
@pytest.mark.parametrize("method,path", sorted(k for k, v in MATRIX.items() if v in (READ, EXPORT)))
def test_every_read_export_and_download_holds_nothing_outside_the_perimeter(
    area, clients, perimeter, role, method, path
):
    client = clients[(perimeter, role)]
    target = concrete(area, method, path, perimeter)
    if method == "POST":  # /migration, /deconnexion: a forged token is refused, the session stays
        answer = client.request(method, target, {"csrf": "jeton-forge"})
        assert answer.status == 403 and "jeton de sécurité (CSRF)" in html.unescape(answer.text)
        assert client.get("/fichiers").status == 200
        return
    answer = client.get(target)
    assert answer.status == 200, (target, answer.status)
    assert_nothing_foreign(answer, perimeter, target)
    if MATRIX[(method, path)] == EXPORT and not target.endswith(".json?apres=0"):
        disposition = answer.headers["content-disposition"]
        assert re.fullmatch(r'attachment; filename="[A-Za-z0-9._-]+"; filename\*=UTF-8\'\'\S+', disposition)
