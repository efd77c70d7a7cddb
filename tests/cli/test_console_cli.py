"""The console's command line and store: operator accounts, [web] configuration, listing filters, audit."""

from __future__ import annotations

import io
import json
import os
import re
import signal
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

import pytest

from exchange.cli.main import INTERRUPTED
from exchange.config import ConfigError, parse_config
from exchange.core.perimeter import EVERYTHING
from exchange.store.engine import in_transaction, open_database, open_upgraded
from exchange.store.operators import OperatorError, add_operator, check_password, get_operator, record_audit
from exchange.store.reads.audit import list_audit
from tests.areas import cli, seed_examples


def test_operators_add_reads_the_password_from_stdin_and_hashes_it_with_argon2id(tmp_path, monkeypatch, blank_db_url):
    cfg = seed_examples(tmp_path, blank_db_url, upgrade=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("un-mot-de-passe-long\n"))
    code, out, err = cli(tmp_path, "operators", "add", "mdupont", "--role", "gestionnaire")
    assert code == 1 and "db upgrade" in err  # an empty database is refused, as by every command
    assert cli(tmp_path, "db", "upgrade")[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("un-mot-de-passe-long\n"))
    code, out, err = cli(tmp_path, "operators", "add", "mdupont", "--role", "gestionnaire", "--perimetre", "75")
    assert (code, err) == (0, "")
    assert out == (
        "Opérateur « mdupont » créé : rôle gestionnaire, périmètre 75, mot de passe enregistré (argon2id).\n"
    )
    engine = open_database(cfg.database_url)
    row = in_transaction(engine, get_operator, "mdupont")
    assert row["role"] == "gestionnaire" and row["password_hash"].startswith("$argon2id$")
    assert "un-mot-de-passe-long" not in row["password_hash"]
    assert in_transaction(engine, check_password, "mdupont", "un-mot-de-passe-long")["login"] == "mdupont"
    assert in_transaction(engine, check_password, "mdupont", "mauvais") is None
    assert in_transaction(engine, check_password, "personne", "un-mot-de-passe-long") is None
    monkeypatch.setattr("sys.stdin", io.StringIO("court\n"))
    code, out, err = cli(tmp_path, "operators", "add", "mdupont", "--role", "lecteur")
    assert code == 1 and err == "Compte refusé : mot de passe trop court : 12 caractères au moins.\n"
    assert in_transaction(engine, get_operator, "mdupont")["role"] == "gestionnaire"  # unchanged
    with pytest.raises(SystemExit) as exit_:
        cli(tmp_path, "operators", "add", "x", "--role", "administrateur")
    assert exit_.value.code == 2
    with pytest.raises(OperatorError):
        in_transaction(engine, add_operator, "avec espace", "lecteur", "un-mot-de-passe-long")
    monkeypatch.setattr("sys.stdin", io.StringIO("un-mot-de-passe-long\n"))
    code, out, err = cli(tmp_path, "operators", "add", "mdupont", "--role", "lecteur", "--perimetre", "99")
    assert (code, out) == (1, "")
    assert err == (
        "Compte refusé : périmètre inconnu '99' : « national », « cna » ou le code d'une Caf "
        "(01 à 95, 2A, 2B, 971 à 976).\n"
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("un-mot-de-passe-long\n"))
    code, out, err = cli(
        tmp_path, "operators", "add", "mdupont", "--role", "lecteur", "--perimetre", "cna", "--perimetre", "2a"
    )
    assert (code, err) == (0, "")
    assert out == (
        "Opérateur « mdupont » modifié : rôle lecteur, périmètre cna, 2A, mot de passe enregistré "
        "(argon2id).\nSes sessions ouvertes sont fermées.\n"
    )
    assert in_transaction(engine, get_operator, "mdupont")["perimetre"].labels() == ["cna", "2A"]


