"""Sessions that end and a login no one can lock, through HTTP against the real console (two nodes sharing
one database): a saved cookie opens nothing after logout, disable, a role or perimeter change or the idle
timeout; wrong passwords from many addresses never stop the owner; the journal records who saw what."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert, select, update

from exchange.core.clock import today_in_paris, utcnow
from exchange.store.engine import in_transaction, open_database
from exchange.store.tables import login_failures, web_sessions
from tests.access_area import PASSWORD, RHONE, SEINE, Client, seed_three_perimeters
from tests.areas import cli
from tests.browser import free_port, start_console


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    base = tmp_path_factory.mktemp("sessions")
    port, other_port = free_port(), free_port()
    config = seed_three_perimeters(base, None, port)
    second = base / "second.toml"  # a second node: same database, same drop area, another port
    second.write_text(
        config.read_text(encoding="utf-8").replace(f"127.0.0.1:{port}", f"127.0.0.1:{other_port}"), encoding="utf-8"
    )
    first_node, second_node = start_console(config, port), start_console(second, other_port)
    yield {"base": base, "port": port, "other_port": other_port, "db_url": f"sqlite:///{base / 'exchange.db'}"}
    first_node.stop()
    second_node.stop()


def saved(client: Client, port: int | None = None) -> Client:
    """Another browser (maybe on another node) holding a copy of the cookie."""
    return Client(port or client.port, cookie=client.cookie)


def opens(client: Client) -> bool:
    answer = client.get("/fichiers")
    assert answer.status in (200, 303), answer.status
    return answer.status == 200


def test_the_cookie_holds_a_random_token_issued_once(area):
    client = Client(area["port"])
    assert client.login("75-lecteur").status == 303
    token = client.cookie.split("=", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 32 random bytes, nothing else
    again = client.get("/")
    assert again.status == 200 and "set-cookie" not in again.headers  # not re-issued with each answer
    engine = open_database(area["db_url"])
    with engine.connect() as conn:
        ids = [i for (i,) in conn.execute(select(web_sessions.c.id).where(web_sessions.c.login == "75-lecteur"))]
    engine.dispose()
    assert ids and token not in ids  # the database keeps its hash: a copy of the table opens nothing
    before = saved(client)
    again = client.login("75-lecteur")  # logging in again, even as the same account: a new token
    assert "max-age" not in again.headers.get("set-cookie", "").lower()
    assert client.cookie != before.cookie and opens(saved(client)) and not opens(before)


def test_logout_ends_the_session_on_every_node(area):
    client = Client(area["port"])
    assert client.login("cna-lecteur").status == 303
    copy, elsewhere = saved(client), saved(client, area["other_port"])
    assert opens(copy) and opens(elsewhere)  # the other node reads the same session
    assert client.post("/deconnexion").status == 303
    assert not opens(copy) and not opens(elsewhere)
    assert saved(client).post("/fichiers/1/rejouer", {}).status == 403  # nor any action


def test_disable_and_a_perimeter_or_role_change_end_the_sessions(area):
    client = Client(area["port"])
    assert client.login("75-gestionnaire").status == 303
    copy = saved(client, area["other_port"])
    assert opens(copy)
    code, out, _ = cli(area["base"], "operators", "disable", "75-gestionnaire")
    assert code == 0 and "désactivé" in out
    assert not opens(copy)
    refused = Client(area["port"]).login("75-gestionnaire")
    assert refused.status == 401 and "Identifiant ou mot de passe incorrect." in refused.text
    assert cli(area["base"], "operators", "enable", "75-gestionnaire")[0] == 0
    assert client.login("75-gestionnaire").status == 303
    copy = saved(client)
    assert opens(copy)
    engine = open_database(area["db_url"])
    from exchange.store.operators import add_operator

    in_transaction(engine, add_operator, "75-gestionnaire", "gestionnaire", None, ["75", "cna"])  # a perimeter change
    assert not opens(copy)
    in_transaction(engine, add_operator, "75-gestionnaire", "gestionnaire", PASSWORD)
    assert client.login("75-gestionnaire").status == 303
    copy = saved(client)
    in_transaction(engine, add_operator, "75-gestionnaire", "lecteur", PASSWORD)  # a role change
    assert not opens(copy)
    engine.dispose()
    listed = cli(area["base"], "operators", "list", "--format", "csv")[1].splitlines()
    assert "75-gestionnaire;lecteur;cna 75;actif;oui;" in "\n".join(listed)


def idle_for(area, login: str, idle: timedelta) -> None:
    """The session's last written use `idle` ago."""
    engine = open_database(area["db_url"])
    with engine.begin() as conn:
        conn.execute(update(web_sessions).where(web_sessions.c.login == login).values(seen_at=utcnow() - idle))
    engine.dispose()


