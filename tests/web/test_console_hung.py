"""The 8 a.m. story with the drop area hung (issue 29): an SFTP server that accepts the TCP connection and never
says a word (a real listening socket on loopback). Every console page and /sante answer at once from what the
background lister last saw, say « zone de dépôt injoignable depuis HH:MM », and every failure of the night —
H03, H05 and H07 rejections, a file in quarantine, the drop area itself — names who acts, in French only.

The database is real: the spec's examples plus an account Habpps does not know (H05), judged against an extract
where the Seine Esat has no contrat de services (H07) and Horizon's bulletin is not signed (H03); one file is then
set aside in quarantine as the cycle does (its state and error), and the console is pointed at the hung server.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from exchange.store.engine import in_transaction, open_database
from exchange.store.ledger import get_file
from exchange.store.operators import add_operator
from fixtures.bench_hung import SilentServer  # the bench measures the console against the same silent server
from tests.areas import cli, seed_examples, write_config
from tests.browser import free_port, log_in, start_console
from tests.conftest import EXAMPLES, make_config
from tests.rows import all_files, run_count, set_file
from tests.sshd import keygen

pytestmark = pytest.mark.browser
PASSWORDS = {"marie": "gestion-2026-marie", "claire": "gestion-2026-claire"}
CONTACT = "esat-national@caf.example"
# what a network library's English looks like when it leaks into a page
ENGLISH = re.compile(
    r"\b(Unable to connect|Errno|Error|Exception|timed out|Connection|refused by|No such file|Traceback|None\b)"
)


def _extract(base: Path) -> Path:
    """The spec's extract, with Seine's contrat de services missing (H07) and Horizon's bulletin not signed (H03)."""
    habpps = base / "habpps"
    shutil.copytree(EXAMPLES / "habpps", habpps)
    conventions = (habpps / "conventions.csv").read_text(encoding="utf-8")
    (habpps / "conventions.csv").write_text(
        conventions.replace(
            "CONV-75-0001;81234567600017;ACTIVE;2024-01-15;;CENTRALISE;2024-01-15",
            "CONV-75-0001;81234567600017;ACTIVE;2024-01-15;;CENTRALISE;",
        ),
        encoding="utf-8",
    )
    bulletins = (habpps / "bulletins.csv").read_text(encoding="utf-8")
    (habpps / "bulletins.csv").write_text(
        bulletins.replace("44306184100021;2025-06-02;SIGNE", "44306184100021;2025-06-02;EN_ATTENTE"), encoding="utf-8"
    )
    return habpps


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    base = tmp_path_factory.mktemp("nuit")
    cfg = seed_examples(base)
    unknown = base / "drop" / "paie-inconnue" / "depot"  # an account Habpps does not know: H05
    unknown.mkdir(parents=True)
    shutil.copy(
        EXAMPLES / "drop" / "esat-seine" / "depot" / "ESAT_81234567600017_RG_20251210_001.csv",
        unknown / "ESAT_81234567600017_RG_20251210_002.csv",
    )
    assert cli(base, "habilitations", "import", str(_extract(base)))[0] == 0
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0
    engine = open_database(cfg.database_url)
    with engine.connect() as conn:
        ids = {f["fichier"]: f["id"] for f in all_files(conn)}
        codes = sorted(f["code"] for f in all_files(conn))
    assert codes == ["H03", "H03", "H05", "H07", "H07"]
    quarantined = ids["ESAT_44306184100021_CA_20251212_001.xml"]
    with engine.begin() as conn:  # what the cycle's _quarantine leaves: the state, the error, nothing judged
        set_file(
            conn, quarantined, state="QUARANTAINE", statut=None, code=None, error="KeyError: 'nir'", records_in=None
        )
    in_transaction(engine, add_operator, "marie", "gestionnaire", PASSWORDS["marie"], ["national"])
    in_transaction(engine, add_operator, "claire", "gestionnaire", PASSWORDS["claire"], ["cna"])

    server = SilentServer()
    key = keygen(base / "cle")
    known_hosts = base / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{server.port} " + " ".join((base / "cle.pub").read_text().split()[:2]) + "\n")
    port = free_port()
    toml = base / "esat-exchange.toml"
    hung = {"kind": "sftp", "host": "127.0.0.1", "port": server.port, "username": "esat", "private_key": str(key)}
    hung |= {"known_hosts": str(known_hosts), "root": "/srv/zone-de-depot", "settle_seconds": 0}
    write_config(toml, make_config(base, cfg.database_url, upgrade=False, source=hung))
    with open(toml, "a", encoding="utf-8") as f:
        f.write(f'[web]\nbind = "127.0.0.1:{port}"\ndepot_patience_seconds = 1\nnational_contact = "{CONTACT}"\n')
    console = start_console(toml, port)
    yield {"url": console.url, "engine": engine, "ids": ids, "quarantined": quarantined, "base": base}
    console.stop()
    server.close()
    engine.dispose()


