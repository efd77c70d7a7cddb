"""The JSON API (/api/v1) against the real console, on SQLite and PostgreSQL: its OpenAPI document is valid and every answer matches it; a token
acts as its operator (perimeter, role, journal), is made and revoked in the console and by the command line; bad
parameters are 400/404 in French, never 500; refused tokens are throttled per address."""

from __future__ import annotations

import json
import re
from contextlib import nullcontext

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from exchange.store.engine import open_database
from exchange.store.reads.audit import AuditQuery, list_audit
from tests.access_area import ACCOUNTS, ESATS, RHONE, SEINE, SILENT, Client, seed_three_perimeters
from tests.areas import cli
from tests.browser import free_port, start_console
from tests.services import private_pg_schema

API = "/api/v1"
TOKEN = re.compile(r"^esat_[A-Za-z0-9_-]{40,}$", re.M)


def new_token(base, login: str, name: str = "supervision") -> str:
    code, out, err = cli(base, "operators", "token", "create", login, "--nom", name)
    assert code == 0, err
    assert f"créé pour « {login} »" in out and "il ne sera plus affiché" in out
    return TOKEN.search(out).group(0)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def area(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"api-{request.param}")
    with private_pg_schema() if request.param == "postgresql" else nullcontext() as db_url:
        port = free_port()
        config = seed_three_perimeters(base, db_url, port)
        # a second night: an RG of the Caf 75 Esat with one record whose NIR key is wrong (a PARTIEL file, an anomaly)
        depot = base / "drop" / SEINE["account"] / "depot"
        lines = (depot.parent / "archive").glob("*RG_20251210_001*")
        header, first, *rest = next(lines).read_text(encoding="utf-8").splitlines()
        (depot / "ESAT_81234567600017_RG_20251211_001.csv").write_text(
            "\n".join([header, first.replace("185057800608491", "185057800608400"), *rest]) + "\n", encoding="utf-8"
        )
        assert cli(base, "run", "--as-of", "2025-12-16")[0] == 0
        tokens = {
            login: new_token(base, login)
            for login in ("national-gestionnaire", "national-lecteur", "75-lecteur", "75-gestionnaire", "cna-lecteur")
        }
        console = start_console(config, port)
        yield {"base": base, "port": port, "tokens": tokens}
        console.stop()


class Api:
    """An HTTP client of the API with one token (or none), from one loopback address."""

    def __init__(self, port: int, token: str | None, source: str = "127.0.0.1") -> None:
        self.client = Client(port, source=source)
        self.token = token

    def call(self, method: str, path: str):  # noqa: ANN201 - (status, JSON body, headers)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        answer = self.client.request(method, API + path, headers=headers)
        assert answer.headers["content-type"].startswith("application/json"), (path, answer.text[:200])
        return answer.status, json.loads(answer.body), answer.headers

    def get(self, path: str):  # noqa: ANN201
        return self.call("GET", path)

    def post(self, path: str):  # noqa: ANN201
        return self.call("POST", path)


def api(area, login: str | None, source: str = "127.0.0.1") -> Api:
    return Api(area["port"], area["tokens"][login] if login else None, source)


def journal(area) -> list[dict]:
    engine = open_database(_db_url(area))
    try:
        with engine.connect() as conn:
            return list_audit(conn, AuditQuery(), limit=1000, perimeter=_national())
    finally:
        engine.dispose()


def _national():  # noqa: ANN202 - a Perimeter
    from exchange.core.perimeter import Perimeter

    return Perimeter.of(["national"])


def _db_url(area) -> str:
    from exchange.config import load_config

    return load_config(area["base"] / "esat-exchange.toml").database_url


# -- the document ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def document(area):
    status, doc, _ = api(area, None).get("/openapi.json")
    assert status == 200
    return doc


def test_the_openapi_document_is_valid_and_documents_every_route(document):
    from exchange.web.api import routes

    validate(document)  # OpenAPI 3.1, by openapi-spec-validator
    assert document["servers"] == [{"url": "/api/v1"}]
    served = {(r.path, m.lower()) for r in routes() if r.path != "/openapi.json" for m in r.methods - {"HEAD"}}
    described = {(p, m) for p, ops in document["paths"].items() for m in ops}
    assert served == described


