"""Crash safety: `run` killed with SIGKILL at each step; the next run processes each file exactly once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

import polars as pl
import pytest
from sqlalchemy import select

from exchange.db import files, open_database, records
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES, ROOT

EXAMPLE_FILES = sorted(p.name for p in (EXAMPLES / "drop").glob("*/depot/*"))
EXPECTED_RECORDS = 9


def crash(base, step: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "tests.crash_runner", step, str(base / "esat-exchange.toml"),
                           "2025-12-15"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return proc.returncode


def emitted_rows(base) -> list[tuple]:
    rows = []
    for p in sorted((base / "outbound").glob("*/AAH-ESAT_*.parquet")):
        f = pl.read_parquet(p)
        rows += list(zip(f["id_fichier_source"], f["ligne_source"], [p.name.split("_")[1]] * f.height))
    return rows


@pytest.mark.parametrize("step", ["after_copy", "after_commit", "after_archive_move", "after_judgement",
                                  "mid_acknowledge", "mid_emission", "before_emission_done"])
def test_killed_run_then_rerun_processes_each_file_once(tmp_path, step, db_url):
    seed_examples(tmp_path, db_url)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    assert crash(tmp_path, step) == -signal.SIGKILL

    code, out, err = cli(tmp_path, "run", "--as-of", "2025-12-15")
    assert code == 0, out + err
    import json
    runs = json.loads(cli(tmp_path, "runs", "list", "--format", "json")[1])
    assert [(r["id"], r["statut"]) for r in runs] == [(2, "OK"), (1, "ECHEC")]  # the killed run is closed
    assert "interrompue" in runs[1]["erreur"]

    engine = open_database(f"sqlite:///{tmp_path / 'exchange.db'}" if db_url.startswith("sqlite") else db_url)
    with engine.connect() as conn:
        ledger_rows = conn.execute(select(files.c.name, files.c.state, files.c.statut)).all()
        stored = conn.execute(select(records.c.file_id, records.c.ligne, records.c.emission_id)).all()
    # every file exactly once, finished, accepted — none lost, none counted as its own duplicate
    assert sorted(r.name for r in ledger_rows) == EXAMPLE_FILES
    assert {(r.state, r.statut) for r in ledger_rows} == {("ACQUITTE", "ACCEPTE")}
    assert len(stored) == EXPECTED_RECORDS and all(r.emission_id is not None for r in stored)
    # every source in archive/ once, depot/ empty, the three comptes rendus per file, no temporary file left
    for account in ("esat-seine", "horizon-paie"):
        acc = tmp_path / "drop" / account
        assert list((acc / "depot").iterdir()) == []
        archived = sorted(p.name for p in (acc / "archive").iterdir())
        assert archived == sorted(n for n in EXAMPLE_FILES if n in {p.name for p in (EXAMPLES / "drop" / account / "depot").iterdir()})
        retour = sorted(p.name for p in (acc / "retour").iterdir())
        assert retour == sorted(f"{n}.CR.{ext}" for n in archived for ext in ("csv", "xml", "html"))
    # each record emitted exactly once, and every output file has its manifest
    emitted = emitted_rows(tmp_path)
    assert len(emitted) == EXPECTED_RECORDS and Counter(emitted).most_common(1)[0][1] == 1
    for p in (tmp_path / "outbound").glob("*/*.parquet"):
        assert p.with_name(p.name.removesuffix(".parquet") + ".manifest.json").exists()
    assert not list((tmp_path / "outbound").glob("*/*.tmp")) and not list(tmp_path.glob("received/.incoming/*"))
