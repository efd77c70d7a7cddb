"""Operator accounts managed in the console (issue 23) in a real browser: marie, a national gestionnaire, creates
lea (lecteur, Caf 75), widens her (lea's session ends), disables and enables her, resets her password and removes
her; marie cannot disable herself; the journal shows every action under marie's login; axe finds nothing.

The database: three perimeters (tests/access_area.py); the tests follow each other as the morning goes.
"""

from __future__ import annotations

import pytest

from exchange.config import load_config
from exchange.store.engine import in_transaction, open_database
from exchange.store.operators import add_operator, get_operator
from tests.access_area import RHONE, SEINE, seed_three_perimeters
from tests.axe import violations
from tests.browser import free_port, log_in, start_console
from tests.rows import journal as journal_lines

pytestmark = pytest.mark.browser
PASSWORDS = {"marie": "gestion-2026-marie", "lea": "lecture-2026-lea", "lea-nouveau": "nouveau-2026-lea"}


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    base = tmp_path_factory.mktemp("comptes")
    port = free_port()
    config = seed_three_perimeters(base, None, port)
    engine = open_database(load_config(config).database_url)
    in_transaction(engine, add_operator, "marie", "gestionnaire", PASSWORDS["marie"], ["national"])
    console = start_console(config, port)
    yield {"base": base, "url": console.url, "engine": engine}
    console.stop()
    engine.dispose()


@pytest.fixture(scope="module")
def marie(browser, area):
    page = log_in(browser, area["url"], "marie", PASSWORDS["marie"])
    assert page.url == area["url"] + "/"
    yield page
    page.context.close()


def alert(page) -> str:  # noqa: ANN001
    return page.inner_text("main .fr-alert")


def tick(page, field: str) -> None:  # noqa: ANN001
    """Check a DSFR radio or box as a person does: by its label (the input itself is drawn under it)."""
    page.click(f"label[for='{field}']")
    assert page.is_checked(f"#{field}")


def open_account(page, area, login: str) -> None:  # noqa: ANN001
    page.goto(area["url"] + "/operateurs")
    page.click(f"#operateurs a:text-is('{login}')")


def test_marie_creates_lea_from_the_console(marie, area):
    marie.click("nav a:text-is('Comptes')")
    assert marie.url == area["url"] + "/operateurs"
    assert violations(marie) == []
    listed = marie.inner_text("#operateurs")
    assert "75-gestionnaire" in listed and "75 (Caf Paris)" in listed and "sans-perimetre" in listed
    marie.click("#nouveau")
    assert violations(marie) == []
    marie.fill("#nouveau-login", "lea")
    tick(marie, "nouveau-role-lecteur")
    marie.fill("#nouveau-cafs", "99")
    marie.fill("#nouveau-password", PASSWORDS["lea"])
    marie.fill("#nouveau-password2", PASSWORDS["lea"])
    marie.click("#creer")
    assert alert(marie) == (
        "Compte refusé : périmètre inconnu '99' : « national », « cna » ou le code d'une Caf "
        "(01 à 95, 2A, 2B, 971 à 976)."
    )  # the command line's words
    assert marie.input_value("#nouveau-login") == "lea" and marie.input_value("#nouveau-password") == ""
    assert violations(marie) == []
    marie.fill("#nouveau-cafs", "75")
    marie.fill("#nouveau-password", PASSWORDS["lea"])
    marie.fill("#nouveau-password2", PASSWORDS["lea"])
    marie.click("#creer")
    assert alert(marie) == ("Opérateur « lea » créé : rôle lecteur, périmètre 75 (Caf Paris), mot de passe enregistré.")
    assert marie.url == area["url"] + "/operateurs/compte?login=lea"
    assert "lecteur" in marie.inner_text("#fiche") and "actif" in marie.inner_text("#fiche")
    assert violations(marie) == []
    found = in_transaction(area["engine"], get_operator, "lea")
    assert found["role"] == "lecteur" and found["perimetre"].labels() == ["75"]


@pytest.mark.parametrize(
    "path", ["/operateurs", "/operateurs/nouveau", "/operateurs/compte?login=lea", "/operateurs/suppression?login=lea"]
)
def test_the_accounts_pages_fit_a_phone_and_ask_a_visitor_to_log_in(browser, area, path):
    page = log_in(browser, area["url"], "marie", PASSWORDS["marie"])
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(area["url"] + path)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{path}: {width} px"
    page.context.close()
    visitor = browser.new_context(locale="fr-FR").new_page()
    visitor.goto(area["url"] + path)
    assert "/connexion?suite=" in visitor.url
    visitor.context.close()


def test_lea_logs_in_and_sees_only_caf_75(browser, area):
    lea = log_in(browser, area["url"], "lea", PASSWORDS["lea"])
    assert lea.url == area["url"] + "/"
    assert "Comptes" not in lea.inner_text("nav")  # the menu entry is for national gestionnaires
    lea.goto(area["url"] + "/fichiers")
    files = lea.inner_text("main")
    assert SEINE["siret"] in files and RHONE["siret"] not in files
    answer = lea.goto(area["url"] + "/operateurs")
    assert answer.status == 403
    area["lea"] = lea


def test_widening_lea_ends_her_session(marie, area):
    open_account(marie, area, "lea")
    tick(marie, "acces-role-gestionnaire")
    tick(marie, "acces-cna")
    marie.click("#modifier-acces")
    assert alert(marie) == (
        "Opérateur « lea » modifié : rôle gestionnaire, périmètre cna, 75 (Caf Paris). Ses "
        "sessions ouvertes sont fermées : il doit se reconnecter."
    )
    lea = area["lea"]
    lea.goto(area["url"] + "/fichiers")
    assert "/connexion?suite=" in lea.url and lea.inner_text("h1") == "Connexion"
    lea.context.close()


