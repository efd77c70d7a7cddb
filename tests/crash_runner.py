"""Run `esat-exchange run` and act at a named step: SIGKILL the process there, and/or re-upload a file
of the same name into depot/ at that moment (crash-safety and re-upload tests only).

Usage: python -m tests.crash_runner STEP CONFIG AS_OF [--reupload DEPOT_FILE NEW_CONTENT] [--no-kill]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from exchange.app import cycle
from exchange.cli.main import main
from exchange.edges import outbound
from exchange.edges.transport.local import LocalTransport

ACTIONS: list = []


def act() -> None:
    for action in ACTIONS:
        action()


def after(target, attr: str, when=lambda *a, **k: True) -> None:  # noqa: ANN001
    original = getattr(target, attr)
    fired = []

    def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003
        result = original(*args, **kwargs)
        if not fired and when(*args, **kwargs):
            fired.append(True)
            act()
        return result

    setattr(target, attr, wrapped)


def before(target, attr: str, when=lambda *a, **k: True) -> None:  # noqa: ANN001
    original = getattr(target, attr)
    fired = []

    def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003
        if not fired and when(*args, **kwargs):
            fired.append(True)
            act()
        return original(*args, **kwargs)

    setattr(target, attr, wrapped)


def _retour(suffix: str):  # noqa: ANN202
    return lambda self, account, name, data: name.endswith(suffix)


STEPS = {
    # the reception is reserved (RECLAME committed), the file is still in depot/
    "after_reserve": lambda: before(LocalTransport, "claim"),
    # the file is claimed (moved to archive/<claim>), nothing read yet
    "after_claim": lambda: after(LocalTransport, "claim"),
    # a local copy is written, RECU not committed yet
    "after_copy": lambda: after(LocalTransport, "fetch"),
    # RECU committed, the claim not yet renamed to its archive name
    "after_commit": lambda: before(LocalTransport, "archive_claim"),
    # the claim has its archive name, the ledger still says RECU
    "after_archive_move": lambda: after(LocalTransport, "archive_claim"),
    # records and anomalies committed (TRAITE), comptes rendus not written
    "after_judgement": lambda: before(cycle, "_acknowledge"),
    # the earlier pair of a resent name: its .CR.csv kept, its .CR.xml not yet
    "after_kept_rename": lambda: after(LocalTransport, "rename_retour"),
    # one compte rendu written, the other not
    "mid_acknowledge": lambda: after(LocalTransport, "write_retour", _retour(".CR.csv")),
    # both comptes rendus written, ACQUITTE not committed
    "after_acknowledge_writes": lambda: after(LocalTransport, "write_retour", _retour(".CR.xml")),
    # an emission is committed (records assigned), its Parquet is written, the rest is not
    "mid_emission": lambda: after(outbound, "write_atomic", lambda path, *a, **k: str(path).endswith(".parquet")),
    # the files of an emission are all written, its completion is not recorded
    "before_emission_done": lambda: after(outbound.OutputBatch, "finish"),
}


def reupload(depot_file: Path, content: Path) -> None:
    """The Esat uploads a new file of the same name, as SFTP clients do: a temporary name, then a rename."""
    tmp = depot_file.with_name(depot_file.name + ".part")
    tmp.write_bytes(content.read_bytes())
    os.replace(tmp, depot_file)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("step", choices=sorted(STEPS))
    p.add_argument("config")
    p.add_argument("as_of")
    p.add_argument("--reupload", nargs=2, metavar=("DEPOT_FILE", "NEW_CONTENT"))
    p.add_argument("--no-kill", action="store_true")
    args = p.parse_args()
    if args.reupload:
        target, content = (Path(x) for x in args.reupload)
        ACTIONS.append(lambda: reupload(target, content))
    if not args.no_kill:
        ACTIONS.append(lambda: os.kill(os.getpid(), signal.SIGKILL))
    STEPS[args.step]()
    sys.exit(main(["--config", args.config, "run", "--as-of", args.as_of]))
