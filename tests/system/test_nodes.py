"""`status` shows the scheduler nodes: who leads since when, each standby's last heartbeat."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from exchange.store import nodes
from exchange.store.engine import open_upgraded
from exchange.store.fences import holding
from exchange.store.ledger import transaction
from tests.areas import cli, seed_examples


def test_status_shows_the_leader_and_the_standbys(tmp_path, db_url):
    seed_examples(tmp_path, db_url)
    engine = open_upgraded(db_url)
    code, out, _ = cli(tmp_path, "status")
    assert "Planificateur : aucun nœud enregistré" in out
    since = datetime(2026, 12, 2, 1, 3, 12, tzinfo=UTC)
    with holding(engine, "scheduler") as leader:
        with transaction(engine, leader.check) as conn:
            nodes.beat(conn, "noeud-b", 4121, nodes.LEADER, since, since)
        with engine.begin() as conn:
            nodes.beat(conn, "noeud-a", 977, nodes.STANDBY, since - timedelta(days=1), since - timedelta(days=1))
        with transaction(engine, leader.check) as conn:
            nodes.took_the_lead(conn, "noeud-b", 4121)
    code, out, _ = cli(tmp_path, "status")
    lines = out.splitlines()
    at = lines.index("Planificateur (heure de Paris) :")
    assert lines[at + 1].startswith(
        "  meneur     noeud-b (pid 4121) depuis le 02/12/2026 02:03:12, dernier signe de vie "
    )
    assert lines[at + 2].startswith("  en attente noeud-a (pid 977), dernier signe de vie ")
    code, out, _ = cli(tmp_path, "status", "--format", "json")
    shown = json.loads(out)["planificateur"]
    assert [(n["machine"], n["pid"], n["role"]) for n in shown] == [
        ("noeud-b", 4121, "MENEUR"),
        ("noeud-a", 977, "ATTENTE"),
    ]
    with engine.begin() as conn:
        nodes.leave(conn, "noeud-a", 977)
    code, out, _ = cli(tmp_path, "status", "--format", "json")
    assert [n["machine"] for n in json.loads(out)["planificateur"]] == ["noeud-b"]


def test_a_deposed_leader_cannot_beat_as_leader(tmp_path, pg_url):
    import pytest

    from exchange.store.fences import LockLost, try_lock

    engine = open_upgraded(pg_url)
    old = try_lock(engine, "scheduler")
    old.begin_fencing()
    now = datetime.now(UTC)
    with transaction(engine, old.check) as conn:
        nodes.beat(conn, "noeud-a", 1, nodes.LEADER, now, now)
    old._lost.clear()
    old.release()  # (as if its session had been dropped)
    new = try_lock(engine, "scheduler")
    new.begin_fencing()
    with pytest.raises(LockLost), transaction(engine, old.check) as conn:
        nodes.beat(conn, "noeud-a", 1, nodes.LEADER, now, now)
    new.release()