def test_a_disabled_lea_cannot_log_in_until_enabled(browser, marie, area):
    open_account(marie, area, "lea")
    marie.click("#desactiver")
    assert alert(marie) == ("Opérateur « lea » désactivé : ses sessions sont fermées, il ne peut plus se connecter.")
    assert "désactivé depuis le" in marie.inner_text("#fiche")
    marie.goto(area["url"] + "/operateurs")
    assert "désactivé depuis le" in marie.inner_text("#operateurs").lower()  # the badge is in capitals
    lea = log_in(browser, area["url"], "lea", PASSWORDS["lea"])
    assert "Identifiant ou mot de passe incorrect." in alert(lea)
    lea.context.close()
    open_account(marie, area, "lea")
    marie.click("#reactiver")
    assert alert(marie) == "Opérateur « lea » réactivé."
    lea = log_in(browser, area["url"], "lea", PASSWORDS["lea"])
    assert lea.url == area["url"] + "/"
    lea.context.close()


def test_marie_resets_leas_password(browser, marie, area):
    open_account(marie, area, "lea")
    marie.fill("#mdp-password", PASSWORDS["lea-nouveau"])
    marie.fill("#mdp-password2", "autre-chose-2026")
    marie.click("#modifier-mot-de-passe")
    assert alert(marie) == ("Modification du mot de passe refusée : les deux mots de passe diffèrent.")
    marie.fill("#mdp-password", PASSWORDS["lea-nouveau"])
    marie.fill("#mdp-password2", PASSWORDS["lea-nouveau"])
    marie.click("#modifier-mot-de-passe")
    assert alert(marie) == (
        "Opérateur « lea » : mot de passe réinitialisé. Ses sessions ouvertes sont fermées : il doit se reconnecter."
    )
    old = log_in(browser, area["url"], "lea", PASSWORDS["lea"])
    assert "Identifiant ou mot de passe incorrect." in alert(old)
    old.context.close()
    new = log_in(browser, area["url"], "lea", PASSWORDS["lea-nouveau"])
    assert new.url == area["url"] + "/"
    new.context.close()


def test_marie_cannot_disable_or_demote_herself(marie, area):
    open_account(marie, area, "marie")
    assert "C'est votre compte" in marie.inner_text("main")
    marie.click("#desactiver")
    assert alert(marie) == (
        "Désactivation refusée : vous ne pouvez pas désactiver votre propre compte depuis la "
        "console : un autre gestionnaire national doit le faire."
    )
    tick(marie, "acces-role-lecteur")
    marie.click("#modifier-acces")
    assert alert(marie).startswith(
        "Modification de l'accès refusée : vous ne pouvez pas rétrograder votre propre compte depuis la console"
    )
    found = in_transaction(area["engine"], get_operator, "marie")
    assert found["disabled_at"] is None and found["role"] == "gestionnaire"
    assert marie.url == area["url"] + "/operateurs/compte?login=marie"  # still logged in


def test_marie_removes_lea_after_a_confirmation(marie, area):
    open_account(marie, area, "lea")
    marie.click("#supprimer")
    assert marie.inner_text("h1") == "Supprimer l'opérateur « lea » ?"
    assert violations(marie) == []
    marie.click("#confirmer")
    assert alert(marie) == "Opérateur « lea » supprimé (le journal garde ses actions)."
    assert marie.url == area["url"] + "/operateurs"
    assert "lea" not in [c.strip() for c in marie.locator("#operateurs tbody tr td:first-child").all_inner_texts()]
    assert in_transaction(area["engine"], get_operator, "lea") is None


def test_the_journal_shows_marie_s_actions_and_no_password(marie, area):
    marie.goto(area["url"] + "/journal?operateur=marie")
    journal = marie.inner_text("#journal")
    rows = [r for r in journal.splitlines() if "opérateur lea" in r]
    actions = [
        a
        for a in ("operateur_ajout", "operateur_disable", "operateur_enable", "operateur_remove")
        if any(a in r and "marie" in r for r in rows)
    ]
    assert actions == ["operateur_ajout", "operateur_disable", "operateur_enable", "operateur_remove"], journal
    assert any("REFUSE" in r and "périmètre inconnu '99'" in r for r in rows)
    assert any("operateur_disable" in r and "REFUSE" in r for r in journal.splitlines() if "opérateur marie" in r)
    for secret in PASSWORDS.values():
        assert secret not in journal
    with area["engine"].connect() as conn:
        details = " ".join(line["detail"] or "" for line in journal_lines(conn))
    assert not [s for s in PASSWORDS.values() if s in details]


def test_marie_changes_her_own_password_and_logs_in_again(browser, marie, area):
    open_account(marie, area, "marie")
    marie.fill("#mdp-password", "gestion-2027-marie")
    marie.fill("#mdp-password2", "gestion-2027-marie")
    marie.click("#modifier-mot-de-passe")
    assert marie.url == area["url"] + "/connexion"
    assert alert(marie) == "Votre mot de passe est changé. Vos sessions sont fermées : reconnectez-vous."
    again = log_in(browser, area["url"], "marie", "gestion-2027-marie")
    assert again.url == area["url"] + "/"
    again.context.close()
