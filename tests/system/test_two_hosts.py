"""Two nodes on one PostgreSQL, as two real hosts (network + UTS namespaces, a private cluster): a killed,
frozen or PID-1 holder is taken over, both started at once never run two cycles, a database restart loses
nothing — asserted from the ledger, the runs and the Caf outputs."""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import create_engine, select

from exchange.store.ledger import as_utc
from exchange.store.tables import emissions, files, nodes, records, runs
from fixtures.bench_failover import node_config
from tests.areas import tree
from tests.conftest import EXAMPLES
from tests.twohosts import DB_NAME, TwoHosts, finish, make_two_hosts, namespace_init, output, start, stop

HEARTBEAT, TIMEOUT, IDLE_TX = 1, 6, 5  # [locks] for the tests (production: 5, 30, 60)
KILL_FAILOVER_MAX, STOP_FAILOVER_MAX = 30, 90


@pytest.fixture(scope="module")
def two_hosts():
    hosts = make_two_hosts()
    yield hosts
    hosts.teardown()


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """A small synthetic campaign (20 files), generated once and copied per test."""
    from fixtures.generate import generate

    out = tmp_path_factory.mktemp("campagne")
    manifest = generate(out / "gen", esats=16, workers=320, ca_files=4)
    return out / "gen" / "drop", {(f["login"], f["file"]) for f in manifest["file_list"]}


class Area:
    """One test's database, drop area and configuration file (the same file for both nodes)."""

    def __init__(self, two: TwoHosts, base: Path, drop_from: Path | None = None, habpps: Path | None = None) -> None:
        self.two, self.base = two, base
        self.database = two.cluster.new_database()
        drop = base / "drop"
        if drop_from is not None:
            shutil.copytree(drop_from, drop)
        drop.mkdir(exist_ok=True)
        self.config = base / "esat-exchange.toml"
        port = two.cluster.port
        self.config.write_text(
            node_config(f"postgresql+psycopg://postgres@{DB_NAME}:{port}/{self.database}", HEARTBEAT, TIMEOUT, IDLE_TX),
            encoding="utf-8",
        )
        self.engine = create_engine(two.cluster.url(two.hosts[0].db_address, self.database), pool_pre_ping=True)
        if habpps is not None:  # imported from this machine, through the host-side address
            (base / "local.toml").write_text(self.config.read_text().replace(DB_NAME, two.hosts[0].db_address))
            for command in (("db", "upgrade"), ("habilitations", "import", str(habpps))):
                code, out, err = cli_with(base / "local.toml", *command)
                assert code == 0, out + err

    def rows(self, table, *where) -> list[dict]:  # noqa: ANN001
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(table).where(*where).order_by(*table.primary_key)).mappings()]

    def roles(self) -> dict[str, str]:
        try:
            return {f"{r['host']}:{r['pid']}": r["role"] for r in self.rows(nodes)}
        except Exception:  # noqa: BLE001 - the tables do not exist yet
            return {}

    def leaders(self) -> set[str]:
        return {key.split(":")[0] for key, role in self.roles().items() if role == "MENEUR"}

    def acknowledged(self) -> int:
        return len(self.rows(files, files.c.state == "ACQUITTE"))


def cli_with(config: Path, *args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from exchange.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(config), *args])
    return code, out.getvalue(), err.getvalue()


def wait_for(predicate, timeout: float, what: str, procs=()) -> float:  # noqa: ANN001
    """Poll; the seconds it took. Fails at the deadline, or when a watched process died."""
    t0 = time.monotonic()
    while not predicate():
        for p in procs:
            assert p.poll() is None, f"{what}: a node exited ({p.returncode}): {output(p)[1][-3000:]}"
        assert time.monotonic() - t0 < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - t0


def assert_cycles_never_overlap(area: Area) -> list[dict]:
    cycles = [
        r for r in area.rows(runs) if r["job"] in ("run", "collect", "nightly", "replay") and r["status"] != "IGNORE"
    ]
    assert all(r["ended_at"] is not None for r in cycles), [r for r in cycles if r["ended_at"] is None]
    ordered = sorted(cycles, key=lambda r: as_utc(r["started_at"]))
    for earlier, later in zip(ordered, ordered[1:]):
        assert as_utc(earlier["ended_at"]) <= as_utc(later["started_at"]), (earlier, later)
    return ordered