def test_web_section_is_checked_key_by_key(tmp_path):
    cfg = parse_config({"web": {"bind": "0.0.0.0:9090", "base_path": "/esat"}}, tmp_path)
    assert (cfg.web.host, cfg.web.port, cfg.web.base_path) == ("0.0.0.0", 9090, "/esat")
    assert parse_config({}, tmp_path).web.bind == "127.0.0.1:8080"
    for web, message in (
        ({"bind": "8080"}, "web.bind"),
        ({"base_path": "esat/"}, "web.base_path"),
        ({"proxy_header": "X-Remote-User"}, "web.trusted_proxies"),
        ({"port": 8080}, "clé inconnue dans la configuration : web.port"),
    ):
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
    assert {
        f["compte"]
        for f in json.loads(cli(tmp_path, "files", "list", "--compte", "horizon-paie", "--format", "json")[1])
    } == {"horizon-paie"}
    received = listed[0]["date_reception"]
    assert "T" in received and received.endswith("+00:00")  # ISO 8601 with its offset
    for bad in (
        ("files", "list", "--etat", "PERDU"),
        ("files", "list", "--status", "OK"),
        ("runs", "list", "--status", "FINI"),
    ):
        with pytest.raises(SystemExit) as exit_:
            cli(tmp_path, *bad)
        assert exit_.value.code == 2
    assert [
        r["statut"] for r in json.loads(cli(tmp_path, "runs", "list", "--status", "ok", "--format", "json")[1])
    ] == ["OK"]


def test_replay_is_refused_for_a_file_the_spec_does_not_allow(tmp_path):
    seed_examples(tmp_path)
    (tmp_path / "drop" / "esat-seine" / "depot" / "mauvais-nom.csv").write_text("x;y\n1;2\n")
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    (f02,) = [f for f in json.loads(cli(tmp_path, "files", "list", "--format", "json")[1]) if f["code"] == "F02"]
    code, out, err = cli(tmp_path, "files", "replay", str(f02["id"]))
    assert code == 1 and out == ""
    assert err.startswith(f"Rejeu impossible : le fichier n° {f02['id']} (REJETE F02) ne peut pas être rejoué")


def test_audit_lines_mask_nir_shaped_text(tmp_path):
    engine = open_upgraded(f"sqlite:///{tmp_path / 'a.db'}")
    in_transaction(
        engine, record_audit, "marie", "rejeu", "ECHEC", "fichier n° 3", "ligne 2 : 185057512345691 inconnu", "10.0.0.9"
    )
    (entry,) = list_audit(engine.connect(), perimeter=EVERYTHING)
    assert (entry["operateur"], entry["action"], entry["resultat"], entry["adresse"]) == (
        "marie",
        "rejeu",
        "ECHEC",
        "10.0.0.9",
    )
    assert entry["detail"] == "ligne 2 : 18505********91 inconnu"
    in_transaction(engine, record_audit, "185057512345691", "connexion", "REFUSE")  # a NIR typed in the login field
    assert list_audit(engine.connect(), perimeter=EVERYTHING)[0]["operateur"] == "18505********91"


def test_login_delay_doubles_after_the_free_failures_up_to_its_cap():
    from exchange.core.throttle import delay_seconds

    assert [delay_seconds(n, free=3, cap=8) for n in range(9)] == [0, 0, 0, 1, 2, 4, 8, 8, 8]


def _rule(free: int):
    """The throttle's rule with `free` free attempts (then 1, 2, 4… s)."""
    from exchange.core.throttle import retry_at

    return lambda failures, last: retry_at(failures, last, free, 3600)