def test_an_idle_session_ends(area):
    client = Client(area["port"])
    assert client.login("national-lecteur").status == 303
    assert opens(saved(client))
    # 32 minutes without a request ([web] session_idle_minutes = 30; a use is written at most once a minute)
    idle_for(area, "national-lecteur", timedelta(minutes=32))
    assert not opens(saved(client))


def test_the_idle_timeout_never_ends_a_session_early(area):
    """A use is written at most once a minute: a session whose last written use is 30 min 50 s old may have been
    used 59 s later, so it is still open (it ends within a minute after the timeout, never before)."""
    client = Client(area["port"])
    assert client.login("cna-lecteur").status == 303
    idle_for(area, "cna-lecteur", timedelta(minutes=30, seconds=50))
    assert opens(saved(client))


def test_remove_keeps_the_journal(area):
    from exchange.store.operators import add_operator

    engine = open_database(area["db_url"])
    in_transaction(engine, add_operator, "temporaire", "lecteur", PASSWORD, ["national"])
    engine.dispose()
    client = Client(area["port"])
    assert client.login("temporaire").status == 303
    copy = saved(client)
    code, out, _ = cli(area["base"], "operators", "remove", "temporaire")
    assert (code, out) == (0, "Opérateur « temporaire » supprimé (le journal garde ses actions).\n")
    assert not opens(copy)
    assert cli(area["base"], "operators", "remove", "temporaire")[0] == 1
    journal = Client(area["port"])
    journal.login("national-lecteur")
    assert re.search(r"temporaire</td><td>connexion", journal.get("/journal?operateur=temporaire").text)


def login_status(
    port: int, login: str, password: str, source: str = "127.0.0.1", forwarded: str | None = None
) -> tuple[int, str]:
    client = Client(port, source=source, extra={"X-Forwarded-For": forwarded} if forwarded else {})
    answer = client.login(login, password)
    return answer.status, answer.text


@pytest.mark.parametrize("through_proxy", [False, True])
def test_fifty_wrong_passwords_from_fifty_addresses_never_stop_the_owner(area, through_proxy):
    owner = "cna-gestionnaire"
    for n in range(50):
        if through_proxy:  # the listed proxy (127.0.0.1) says who the client is
            status, page = login_status(area["port"], owner, "mauvais", forwarded=f"10.9.{n}.1")
        else:
            status, page = login_status(area["port"], owner, "mauvais", source=f"127.0.1.{n + 1}")
        assert status == 401 and "Identifiant ou mot de passe incorrect." in page
    if through_proxy:
        assert login_status(area["port"], owner, PASSWORD, forwarded="10.8.0.1")[0] == 303
    else:
        assert login_status(area["port"], owner, PASSWORD, source="127.0.2.1")[0] == 303


def test_one_address_is_slowed_down_never_locked_out(area):
    owner, attacker = "national-gestionnaire", "127.0.3.1"
    answers = [login_status(area["port"], owner, "mauvais", source=attacker) for _ in range(8)]
    statuses = [s for s, _ in answers]
    assert statuses[:3] == [401, 401, 401] and 429 in statuses  # then each try waits 1, 2, 4… s
    third = answers[2][1]
    assert "Identifiant ou mot de passe incorrect. Prochain essai possible dans 1 seconde." in third
    (page,) = [p for s, p in answers if s == 429][:1]
    assert re.search(
        r"tentatives de connexion échouées pour ce compte depuis votre poste : réessayez dans "
        r"\d+ secondes? \(à partir de \d\d:\d\d:\d\d\)\.",
        page,
    ), page
    assert login_status(area["port"], owner, PASSWORD, source="127.0.3.2")[0] == 303  # its owner, elsewhere
    # a client that is not a listed proxy cannot choose its address with X-Forwarded-For
    forged = [
        login_status(area["port"], owner, "mauvais", source="127.0.3.3", forwarded=f"10.7.0.{n}")[0] for n in range(8)
    ]
    assert 429 in forged


