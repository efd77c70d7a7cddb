"""Test helpers: an example drop area with its configuration, and the CLI run in-process."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

from exchange.cli.main import main
from exchange.config import Config
from tests.conftest import EXAMPLES, make_config


def seed_examples(base: Path, db_url: str | None = None, *, upgrade: bool = True, **sections) -> Config:
    """base/drop = the spec's example drop area; returns a matching configuration (settle 0), its
    database brought to head unless upgrade=False."""
    shutil.copytree(EXAMPLES / "drop", base / "drop")
    cfg = make_config(base, db_url, upgrade=upgrade, **sections)
    write_config(base / "esat-exchange.toml", cfg)
    return cfg


def write_config(path: Path, cfg: Config) -> None:
    s = cfg.source
    lines = [
        "[database]",
        f'url = "{cfg.database_url}"',
        "[source]",
        f'kind = "{s.kind}"',
        f'root = "{s.root}"',
        f"settle_seconds = {s.settle_seconds}",
    ]
    if s.kind == "sftp":
        lines += [
            f'host = "{s.host}"',
            f"port = {s.port}",
            f'username = "{s.username}"',
            f'private_key = "{s.private_key}"',
            f'known_hosts = "{s.known_hosts}"',
        ]
    lines += [
        "[storage]",
        f'dir = "{cfg.storage.dir}"',
        "[output]",
        f'dir = "{cfg.output.dir}"',
        "[limits]",
        f"max_file_bytes = {cfg.limits.max_file_bytes}",
        f"max_records = {cfg.limits.max_records}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def cli(base: Path, *args: str) -> tuple[int, str, str]:
    """Run `esat-exchange --config base/esat-exchange.toml ARGS` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(base / "esat-exchange.toml"), *args])
    return code, out.getvalue(), err.getvalue()


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes (to compare before/after)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


SEINE_RG = "ESAT_81234567600017_RG_20251210_001.csv"  # the esat-seine example RG (3 workers)


def corrected_seine_rg(base: Path, name: str = "ESAT_81234567600017_RG_20251211_002.csv") -> Path:
    """In base/drop (seed_examples), a second RG of esat-seine: the example with Martin's amounts corrected,
    modified 10 s after the first, so that it is received after it (its records replace the first's: W05)."""
    depot = base / "drop" / "esat-seine" / "depot"
    second = depot / name
    first = (depot / SEINE_RG).read_text(encoding="utf-8")
    second.write_text(first.replace("862,35;150,12;712,23", "870,00;157,77;712,23"), encoding="utf-8")
    os.utime(second, (os.path.getmtime(depot / SEINE_RG) + 10,) * 2)
    return second
