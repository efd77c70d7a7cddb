"""SFTP-only behaviour against a real OpenSSH sshd: host keys, key auth, broken links, volume."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from exchange.edges.transport.base import HostKeyError, TransportError
from exchange.edges.transport.factory import open_transport
from exchange.edges.transport.sftp import PASSPHRASE_ENV, SftpTransport, _replace
from exchange.edges.transport.sftp_pipeline import Pipeline
from tests.conftest import make_config
from tests.edges.test_transport_contract import snapshot
from tests.sshd import keygen, known_hosts_line


def put(root: Path, account: str, name: str, data: bytes) -> Path:
    d = root / account / "depot"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)
    return d / name


def fingerprint(public_key: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(public_key)], check=True, capture_output=True, text=True)
    return out.stdout.split()[1]  # "256 SHA256:… comment (ED25519)"


def transport(server, tmp_path: Path, sleeps: list[float] | None = None, **overrides) -> SftpTransport:
    cfg = make_config(tmp_path, source=server.config_section(**overrides))
    return SftpTransport.from_config(cfg, environ={}, sleep=time.sleep if sleeps is None else sleeps.append)


@pytest.fixture
def populated(sftp_server):
    put(sftp_server.root, "alice", "a.csv", b"A")
    (sftp_server.root / "alice" / "retour").mkdir()
    return snapshot(sftp_server.root)


def test_changed_host_key_is_refused_and_nothing_is_touched(sftp_server, populated, tmp_path):
    other = keygen(tmp_path / "other_host_key")
    known = tmp_path / "known_hosts"
    known.write_text(known_hosts_line("127.0.0.1", sftp_server.port, Path(f"{other}.pub")))
    sleeps: list[float] = []
    t = transport(sftp_server, tmp_path, sleeps, known_hosts=str(known))
    with pytest.raises(HostKeyError) as err, t:
        t.write_retour("alice", "never.CR.csv", b"x")
    message = str(err.value)
    real = fingerprint(sftp_server.sshd.host_key.with_suffix(".pub"))
    assert f"Clé d'hôte SFTP modifiée pour 127.0.0.1:{sftp_server.port}" in message
    assert f"empreinte {real}" in message
    assert "Changed SFTP host key" in message and "known_hosts" in message
    assert err.value.transient is False
    assert sleeps == []  # a host key problem is never retried
    assert snapshot(sftp_server.root) == populated


def test_host_missing_from_known_hosts_is_refused(sftp_server, populated, tmp_path):
    known = tmp_path / "known_hosts"
    # the right key, but recorded for another port: this server is unknown
    known.write_text(known_hosts_line("127.0.0.1", sftp_server.port + 1, sftp_server.sshd.host_key.with_suffix(".pub")))
    with pytest.raises(HostKeyError) as err, transport(sftp_server, tmp_path, known_hosts=str(known)):
        pass
    message = str(err.value)
    assert f"Clé d'hôte SFTP inconnue pour 127.0.0.1:{sftp_server.port}" in message
    assert fingerprint(sftp_server.sshd.host_key.with_suffix(".pub")) in message
    assert "Unknown SFTP host key" in message
    assert snapshot(sftp_server.root) == populated


def test_empty_or_missing_known_hosts_is_refused(sftp_server, populated, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError, match="inconnue"), transport(sftp_server, tmp_path, known_hosts=str(empty)):
        pass
    absent = str(tmp_path / "absent")
    with (
        pytest.raises(HostKeyError, match="known_hosts introuvable"),
        transport(sftp_server, tmp_path, known_hosts=absent),
    ):
        pass
    assert snapshot(sftp_server.root) == populated


def test_known_hosts_resolved_against_the_configuration_folder(sftp_server, tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "known_hosts").write_text(sftp_server.known_hosts.read_text())
    put(sftp_server.root, "alice", "a.csv", b"A")
    cfg = make_config(tmp_path, source=sftp_server.config_section(known_hosts="keys/known_hosts"))
    with open_transport(cfg) as t:
        assert t.accounts() == ["alice"]


def test_passphrase_protected_key_uses_the_environment_variable(sftp_server, tmp_path, monkeypatch):
    key = keygen(tmp_path / "id_protected", passphrase="correct horse")
    sftp_server.sshd.authorize(Path(f"{key}.pub"))
    put(sftp_server.root, "alice", "a.csv", b"A")
    cfg = make_config(tmp_path, source=sftp_server.config_section(private_key=str(key)))

    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    with pytest.raises(TransportError, match=PASSPHRASE_ENV) as err, open_transport(cfg):
        pass
    assert not isinstance(err.value, HostKeyError) and err.value.transient is False

    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    with pytest.raises(TransportError, match="phrase secrète"), open_transport(cfg):
        pass

    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    with open_transport(cfg) as t:
        assert t.accounts() == ["alice"]


def test_a_key_the_server_does_not_accept_is_refused_without_retry(sftp_server, tmp_path):
    stranger = keygen(tmp_path / "id_stranger")
    sleeps: list[float] = []
    t = transport(sftp_server, tmp_path, sleeps, private_key=str(stranger))
    with pytest.raises(TransportError, match="authentification SFTP refusée") as err, t:
        pass
    assert err.value.transient is False
    assert sleeps == []


def test_unreachable_server_is_retried_with_backoff_then_fails(sftp_server, tmp_path):
    from tests.sshd import free_port

    sleeps: list[float] = []
    t = transport(sftp_server, tmp_path, sleeps, port=free_port(), retries=3, timeout_seconds=5)
    with pytest.raises(TransportError, match="après 4 tentative") as err, t:
        pass
    assert not isinstance(err.value, HostKeyError)
    assert sleeps == [0.5, 1.0, 2.0]


def test_missing_remote_root_is_a_clear_error(sftp_server, tmp_path):
    nope = str(sftp_server.root / "nope")
    with (
        pytest.raises(TransportError, match="dossier de dépôt SFTP introuvable"),
        transport(sftp_server, tmp_path, root=nope),
    ):
        pass


def _cut_after(monkeypatch, sshd, after_bytes: int) -> dict[str, int]:
    """Kill the sshd session processes once a fetch has received `after_bytes` (a real broken link)."""
    state = {"read": 0, "kills": 0}
    original = Pipeline._on_data

    def on_data(self, job, offset, length, data):
        original(self, job, offset, length, data)
        state["read"] += len(data)
        if state["read"] >= after_bytes and state["kills"] == 0:
            state["kills"] = sshd.kill_sessions()

    monkeypatch.setattr(Pipeline, "_on_data", on_data)
    return state


def test_connection_killed_mid_fetch_raises_when_no_retry_is_left(sftp_server, tmp_path, monkeypatch):
    payload = os.urandom(20 * 1024 * 1024)
    put(sftp_server.root, "alice", "big.csv", payload)
    t = transport(sftp_server, tmp_path, [], retries=0)
    with t:
        entry = t.list_depot("alice", time.time() + 3600, 0).ready[0]
        state = _cut_after(monkeypatch, sftp_server.sshd, 2 * 1024 * 1024)
        with pytest.raises(TransportError, match="connexion coupée"):
            t.fetch(entry, tmp_path / "big")
    assert state["kills"] >= 1
    # whatever reached the disk, the caller was told the copy failed; the remote file is intact
    assert (sftp_server.root / "alice" / "depot" / "big.csv").read_bytes() == payload


def test_connection_killed_mid_fetch_is_retried_on_a_new_connection(sftp_server, tmp_path, monkeypatch):
    payload = os.urandom(20 * 1024 * 1024)
    put(sftp_server.root, "alice", "big.csv", payload)
    sleeps: list[float] = []
    t = transport(sftp_server, tmp_path, sleeps, retries=2)
    with t:
        entry = t.list_depot("alice", time.time() + 3600, 0).ready[0]
        state = _cut_after(monkeypatch, sftp_server.sshd, 2 * 1024 * 1024)
        t.fetch(entry, tmp_path / "big")
        assert t.connections == 2
        t.write_retour("alice", "big.csv.CR.csv", b"ok")  # the new connection serves the rest of the run
    assert state["kills"] >= 1 and sleeps == [0.5]
    assert hashlib.sha256((tmp_path / "big").read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert (sftp_server.root / "alice" / "retour" / "big.csv.CR.csv").read_bytes() == b"ok"


def test_a_thousand_small_files_in_one_connection(sftp_server, tmp_path):
    contents = {f"ESAT_{i:04d}.csv": f"ligne {i}\n".encode() * (i % 7 + 1) for i in range(1000)}
    for name, data in contents.items():
        put(sftp_server.root, "alice", name, data)
    out = tmp_path / "out"
    out.mkdir()
    with transport(sftp_server, tmp_path) as t:
        listing = t.list_depot("alice", time.time() + 3600, 0)
        assert len(listing.ready) == 1000 and t.depot_count("alice") == 1000
        for entry in listing.ready:
            t.fetch(entry, out / entry.name)
        assert t.connections == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == contents


def test_a_50_mb_file_is_fetched_byte_exact(sftp_server, tmp_path):
    payload = os.urandom(50 * 1024 * 1024)
    put(sftp_server.root, "alice", "big.csv", payload)
    with transport(sftp_server, tmp_path) as t:
        entry = t.list_depot("alice", time.time() + 3600, 0).ready[0]
        assert entry.size == len(payload)
        t.fetch(entry, tmp_path / "big")
    assert hashlib.sha256((tmp_path / "big").read_bytes()).digest() == hashlib.sha256(payload).digest()


class _NoPosixRename:
    """An SFTP client of a server without posix-rename@openssh.com (paramiko raises a bare IOError)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def posix_rename(self, src: str, dst: str) -> None:
        raise OSError("Operation unsupported")

    def remove(self, path: str) -> None:
        if path not in self.files:
            raise FileNotFoundError(2, "No such file")
        del self.files[path]

    def rename(self, src: str, dst: str) -> None:
        if dst in self.files:
            raise OSError("Failure")
        self.files[dst] = self.files.pop(src)