def test_login_attempts_are_counted_per_login_and_address_and_forgotten(tmp_path):
    from datetime import datetime, timedelta

    from exchange.store import throttle

    engine = open_upgraded(f"sqlite:///{tmp_path / 'a.db'}")
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    rule = _rule(3)
    seen = [
        in_transaction(engine, throttle.count_attempt, "paul", "10.0.0.1", t0, t0 - timedelta(hours=1), rule)
        for _ in range(4)
    ]
    assert [(a.counted, a.failures) for a in seen] == [(True, 0), (True, 1), (True, 2), (False, 3)]
    assert seen[3].allowed_at == t0 + timedelta(seconds=1)  # 1 s after the third
    later = t0 + timedelta(seconds=1)  # the delay passed: one more is counted, the next waits 2 s
    assert in_transaction(
        engine, throttle.count_attempt, "paul", "10.0.0.1", later, t0 - timedelta(hours=1), rule
    ).counted
    assert in_transaction(engine, throttle.failures, "paul", "10.0.0.1", t0) == (4, later)
    assert in_transaction(engine, throttle.failures, "paul", "10.0.0.2", t0) == (0, None)  # another address: nothing
    assert in_transaction(engine, throttle.failures, "marie", "10.0.0.1", t0) == (0, None)  # another login: nothing
    assert in_transaction(engine, throttle.failures, "paul", "10.0.0.1", t0 + timedelta(hours=1)) == (
        0,
        None,
    )  # forgotten
    in_transaction(engine, throttle.clear, "paul", "10.0.0.1")
    assert in_transaction(engine, throttle.failures, "paul", "10.0.0.1", t0) == (0, None)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_parallel_attempts_are_counted_one_by_one(tmp_path, request, backend):
    """16 threads at once on one (login, address) with 3 free attempts: exactly 3 are counted, whatever the race."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime, timedelta

    from exchange.store import throttle

    url = f"sqlite:///{tmp_path / 'a.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = open_upgraded(url)
    now = datetime.now(UTC)
    start = threading.Barrier(16)

    def attempt(_: int) -> bool:
        start.wait()
        return in_transaction(
            engine, throttle.count_attempt, "paul", "10.0.0.1", now, now - timedelta(hours=1), _rule(3)
        ).counted

    with ThreadPoolExecutor(16) as pool:
        counted = list(pool.map(attempt, range(16)))
    assert counted.count(True) == 3
    assert in_transaction(engine, throttle.failures, "paul", "10.0.0.1", now - timedelta(hours=1))[0] == 3
    engine.dispose()


def test_compte_rendu_names_follow_the_latest_reception_rule():
    from exchange.app.answers import answer_names

    row = {"id": 7, "name": "A.csv", "answers": 2, "state": "ACQUITTE"}  # answered, then replayed once
    assert answer_names(row, 7) == ["A.csv.CR.csv", "A.csv.CR.xml", "A.csv.CR.html"]  # its last answer
    assert answer_names(row, 9) == ["A.csv.7-rejeu1.CR.csv", "A.csv.7-rejeu1.CR.xml", "A.csv.7-rejeu1.CR.html"]
    assert answer_names({**row, "answers": 1}, 9)[0] == "A.csv.7.CR.csv"  # a later reception owns the plain name
    assert answer_names({**row, "state": "QUARANTAINE", "answers": 0}, None) == []  # never answered
    assert answer_names({**row, "answers_purged_at": "2027-01-01"}, 7) == []  # purged: nothing to rebuild


def test_dsfr_is_installed_locally_from_the_lockfile():
    from exchange.web.app import DSFR_DIST

    lock = json.loads((Path(DSFR_DIST).parents[3] / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@gouvfr/dsfr"]["version"] == "1.15.3"
    assert (DSFR_DIST / "dsfr.min.css").is_file() and (DSFR_DIST / "dsfr.module.min.js").is_file()


def test_version_and_french_usage_errors(tmp_path, capsys):
    from exchange.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("esat-exchange ")
    with pytest.raises(SystemExit) as exit_:
        main(["files", "show", "abc"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.startswith("utilisation : esat-exchange files show")
    assert err.endswith("esat-exchange files show : erreur : argument ID : valeur invalide 'abc' (entier attendu)\n")
    with pytest.raises(SystemExit):
        main(["campaign"])
    assert "erreur : arguments obligatoires manquants : COMMANDE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["runs", "list", "--help"])
    out = capsys.readouterr().out
    assert "afficher cette aide et quitter" in out and "exemple : esat-exchange runs list" in out


def test_every_command_has_a_french_example():
    import argparse

    from exchange.cli.main import build_parser

    def walk(parser: argparse.ArgumentParser):  # noqa: ANN202
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield sub
                    yield from walk(sub)

    missing = [sub.prog for sub in walk(build_parser()) if not (sub.epilog or "").startswith("exemple : ")]
    assert missing == []


@contextmanager
def _sigint(handler):  # noqa: ANN001, ANN202
    """SIGINT handled by `handler` inside the block, whatever started the test run; the outer handler after."""
    outer = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, outer)


def _ctrl_c_during_the_first_batch(monkeypatch) -> list:  # noqa: ANN001
    """One file per batch; SIGINT sent to this process while the first batch is judged. The batches judged."""
    import exchange.app.cycle

    real = exchange.app.cycle._judged
    calls = []

    def judged_then_ctrl_c(ctx, file_ids):  # noqa: ANN001, ANN202
        calls.append(file_ids)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # the operator presses Ctrl-C while the first batch is in hand
        return real(ctx, file_ids)

    monkeypatch.setattr(exchange.app.cycle, "BATCH_FILES", 1)
    monkeypatch.setattr(exchange.app.cycle, "_judged", judged_then_ctrl_c)
    return calls


def test_ctrl_c_on_run_finishes_the_file_in_hand_closes_the_run_and_exits_130(tmp_path, monkeypatch):
    seed_examples(tmp_path)
    calls = _ctrl_c_during_the_first_batch(monkeypatch)
    with _sigint(signal.default_int_handler):  # as started from a terminal
        code, out, err = cli(tmp_path, "run", "--as-of", "2025-12-15")
        handler_after = signal.getsignal(signal.SIGINT)
    assert code == 130
    assert err.splitlines()[-1] == (
        "Arrêt demandé : le lot en cours a été terminé et l'exécution n° 1 close ; "
        "les fichiers restants partiront au prochain cycle."
    )
    assert "Traceback" not in out + err and len(calls) == 1
    (run,) = json.loads(cli(tmp_path, "runs", "list", "--format", "json")[1])
    assert (run["statut"], run["fichiers"]) == ("OK", 1) and run["fin"] is not None
    (received,) = json.loads(cli(tmp_path, "files", "list", "--format", "json")[1])
    assert received["etat"] == "ACQUITTE"  # judged and answered, not left half done
    waiting = sorted(p.name for p in (tmp_path / "drop").glob("*/depot/*"))
    assert len(waiting) == 3  # the rest waits for the next cycle
    assert handler_after is signal.default_int_handler  # handler restored


def test_a_run_started_ignoring_ctrl_c_keeps_ignoring_it(tmp_path, monkeypatch):
    # `esat-exchange run &` in a script, or under nohup: the shell starts it with SIGINT ignored, so that a Ctrl-C
    # meant for the script does not stop it
    seed_examples(tmp_path)
    calls = _ctrl_c_during_the_first_batch(monkeypatch)
    with _sigint(signal.SIG_IGN):
        code, out, err = cli(tmp_path, "run", "--as-of", "2025-12-15")
        handler_after = signal.getsignal(signal.SIGINT)
    assert code != INTERRUPTED and "Arrêt demandé" not in err
    assert len(calls) == 4 and not list((tmp_path / "drop").glob("*/depot/*"))  # every file taken
    (run,) = json.loads(cli(tmp_path, "runs", "list", "--format", "json")[1])
    assert (run["statut"], run["fichiers"]) == ("OK", 4)
    assert handler_after is signal.SIG_IGN


def test_status_summarises_and_shows_the_next_scheduled_runs(tmp_path):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    cfg = seed_examples(tmp_path)
    for i in range(12):  # 13 accounts with files waiting
        depot = tmp_path / "drop" / f"compte-{i:02d}" / "depot"
        depot.mkdir(parents=True)
        for j in range(i + 1):
            (depot / f"f{j}.csv").write_text("x")
    code, out, _ = cli(tmp_path, "status")
    assert "Prochaines exécutions planifiées : aucune (le planificateur n'a jamais démarré sur cette base)" in out
    assert "Fichiers en attente dans depot/ : 82 (14 compte(s) sur 14)" in out
    shown = [line for line in out.splitlines() if re.fullmatch(r"  [a-z0-9-]+ : [0-9]+", line)]
    assert len(shown) == 10 and shown[0] == "  compte-11 : 12"
    assert "  … et 4 autre(s) compte(s) (--all pour tout afficher)" in out
    lines = out.splitlines()
    at = lines.index("Fichiers en attente les plus anciens (déposés le, heure de Paris) :")
    oldest = lines[at + 1 : at + 12]
    assert all(re.fullmatch(r"  [a-z0-9-]+/[^ ]+ : \d\d/\d\d/\d{4} \d\d:\d\d", x) for x in oldest[:10]), oldest
    assert oldest[10] == "  … et 72 autre(s) (--all pour tout afficher)"
    code, out, _ = cli(tmp_path, "status", "--all")
    assert "--all pour tout afficher" not in out and "  compte-00 : 1" in out

    engine = open_database(cfg.database_url)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")}
    )
    scheduler.start(paused=True)
    scheduler.add_job(
        "jobs.tasks:scheduled", CronTrigger(hour=2, minute=0, timezone="Europe/Paris"), args=["nightly"], id="nightly"
    )
    scheduler.shutdown(wait=False)
    code, out, _ = cli(tmp_path, "status")
    line = next(x for x in out.splitlines() if x.startswith("Prochaines exécutions planifiées : "))
    assert re.fullmatch(r"Prochaines exécutions planifiées : nightly le \d\d/\d\d/\d{4} 02:00", line), line
    payload = json.loads(cli(tmp_path, "status", "--format", "json")[1])
    (nxt,) = payload["prochaines_executions"]
    assert nxt["tache"] == "nightly" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:00:00\+00:00", nxt["prochaine"])
    assert "T" in payload["verifie_le"]  # ISO 8601
