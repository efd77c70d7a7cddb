"""fetch_many / fetch over a real OpenSSH sshd: many files in flight, each file's failure its own, broken links."""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from pathlib import Path

from paramiko.sftp import CMD_READ

from exchange.edges.transport.base import Entry, FileTooLarge, TransportError
from exchange.edges.transport.batch_sync import BatchSync
from exchange.edges.transport.sftp import SftpTransport
from exchange.edges.transport.sftp_pipeline import (
    FILES_IN_FLIGHT,
    OPENSSH_MAX_READ,
    LocalCopyFailed,
    Pipeline,
)
from tests.conftest import make_config

FAR = time.time() + 3600  # every file is settled


def transport(server, tmp_path: Path, sleeps: list[float] | None = None, **overrides) -> SftpTransport:
    cfg = make_config(tmp_path, source=server.config_section(**overrides))
    return SftpTransport.from_config(cfg, environ={}, sleep=time.sleep if sleeps is None else sleeps.append)


def put(root: Path, account: str, name: str, data: bytes, folder: str = "depot") -> Path:
    d = root / account / folder
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)
    return d / name


def listed(t: SftpTransport, account: str) -> dict[str, Entry]:
    return {e.name: e for e in t.list_depot(account, FAR, 0).ready}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_many_small_files_and_a_few_large_ones_are_byte_exact(sftp_server, tmp_path, monkeypatch):
    sizes = [
        0,
        1,
        17,
        OPENSSH_MAX_READ - 1,
        OPENSSH_MAX_READ,
        OPENSSH_MAX_READ + 1,
        3 * OPENSSH_MAX_READ,
        5 * 1024 * 1024 + 3,
        21 * 1024 * 1024,
    ]  # edges of one READ, of the probe byte, and beyond the window
    contents = {f"ESAT_{i:04d}.csv": os.urandom(200 + (i * 7919) % 40_000) for i in range(400)}
    contents.update({f"GROS_{n}.csv": os.urandom(n) for n in sizes})
    for name, data in contents.items():
        put(sftp_server.root, "alice", name, data)
    put(sftp_server.root, "bob", "claimed.csv", b"dans archive/", folder="archive")
    peak = {"reads": 0, "longest": 0}
    original = Pipeline._read

    def read(self, job, offset, length):
        original(self, job, offset, length)
        peak["reads"] = max(peak["reads"], sum(1 for _j, cmd, _o, _l in self.requests.values() if cmd == CMD_READ))
        peak["longest"] = max(peak["longest"], length)

    monkeypatch.setattr(Pipeline, "_read", read)
    out = tmp_path / "out"
    out.mkdir()
    with transport(sftp_server, tmp_path) as t:
        entries = listed(t, "alice")
        archived = Entry("bob", "claimed.csv", 13, 0.0, True, folder="archive")
        jobs = [(entries[n], out / n) for n in contents] + [(archived, out / "claimed")]
        results = t.fetch_many(jobs, max_bytes=64 * 1024 * 1024)
        assert t.connections == 1
        assert t._limits.advertised and t._limits.max_read == OPENSSH_MAX_READ  # limits@openssh.com was read
        assert t._client.get_transport().remote_cipher == "aes128-gcm@openssh.com"  # no HMAC checked in Python
    assert results == [None] * len(jobs)
    assert {n: sha((out / n).read_bytes()) for n in contents} == {n: sha(d) for n, d in contents.items()}
    assert (out / "claimed").read_bytes() == b"dans archive/"
    assert peak["longest"] == OPENSSH_MAX_READ and peak["reads"] >= 32  # big READs, many in flight