def get(night, path: str) -> tuple[int, str]:
    """An anonymous GET, as a monitoring probe makes it: status and body."""
    try:
        with urllib.request.urlopen(night["url"] + path, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def unreachable(night) -> dict:  # noqa: ANN001
    """/sante once the lister has waited its patience on the silent server (a second after the console started)."""
    for _ in range(300):
        body = json.loads(get(night, "/sante")[1])
        if body["zone_de_depot"]["repond"] is False:
            return body
        threading.Event().wait(0.1)
    raise AssertionError(f"/sante never said the drop area is unreachable: {body}")


def test_the_probes_answer_from_prepared_figures_with_codes_and_counts_only(night):
    body = unreachable(night)
    status, text = get(night, "/sante")
    assert status == 503 and json.loads(text)["etat"] == "ALERTE"
    assert {"code": "ZONE_DE_DEPOT_INJOIGNABLE", "nombre": 1} in body["raisons"]
    assert {"code": "QUARANTAINE", "nombre": 1} in body["raisons"]
    assert body["a_traiter"] == [{"code": "HABILITATIONS_A_CORRIGER", "nombre": 4}]  # H07 × 2, H03, H05: files
    assert body["zone_de_depot"]["dernier_releve_reussi"] is None and body["zone_de_depot"]["injoignable_depuis"]
    # no free text: no account, no Esat, no file, no error, no host
    for leak in ("esat-", "paie", "KeyError", "ESAT_", "127.0.0.1", "marie", "Seine", "Horizon"):
        assert leak not in text, leak
    assert not re.search(r"\d{9}", text)  # no SIRET, no NIR
    assert get(night, "/sante/vivant") == (200, '{"etat":"VIVANT"}')
    from prometheus_client.parser import text_string_to_metric_families

    samples = {
        s.name: s.value
        for f in text_string_to_metric_families(get(night, "/metrics")[1])
        for s in f.samples
        if not s.labels
    }
    assert samples["esat_source_up"] == 0 and samples["esat_source_unreachable_since_timestamp_seconds"] > 1.7e9
    assert "esat_source_seconds_since_last_listing" not in samples  # never listed
    assert samples["esat_health_caf_items"] == 4 and samples["esat_health_alert"] == 1


def test_every_page_says_the_drop_area_is_unreachable_and_names_who_acts_in_french(browser, night):
    unreachable(night)
    ids = night["ids"]
    seine_rg, seine_ca = ids["ESAT_81234567600017_RG_20251210_001.csv"], ids["ESAT_81234567600017_CA_20251212_001.csv"]
    horizon_rg, unknown = ids["ESAT_44306184100021_RG_20251211_001.xml"], ids["ESAT_81234567600017_RG_20251210_002.csv"]
    page = log_in(browser, night["url"], "marie", PASSWORDS["marie"])
    pages = ["/", "/fichiers", "/executions", "/executions/1", "/campagne?annee=2025", "/habilitations", "/rejeux"]
    pages += ["/esats/81234567600017", *(f"/fichiers/{i}" for i in ids.values())]
    for path in pages:
        response = page.goto(night["url"] + path)
        assert response.status == 200, path
        banner = page.inner_text("#zone-injoignable")
        assert re.match(r"Zone de dépôt injoignable depuis \d\d:\d\d : ", banner), (path, banner)
        assert "Qui agit : l'administrateur du service" in banner
        main = page.inner_text("main")
        assert not ENGLISH.search(main), (path, ENGLISH.search(main))
        assert "qui agit : personne" not in main.lower(), path
    page.goto(night["url"] + "/")
    alert = page.locator("#etat li.esat-alerte", has_text="Zone de dépôt injoignable")
    assert "Qui agit : l'administrateur du service." in alert.inner_text()
    assert page.inner_text("#en-attente").startswith("inconnu (zone de dépôt injoignable depuis ")
    quarantine = page.locator("#etat li.esat-alerte", has_text="en quarantaine").inner_text()
    assert "Qui agit : l'administrateur du service." in quarantine
    expected = {
        seine_rg: "Qui agit : la Caf 75",  # H07: no contrat de services
        seine_ca: "Qui agit : la Caf 75",
        horizon_rg: "Qui agit : la CNA",  # H03, a multi-departmental Esat
        unknown: "Qui agit : la Caf 75",  # H05: an account Habpps does not know
        night["quarantined"]: "Qui agit : l'administrateur du service",
    }
    for file_id, who in expected.items():
        page.goto(f"{night['url']}/fichiers/{file_id}")
        assert page.inner_text("#suite").startswith(who), (file_id, page.inner_text("#suite"))
    page.goto(f"{night['url']}/fichiers/{horizon_rg}")
    assert "l'équipe nationale importe l'extrait corrigé" in page.inner_text("#suite")
    assert page.locator("#importer").count() == 1  # a national gestionnaire: the link that does it
    page.goto(night["url"] + "/campagne?annee=2025")
    situations = page.inner_text("#situations")
    assert "personne" not in situations
    assert re.search(r"Rejeté pour une erreur d'habilitation \(à corriger par la Caf\)\t2\tla Caf", situations), (
        situations  # Seine (H07, its service closed until the Caf fixes it) and Horizon (H03)
    )
    page.context.close()


def test_the_quarantined_file_says_what_happened_and_its_replay_is_refused_at_once(browser, night):
    unreachable(night)
    q = night["quarantined"]
    page = log_in(browser, night["url"], "marie", PASSWORDS["marie"])
    page.goto(f"{night['url']}/fichiers/{q}")
    assert page.inner_text("#erreur") == "KeyError: 'nir'"  # what `files show` prints
    assert page.inner_text("#enregistrements") == "non lus : le fichier n'a pas été jugé"
    assert "corrige le défaut" in page.inner_text("#suite") and "puis le rejoue" in page.inner_text("#suite")
    assert page.inner_text("#avant-rejeu").startswith("Corrigez d'abord le défaut indiqué ci-dessus")
    assert page.inner_text("#rejeu-zone-injoignable").startswith(
        "Rejeu impossible pour l'instant : la zone de dépôt est injoignable depuis "
    )
    assert page.locator("#rejouer").count() == 0
    with night["engine"].connect() as conn:
        before = run_count(conn)
    response = page.goto(f"{night['url']}/fichiers/{q}/rejouer")
    assert response.status == 400 and "la zone de dépôt est injoignable depuis" in page.inner_text("main")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.request.post(f"{night['url']}/fichiers/{q}/rejouer", form={"csrf": token})
    assert answer.status == 200  # back on the file's page, the refusal on top
    shown = html.unescape(re.search(r'role="alert"><p>(.*?)</p>', answer.text()).group(1))
    assert f"Rejeu du fichier n° {q} impossible : la zone de dépôt est injoignable depuis" in shown, shown
    assert "rien n'est changé, rejouez le fichier quand elle répondra de nouveau" in shown
    assert "None" not in shown and "REJETE" not in shown
    with night["engine"].connect() as conn:
        assert run_count(conn) == before  # no run left behind
        assert get_file(conn, q)["state"] == "QUARANTAINE"
    page.context.close()


def test_a_cna_gestionnaire_reads_a_contact_where_the_step_is_national(browser, night):
    unreachable(night)
    horizon_rg = night["ids"]["ESAT_44306184100021_RG_20251211_001.xml"]
    page = log_in(browser, night["url"], "claire", PASSWORDS["claire"])
    page.goto(f"{night['url']}/fichiers/{horizon_rg}")
    assert page.inner_text("#suite").startswith("Qui agit : la CNA")
    assert page.locator("#importer").count() == 0
    contact = page.inner_text("#contact-national")
    assert contact.startswith("L'import de l'extrait corrigé est national") and CONTACT in contact
    page.goto(night["url"] + "/habilitations")
    assert CONTACT in page.inner_text("#contact-national")
    page.context.close()


def test_after_an_import_the_page_says_how_many_files_may_be_replayed_and_the_replay_waits(browser, night):
    unreachable(night)
    page = log_in(browser, night["url"], "marie", PASSWORDS["marie"])
    page.goto(night["url"] + "/habilitations")
    page.set_input_files("#extrait", sorted(str(p) for p in (EXAMPLES / "habpps").glob("*.csv")))  # corrected
    page.click("button:text-is('Importer')")
    assert page.inner_text("#a-rejouer-apres-import").startswith(
        "4 fichiers rejetés pour une habilitation peuvent être rejoués avec cet extrait."
    )
    page.click("#a-rejouer-apres-import a")
    assert page.locator("#a-rejouer tbody tr").count() == 4
    assert page.inner_text("#rejeu-impossible").startswith(
        "Rejeu impossible pour l'instant : la zone de dépôt est injoignable depuis "
    )
    assert page.locator("#confirmer").count() == 0
    with night["engine"].connect() as conn:
        before = run_count(conn)
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.request.post(f"{night['url']}/rejeux", form={"csrf": token})
    shown = html.unescape(re.search(r'role="alert"><p>(.*?)</p>', answer.text()).group(1))
    assert shown.startswith(
        "Rejeu groupé des fichiers rejetés pour une habilitation : aucun rejeu lancé, la zone de dépôt est "
        "injoignable depuis "
    ), shown
    assert "REJETE" not in shown and "None" not in shown
    with night["engine"].connect() as conn:
        assert run_count(conn) == before
    page.context.close()


def test_status_on_the_command_line_does_not_hang_either(night):
    code, out, _ = cli(night["base"], "status")  # a monitoring check: it says so after its patience (1 s here)
    assert code == 1
    line = next(x for x in out.splitlines() if "zone de dépôt injoignable" in x)
    assert re.match(r"- zone de dépôt injoignable depuis \d\d:\d\d : aucune réponse au relevé commencé à ", line)
    assert "Fichiers en attente dans depot/ : inconnu (zone de dépôt injoignable)" in out
