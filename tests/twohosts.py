"""Two real hosts on one machine for the failover tests: a private PostgreSQL cluster and two network + UTS
namespaces (each its hostname and address, a veth to the cluster), processes started inside them."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import unavailable

PG_BIN = Path("/usr/lib/postgresql")
RUNNER = Path(__file__).resolve().parent / "node_runner.py"
ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "base-esat"  # the database server's name, as both nodes' one configuration file says


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


def pg_bin() -> Path | None:
    found = sorted(PG_BIN.glob("*/bin/initdb"))
    return found[-1].parent if found else None


def missing() -> str | None:
    """What this machine lacks to make two hosts, or None."""
    if os.geteuid() != 0:
        return "root (network namespaces)"
    for tool in ("ip", "unshare", "runuser"):
        if shutil.which(tool) is None:
            return f"the `{tool}` command"
    if pg_bin() is None:
        return "PostgreSQL server binaries (initdb)"
    return None


def check_tools() -> None:
    """Fail under CI, skip elsewhere, when the machine cannot make two hosts."""
    lack = missing()
    if lack is not None:
        unavailable(lack)


@dataclass
class Host:
    """One network + UTS namespace: its name, hostname and the address it reaches PostgreSQL at."""

    netns: str
    hostname: str
    db_address: str  # the host-side end of its veth, where the cluster listens

    def command(self, argv: list[str], *, pid_namespace: bool = False) -> list[str]:
        unshare = ["unshare", "--uts"] + (["--pid", "--fork", "--mount-proc"] if pid_namespace else [])
        return [
            "ip",
            "netns",
            "exec",
            self.netns,
            *unshare,
            "--",
            "sh",
            "-c",
            'hostname "$0"; exec "$@"',
            self.hostname,
            *argv,
        ]


@dataclass
class Cluster:
    """A private PostgreSQL cluster (initdb as `postgres` into a temp folder) on a free port."""

    data: Path
    port: int
    addresses: list[str]
    bin: Path
    databases: int = 0

    def ctl(self, *args: str) -> None:
        _sh(
            "runuser",
            "-u",
            "postgres",
            "--",
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data / "db"),
            "-l",
            str(self.data / "log"),
            "-w",
            "-t",
            "60",
            *args,
        )

    def start(self) -> None:
        self.ctl(
            "-o",
            f"-p {self.port} -c listen_addresses='{','.join(self.addresses)}' "
            f"-k {self.data} -c fsync=off -c max_connections=200",
            "start",
        )

    def restart(self) -> None:
        self.ctl("-m", "fast", "restart")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.ctl("-m", "fast", "stop")

    def new_database(self) -> str:
        """A fresh database; its name."""
        self.databases += 1
        name = f"essai{self.databases}"
        _sh(
            "runuser",
            "-u",
            "postgres",
            "--",
            str(self.bin / "createdb"),
            "-h",
            str(self.data),
            "-p",
            str(self.port),
            name,
        )
        return name

    def url(self, address: str, database: str) -> str:
        return f"postgresql+psycopg://postgres@{address}:{self.port}/{database}"


@dataclass
class TwoHosts:
    cluster: Cluster
    hosts: list[Host]
    _links: list[str] = field(default_factory=list)

    def teardown(self) -> None:
        self.cluster.stop()
        for host in self.hosts:
            subprocess.run(["ip", "netns", "del", host.netns], capture_output=True)
            shutil.rmtree(Path("/etc/netns") / host.netns, ignore_errors=True)
        shutil.rmtree(self.cluster.data, ignore_errors=True)


def _free_port(address: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def make_two_hosts() -> TwoHosts:
    """Namespaces noeud-a and noeud-b, each with a veth /30 to this machine, and the cluster on both host ends."""
    check_tools()
    tag = f"{os.getpid() % 100000}"
    subnet = random.randint(1, 250)
    hosts = []
    for i, letter in enumerate("ab"):
        netns, outside, inside = f"esat{tag}{letter}", f"ve{tag}{letter}", f"vn{tag}{letter}"
        host_ip, ns_ip = f"10.213.{subnet}.{4 * i + 1}", f"10.213.{subnet}.{4 * i + 2}"
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        _sh("ip", "netns", "add", netns)
        _sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        _sh("ip", "link", "set", inside, "netns", netns)
        _sh("ip", "addr", "add", f"{host_ip}/30", "dev", outside)
        _sh("ip", "link", "set", outside, "up")
        _sh("ip", "netns", "exec", netns, "ip", "addr", "add", f"{ns_ip}/30", "dev", inside)
        _sh("ip", "netns", "exec", netns, "ip", "link", "set", inside, "up")
        _sh("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up")
        # `ip netns exec` mounts /etc/netns/<name>/hosts on /etc/hosts: each node resolves DB_NAME to its veth
        etc = Path("/etc/netns") / netns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(f"127.0.0.1 localhost\n{host_ip} {DB_NAME}\n")
        hosts.append(Host(netns, f"noeud-{letter}", host_ip))
    data = Path(tempfile.mkdtemp(prefix="esat-pg-"))
    shutil.chown(data, "postgres", "postgres")
    binaries = pg_bin()
    _sh(
        "runuser",
        "-u",
        "postgres",
        "--",
        str(binaries / "initdb"),
        "-D",
        str(data / "db"),
        "-A",
        "trust",
        "-U",
        "postgres",
        "--no-sync",
    )
    with (data / "db" / "pg_hba.conf").open("a") as f:
        f.write(f"host all all 10.213.{subnet}.0/24 trust\n")
    cluster = Cluster(data, _free_port(hosts[0].db_address), [h.db_address for h in hosts], binaries)
    two = TwoHosts(cluster, hosts)
    try:
        cluster.start()
    except BaseException:
        two.teardown()
        raise
    return two


def start(
    host: Host, config_path: Path, *args: str, slow_file: float = 0, nightly_every: int = 2, pid_namespace: bool = False
) -> subprocess.Popen:
    """`esat-exchange --config … ARGS` on `host` (tests/node_runner.py: received files slowed)."""
    argv = [
        sys.executable,
        str(RUNNER),
        "--config",
        str(config_path),
        "--log-format",
        "json",
        "--log-level",
        "INFO",
        *args,
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ESAT_TEST_SLOW_FILE": str(slow_file),
        "ESAT_TEST_NIGHTLY_EVERY": str(nightly_every),
    }
    logs = Path(tempfile.mkstemp(prefix=f"{host.hostname}-", suffix=".log", dir=config_path.parent)[1])
    with open(logs.with_suffix(".out"), "w") as out, open(logs, "w") as err:  # files: a pipe could fill and block
        proc = subprocess.Popen(
            host.command(argv, pid_namespace=pid_namespace),
            cwd=config_path.parent,
            env=env,
            stdout=out,
            stderr=err,
            text=True,
        )
    proc.logs = logs  # type: ignore[attr-defined]
    return proc


def output(proc: subprocess.Popen) -> tuple[str, str]:
    """What the process wrote: (stdout, stderr)."""
    logs: Path = proc.logs  # type: ignore[attr-defined]
    return logs.with_suffix(".out").read_text(), logs.read_text()


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    """Wait for the process: (exit code, stdout, stderr)."""
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    return (code, *output(proc))


def namespace_init(proc: subprocess.Popen) -> int:
    """The host PID of PID 1 of the PID namespace `proc` (an `unshare --pid --fork`) made."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        except FileNotFoundError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError("the PID namespace's first process did not start")


def stop(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    """SIGCONT + SIGTERM, then its exit code and stderr (SIGKILL if it does not stop)."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    code, _out, err = finish(proc, timeout)
    return code, err
