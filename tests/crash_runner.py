"""Run `esat-exchange run` and SIGKILL the process at a named step (crash-safety tests only).

Usage: python -m tests.crash_runner STEP CONFIG AS_OF
"""
from __future__ import annotations

import os
import signal
import sys

from exchange import cycle, emission, ledger
from exchange.cli import main
from exchange.transport.local import LocalTransport


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def after(target, attr: str, when=lambda *a, **k: True) -> None:  # noqa: ANN001
    original = getattr(target, attr)

    def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003
        result = original(*args, **kwargs)
        if when(*args, **kwargs):
            die()
        return result

    setattr(target, attr, wrapped)


def before(target, attr: str, when=lambda *a, **k: True) -> None:  # noqa: ANN001
    original = getattr(target, attr)

    def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003
        if when(*args, **kwargs):
            die()
        return original(*args, **kwargs)

    setattr(target, attr, wrapped)


STEPS = {
    # the local copy is on disk (fsync'd), nothing committed yet
    "after_copy": lambda: after(LocalTransport, "fetch"),
    # the ledger row is committed (RECU), the source is still in depot/
    "after_commit": lambda: before(LocalTransport, "archive"),
    # the source has moved to archive/, the ledger still says RECU
    "after_archive_move": lambda: after(LocalTransport, "archive"),
    # records and anomalies committed (TRAITE), comptes rendus not written
    "after_judgement": lambda: before(cycle, "_acknowledge"),
    # one compte rendu written, the other not
    "mid_acknowledge": lambda: after(LocalTransport, "write_retour", lambda self, a, name, data: name.endswith(".CR.csv")),
    # an emission is committed (records assigned), its Parquet is written, the rest is not
    "mid_emission": lambda: after(emission, "write_atomic", lambda path, *a, **k: str(path).endswith(".parquet")),
    # the files of an emission are all written, its completion is not recorded
    "before_emission_done": lambda: after(emission, "write_output"),
}


if __name__ == "__main__":
    step, config, as_of = sys.argv[1:4]
    STEPS[step]()
    _ = ledger  # the ledger is imported so that a patched step sees the real module state
    sys.exit(main(["--config", config, "run", "--as-of", as_of]))
