"""The error tree: every error the project defines derives from ExchangeError, and errors.py lists exactly them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import exchange
from exchange import errors
from exchange.errors import ExchangeError, TerminalError, TransientError


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(exchange.__path__, "exchange."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return names


def _defined_errors() -> dict[str, set[str]]:
    """Module → the exception classes defined there (public ones; private helpers of one module are left out)."""
    found: dict[str, set[str]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and issubclass(cls, BaseException) and not cls_name.startswith("_"):
                found.setdefault(name, set()).add(cls_name)
    found.pop("exchange.errors", None)
    return found


def test_every_project_error_derives_from_exchange_error_through_transient_or_terminal():
    for module, names in _defined_errors().items():
        for name in names:
            cls = getattr(importlib.import_module(module), name)
            assert issubclass(cls, ExchangeError), f"{module}.{name}"
            assert issubclass(cls, (TransientError, TerminalError)), f"{module}.{name}"


def test_errors_docstring_lists_exactly_the_errors_that_exist():
    listed = {
        m.group(1): set(re.split(r",\s*", m.group(2).strip()))
        for m in re.finditer(r"^- (exchange[\w.]+): (.+)$", errors.__doc__ or "", re.MULTILINE)
    }
    assert listed == _defined_errors()


@pytest.mark.parametrize(
    ("module", "name", "stops_run"),
    [
        ("exchange.core.reading.workbook", "BookError", False),  # one file, never the run (the reader answers F01)
        ("exchange.edges.transport.base", "Refused", False),
        ("exchange.edges.transport.base", "HostKeyError", True),
        ("exchange.edges.transport.base", "TransportError", True),  # a dead source
        ("exchange.store.fences", "LockLost", True),
        ("exchange.app.cycle", "MissingFromArchive", False),
    ],
)
def test_the_markers_the_cycle_decides_from(module, name, stops_run):
    assert getattr(importlib.import_module(module), name).stops_run is stops_run