def _failures(area, login: str, address: str) -> int | None:
    engine = open_database(area["db_url"])
    with engine.connect() as conn:
        count = conn.execute(
            select(login_failures.c.failures).where(
                login_failures.c.login == login, login_failures.c.address == address
            )
        ).scalar()
    engine.dispose()
    return count


def _set_failures(area, login: str, address: str, failures: int, ago: timedelta) -> None:
    engine = open_database(area["db_url"])
    with engine.begin() as conn:
        conn.execute(delete(login_failures).where(login_failures.c.login == login))
        conn.execute(
            insert(login_failures).values(login=login, address=address, failures=failures, last_at=utcnow() - ago)
        )
    engine.dispose()


def _parallel_wrong_passwords(area, login: str, source: str, n: int) -> list[int]:
    """n wrong passwords posted at once, half to each node (each client fetched its form first)."""
    clients = [Client(area["port"] if i % 2 else area["other_port"], source=source) for i in range(n)]
    for c in clients:
        c.get("/connexion")
    start = threading.Barrier(n)

    def post(c: Client) -> int:
        start.wait()
        return c.post("/connexion", {"login": login, "password": "mauvais", "suite": ""}).status

    with ThreadPoolExecutor(n) as pool:
        return sorted(pool.map(post, clients))


def test_parallel_wrong_passwords_cannot_race_past_the_throttle(area):
    owner, attacker = "75-gestionnaire", "127.0.4.1"
    # 6 failures, the last 9 s ago: the 8 s delay has passed, one more attempt is allowed, and only one
    _set_failures(area, owner, attacker, 6, timedelta(seconds=9))
    assert _parallel_wrong_passwords(area, owner, attacker, 8) == [401] + [429] * 7
    assert _failures(area, owner, attacker) == 7
    # the limit reached (7 failures, the last just now): 8 more at once are all refused, none counted
    assert _parallel_wrong_passwords(area, owner, attacker, 8) == [429] * 8
    assert _failures(area, owner, attacker) == 7
    # from a fresh address, 8 at once: the 3 free attempts pass, then each counted failure delays the next
    statuses = _parallel_wrong_passwords(area, owner, "127.0.4.2", 8)
    assert 3 <= statuses.count(401) <= 5 and statuses.count(401) + statuses.count(429) == 8, statuses
    assert _failures(area, owner, "127.0.4.2") == statuses.count(401)
    assert login_status(area["port"], owner, PASSWORD, source="127.0.4.3")[0] == 303  # its owner, elsewhere


def test_the_journal_records_views_and_commands(area):
    national, caf = Client(area["port"]), Client(area["port"])
    assert national.login("national-lecteur").status == 303
    assert caf.login("75-lecteur").status == 303
    files = {
        f["compte"]: f
        for f in __import__("json").loads(cli(area["base"], "files", "list", "--format", "json")[1])
        if f["type"] == "RG"
    }
    seine, rhone = files[SEINE["account"]], files[RHONE["account"]]
    assert national.get(f"/fichiers/{rhone['id']}").status == 200
    assert caf.get(f"/fichiers/{seine['id']}").status == 200
    assert caf.get(f"/fichiers/{seine['id']}/cr/{seine['fichier']}.CR.csv").status == 200
    assert caf.get("/campagne.csv?annee=2025").status == 200
    assert cli(area["base"], "files", "show", str(rhone["id"]))[0] == 0
    everything = national.get(f"/journal?siret={RHONE['siret']}").text
    assert re.search(
        rf"national-lecteur</td><td>consultation_fichier</td><td><a href=\"/fichiers/{rhone['id']}\">", everything
    )
    assert re.search(r"cli:\w+</td><td>consultation_fichier", everything)
    mine = national.get("/journal?operateur=75-lecteur").text
    for action in ("consultation_fichier", "telechargement_cr", "export_campagne"):
        assert action in mine
    assert RHONE["siret"] not in mine
    today = today_in_paris().isoformat()  # the journal's dates are Paris days
    assert "75-lecteur" in national.get(f"/journal?du={today}&au={today}").text
    assert "75-lecteur" not in national.get("/journal?au=2020-01-01").text
    seen_by_caf = caf.get("/journal").text  # a Caf reads only the lines about its Esats
    assert SEINE["siret"] in seen_by_caf and RHONE["siret"] not in seen_by_caf and "cli:" not in seen_by_caf
