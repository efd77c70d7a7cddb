"""Job locks: exclusive, gone with their holder, fencing a holder whose lock was taken away; the one job wrapper."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError

from exchange.app.job import run_locked
from exchange.config import ConfigError
from exchange.store.engine import open_upgraded
from exchange.store.fences import LockLost, LockTimings, holding, try_lock
from exchange.store.ledger import transaction
from exchange.store.tables import hab_imports, runs
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES, ROOT, make_config

FAST = LockTimings(heartbeat_seconds=0.5, timeout_seconds=3, idle_transaction_seconds=5)

HOLDER = r"""
import sys, time
from exchange.store.engine import open_database
from exchange.store.fences import try_lock
lock = try_lock(open_database(sys.argv[1]), "cycle")
print("HELD" if lock else "BUSY", flush=True)
time.sleep(600)
"""


def drop_session(engine, pid: int) -> None:  # noqa: ANN001
    """End a server session as PostgreSQL does on a timeout, and wait until it is gone (its locks with it)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()
        deadline = time.monotonic() + 30
        while conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar():
            assert time.monotonic() < deadline, "the terminated session did not end"
            conn.commit()
            time.sleep(0.05)


def run_rows(engine, job: str) -> list[dict]:  # noqa: ANN001
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(runs).where(runs.c.job == job).order_by(runs.c.id)).mappings()]


def test_a_lock_is_exclusive_and_released(db_url):
    engine = open_upgraded(db_url)
    first = try_lock(engine, "cycle", FAST)
    assert first is not None
    assert try_lock(engine, "cycle", FAST) is None  # even from the same process
    other = try_lock(engine, "campaign", FAST)  # another name is another lock
    assert other is not None
    other.release()
    first.release()
    again = try_lock(engine, "cycle", FAST)
    assert again is not None
    again.release()


def test_a_lock_dies_with_its_holder_killed(db_url):
    engine = open_upgraded(db_url)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, db_url], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "HELD"
        assert try_lock(engine, "cycle", FAST) is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10  # the server notices the closed socket at once; allow for a slow machine
    while (lock := try_lock(engine, "cycle", FAST)) is None:
        assert time.monotonic() < deadline, "the lock of a killed holder was not released"
        time.sleep(0.1)
    lock.release()


def test_a_holder_whose_lock_connection_was_dropped_writes_nothing(pg_url):
    engine = open_upgraded(pg_url)
    stale = try_lock(engine, "cycle", FAST)
    stale.begin_fencing()
    with transaction(engine, stale.check) as conn:  # while held, a fenced transaction writes
        conn.execute(insert(hab_imports).values(imported_at=text("now()"), source="a", sha256="0", counts="{}"))
    drop_session(engine, stale._pid)  # what idle_session_timeout does to a frozen holder
    with pytest.raises(LockLost), transaction(engine, stale.check) as conn:
        conn.execute(insert(hab_imports).values(imported_at=text("now()"), source="b", sha256="0", counts="{}"))
    new = try_lock(engine, "cycle", FAST)
    assert new is not None
    new.begin_fencing()
    with pytest.raises(LockLost), transaction(engine, stale.check):
        pass
    stale._lost.clear()  # even a holder unaware of its loss is stopped by the new holder's token
    with pytest.raises(LockLost, match="repris par un autre processus"), transaction(engine, stale.check):
        pass
    with transaction(engine, new.check):
        pass
    with engine.connect() as conn:
        assert sorted(conn.execute(select(hab_imports.c.source)).scalars()) == ["a"]
    new.release()
    stale.release()


def test_a_new_holder_waits_for_the_stale_holders_open_transaction(pg_url):
    """The bump waits on the token row a stale holder's open transaction read FOR SHARE: that transaction
    commits first (the new holder starts after it) — it can never pass its check while the new holder writes."""
    engine = open_upgraded(pg_url)
    stale = try_lock(engine, "cycle", FAST)
    stale.begin_fencing()
    stale_tx = engine.connect()
    tx = stale_tx.begin()
    stale.check(stale_tx)  # the stale holder is inside a fenced transaction
    stale.release()  # its lock goes (as if its lock connection were dropped)
    new = try_lock(engine, "cycle", FAST)
    bumped = threading.Event()
    worker = threading.Thread(target=lambda: (new.begin_fencing(), bumped.set()))
    worker.start()
    assert not bumped.wait(1.0)  # blocked by the open fenced transaction
    stale_tx.execute(insert(hab_imports).values(imported_at=text("now()"), source="avant", sha256="0", counts="{}"))
    tx.commit()
    stale_tx.close()
    worker.join(10)
    assert bumped.is_set()
    with pytest.raises(LockLost), transaction(engine, stale.check):
        pass
    new.release()


