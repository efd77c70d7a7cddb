"""`status` over SFTP lists every depot/ pipelined (SftpTransport.depot_snapshot): what list_depot finds."""

from __future__ import annotations

import os
import time

from exchange.app.depot_watch import one_by_one
from exchange.app.status import depot_listing
from exchange.edges.transport.sftp import SftpTransport
from exchange.edges.transport.sftp_listing import listdir_many, lstat_many
from tests.conftest import make_config


def _transport(server, tmp_path) -> SftpTransport:  # noqa: ANN001
    cfg = make_config(tmp_path, source=server.config_section())
    return SftpTransport.from_config(cfg, environ={}, sleep=time.sleep)


def test_the_pipelined_listing_finds_what_list_depot_finds(sftp_server, tmp_path):
    root = sftp_server.root
    for i in range(150):  # more accounts than requests in flight
        for folder in ("depot", "retour", "archive"):
            (root / f"esat-{i:03d}" / folder).mkdir(parents=True)
    for i in range(0, 150, 7):
        (root / f"esat-{i:03d}" / "depot" / f"ESAT_{i}.csv").write_bytes(b"x" * i)
    crowded = root / "esat-001" / "depot"
    for n in range(250):  # more than one READDIR reply
        (crowded / f"f{n:03d}.csv").write_bytes(b"y")
    (crowded / "lien.csv").symlink_to(crowded / "f000.csv")
    (crowded / "dossier").mkdir()
    (root / "esat-002" / "depot" / os.fsdecode(b"caf\xe9.csv")).write_bytes(b"latin-1 name")
    (root / "depot-lien").mkdir()
    (root / "depot-lien" / "depot").symlink_to(crowded)
    (root / "sans-depot").mkdir()
    (root / "un-fichier").write_text("x")
    (root / "compte-lien").symlink_to(root / "esat-003")
    with _transport(sftp_server, tmp_path) as t:
        fast = t.depot_snapshot()
        slow = one_by_one(t)

        def by_name(listed):  # noqa: ANN001, ANN202 - status sorts the entries itself
            return {a: None if e is None else sorted(e, key=lambda x: x.name) for a, e in listed.items()}

        assert by_name(fast) == by_name(slow)
        assert t.connections == 1
    assert fast["esat-002"] is None  # a name that is not UTF-8: that account alone counts nothing
    assert len(fast["esat-001"]) == 252 and "depot-lien" not in fast and "compte-lien" not in fast
    assert sorted(fast) == sorted(f"esat-{i:03d}" for i in range(150))
    assert depot_listing(_transport(sftp_server, tmp_path))[0]["esat-007"] == 1


def test_lstat_and_listing_report_missing_and_refused_paths(sftp_server, tmp_path):
    root = sftp_server.root
    (root / "a" / "depot").mkdir(parents=True)
    (root / "a" / "depot" / "x.csv").write_bytes(b"1")
    with _transport(sftp_server, tmp_path) as t:
        sftp = t._sftp
        found = lstat_many(sftp, [f"{root}/a/depot", f"{root}/absent"])
        assert found[f"{root}/absent"] is None and found[f"{root}/a/depot"].st_mode is not None
        listed = listdir_many(sftp, [f"{root}/a/depot", f"{root}/absent", f"{root}/a/depot/x.csv"])
        assert [a.filename for a in listed[f"{root}/a/depot"]] == ["x.csv"]
        assert isinstance(listed[f"{root}/absent"], OSError)
        assert isinstance(listed[f"{root}/a/depot/x.csv"], OSError)  # not a folder
        assert t.list_depot("a", time.time() + 60, 0).ready[0].name == "x.csv"  # the session is still fine
