"""Finding the real services the integration tests need; in CI (CI=true) a missing one fails, never skips."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("ESAT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str) -> None:
    """Fail under CI, skip on a developer machine that lacks the service."""
    if in_ci():
        pytest.fail(f"{what} is required in CI and was not found", pytrace=False)
    pytest.skip(f"{what} not available on this machine")


def find_sshd() -> Path | None:
    for candidate in (shutil.which("sshd"), "/usr/sbin/sshd", "/usr/local/sbin/sshd"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None