def assert_each_file_once_and_each_record_emitted_once(area: Area, names: set) -> None:
    ledger = area.rows(files)
    assert sorted((r["account"], r["name"]) for r in ledger) == sorted(names)  # each file once, none lost
    assert {r["state"] for r in ledger} == {"ACQUITTE"}
    assert not list((area.base / "drop").glob("*/depot/*"))
    emitted: Counter = Counter()
    for parquet in (area.base / "outbound").rglob("AAH-ESAT_*.parquet"):
        if "CAMPAGNE" in parquet.name:
            continue
        frame = pl.read_parquet(parquet)
        emitted.update(zip(frame["id_fichier_source"].cast(pl.Int64).to_list(), frame["ligne_source"].to_list()))
    assert emitted and max(emitted.values()) == 1, [k for k, n in emitted.items() if n > 1][:5]  # never twice
    stored = {(r["file_id"], r["ligne"]) for r in area.rows(records)}
    assert set(emitted) == stored  # every accepted record emitted
    assert {r["state"] for r in area.rows(emissions)} == {"TERMINE"}


def finished_nightly_after_everything(area: Area, host: str, names: set) -> bool:
    if area.acknowledged() < len(names):
        return False
    last_change = max(as_utc(r["state_changed_at"]) for r in area.rows(files))
    return any(
        r["host"] == host and r["status"] == "OK" and as_utc(r["started_at"]) > last_change
        for r in area.rows(runs, runs.c.job == "nightly")
    )


def leader_mid_run(area: Area, two: TwoHosts, campaign, tmp_path: Path):  # noqa: ANN001, ANN201
    """noeud-a leads, noeud-b stands by, and noeud-a's nightly is half-way through the drop: (a, b, that run)."""
    drop, names = campaign
    a = start(two.hosts[0], area.config, "scheduler", slow_file=0.4)
    wait_for(lambda: area.leaders() == {"noeud-a"}, 60, "noeud-a leads", (a,))
    b = start(two.hosts[1], area.config, "scheduler", slow_file=0.4)
    wait_for(lambda: len(area.roles()) == 2, 60, "noeud-b stands by", (a, b))
    wait_for(lambda: area.acknowledged() >= 3, 60, "noeud-a half-way", (a, b))
    (running,) = area.rows(runs, runs.c.job == "nightly", runs.c.status == "EN_COURS")
    assert running["host"] == "noeud-a" and area.leaders() == {"noeud-a"}, (area.rows(runs), area.roles())
    assert area.acknowledged() < len(names)
    return a, b, running["id"]


def assert_interrupted(area: Area, run_id: int, log: str) -> None:
    (row,) = area.rows(runs, runs.c.id == run_id)
    assert row["status"] == "ECHEC" and row["error"].startswith("exécution interrompue"), (
        row,
        area.rows(runs),
        log[-3000:],
    )


def test_kill_9_of_the_leader(two_hosts, campaign, tmp_path):
    drop, names = campaign
    area = Area(two_hosts, tmp_path, drop, drop.parent / "habpps")
    a, b, struck = leader_mid_run(area, two_hosts, campaign, tmp_path)
    try:
        a.send_signal(signal.SIGKILL)
        a.wait()
        failover = wait_for(lambda: area.leaders() == {"noeud-b"}, KILL_FAILOVER_MAX, "noeud-b leads", (b,))
        wait_for(lambda: finished_nightly_after_everything(area, "noeud-b", names), 120, "noeud-b resumes", (b,))
    finally:
        code, err = stop(b)
        stop(a)
    assert code == 0 and "Traceback" not in err, err[-3000:]
    print(f"failover after kill -9: {failover:.1f} s")
    assert_interrupted(area, struck, output(a)[1])
    assert_cycles_never_overlap(area)
    assert_each_file_once_and_each_record_emitted_once(area, names)


def test_sigstop_of_the_leader_then_sigcont_writes_nothing(two_hosts, campaign, tmp_path):
    drop, names = campaign
    area = Area(two_hosts, tmp_path, drop, drop.parent / "habpps")
    a, b, struck = leader_mid_run(area, two_hosts, campaign, tmp_path)
    try:
        a.send_signal(signal.SIGSTOP)
        failover = wait_for(lambda: area.leaders() == {"noeud-b"}, STOP_FAILOVER_MAX, "noeud-b leads", (b,))
        wait_for(lambda: finished_nightly_after_everything(area, "noeud-b", names), 120, "noeud-b resumes", (b,))
        before = (
            area.rows(files),
            area.rows(emissions),
            area.rows(runs, runs.c.host == "noeud-a"),
            area.rows(records),
            tree(tmp_path / "drop"),
            tree(tmp_path / "outbound"),
        )
        a.send_signal(signal.SIGCONT)
        wait_for(
            lambda: any(k.startswith("noeud-a") and v == "ATTENTE" for k, v in area.roles().items()),
            30,
            "noeud-a back as a standby",
            (a, b),
        )
        time.sleep(3 * HEARTBEAT)
        after = (
            area.rows(files),
            area.rows(emissions),
            area.rows(runs, runs.c.host == "noeud-a"),
            area.rows(records),
            tree(tmp_path / "drop"),
            tree(tmp_path / "outbound"),
        )
        assert area.leaders() == {"noeud-b"}
    finally:
        code_b, err_b = stop(b)
        code_a, err_a = stop(a)
    print(f"failover after SIGSTOP: {failover:.1f} s")
    assert after == before  # the woken old leader wrote nothing: ledger, runs, drop area, Caf outputs
    assert code_a == 0 and code_b == 0, (err_a[-3000:], err_b[-3000:])
    messages = [json.loads(line)["message"] for line in err_a.splitlines() if line.startswith("{")]
    assert any("perdu" in m or "ne mène plus" in m for m in messages), messages[-20:]
    assert_interrupted(area, struck, err_a)
    assert_cycles_never_overlap(area)
    assert_each_file_once_and_each_record_emitted_once(area, names)


