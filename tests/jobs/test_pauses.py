"""Pausing scheduled jobs (issue 23): the store verbs, loud on a double pause or a resume of an active job (SQLite
and PostgreSQL); the command line (French output, exit codes, journal as cli:<user>); the status verdict; and a
real scheduler process that skips a paused job's slots, records no run, logs one French line, and runs the job
again after the resume."""

from __future__ import annotations

import getpass
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from exchange.app.status import check_health
from exchange.core.health import health_text
from exchange.store.engine import in_transaction, open_database
from exchange.store.pauses import PauseError, pause_job, paused_jobs, resume_job
from tests import rows
from tests.areas import cli
from tests.conftest import ROOT
from tests.jobs.test_scheduler import configure, finished, stop_process, wait_for

USER = f"cli:{getpass.getuser()}"
STAMP = r"\d\d/\d\d/\d{4} \d\d:\d\d"


def journal(engine) -> list[tuple]:  # noqa: ANN001
    with engine.connect() as conn:
        return [(j["operateur"], j["action"], j["resultat"], j["objet"]) for j in rows.journal(conn)]


def test_store_verbs_are_loud_on_a_double_pause_and_on_resuming_an_active_job(tmp_path, db_url):
    engine = open_database(db_url)
    try:
        row = in_transaction(engine, pause_job, "nightly", "marie", "import Habpps")
        assert row["job"] == "nightly" and row["paused_by"] == "marie"
        with pytest.raises(PauseError, match=r"^la tâche traitement de nuit est déjà suspendue par marie depuis le "):
            in_transaction(engine, pause_job, "nightly", "paul")
        with pytest.raises(PauseError, match=r"^la tâche collecte n'est pas suspendue$"):
            in_transaction(engine, resume_job, "collect", "marie")
        with pytest.raises(PauseError, match=r"^tâche inconnue « replay » : collect, nightly, campaign, purge$"):
            in_transaction(engine, pause_job, "replay", "marie")
        in_transaction(engine, pause_job, "collect", "paul")
        with engine.connect() as conn:
            paused = paused_jobs(conn)
        assert list(paused) == ["collect", "nightly"]  # the schedule's order
        assert paused["nightly"]["paused_by"] == "marie" and paused["nightly"]["reason"] == "import Habpps"
        assert paused["nightly"]["paused_at"].tzinfo is not None  # UTC, on SQLite too
        ended = in_transaction(engine, resume_job, "nightly", "paul")
        assert ended["paused_by"] == "marie"
        with pytest.raises(PauseError, match="n'est pas suspendue"):
            in_transaction(engine, resume_job, "nightly", "paul")
        with engine.connect() as conn:
            assert list(paused_jobs(conn)) == ["collect"]
    finally:
        engine.dispose()


