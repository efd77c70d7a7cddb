"""Finding the real services the integration tests need. In CI (CI=true), and under `make test`
(ESAT_REQUIRE_SERVICES=1, after scripts/system-packages.sh installed them), a missing one fails, never skips."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PG_ADMIN_URL = os.environ.get("ESAT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def in_ci() -> bool:
    """True when a missing service must fail the test: in CI, or under `make test`."""
    return any(os.environ.get(name, "").lower() in ("1", "true", "yes") for name in ("CI", "ESAT_REQUIRE_SERVICES"))


def unavailable(what: str) -> None:
    """Fail under CI or `make test`, skip on a developer machine that lacks the service (a bare pytest)."""
    if in_ci():
        pytest.fail(f"{what} is required (CI, make test) and was not found", pytrace=False)
    pytest.skip(f"{what} not available on this machine")


@contextmanager
def private_pg_schema() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema of the test's own, dropped afterwards; the server
    unreachable is `unavailable` (a failure under CI and `make test`)."""
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as e:  # noqa: BLE001 - any failure to reach the server
        admin.dispose()
        unavailable(f"PostgreSQL at {PG_ADMIN_URL} ({e.__class__.__name__})")
    sep = "&" if "?" in PG_ADMIN_URL else "?"
    try:
        yield f"{PG_ADMIN_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def find_sshd() -> Path | None:
    for candidate in (shutil.which("sshd"), "/usr/sbin/sshd", "/usr/local/sbin/sshd"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None