def conforms(document, schema: str, body) -> None:  # noqa: ANN001
    """`body` matches the document's `schema` (JSON Schema 2020-12, as OpenAPI 3.1 says)."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(root).iter_errors(body)]
    assert errors == [], errors[:5]


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("/executions", "ListeExecutions"),
        ("/executions/1", "Execution"),
        ("/executions/1/journal", "Journal"),
        ("/executions/1/journal?niveau=WARNING&apres=0&par_page=5", "Journal"),
        ("/fichiers", "ListeFichiers"),
        ("/fichiers?statut=REJETE&par_page=5", "ListeFichiers"),
        ("/anomalies?depuis=2020-01-01", "Anomalies"),
        (f"/esats/{SEINE['siret']}", "Esat"),
        ("/campagne?annee=2025", "Campagne"),
        ("/taches", "Taches"),
    ],
)
def test_every_answer_matches_the_document(area, document, path, schema):
    status, body, _ = api(area, "national-lecteur").get(path)
    assert status == 200, body
    conforms(document, schema, body)


def test_a_file_answer_matches_the_document_with_its_anomaly_counts(area, document):
    _, listed, _ = api(area, "national-lecteur").get("/fichiers?par_page=200")
    flawed = None
    for f in listed["fichiers"]:
        status, body, _ = api(area, "national-lecteur").get(f"/fichiers/{f['id']}")
        assert status == 200
        conforms(document, "FichierDetail", body)
        if body["anomalies_par_code"]:
            flawed = f
            break
    assert flawed is not None and all(n >= 1 for n in body["anomalies_par_code"].values())
    line = journal(area)[0]
    assert (line["action"], line["operateur"], line["fichier"]) == (
        "consultation_fichier",
        "national-lecteur",
        flawed["id"],
    )


# -- perimeters ---------------------------------------------------------------------------------------


def test_a_caf_75_token_never_sees_another_cafs_file(area):
    national, caf75 = api(area, "national-lecteur"), api(area, "75-lecteur")
    _, every, _ = national.get("/fichiers?par_page=200")
    rhone = [f for f in every["fichiers"] if f["compte"] == RHONE["account"]]
    assert rhone, "the Caf 69 Esat's file is there for a national token"
    _, mine, _ = caf75.get("/fichiers?par_page=200")
    assert mine["total"] == len(mine["fichiers"]) > 0
    assert {f["compte"] for f in mine["fichiers"]} == set(ACCOUNTS["75"])
    unknown = caf75.get("/fichiers/987654")
    for f in rhone:
        assert (
            caf75.get(f"/fichiers/{f['id']}")[:2]
            == unknown[:2]
            == (404, {"statut": 404, "erreur": "Ressource introuvable."})
        )
        assert caf75.get(f"/fichiers?execution={f['execution']}&siret={RHONE['siret']}")[1]["total"] == 0
    assert caf75.get(f"/esats/{RHONE['siret']}")[0] == 404
    assert caf75.get(f"/esats/{SEINE['siret']}")[0] == 200
    # every answer of the Caf 75 token: no SIRET nor account of Caf 69 or of the CNA
    foreign = [*ESATS["69"], *ESATS["cna"], *ACCOUNTS["69"], *ACCOUNTS["cna"]]
    for path in (
        "/fichiers?par_page=200",
        "/executions",
        "/executions/1",
        "/executions/1/journal",
        "/executions/2/journal",
        "/campagne?annee=2025",
        "/anomalies?depuis=2020-01-01",
    ):
        _, body, _ = caf75.get(path)
        text = json.dumps(body, ensure_ascii=False)
        assert [m for m in foreign if m in text] == [], path
    _, campaign, _ = caf75.get("/campagne?annee=2025")
    assert SILENT["75"] in {e["siret"] for e in campaign["esats"]}


def test_a_run_log_is_followed_line_after_line_within_the_perimeter(area):
    national, caf75 = api(area, "national-lecteur"), api(area, "75-lecteur")
    _, every, _ = national.get("/executions/2/journal?par_page=3")
    assert every["statut"] == "OK" and len(every["lignes"]) == 3 and every["suite"] is True
    _, rest, _ = national.get(f"/executions/2/journal?apres={every['dernier']}")
    assert rest["lignes"][0]["id"] > every["dernier"] and rest["suite"] is False
    assert rest["lignes"][-1]["message"] == "fin de l'exécution : OK"
    _, mine, _ = caf75.get("/executions/1/journal")
    assert {line["compte"] for line in mine["lignes"]} <= {None, *ACCOUNTS["75"]}
    _, theirs, _ = national.get("/executions/1/journal")
    assert len(mine["lignes"]) < len(theirs["lignes"])


def test_run_counts_are_those_of_the_tokens_perimeter(area):
    _, national, _ = api(area, "national-lecteur").get("/executions/1")
    _, caf75, _ = api(area, "75-lecteur").get("/executions/1")
    _, files75, _ = api(area, "75-lecteur").get("/fichiers?execution=1&par_page=200")
    assert caf75["fichiers"] == files75["total"] < national["fichiers"]


# -- roles, journal -----------------------------------------------------------------------------------


def test_a_lecteur_token_cannot_replay_nor_pause_and_nothing_is_done(area):
    _, listed, _ = api(area, "75-lecteur").get("/fichiers?par_page=1")
    file_id = listed["fichiers"][0]["id"]
    before = len(journal(area))
    for path in (f"/fichiers/{file_id}/rejeu", "/rejeux", "/taches/collect/suspension", "/executions/1/arret"):
        status, body, _ = api(area, "75-lecteur").post(path)
        assert (status, body) == (
            403,
            {"statut": 403, "erreur": "Action réservée aux gestionnaires : votre compte est en lecture seule."},
        ), path
    assert len(journal(area)) == before
    assert api(area, "75-lecteur").get("/taches")[1]["taches"][0]["suspendue"] is False


def test_a_refused_replay_is_409_in_french_and_journaled_as_the_console_does_with_its_token(area):
    gestionnaire = api(area, "75-gestionnaire")
    _, listed, _ = gestionnaire.get("/fichiers?statut=ACCEPTE&par_page=1")
    file_id = listed["fichiers"][0]["id"]
    status, body, _ = gestionnaire.post(f"/fichiers/{file_id}/rejeu")
    assert status == 409 and body["erreur"].startswith("Rejeu impossible : ")
    line = journal(area)[0]
    assert (line["operateur"], line["action"], line["resultat"], line["objet"]) == (
        "75-gestionnaire",
        "rejeu",
        "REFUSE",
        f"fichier n° {file_id}",
    )
    assert re.search(r"\(API, jeton n° \d+\)$", line["detail"])
    # outside the perimeter: the same 404 as an unknown file, for a gestionnaire too
    _, every, _ = api(area, "national-lecteur").get("/fichiers?par_page=200")
    rhone = next(f for f in every["fichiers"] if f["compte"] == RHONE["account"])
    assert gestionnaire.post(f"/fichiers/{rhone['id']}/rejeu")[:2] == gestionnaire.post("/fichiers/987654/rejeu")[:2]


def test_only_a_national_gestionnaire_pauses_and_resumes_a_scheduled_job(area):
    for login in ("75-gestionnaire",):
        status, body, _ = api(area, login).post("/taches/collect/suspension?motif=essai")
        assert (status, body["erreur"]) == (403, "Action réservée aux opérateurs de périmètre national.")
    national = api(area, "national-gestionnaire")
    status, body, _ = national.post("/taches/collect/suspension?motif=import%20Habpps")
    assert status == 200 and body["message"].startswith("Tâche ") and "suspendue" in body["message"]
    assert national.post("/taches/collect/suspension")[0] == 409  # already paused: refused, in French
    (collect,) = [t for t in national.get("/taches")[1]["taches"] if t["tache"] == "collect"]
    assert (collect["suspendue"], collect["par"], collect["motif"]) == (True, "national-gestionnaire", "import Habpps")
    assert national.post("/taches/collect/reprise")[0] == 200
    assert journal(area)[0]["action"] == "reprise_tache"


def test_stopping_a_finished_run_is_refused_in_french(area):
    status, body, _ = api(area, "75-gestionnaire").post("/executions/1/arret")
    assert (status, body["erreur"]) == (403, "Action réservée aux opérateurs de périmètre national.")
    status, body, _ = api(area, "national-gestionnaire").post("/executions/1/arret")
    assert status == 409 and body["erreur"].startswith("L'exécution n° 1 n'est pas en cours (")
    assert api(area, "national-gestionnaire").post("/executions/987654/arret")[0] == 404


# -- tokens: made and revoked by the command line and in the console ------------------------------------


def test_a_revoked_token_is_401_from_the_command_line(area):
    base = area["base"]
    secret = new_token(base, "cna-lecteur", "ITSM")
    client = Api(area["port"], secret)
    assert client.get("/executions")[0] == 200
    code, out, _ = cli(base, "operators", "token", "list", "cna-lecteur", "--format", "json")
    (row,) = [r for r in json.loads(out) if r["nom"] == "ITSM"]
    assert row["etat"] == "actif" and row["utilise_le"] and secret not in out and row["debut"] == secret[:9] + "…"
    code, out, _ = cli(base, "operators", "token", "revoke", "cna-lecteur", str(row["id"]))
    assert code == 0 and out == f"Jeton n° {row['id']} de « cna-lecteur » révoqué : il est refusé dès maintenant.\n"
    status, body, headers = client.get("/executions")
    assert (status, body["erreur"], headers["www-authenticate"]) == (401, "Jeton d'API inconnu ou révoqué.", "Bearer")
    assert cli(base, "operators", "token", "revoke", "cna-lecteur", str(row["id"]))[0] == 1
    actions = [(j["action"], j["operateur"], j["resultat"]) for j in journal(area)[:3]]
    assert [(a, r) for a, _, r in actions] == [
        ("jeton_revocation", "ECHEC"),
        ("api", "REFUSE"),
        ("jeton_revocation", "OK"),
    ]
    assert actions[0][1].startswith("cli:") and actions[2][1].startswith("cli:")


def test_an_operator_makes_and_revokes_their_own_token_in_the_console(area):
    browser = Client(area["port"])
    assert browser.login("75-lecteur").status == 303
    page = browser.get("/jetons")
    assert page.status == 200 and "<h1>Jetons d'API</h1>" in page.text
    made = browser.post("/jetons", {"nom": "script de la Caf"})
    assert made.status == 201
    secret = re.search(r'<code id="secret">([^<]+)</code>', made.text).group(1)
    number = re.search(r"Jeton n° (\d+) « script de la Caf » créé", made.text).group(1)
    assert Api(area["port"], secret).get("/fichiers")[1]["total"] >= 1
    again = browser.get("/jetons")
    assert secret not in again.text and "script de la Caf" in again.text  # shown once only
    assert browser.post("/jetons/revocation", {"jeton": number}).status == 303
    assert "révoqué le" in browser.get("/jetons").text
    assert Api(area["port"], secret).get("/fichiers")[0] == 401
    lines = [(j["action"], j["operateur"], j["objet"]) for j in journal(area)[:6]]
    assert ("jeton_creation", "75-lecteur", f"jeton n° {number} de 75-lecteur") in lines
    assert ("jeton_revocation", "75-lecteur", f"jeton n° {number} de 75-lecteur") in lines
    # another operator's token cannot be revoked from this account
    other = browser.post("/jetons/revocation", {"jeton": "1"})
    assert other.status == 303 and Api(area["port"], area["tokens"]["national-gestionnaire"]).get("/taches")[0] == 200


def test_a_removed_or_disabled_account_s_tokens_are_refused(area):
    base = area["base"]
    assert cli(base, "operators", "add", "passager", "--role", "lecteur", "--perimetre", "75", "--proxy-only")[0] == 0
    secret = new_token(base, "passager")
    assert Api(area["port"], secret).get("/taches")[0] == 200
    assert cli(base, "operators", "disable", "passager")[0] == 0
    assert Api(area["port"], secret).get("/taches")[0] == 401
    assert cli(base, "operators", "enable", "passager")[0] == 0
    assert cli(base, "operators", "remove", "passager")[0] == 0
    assert cli(base, "operators", "add", "passager", "--role", "lecteur", "--perimetre", "75", "--proxy-only")[0] == 0
    assert Api(area["port"], secret).get("/taches")[0] == 401  # the same login made again never revives it


# -- bad input ----------------------------------------------------------------------------------------

BAD = [
    ("GET", "/fichiers?page=0", 400),
    ("GET", "/fichiers?page=abc", 400),
    ("GET", "/fichiers?page=%C2%B2", 400),  # « ² » is a digit to Python's isdigit, not to int()
    ("GET", "/fichiers?page=99999999999999999999999", 400),
    ("GET", "/fichiers?par_page=201", 400),
    ("GET", "/fichiers?statut=INCONNU", 400),
    ("GET", "/fichiers?du=2025-13-01", 400),
    ("GET", "/fichiers?du=20251201", 400),
    ("GET", "/fichiers?nom=" + "x" * 201, 400),
    ("GET", "/fichiers?nom=a%00b", 400),
    ("GET", "/fichiers?statut=ACCEPTE&statut=REJETE", 400),
    ("GET", "/fichiers?filtre=1", 400),
    ("GET", "/fichiers?execution=-1", 400),
    ("GET", "/executions?job=tout", 400),
    ("GET", "/anomalies?depuis=hier", 400),
    ("GET", "/campagne?annee=1999", 400),
    ("GET", "/campagne?situation=perdue", 400),
    ("GET", "/fichiers/abc", 404),
    ("GET", "/fichiers/99999999999999999999999", 404),
    ("GET", "/fichiers/%C2%B2", 404),
    ("GET", "/executions/-1", 404),
    ("GET", "/executions/987654", 404),
    ("GET", "/executions/987654/journal", 404),
    ("GET", "/executions/1/journal?niveau=DEBUG", 400),
    ("GET", "/executions/1/journal?apres=x", 400),
    ("GET", "/executions/1/journal?par_page=0", 400),
    ("GET", "/esats/123", 404),
    ("GET", "/esats/00000000000000", 404),
    ("POST", "/taches/inconnue/suspension", 404),
    ("POST", "/fichiers/abc/rejeu", 404),
    ("POST", "/rejeux?siret=123", 400),
    ("GET", "/rien", 404),
    ("GET", "/fichiers/1/rejeu", 405),
    ("DELETE", "/fichiers", 405),
]


@pytest.mark.parametrize(("method", "path", "expected"), BAD)
def test_bad_parameters_are_400_or_404_in_french_never_500(area, method, path, expected):
    status, body, _ = api(area, "national-gestionnaire").call(method, path)
    assert status == expected, body
    assert body["statut"] == expected and body["erreur"] and not body["erreur"].startswith(("Traceback", "Internal"))


def test_no_token_is_401_and_refused_tokens_are_throttled_per_address(area):
    status, body, headers = Api(area["port"], None, "127.0.0.7").get("/fichiers")
    assert (status, headers["www-authenticate"]) == (401, "Bearer")
    assert body["erreur"] == "Jeton d'API attendu : en-tête « Authorization: Bearer <jeton> »."
    guesser = Api(area["port"], "esat_" + "A" * 43, "127.0.0.8")
    statuses = []
    while 429 not in statuses and len(statuses) < 12:  # 3 free tries ([web] login_attempts), then 1, 2, 4… s apart
        statuses.append(guesser.get("/fichiers")[0])
    assert statuses[:3] == [401] * 3 and statuses[-1] == 429
    status, body, headers = guesser.get("/fichiers")
    assert status == 429 and int(headers["retry-after"]) >= 1 and "réessayez dans" in body["erreur"]
    # a good token from that address waits too; from another address it is served
    assert Api(area["port"], area["tokens"]["75-lecteur"], "127.0.0.8").get("/fichiers")[0] == 429
    assert Api(area["port"], area["tokens"]["75-lecteur"], "127.0.0.9").get("/fichiers")[0] == 200
    refused = [j for j in journal(area) if j["action"] == "api" and j["adresse"] == "127.0.0.8"]
    assert refused and refused[0]["resultat"] == "REFUSE" and refused[0]["detail"] == "jeton inconnu ou révoqué"
