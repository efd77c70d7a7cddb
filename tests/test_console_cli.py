"""The console's command line and store: operator accounts, [web] configuration, listing filters, audit."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from exchange.config import ConfigError, parse_config
from exchange.db import open_database
from exchange.operators import OperatorError, add_operator, check_password, get_operator, record_audit
from exchange.queries import audit_entries, compte_rendu_names
from exchange.web.security import LoginLimiter
from tests.areas import cli, seed_examples


def test_operators_add_reads_the_password_from_stdin_and_hashes_it_with_argon2id(tmp_path, monkeypatch, db_url):
    cfg = seed_examples(tmp_path, db_url)
    monkeypatch.setattr("sys.stdin", io.StringIO("un-mot-de-passe-long\n"))
    code, out, err = cli(tmp_path, "operators", "add", "mdupont", "--role", "gestionnaire")
    assert (code, err) == (0, "")
    assert out == "Opérateur « mdupont » créé : rôle gestionnaire, mot de passe enregistré (argon2id).\n"
    engine = open_database(cfg.database_url)
    row = get_operator(engine, "mdupont")
    assert row["role"] == "gestionnaire" and row["password_hash"].startswith("$argon2id$")
    assert "un-mot-de-passe-long" not in row["password_hash"]
    assert check_password(engine, "mdupont", "un-mot-de-passe-long")["login"] == "mdupont"
    assert check_password(engine, "mdupont", "mauvais") is None
    assert check_password(engine, "personne", "un-mot-de-passe-long") is None
    monkeypatch.setattr("sys.stdin", io.StringIO("court\n"))
    code, out, err = cli(tmp_path, "operators", "add", "mdupont", "--role", "lecteur")
    assert code == 1 and err == "Compte refusé : mot de passe trop court : 12 caractères au moins.\n"
    assert get_operator(engine, "mdupont")["role"] == "gestionnaire"  # unchanged
    with pytest.raises(SystemExit) as exit_:
        cli(tmp_path, "operators", "add", "x", "--role", "administrateur")
    assert exit_.value.code == 2
    with pytest.raises(OperatorError):
        add_operator(engine, "avec espace", "lecteur", "un-mot-de-passe-long")


def test_web_section_is_checked_key_by_key(tmp_path):
    cfg = parse_config({"web": {"bind": "0.0.0.0:9090", "base_path": "/esat"}}, tmp_path)
    assert (cfg.web.host, cfg.web.port, cfg.web.base_path) == ("0.0.0.0", 9090, "/esat")
    assert parse_config({}, tmp_path).web.bind == "127.0.0.1:8080"
    for web, message in (({"bind": "8080"}, "web.bind"), ({"base_path": "esat/"}, "web.base_path"),
                         ({"proxy_header": "X-Remote-User"}, "web.trusted_proxies"),
                         ({"port": 8080}, "clé inconnue dans la configuration : web.port")):
        with pytest.raises(ConfigError, match=message):
            parse_config({"web": web}, tmp_path)


def test_files_list_filters_and_refuses_unknown_values(tmp_path):
    seed_examples(tmp_path)  # no extract imported: every file is rejected H05
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    listed = json.loads(cli(tmp_path, "files", "list", "--etat", "acquitte", "--format", "json")[1])
    assert len(listed) == 4 and {f["etat"] for f in listed} == {"ACQUITTE"}
    assert json.loads(cli(tmp_path, "files", "list", "--etat", "QUARANTAINE", "--format", "json")[1]) == []
    assert len(json.loads(cli(tmp_path, "files", "list", "--run", "1", "--format", "json")[1])) == 4
    assert json.loads(cli(tmp_path, "files", "list", "--run", "2", "--format", "json")[1]) == []
    assert {f["compte"] for f in json.loads(cli(tmp_path, "files", "list", "--compte", "horizon-paie",
                                                "--format", "json")[1])} == {"horizon-paie"}
    received = listed[0]["date_reception"]
    assert "T" in received and received.endswith("+00:00")  # ISO 8601 with its offset
    for bad in (("files", "list", "--etat", "PERDU"), ("files", "list", "--status", "OK"),
                ("runs", "list", "--status", "FINI")):
        with pytest.raises(SystemExit) as exit_:
            cli(tmp_path, *bad)
        assert exit_.value.code == 2
    assert [r["statut"] for r in json.loads(cli(tmp_path, "runs", "list", "--status", "ok", "--format",
                                                "json")[1])] == ["OK"]


def test_replay_is_refused_for_a_file_the_spec_does_not_allow(tmp_path):
    seed_examples(tmp_path)
    (tmp_path / "drop" / "esat-seine" / "depot" / "mauvais-nom.csv").write_text("x;y\n1;2\n")
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    (f02,) = [f for f in json.loads(cli(tmp_path, "files", "list", "--format", "json")[1]) if f["code"] == "F02"]
    code, out, err = cli(tmp_path, "files", "replay", str(f02["id"]))
    assert code == 1 and out == ""
    assert err.startswith(f"Rejeu impossible : le fichier n° {f02['id']} (REJETE F02) ne peut pas être rejoué")


def test_audit_lines_mask_nir_shaped_text(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'a.db'}")
    record_audit(engine, "marie", "rejeu", "ECHEC", "fichier n° 3", "ligne 2 : 185057512345691 inconnu", "10.0.0.9")
    (entry,) = audit_entries(engine.connect())
    assert (entry["operateur"], entry["action"], entry["resultat"], entry["adresse"]) == (
        "marie", "rejeu", "ECHEC", "10.0.0.9")
    assert entry["detail"] == "ligne 2 : 18505********91 inconnu"


def test_login_limiter_counts_failures_per_login_within_the_window():
    limiter = LoginLimiter(attempts=3, window_seconds=60)
    for t in (0, 1, 2):
        assert not limiter.blocked("paul", "10.0.0.1", now=t)
        limiter.failed("paul", "10.0.0.1", now=t)
    assert limiter.blocked("paul", "10.0.0.2", now=3)  # the login is blocked from anywhere
    assert limiter.blocked("marie", "10.0.0.1", now=3)  # and that address for any login
    assert not limiter.blocked("paul", "10.0.0.2", now=63)  # the window has passed


def test_compte_rendu_names_follow_the_latest_reception_rule():
    row = {"id": 7, "name": "A.csv"}
    assert compte_rendu_names(row, 7)[:3] == ["A.csv.CR.csv", "A.csv.CR.xml", "A.csv.CR.html"]
    assert "A.csv.7.CR.csv" in compte_rendu_names(row, 7)  # its judgement before a replay
    assert compte_rendu_names(row, 9) == ["A.csv.7.CR.csv", "A.csv.7.CR.xml", "A.csv.7.CR.html"]


def test_dsfr_is_installed_locally_from_the_lockfile():
    from exchange.web.app import DSFR_DIST

    lock = json.loads((Path(DSFR_DIST).parents[3] / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@gouvfr/dsfr"]["version"] == "1.15.3"
    assert (DSFR_DIST / "dsfr.min.css").is_file() and (DSFR_DIST / "dsfr.module.min.js").is_file()