def test_replace_falls_back_to_remove_and_rename_without_posix_rename():
    files = {"r/x.part": b"new", "r/x": b"old"}
    _replace(_NoPosixRename(files), "r/x.part", "r/x")
    assert files == {"r/x": b"new"}
    files = {"r/y.part": b"first"}
    _replace(_NoPosixRename(files), "r/y.part", "r/y")
    assert files == {"r/y": b"first"}


def test_a_name_that_is_not_utf8_blocks_only_its_account(sftp_server, tmp_path):
    put(sftp_server.root, "alice", "a.csv", b"A")
    put(sftp_server.root, "bob", "b.csv", b"B")
    (sftp_server.root / "bob" / "depot" / os.fsdecode(b"caf\xe9.csv")).write_bytes(b"latin-1 name")
    with transport(sftp_server, tmp_path) as t:
        with pytest.raises(TransportError, match="pas en UTF-8") as err:
            t.list_depot("bob", time.time() + 3600, 0)
        assert err.value.transient is False
        assert [e.name for e in t.list_depot("alice", time.time() + 3600, 0).ready] == ["a.csv"]
        assert t.connections == 1
    assert (sftp_server.root / "bob" / "depot" / os.fsdecode(b"caf\xe9.csv")).exists()


def test_a_stalled_server_times_out_and_the_run_reconnects(sftp_server, tmp_path):
    import signal

    put(sftp_server.root, "alice", "a.csv", b"A")
    sleeps: list[float] = []
    t = transport(sftp_server, tmp_path, sleeps, timeout_seconds=1, retries=1)
    with t:
        stalled = sftp_server.sshd.session_pids()
        for pid in stalled:
            os.kill(pid, signal.SIGSTOP)  # the server stops answering, the TCP link stays open
        try:
            listing = t.list_depot("alice", time.time() + 3600, 0)
        finally:
            for pid in stalled:
                os.kill(pid, signal.SIGKILL)
        assert [e.name for e in listing.ready] == ["a.csv"]
        assert t.connections == 2 and sleeps == [0.5]
