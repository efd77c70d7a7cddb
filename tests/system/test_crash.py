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

from exchange.store.engine import open_database
from exchange.store.tables import files, records
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES, ROOT

EXAMPLE_FILES = sorted(p.name for p in (EXAMPLES / "drop").glob("*/depot/*"))
EXPECTED_RECORDS = 9


def crash(base, step: str, *extra: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.crash_runner", step, str(base / "esat-exchange.toml"), "2025-12-15", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode


def emitted_rows(base) -> list[tuple]:
    rows = []
    for p in sorted((base / "outbound").glob("*/AAH-ESAT_*.parquet")):
        f = pl.read_parquet(p)
        rows += list(zip(f["id_fichier_source"], f["ligne_source"], [p.name.split("_")[1]] * f.height))
    return rows


INTAKE_STEPS = [
    "after_reserve",
    "after_claim",
    "after_copy",
    "after_commit",
    "after_archive_move",
    "after_judgement",
    "mid_acknowledge",
    "after_acknowledge_writes",
    "mid_emission",
    "before_emission_done",
]


@pytest.mark.parametrize("step", INTAKE_STEPS)
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
        assert archived == sorted(
            n for n in EXAMPLE_FILES if n in {p.name for p in (EXAMPLES / "drop" / account / "depot").iterdir()}
        )
        retour = sorted(p.name for p in (acc / "retour").iterdir())
        assert retour == sorted(f"{n}.CR.{ext}" for n in archived for ext in ("csv", "xml", "html"))
    # each record emitted exactly once, and every output file has its manifest
    emitted = emitted_rows(tmp_path)
    assert len(emitted) == EXPECTED_RECORDS and Counter(emitted).most_common(1)[0][1] == 1
    for p in (tmp_path / "outbound").glob("*/*.parquet"):
        assert p.with_name(p.name.removesuffix(".parquet") + ".manifest.json").exists()
    assert not list((tmp_path / "outbound").glob("*/*.tmp")) and not list(tmp_path.glob("received/.incoming/*"))


# -- a re-upload of the same name at every step (issue 9 §4), with and without a kill ----------------

SEINE_RG = "ESAT_81234567600017_RG_20251210_001.csv"
CR_NS = {"cr": "urn:esat:compte-rendu:v1"}


def seine_rg_only(base, db_url):
    """The example drop area reduced to one file, A; returns (A bytes, B bytes): B is the same name
    re-uploaded with one worker's pay corrected (same workers: B's records replace A's, W05)."""
    seed_examples(base, db_url)
    assert cli(base, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    for p in (base / "drop").glob("*/depot/*"):
        if p.name != SEINE_RG:
            p.unlink()
    a = (base / "drop" / "esat-seine" / "depot" / SEINE_RG).read_bytes()
    b = a.replace(b"862,35;150,12;712,23", b"870,00;157,77;712,23")
    assert a != b
    (base / "B.csv").write_bytes(b)
    return a, b


def cr_pair(retour, stem: str) -> tuple[list[tuple], list[tuple]]:
    """(codes per CSV row, codes per XML anomaly) of one compte rendu pair: both must tell the same."""
    from lxml import etree

    from tests.expected import read_cr

    rows = read_cr(retour / f"{stem}.CR.csv")
    xml = etree.parse(str(retour / f"{stem}.CR.xml"))
    csv_codes = [(r["ligne"], r["code"]) for r in rows if r["code"]]
    xml_codes = [(a.get("ligne") or "", a.get("code")) for a in xml.findall("cr:anomalie", CR_NS)]
    return csv_codes, xml_codes


def ledger_of(base, db_url):
    url = f"sqlite:///{base / 'exchange.db'}" if db_url.startswith("sqlite") else db_url
    engine = open_database(url)
    with engine.connect() as conn:
        rows = conn.execute(select(files).order_by(files.c.id)).mappings().all()
    engine.dispose()
    return [dict(r) for r in rows]


W05_LINES = [("2", "W05"), ("3", "W05"), ("4", "W05")]
REUPLOAD_STEPS = list(INTAKE_STEPS)


@pytest.mark.parametrize("kill", [True, False], ids=["kill", "no-kill"])
@pytest.mark.parametrize("step", REUPLOAD_STEPS)
def test_reupload_of_the_same_name_at_every_step(tmp_path, step, kill, db_url):
    import hashlib

    a, b = seine_rg_only(tmp_path, db_url)
    depot_file = tmp_path / "drop" / "esat-seine" / "depot" / SEINE_RG
    code = crash(
        tmp_path, step, "--reupload", str(depot_file), str(tmp_path / "B.csv"), *(() if kill else ("--no-kill",))
    )
    assert code == (-signal.SIGKILL if kill else 0)
    for _ in range(2):  # the rerun finishes what was interrupted, then takes B if it is still waiting
        code, out, err = cli(tmp_path, "run", "--as-of", "2025-12-15")
        assert code == 0, out + err
    rows = ledger_of(tmp_path, db_url)
    sha = {hashlib.sha256(a).hexdigest(): "A", hashlib.sha256(b).hexdigest(): "B"}
    seen = [sha[r["sha256"]] for r in rows]
    # A is lost only when the Esat replaced it before anything of it was claimed (the Esat's own choice)
    expected = ["B"] if step == "after_reserve" else ["A", "B"]
    assert seen == expected
    assert {(r["state"], r["statut"]) for r in rows} == {("ACQUITTE", "ACCEPTE")}
    acc = tmp_path / "drop" / "esat-seine"
    assert list((acc / "depot").iterdir()) == []
    archive = {p.name: p.read_bytes() for p in (acc / "archive").iterdir()}
    by_id = {r["id"]: sha[r["sha256"]] for r in rows}
    if expected == ["A", "B"]:
        id_a, id_b = rows[0]["id"], rows[1]["id"]
        assert archive == {SEINE_RG: a, f"{SEINE_RG}.{id_b}": b}
        # the latest reception answers under the plain name, the earlier one's pair is kept, each whole
        assert cr_pair(acc / "retour", SEINE_RG) == (W05_LINES, W05_LINES)
        assert cr_pair(acc / "retour", f"{SEINE_RG}.{id_a}") == ([], [])
        assert sorted(p.name for p in (acc / "retour").iterdir()) == sorted(
            f"{stem}.CR.{ext}" for stem in (SEINE_RG, f"{SEINE_RG}.{id_a}") for ext in ("csv", "xml", "html")
        )
    else:
        assert archive == {SEINE_RG: b}
        assert cr_pair(acc / "retour", SEINE_RG) == ([], [])
    # each record emitted at most once; B's three exactly once, last for each worker
    emitted = []
    for p in sorted((tmp_path / "outbound").glob("*/AAH-ESAT_RG_*.parquet")):
        emitted += pl.read_parquet(p).select("id_fichier_source", "ligne_source", "nir", "nature").rows()
    assert len(emitted) == len({(f, line) for f, line, _, _ in emitted})
    from_b = [e for e in emitted if by_id[int(e[0])] == "B"]
    assert sorted(e[1] for e in from_b) == [2, 3, 4]
    a_emitted = [e for e in emitted if by_id[int(e[0])] == "A"]
    assert {e[3] for e in from_b} == ({"RECTIFICATIVE"} if a_emitted else {"INITIALE"})


@pytest.mark.parametrize(
    "step", ["after_judgement", "after_kept_rename", "mid_acknowledge", "after_acknowledge_writes"]
)
def test_crash_while_answering_a_resent_name_keeps_both_answers_whole(tmp_path, step, db_url):
    """Issue 9 §5: nothing already answered is ever overwritten, each kept pair agrees with itself."""
    a, b = seine_rg_only(tmp_path, db_url)
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    acc = tmp_path / "drop" / "esat-seine"
    first_answer = {p.name: p.read_bytes() for p in (acc / "retour").iterdir()}
    (acc / "depot" / SEINE_RG).write_bytes(b)
    assert crash(tmp_path, step) == -signal.SIGKILL
    code, out, err = cli(tmp_path, "run", "--as-of", "2025-12-15")
    assert code == 0, out + err
    id_a = ledger_of(tmp_path, db_url)[0]["id"]
    kept = {
        p.name.replace(f".{id_a}.CR.", ".CR."): p.read_bytes()
        for p in (acc / "retour").iterdir()
        if f".{id_a}.CR." in p.name
    }
    assert kept == first_answer  # byte for byte the first answer
    assert cr_pair(acc / "retour", SEINE_RG) == (W05_LINES, W05_LINES)
    assert len(list((acc / "retour").iterdir())) == 6  # csv, xml and html, twice
