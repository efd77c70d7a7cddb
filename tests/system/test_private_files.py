"""Everything holding a NIR is private to the service account, whatever the umask (issue 10 item 9)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from exchange.store.engine import open_database
from tests.areas import cli, seed_examples, write_config
from tests.conftest import EXAMPLES


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture(params=[0o000, 0o022], ids=["umask-000", "umask-022"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def test_ledger_received_copies_and_caf_files_are_private(tmp_path, umask):
    cfg = seed_examples(
        tmp_path,
        f"sqlite:///{tmp_path / 'etat' / 'ledger' / 'exchange.db'}",
        storage={"dir": "donnees/recus"},
        output={"dir": "sorties/caf"},
    )
    write_config(tmp_path / "esat-exchange.toml", cfg)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    code, out, err = cli(tmp_path, "run", "--as-of", "2025-12-15")
    assert code == 0, out + err

    db = tmp_path / "etat" / "ledger" / "exchange.db"
    assert mode(db) == 0o600
    for sidecar in ("-wal", "-shm", "-journal"):
        if (extra := db.with_name(db.name + sidecar)).exists():
            assert mode(extra) == 0o600, sidecar
    assert mode(db.parent) == 0o700 and mode(db.parent.parent) == 0o700

    storage = tmp_path / "donnees" / "recus"
    assert mode(storage) == 0o700 and mode(storage.parent) == 0o700 and mode(storage / ".incoming") == 0o700
    copies = [p for p in storage.rglob("*") if p.is_file()]
    assert len(copies) == 4 and {mode(p) for p in copies} == {0o600}
    assert {mode(p.parent) for p in copies} == {0o700}

    outbound = tmp_path / "sorties" / "caf"
    caf_files = [p for p in outbound.rglob("*") if p.is_file()]
    assert caf_files and {mode(p) for p in caf_files} == {0o640}
    assert {mode(p.parent) for p in caf_files} == {0o750} and mode(outbound) == 0o750

    # the local drop area: comptes rendus and archive/ copies as private as the rest (issue 28)
    for account in ("esat-seine", "horizon-paie"):
        retour, archive = tmp_path / "drop" / account / "retour", tmp_path / "drop" / account / "archive"
        assert mode(retour) == 0o750 and mode(archive) == 0o750, account
        answers, kept = list(retour.iterdir()), list(archive.iterdir())
        assert answers and {mode(p) for p in answers} == {0o640}, account
        assert kept and {mode(p) for p in kept} == {0o640}, account


def test_an_existing_ledger_and_storage_are_tightened(tmp_path, umask):
    os.chmod(tmp_path, 0o755)  # the operator's folder holding the ledger: not this project's to change
    db = tmp_path / "exchange.db"
    open_database(f"sqlite:///{db}").dispose()
    os.chmod(db, 0o644)
    (tmp_path / "received").mkdir(mode=0o755)
    os.chmod(tmp_path / "received", 0o755)
    seed_examples(tmp_path)
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    assert mode(db) == 0o600
    assert mode(tmp_path / "received") == 0o700
    assert mode(tmp_path) == 0o755