def test_a_frozen_transaction_is_ended_by_the_server(pg_url):
    """A holder frozen inside a fenced transaction cannot block the next holder forever."""
    engine = open_upgraded(pg_url)
    stale = try_lock(engine, "cycle", LockTimings(0.5, 3, 1))
    stale.begin_fencing()
    frozen = engine.connect()
    frozen.begin()
    stale.check(frozen)
    stale.release()
    new = try_lock(engine, "cycle", FAST)
    new.begin_fencing()  # waits until PostgreSQL ends the idle transaction (1 s)
    new.release()
    with pytest.raises(DBAPIError):  # PostgreSQL ended the idle session
        frozen.execute(text("SELECT 1"))
    frozen.close()


def test_a_lost_lock_ends_the_job_without_writing_and_the_next_run_closes_it(pg_url, tmp_path):
    config = make_config(tmp_path, pg_url)
    engine = open_upgraded(pg_url)

    def work(ctx) -> None:  # noqa: ANN001
        drop_session(engine, ctx.lock._pid)
        with transaction(engine, ctx.fence) as conn:
            conn.execute(insert(hab_imports).values(imported_at=text("now()"), source="x", sha256="0", counts="{}"))

    outcome = run_locked(config, engine, "campaign", work)
    assert outcome.status == "ECHEC" and "perdu" in outcome.error
    assert [r["status"] for r in run_rows(engine, "campaign")] == ["EN_COURS"]  # not even its end was written
    with engine.connect() as conn:
        assert conn.execute(select(hab_imports)).all() == []
    again = run_locked(config, engine, "campaign", lambda ctx: None)
    rows = run_rows(engine, "campaign")
    assert again.status == "OK" and [r["status"] for r in rows] == ["ECHEC", "OK"]
    assert rows[0]["error"].startswith("exécution interrompue")


def test_campaign_close_by_hand_is_a_recorded_run_and_refused_while_held(tmp_path, db_url):
    seed_examples(tmp_path, db_url)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    engine = open_upgraded(db_url)
    code, out, err = cli(tmp_path, "campaign", "close", "--year", "2025")
    assert code == 0, err
    assert "Fichiers de campagne 2025 écrits" in out
    (row,) = run_rows(engine, "campaign")
    assert row["status"] == "OK" and row["host"] and row["pid"]
    with holding(engine, "campaign") as held:
        assert held is not None
        code, out, err = cli(tmp_path, "campaign", "close", "--year", "2025")
    assert code == 1 and out == ""
    assert "non effectuée" in err and "un autre processus écrit déjà les fichiers de campagne" in err
    assert [r["status"] for r in run_rows(engine, "campaign")] == ["OK", "IGNORE"]


def test_two_habilitations_imports_at_once_are_serialised(tmp_path, db_url):
    seed_examples(tmp_path, db_url)
    engine = open_upgraded(db_url)
    results: list[tuple[int, str, str]] = []
    with holding(engine, "habilitations") as held:  # a first import is running
        assert held is not None
        second = threading.Thread(
            target=lambda: results.append(cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps")))
        )
        second.start()
        time.sleep(1.5)
        assert not results  # it waits
        with engine.connect() as conn:
            assert conn.execute(select(hab_imports)).all() == []
    second.join(30)
    ((code, out, err),) = results
    assert code == 0, out + err
    assert "attente de sa fin" in err and "Extrait Habpps importé" in out
    with engine.connect() as conn:
        assert len(conn.execute(select(hab_imports)).all()) == 1
    assert run_rows(engine, "habilitations") == []  # an import is not a run of the exchange


def test_lock_timings_are_checked(tmp_path):
    from exchange.config import parse_config

    with pytest.raises(ConfigError, match="locks.timeout_seconds"):
        parse_config({"locks": {"heartbeat_seconds": 10, "timeout_seconds": 15}}, tmp_path)
    with pytest.raises(ConfigError, match="locks.heartbeat_seconds"):
        parse_config({"locks": {"heartbeat_seconds": 0}}, tmp_path)
