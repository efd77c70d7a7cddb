"""A real OpenSSH sshd on 127.0.0.1 for the SFTP tests: generated keys, key auth only, internal-sftp."""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.services import find_sshd, unavailable

START_TIMEOUT = 20.0  # seconds to wait for the port to accept connections


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path, passphrase: str = "", kind: str = "ed25519") -> Path:
    """A new key pair at path / path.pub."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", "esat-exchange-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def known_hosts_line(host: str, port: int, public_key_file: Path) -> str:
    kind, blob = public_key_file.read_text().split()[:2]
    return f"[{host}]:{port} {kind} {blob}\n"


@dataclass
class Sshd:
    """A running sshd process and the files it uses."""

    process: subprocess.Popen
    workdir: Path
    host: str
    port: int
    username: str
    host_key: Path
    client_key: Path
    authorized_keys: Path
    known_hosts: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.kill_sessions()

    def session_pids(self) -> list[int]:
        """Processes sshd forked for client connections (Linux /proc)."""
        found: list[int] = []
        todo = [self.process.pid]
        while todo:
            pid = todo.pop()
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            for c in children:
                found.append(int(c))
                todo.append(int(c))
        return found

    def kill_sessions(self) -> int:
        """Kill every client connection (SIGKILL), leaving the listener running; returns how many."""
        pids = self.session_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def authorize(self, public_key_file: Path) -> None:
        with open(self.authorized_keys, "a") as f:
            f.write(public_key_file.read_text())


def start_sshd(workdir: Path | None = None) -> Sshd:
    """Start sshd -D on a free port; calls tests.services.unavailable() when sshd is missing."""
    sshd = find_sshd()
    if sshd is None:
        unavailable("OpenSSH sshd")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="esat-sshd-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    host_key = keygen(workdir / "ssh_host_ed25519_key")
    client_key = keygen(workdir / "id_ed25519")
    authorized = workdir / "authorized_keys"
    authorized.write_text((workdir / "id_ed25519.pub").read_text())
    os.chmod(authorized, 0o600)
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation dir, needed only as root
    username = getpass.getuser()
    last_error = ""
    for _ in range(5):  # a free port may be taken between free_port() and sshd's bind
        port = free_port()
        cfg = workdir / "sshd_config"
        cfg.write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"Port {port}",
                    f"HostKey {host_key}",
                    f"PidFile {workdir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {authorized}",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    "StrictModes no",
                    "UsePAM no",
                    "Subsystem sftp internal-sftp",
                    f"AllowUsers {username}",
                    "LogLevel ERROR",
                    "MaxStartups 100",
                    "MaxSessions 100",
                    "",
                ]
            )
        )
        with open(workdir / "sshd.log", "ab") as log:  # sshd keeps its own copy of the descriptor
            proc = subprocess.Popen(
                [str(sshd), "-D", "-e", "-f", str(cfg)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
        known = workdir / "known_hosts"
        known.write_text(known_hosts_line("127.0.0.1", port, workdir / "ssh_host_ed25519_key.pub"))
        server = Sshd(proc, workdir, "127.0.0.1", port, username, host_key, client_key, authorized, known)
        if _wait_ready(proc, port):
            return server
        server.stop()
        last_error = (workdir / "sshd.log").read_text(errors="replace")
    raise RuntimeError(f"sshd did not start: {last_error}")


def _wait_ready(proc: subprocess.Popen, port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(2)
                if s.recv(4).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


@dataclass
class SftpServer:
    """What a test needs to reach the sshd: connection settings and the account root (a local folder)."""

    sshd: Sshd
    root: Path
    host: str = field(init=False)
    port: int = field(init=False)
    username: str = field(init=False)
    private_key: Path = field(init=False)
    known_hosts: Path = field(init=False)

    def __post_init__(self) -> None:
        self.host, self.port, self.username = self.sshd.host, self.sshd.port, self.sshd.username
        self.private_key, self.known_hosts = self.sshd.client_key, self.sshd.known_hosts

    def config_section(self, **overrides: Any) -> dict[str, Any]:
        """The [source] section for make_config(..., source=...)."""
        section: dict[str, Any] = {
            "kind": "sftp",
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "private_key": str(self.private_key),
            "known_hosts": str(self.known_hosts),
            "root": str(self.root),
            "settle_seconds": 0,
            "timeout_seconds": 10,
            "retries": 2,
        }
        section.update(overrides)
        return section
