"""The installed release's version (`--version`, the start-up log line, backups): read from the package's metadata."""

from __future__ import annotations


def installed_version() -> str:
    """The version the wheel was built with (setuptools-scm: the git tag, or the commits since it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("esat-exchange")
    except PackageNotFoundError:
        return "inconnue"