def test_the_command_line_pauses_lists_and_resumes_in_french_and_journals_it(tmp_path):
    config, _path = configure(tmp_path)
    code, out, err = cli(tmp_path, "scheduler", "pause", "nightly", "--motif", "import  Habpps prévu")
    assert (code, err) == (0, "")
    assert out == (
        "Tâche traitement de nuit suspendue : le planificateur saute ses créneaux jusqu'à la reprise ; "
        "un lancement à la main reste possible.\n"
    )
    code, out, err = cli(tmp_path, "scheduler", "pause", "nightly")
    assert code == 1 and out == ""
    assert re.fullmatch(
        rf"Refusé : la tâche traitement de nuit est déjà suspendue par {USER} depuis le {STAMP}\.\n", err
    )
    code, out, err = cli(tmp_path, "scheduler", "pause", "tout")
    assert (code, out, err) == (1, "", "Refusé : tâche inconnue « tout » : collect, nightly, campaign, purge.\n")
    code, out, _ = cli(tmp_path, "scheduler", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "collect   collecte : active"
    assert re.fullmatch(
        rf"nightly   traitement de nuit : suspendue par {USER} depuis le {STAMP} "
        r"\(motif : import Habpps prévu\)",
        lines[1],
    )
    assert lines[2:] == ["campaign  clôture de campagne : active", "purge     purge : active"]
    listed = json.loads(cli(tmp_path, "scheduler", "list", "--format", "json")[1])
    assert [(j["tache"], j["suspendue"], j["par"]) for j in listed] == [
        ("collect", False, None),
        ("nightly", True, USER),
        ("campaign", False, None),
        ("purge", False, None),
    ]
    code, out, _ = cli(tmp_path, "scheduler", "pause", "--toutes")
    assert (code, out) == (
        0,
        "Tâches suspendues : collecte, clôture de campagne, purge. Le planificateur saute "
        "leurs créneaux jusqu'à la reprise ; un lancement à la main reste possible.\n",
    )
    assert cli(tmp_path, "scheduler", "pause", "--toutes")[2] == (
        "Refusé : toutes les tâches planifiées sont déjà suspendues.\n"
    )
    code, out, _ = cli(tmp_path, "scheduler", "resume", "nightly")
    assert code == 0
    assert re.fullmatch(
        rf"Tâche traitement de nuit reprise \(elle était suspendue par {USER} depuis le {STAMP} "
        r"\(motif : import Habpps prévu\)\) : elle tourne à son prochain créneau \(les créneaux "
        r"passés ne sont pas rattrapés\)\.\n",
        out,
    )
    assert cli(tmp_path, "scheduler", "resume", "nightly") == (
        1,
        "",
        "Refusé : la tâche traitement de nuit n'est pas suspendue.\n",
    )
    code, out, _ = cli(tmp_path, "scheduler", "resume", "--toutes")
    assert (code, out) == (
        0,
        "Tâches reprises : collecte, clôture de campagne, purge. Chacune reprend à son "
        "prochain créneau (les créneaux passés ne sont pas rattrapés).\n",
    )
    assert cli(tmp_path, "scheduler", "resume", "--toutes")[0] == 1
    with pytest.raises(SystemExit) as usage:  # TACHE or --toutes
        cli(tmp_path, "scheduler", "pause")
    assert usage.value.code == 2
    engine = open_database(config.database_url)
    try:
        assert journal(engine) == [
            (USER, "suspension_tache", "OK", "tâche nightly"),
            (USER, "suspension_tache", "REFUSE", "tâche nightly"),
            (USER, "suspension_tache", "REFUSE", "tâche tout"),
            (USER, "suspension_tache", "OK", "toutes les tâches"),
            (USER, "suspension_tache", "REFUSE", "toutes les tâches"),
            (USER, "reprise_tache", "OK", "tâche nightly"),
            (USER, "reprise_tache", "REFUSE", "tâche nightly"),
            (USER, "reprise_tache", "OK", "toutes les tâches"),
            (USER, "reprise_tache", "REFUSE", "toutes les tâches"),
        ]
        with engine.connect() as conn:
            detail = rows.journal(conn)[0]["detail"]
        assert detail.endswith("Motif : import Habpps prévu")
    finally:
        engine.dispose()


def test_a_paused_job_is_a_warning_of_the_status_verdict_not_an_alert(tmp_path):
    config, _path = configure(tmp_path)
    engine = open_database(config.database_url)
    try:
        before = check_health(engine, None)
        in_transaction(engine, pause_job, "collect", "marie", "incident SFTP")
        health = check_health(engine, None)
    finally:
        engine.dispose()
    assert (health.state, health.healthy, health.alerts, health.todo) == (
        before.state,
        before.healthy,
        before.alerts,
        before.todo,
    )
    (warning,) = health.warnings
    assert re.fullmatch(
        rf"tâche collecte suspendue par marie depuis le {STAMP} \(motif : incident SFTP\) : ses "
        r"créneaux planifiés sont sautés",
        warning.text,
    )
    assert health.reasons[-1] == warning.text + " ; reprenez-la avec « esat-exchange scheduler resume collect »"
    assert f"- {health.reasons[-1]}" in health_text(health)
    code, out, _ = cli(tmp_path, "status", "--format", "json")
    assert any(r.startswith("tâche collecte suspendue par marie") for r in json.loads(out)["raisons"])


# The real scheduler, as `esat-exchange scheduler` runs it, with an every-second collect.
SCRIPT = r"""
import sys
from apscheduler.triggers.cron import CronTrigger
from exchange.config import load_config
from exchange.store.engine import open_database
from exchange.logs import setup_logging
from jobs.scheduler import serve

setup_logging("json", "INFO")
config = load_config(sys.argv[1])
raise SystemExit(serve(config, sys.argv[1], open_database(config.database_url),
                       triggers={"collect": CronTrigger(second="*")}))
"""


def test_the_scheduler_skips_a_paused_job_without_a_run_then_runs_it_after_the_resume(tmp_path):
    config, path = configure(tmp_path, seed=True)
    engine = open_database(config.database_url)
    assert cli(tmp_path, "scheduler", "pause", "collect", "--motif", "incident")[0] == 0
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, path],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_for(lambda: _jobs_stored(engine), procs=(proc,))
        time.sleep(3.5)  # three slots at least while paused
        with engine.connect() as conn:
            assert rows.run_count(conn) == 0  # no run recorded, not even IGNORE
        assert cli(tmp_path, "scheduler", "resume", "collect")[0] == 0
        resumed_at = datetime.now(UTC)
        wait_for(lambda: len(finished(engine, "collect")) >= 1, procs=(proc,))
    finally:
        code, err = stop_process(proc)
        engine.dispose()
    assert code == 0, err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    skipped = [e for e in events if "créneau sauté" in e["message"]]
    assert len(skipped) >= 3
    assert all(e["level"] == "WARNING" for e in skipped)
    assert re.fullmatch(
        rf"tâche planifiée suspendue par {USER} depuis le {STAMP} : créneau sauté", skipped[0]["message"]
    )
    engine = open_database(config.database_url)
    try:
        first = finished(engine, "collect")[0]
    finally:
        engine.dispose()
    assert first["status"] == "OK" and first["files_seen"] == 4  # the next slot after the resume took the files
    assert first["started_at"].replace(tzinfo=UTC) >= resumed_at.replace(microsecond=0)


def _jobs_stored(engine) -> bool:  # noqa: ANN001
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if not inspect(conn).has_table("apscheduler_jobs"):
            return False
        return conn.execute(text("SELECT count(*) FROM apscheduler_jobs")).scalar() == 4