def test_each_failure_is_its_own_files_result(sftp_server, tmp_path, monkeypatch):
    root = sftp_server.root
    good = {f"ok{i}.csv": os.urandom(3000 + i) for i in range(20)}
    for name, data in good.items():
        put(root, "alice", name, data)
    put(root, "alice", "lien.csv", b"x" * 40)
    put(root, "alice", "bascule.csv", b"y" * 40)
    put(root, "alice", "disparu.csv", b"z" * 40)
    put(root, "alice", "trop-gros.csv", b"g" * 1_200_000)
    put(root, "alice", "grossit.csv", b"a" * 100)
    put(root, "alice", "maigrit.csv", os.urandom(600_000))
    put(root, "alice", "change.csv", b"c" * 50)
    secret = put(root, "mallory", "secret.csv", b"SECRET" * 11)  # 66 bytes, not 40
    with transport(sftp_server, tmp_path) as t:
        entries = listed(t, "alice")
        depot = root / "alice" / "depot"
        # after the listing: a link swapped in, a file removed, a file rewritten with another size
        (depot / "lien.csv").unlink()
        (depot / "lien.csv").symlink_to(secret)
        (depot / "disparu.csv").unlink()
        (depot / "change.csv").write_bytes(b"c" * 51)
        on_lstat, on_fstat = Pipeline._on_lstat, Pipeline._on_fstat

        def lstat_then_swap(self, job, attrs):  # swapped between the server's LSTAT and its OPEN
            if job.d.src.endswith("bascule.csv"):
                (depot / "bascule.csv").unlink()
                (depot / "bascule.csv").symlink_to(secret)
            on_lstat(self, job, attrs)

        def fstat_then_change(self, job, attrs):  # changed between the server's FSTAT and its READs
            if job.d.src.endswith("grossit.csv"):
                with open(depot / "grossit.csv", "ab") as f:
                    f.write(b"encore")
            if job.d.src.endswith("maigrit.csv"):
                os.truncate(depot / "maigrit.csv", 300_000)
            on_fstat(self, job, attrs)

        monkeypatch.setattr(Pipeline, "_on_lstat", lstat_then_swap)
        monkeypatch.setattr(Pipeline, "_on_fstat", fstat_then_change)
        names = list(good) + [
            "lien.csv",
            "bascule.csv",
            "disparu.csv",
            "trop-gros.csv",
            "grossit.csv",
            "maigrit.csv",
            "change.csv",
        ]
        jobs = [(entries[n], tmp_path / f"copie-{n}") for n in names]
        jobs.append((Entry("alice", "../mallory/depot/secret.csv", 66, 0.0, True), tmp_path / "copie-forgee"))
        results = dict(zip(names + ["forgé"], t.fetch_many(jobs, max_bytes=1_000_000)))
        assert t.connections == 1
    for name, data in good.items():
        assert results[name] is None and (tmp_path / f"copie-{name}").read_bytes() == data
    for name in ("lien.csv", "bascule.csv", "disparu.csv", "grossit.csv", "maigrit.csv", "change.csv", "forgé"):
        assert isinstance(results[name], TransportError) and not results[name].transient, name
    assert "n'est pas un fichier ordinaire" in str(results["lien.csv"])
    assert "a changé depuis sa liste (40 octets listés, 66 à l'ouverture)" in str(results["bascule.csv"])
    assert "refusé par le serveur SFTP" in str(results["disparu.csv"]) and "fichier ou dossier introuvable" in str(
        results["disparu.csv"]
    )
    assert isinstance(results["trop-gros.csv"], FileTooLarge) and results["trop-gros.csv"].size == 1_200_000
    assert not (tmp_path / "copie-trop-gros.csv").exists()  # refused before any READ: nothing written
    assert "a changé pendant la lecture" in str(results["grossit.csv"])
    assert "300000 octets reçus sur 600000 annoncés" in str(results["maigrit.csv"])
    assert "a changé depuis sa liste (50 octets listés, 51 à l'ouverture)" in str(results["change.csv"])
    assert "nom de fichier refusé" in str(results["forgé"])
    for path in tmp_path.glob("copie-*"):
        assert b"SECRET" not in path.read_bytes()


def _kill_after(monkeypatch, sshd, after_bytes: int) -> dict:
    """Kill the sshd sessions once `after_bytes` have arrived; remember which files were done then."""
    state: dict = {"read": 0, "kills": 0, "done_before": set(), "opened": Counter()}
    on_data, on_fstat = Pipeline._on_data, Pipeline._on_fstat

    def data(self, job, offset, length, payload):
        on_data(self, job, offset, length, payload)
        state["read"] += len(payload)
        if state["read"] >= after_bytes and state["kills"] == 0:
            state["done_before"] = {i for i, e in self.results.items() if e is None}
            state["kills"] = sshd.kill_sessions()

    def fstat(self, job, attrs):
        state["opened"][job.d.index] += 1
        on_fstat(self, job, attrs)

    monkeypatch.setattr(Pipeline, "_on_data", data)
    monkeypatch.setattr(Pipeline, "_on_fstat", fstat)
    return state