def test_both_started_at_the_same_instant_on_a_fresh_database_20_times(two_hosts, tmp_path):
    for attempt in range(20):
        base = tmp_path / f"essai{attempt}"
        base.mkdir()
        area = Area(two_hosts, base, EXAMPLES / "drop")  # a fresh database: both create the schema at once
        procs = [start(host, area.config, "scheduler") for host in two_hosts.hosts]
        try:
            wait_for(
                lambda area=area: (
                    len(area.roles()) == 2
                    and area.acknowledged() == 4
                    and any(r["status"] == "OK" for r in area.rows(runs, runs.c.job == "nightly"))
                ),
                60,
                f"attempt {attempt}",
                tuple(procs),
            )
            assert len(area.leaders()) == 1
        finally:
            stopping = datetime.now(UTC)  # from here the leader hands over: the other may lead a moment
            for p in procs:
                p.send_signal(signal.SIGTERM)
            results = [finish(p, 60)[::2] for p in procs]
        for code, err in results:
            assert code == 0 and "Traceback" not in err and "UniqueViolation" not in err, (attempt, err[-3000:])
        cycles = assert_cycles_never_overlap(area)
        assert {r["status"] for r in cycles} == {"OK"}  # nothing interrupted, nothing skipped
        assert len({r["host"] for r in cycles if as_utc(r["started_at"]) < stopping}) == 1  # only the leader ran jobs
        assert sorted(r["name"] for r in area.rows(files)) == sorted(
            p.name for p in (EXAMPLES / "drop").glob("*/depot/*")
        )
        area.engine.dispose()


def test_a_holder_killed_as_pid_1_of_its_namespace_is_taken_over_on_the_same_machine(two_hosts, campaign, tmp_path):
    drop, names = campaign
    area = Area(two_hosts, tmp_path, drop, drop.parent / "habpps")
    host = two_hosts.hosts[0]
    first = start(host, area.config, "run", slow_file=0.4, pid_namespace=True)
    init = namespace_init(first)
    try:
        wait_for(lambda: area.acknowledged() >= 3, 60, "the first run half-way", (first,))
        (holder,) = area.rows(runs, runs.c.job == "run")
        assert (holder["host"], holder["pid"], holder["status"]) == ("noeud-a", 1, "EN_COURS")  # PID 1 indeed
        import os

        os.kill(init, signal.SIGKILL)
        first.wait(30)
    finally:
        stop(first)
    second = start(host, area.config, "run", pid_namespace=True)  # PID 1 again, same host name
    code, out, err = finish(second)
    assert code == 0, out + err[-3000:]
    assert "terminée" in out
    first_run, second_run = area.rows(runs, runs.c.job == "run")
    assert first_run["status"] == "ECHEC" and first_run["error"].startswith("exécution interrompue")
    assert (second_run["status"], second_run["host"], second_run["pid"]) == ("OK", "noeud-a", 1)
    assert_each_file_once_and_each_record_emitted_once(area, names)


def test_postgresql_restarted_mid_run(two_hosts, campaign, tmp_path):
    drop, names = campaign
    area = Area(two_hosts, tmp_path, drop, drop.parent / "habpps")
    run = start(two_hosts.hosts[0], area.config, "run", slow_file=0.4)
    try:
        wait_for(lambda: area.acknowledged() >= 3, 60, "the run half-way", (run,))
        two_hosts.cluster.restart()
        code, out, err = finish(run)
    finally:
        stop(run)
    assert code == 1, out + err[-3000:]  # failed, cleanly: a French summary, no traceback
    assert "Traceback" not in err and "en échec" in out, out + err[-3000:]
    area.engine.dispose()
    assert area.acknowledged() < len(names)
    again = start(two_hosts.hosts[1], area.config, "run")
    code, out, err = finish(again)
    assert code == 0 and "terminée" in out, out + err[-3000:]
    statuses = [r["status"] for r in area.rows(runs, runs.c.job == "run")]
    assert statuses == ["ECHEC", "OK"], statuses
    assert_cycles_never_overlap(area)
    assert_each_file_once_and_each_record_emitted_once(area, names)
