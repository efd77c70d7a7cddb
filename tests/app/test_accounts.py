"""The accounts use cases (exchange.app.accounts): what the console may not do to its own operator, the last
national gestionnaire kept, and the command line left free to repair; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from exchange.app import accounts
from exchange.core.clock import utcnow
from exchange.store.engine import in_transaction, open_database
from exchange.store.operators import OperatorError, check_password, get_operator
from exchange.store.sessions import create

PASSWORD = "mot-de-passe-2026"


@pytest.fixture
def engine(db_url):
    engine = open_database(db_url)
    accounts.save_account(engine, "marie", "gestionnaire", PASSWORD, ["national"])
    accounts.save_account(engine, "lea", "lecteur", PASSWORD, ["75"])
    yield engine
    engine.dispose()


def session_of(engine, login: str, key: str) -> None:
    now = utcnow()
    in_transaction(engine, create, key, login, {}, now, now.replace(year=now.year - 1))


def sessions(engine) -> list[str]:
    from exchange.store.operators import last_seen

    return sorted(in_transaction(engine, last_seen))


def test_the_list_shows_role_perimeter_state_password_and_last_activity(engine):
    accounts.create_account(engine, "oidc-seul", "lecteur", None, ["cna", "2a"])
    session_of(engine, "lea", "k1")
    rows = {r["login"]: r for r in accounts.list_accounts(engine, activity=True)}
    assert rows["oidc-seul"]["perimetre"] == ["cna", "2A"] and rows["oidc-seul"]["mot_de_passe"] is False
    assert rows["lea"]["derniere_activite"] is not None and rows["marie"]["derniere_activite"] is None
    assert accounts.perimeter_text(["cna", "75"]) == "cna, 75 (Caf Paris)"
    assert accounts.perimeter_text([]) == "aucun"


def test_create_refuses_an_existing_login_an_unknown_caf_and_a_short_password(engine):
    with pytest.raises(OperatorError, match="existe déjà"):
        accounts.create_account(engine, "lea", "lecteur", PASSWORD, ["75"])
    with pytest.raises(OperatorError, match=r"périmètre inconnu '99' : « national », « cna » ou le code d'une Caf"):
        accounts.create_account(engine, "paul", "lecteur", PASSWORD, ["99"])
    with pytest.raises(OperatorError, match="12 caractères au moins"):
        accounts.create_account(engine, "paul", "lecteur", "court", ["75"])
    assert in_transaction(engine, get_operator, "paul") is None


def test_an_access_change_ends_the_sessions_and_keeps_the_password(engine):
    session_of(engine, "lea", "k1")
    saved = accounts.change_access(engine, "lea", "gestionnaire", ["75", "cna"], by="marie")
    assert saved.sessions_ended and saved.perimeter == ["cna", "75"] and sessions(engine) == []
    assert in_transaction(engine, check_password, "lea", PASSWORD) is not None
    session_of(engine, "lea", "k2")
    assert not accounts.change_access(engine, "lea", "gestionnaire", ["cna", "75"], by="marie").sessions_ended
    assert sessions(engine) == ["lea"]  # nothing changed: the session stays


def test_a_password_reset_or_removal_ends_the_sessions(engine):
    session_of(engine, "lea", "k1")
    accounts.reset_password(engine, "lea", "nouveau-secret-2026", by="marie")
    assert sessions(engine) == [] and in_transaction(engine, check_password, "lea", "nouveau-secret-2026") is not None
    accounts.reset_password(engine, "lea", None, by="marie")
    assert in_transaction(engine, get_operator, "lea")["password_hash"] is None


@pytest.mark.parametrize("change", ["disable", "remove", "demote", "narrow", "no-password"])
def test_an_operator_cannot_lock_itself_out_from_the_console(engine, change):
    accounts.save_account(engine, "jean", "gestionnaire", PASSWORD, ["national"])  # not the last one either
    act = {
        "disable": lambda: accounts.set_state(engine, "marie", True, by="marie"),
        "remove": lambda: accounts.remove_account(engine, "marie", by="marie"),
        "demote": lambda: accounts.change_access(engine, "marie", "lecteur", ["national"], by="marie"),
        "narrow": lambda: accounts.change_access(engine, "marie", "gestionnaire", ["75"], by="marie"),
        "no-password": lambda: accounts.reset_password(engine, "marie", None, by="marie"),
    }[change]
    with pytest.raises(OperatorError, match="votre propre compte depuis la console"):
        act()
    marie = in_transaction(engine, get_operator, "marie")
    assert marie["role"] == "gestionnaire" and marie["perimetre"].national and marie["disabled_at"] is None
    assert marie["password_hash"] is not None
    # what keeps marie a national gestionnaire is allowed on her own account
    accounts.reset_password(engine, "marie", "nouveau-secret-2026", by="marie")
    kept = accounts.change_access(engine, "marie", "gestionnaire", ["national", "cna"], by="marie")
    assert kept.role == "gestionnaire" and kept.perimeter == ["national"]


def test_no_change_leaves_the_console_without_an_active_national_gestionnaire(engine):
    accounts.save_account(engine, "jean", "gestionnaire", PASSWORD, ["national"])
    # jean acts on marie: allowed while jean remains
    accounts.set_state(engine, "marie", True, by="jean")
    # marie is disabled: jean is the last active national gestionnaire; a (stale) request of marie's cannot
    # demote, narrow, disable or remove him
    for act in (
        lambda: accounts.change_access(engine, "jean", "lecteur", ["national"], by="marie"),
        lambda: accounts.change_access(engine, "jean", "gestionnaire", ["cna"], by="marie"),
        lambda: accounts.set_state(engine, "jean", True, by="marie"),
        lambda: accounts.remove_account(engine, "jean", by="marie"),
    ):
        with pytest.raises(OperatorError, match="il ne resterait aucun gestionnaire national actif"):
            act()
    assert accounts.set_state(engine, "marie", False, by="jean")  # enabling is always allowed
    assert accounts.remove_account(engine, "marie", by="jean")


def test_the_command_line_is_not_bound_by_the_console_rules(engine):
    """The system administrator's tool creates the first account and repairs a locked console."""
    assert accounts.set_state(engine, "marie", True)
    assert accounts.set_state(engine, "marie", False)
    assert accounts.remove_account(engine, "marie")
    assert not accounts.remove_account(engine, "marie")  # unknown: False, the CLI's exit code 1
    assert not accounts.set_state(engine, "personne", True)


def test_unknown_accounts_are_refused_in_french(engine):
    for act in (
        lambda: accounts.change_access(engine, "personne", "lecteur", ["75"], by="marie"),
        lambda: accounts.reset_password(engine, "personne", PASSWORD, by="marie"),
        lambda: accounts.set_state(engine, "personne", True, by="marie"),
    ):
        with pytest.raises(OperatorError, match="opérateur « personne » inconnu"):
            act()
