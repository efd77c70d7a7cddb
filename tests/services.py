"""Finding the real services the integration tests need. In CI (CI=true), and under `make test`
(ESAT_REQUIRE_SERVICES=1, after scripts/system-packages.sh installed them), a missing one fails, never skips."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("ESAT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def in_ci() -> bool:
    """True when a missing service must fail the test: in CI, or under `make test`."""
    return any(os.environ.get(name, "").lower() in ("1", "true", "yes") for name in ("CI", "ESAT_REQUIRE_SERVICES"))


def unavailable(what: str) -> None:
    """Fail under CI or `make test`, skip on a developer machine that lacks the service (a bare pytest)."""
    if in_ci():
        pytest.fail(f"{what} is required (CI, make test) and was not found", pytrace=False)
    pytest.skip(f"{what} not available on this machine")


def find_sshd() -> Path | None:
    for candidate in (shutil.which("sshd"), "/usr/sbin/sshd", "/usr/local/sbin/sshd"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None
