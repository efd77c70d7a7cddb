"""Shared fixtures: databases (SQLite and a private PostgreSQL schema), a drop area, a configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.config import Config, parse_config
from tests.paths import EXAMPLES, ROOT  # noqa: F401 - re-exported: `from tests.conftest import EXAMPLES`
from tests.services import private_pg_schema


@pytest.fixture
def pg_url():
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    with private_pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_db_url(request, tmp_path):
    """An empty database (no table, no revision), on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'exchange.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def db_url(blank_db_url):
    """The same test on SQLite and on PostgreSQL, the database brought to head (`db upgrade`)."""
    upgrade_database(blank_db_url)
    return blank_db_url


def upgrade_database(url: str) -> None:
    """Bring the database at `url` to head, as `esat-exchange db upgrade` does."""
    from exchange.store.engine import open_upgraded

    open_upgraded(url).dispose()


def make_config(base: Path, db_url: str | None = None, *, upgrade: bool = True, **sections) -> Config:
    """A configuration rooted in `base` (drop area base/drop, settle 0), with overrides per section;
    its database is brought to head first (unless upgrade=False), as an operator runs `db upgrade`."""
    data = {
        "database": {"url": db_url or f"sqlite:///{base / 'exchange.db'}"},
        "source": {"kind": "local", "root": "drop", "settle_seconds": 0},
        "storage": {"dir": "received"},
        "output": {"dir": "outbound"},
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    config = parse_config(data, base)
    if upgrade:
        upgrade_database(config.database_url)
    return config


@pytest.fixture
def config(tmp_path) -> Config:
    return make_config(tmp_path)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """One real OpenSSH sshd for the session (see tests/sshd.py); stopped at the end."""
    from tests.sshd import start_sshd

    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture
def sftp_server(sshd, tmp_path):
    """The sshd plus a fresh account root (a local folder reached over SFTP by its absolute path)."""
    from tests.sshd import SftpServer

    root = (tmp_path / "sftp-root").resolve()
    root.mkdir()
    return SftpServer(sshd, root)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright, for a test module's browser tests (tests/browser.py)."""
    from playwright.sync_api import sync_playwright

    from tests.browser import launch_chromium

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()