def test_a_connection_killed_mid_batch_reconnects_and_retries_only_the_unfinished(sftp_server, tmp_path, monkeypatch):
    contents = {f"f{i:03d}.csv": os.urandom(40_000 + i) for i in range(300)}
    contents["gros.csv"] = os.urandom(6 * 1024 * 1024)
    for name, data in contents.items():
        put(sftp_server.root, "alice", name, data)
    sleeps: list[float] = []
    out = tmp_path / "out"
    out.mkdir()
    with transport(sftp_server, tmp_path, sleeps, retries=2) as t:
        entries = listed(t, "alice")
        state = _kill_after(monkeypatch, sftp_server.sshd, 3 * 1024 * 1024)
        names = sorted(contents)
        results = t.fetch_many([(entries[n], out / n) for n in names])
        assert t.connections == 2 and sleeps == [0.5]
        t.write_retour("alice", "suite.CR.csv", b"ok")  # the new connection serves the rest of the run
    assert state["kills"] >= 1 and results == [None] * len(names)
    assert {n: sha((out / n).read_bytes()) for n in names} == {n: sha(d) for n, d in contents.items()}
    assert sorted(p.name for p in out.iterdir()) == names  # no stray copy
    # what was done before the cut is not fetched again; only what was in flight is, once more
    assert state["done_before"] and all(state["opened"][i] == 1 for i in state["done_before"])
    again = [i for i, n in state["opened"].items() if n > 1]
    assert set(state["opened"].values()) <= {1, 2} and 0 < len(again) <= FILES_IN_FLIGHT
    assert (sftp_server.root / "alice" / "retour" / "suite.CR.csv").read_bytes() == b"ok"


def test_without_retries_left_only_the_unfinished_files_fail(sftp_server, tmp_path, monkeypatch):
    contents = {f"f{i:03d}.csv": os.urandom(40_000) for i in range(200)}
    for name, data in contents.items():
        put(sftp_server.root, "alice", name, data)
    with transport(sftp_server, tmp_path, [], retries=0) as t:
        entries = listed(t, "alice")
        state = _kill_after(monkeypatch, sftp_server.sshd, 2 * 1024 * 1024)
        names = sorted(contents)
        results = t.fetch_many([(entries[n], tmp_path / n) for n in names])
    done = [i for i, r in enumerate(results) if r is None]
    failed = [r for r in results if r is not None]
    assert state["done_before"] <= set(done) and failed  # replies already buffered at the cut may finish more
    assert all(isinstance(r, TransportError) and "connexion coupée après 1 tentative :" in str(r) for r in failed)
    for i in done:
        assert (tmp_path / names[i]).read_bytes() == contents[names[i]]


def test_a_stalled_server_mid_batch_times_out_and_the_batch_finishes(sftp_server, tmp_path, monkeypatch):
    import signal

    contents = {f"f{i:03d}.csv": os.urandom(30_000) for i in range(120)}
    for name, data in contents.items():
        put(sftp_server.root, "alice", name, data)
    sleeps: list[float] = []
    state = {"stopped": []}
    on_data = Pipeline._on_data

    def stall(self, job, offset, length, payload):
        on_data(self, job, offset, length, payload)
        if len(self.results) == 10 and not state["stopped"]:
            state["stopped"] = sftp_server.sshd.session_pids()
            for pid in state["stopped"]:
                os.kill(pid, signal.SIGSTOP)  # the server stops answering, the TCP link stays open

    with transport(sftp_server, tmp_path, sleeps, timeout_seconds=1, retries=1) as t:
        entries = listed(t, "alice")
        monkeypatch.setattr(Pipeline, "_on_data", stall)
        names = sorted(contents)
        try:
            results = t.fetch_many([(entries[n], tmp_path / n) for n in names])
        finally:
            for pid in state["stopped"]:
                os.kill(pid, signal.SIGKILL)
        assert t.connections == 2 and sleeps == [0.5]
    assert state["stopped"] and results == [None] * len(names)
    assert all((tmp_path / n).read_bytes() == contents[n] for n in names)


def test_a_local_disk_error_is_that_files_result(sftp_server, tmp_path):
    put(sftp_server.root, "alice", "a.csv", b"A" * 10)
    put(sftp_server.root, "alice", "b.csv", b"B" * 10)
    with transport(sftp_server, tmp_path) as t:
        entries = listed(t, "alice")
        results = t.fetch_many([(entries["a.csv"], tmp_path / "absent" / "a"), (entries["b.csv"], tmp_path / "b")])
    assert isinstance(results[0], LocalCopyFailed) and "écriture locale impossible" in str(results[0])
    assert results[1] is None and (tmp_path / "b").read_bytes() == b"B" * 10


def test_batch_sync_covers_written_files_and_names_a_file_it_cannot_sync(tmp_path, monkeypatch):
    from exchange.edges.transport import batch_sync

    files = [tmp_path / f"f{i}" for i in range(5)]
    with BatchSync(files) as sync:
        assert sync._fds  # one descriptor for the filesystem, opened before the writes
        for p in files:
            p.write_bytes(b"x")
        assert sync.make_durable(files) == {}
    monkeypatch.setattr(batch_sync, "_syncfs", lambda: None)  # no syncfs: an fsync each, errors told per file
    missing = tmp_path / "jamais-ecrit"
    with BatchSync(files) as sync:
        errors = sync.make_durable(files + [missing])
    assert list(errors) == [missing] and isinstance(errors[missing], FileNotFoundError)
