"""Workbook bombs (issue 28, item 1; formats.md §3.0 v1.3): a workbook of a few hundred KB that expands to 100 MB of
shared strings, holds millions of tiny strings or millions of empty cells is F07 with a French line, and reading it
grows the reading process's peak memory (its ru_maxrss / VmHWM, measured) by less than 300 MB — through `judge`, on
the drop area (`run`, a child process) and on « Vérifier mon fichier » (the console, a child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES, ROOT
from tests.workbook_bombs import BOMBS, shared_strings_bomb

LIMIT_MB = 300
DEFAULT_MAX_FILE_BYTES = 52_428_800
DEFAULT_MAX_RECORDS = 100_000
EXPECTED = {
    "xlsx-shared-strings-102MB": (
        "Le classeur contient trop de texte (plus de 52428800 octets de texte) : une déclaration n'en contient pas "
        "autant. Supprimez les feuilles et cellules qui ne servent pas à la déclaration ou découpez le fichier, "
        "puis renvoyez-le."
    ),
    "xlsx-millions-of-tiny-strings": (
        "Le classeur contient trop de texte (plus de 2001000 textes) : une déclaration n'en contient pas autant. "
        "Supprimez les feuilles et cellules qui ne servent pas à la déclaration ou découpez le fichier, puis "
        "renvoyez-le."
    ),
    "xlsx-millions-of-empty-cells": (
        "Le classeur contient trop de cellules (plus de 2001000 cellules sur la feuille « Salariés ») : une "
        "déclaration n'en remplit pas autant. Supprimez les lignes et colonnes qui ne servent pas à la déclaration "
        "(même vides, si elles sont mises en forme) ou découpez le fichier, puis renvoyez-le."
    ),
    "ods-repeated-cell": (
        "Le classeur contient trop de cellules (plus de 2001000 cellules sur la feuille « Salariés ») : une "
        "déclaration n'en remplit pas autant. Supprimez les lignes et colonnes qui ne servent pas à la déclaration "
        "(même vides, si elles sont mises en forme) ou découpez le fichier, puis renvoyez-le."
    ),
    "xlsx-overlapping-merges": (
        "Le classeur contient trop de cellules (plus de 2001000 cellules sur la feuille « Salariés ») : une "
        "déclaration n'en remplit pas autant. Supprimez les lignes et colonnes qui ne servent pas à la déclaration "
        "(même vides, si elles sont mises en forme) ou découpez le fichier, puis renvoyez-le."
    ),
    "xlsx-many-sheets-of-empty-cells": (
        "Le classeur contient trop de cellules (plus de 6003000 cellules dans le classeur) : une déclaration n'en "
        "remplit pas autant. Supprimez les lignes et colonnes qui ne servent pas à la déclaration (même vides, si "
        "elles sont mises en forme) ou découpez le fichier, puis renvoyez-le."
    ),
    "ods-millions-of-tiny-cells": (
        "Le fichier contient trop d'enregistrements (plus de 100000) : découpez-le en plusieurs fichiers."
    ),
}
CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from datetime import date
    from exchange.core.judge import judge
    from tests.workbook_bombs import BOMBS
    ext, make = BOMBS[sys.argv[1]]
    data = make()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    j = judge(data, "ESAT_81234567600017_RG_20251210_001." + ext, date(2025, 12, 15),
              max_file_bytes=int(sys.argv[2]), max_records=int(sys.argv[3]))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    a = j.anomalies.row(0, named=True)
    print(json.dumps({"size": len(data), "statut": j.statut, "code": a["code"], "message": a["message"],
                      "grew_mb": (after - before) / 1024}))
    """
)


def _child(case: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, case, str(DEFAULT_MAX_FILE_BYTES), str(DEFAULT_MAX_RECORDS)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("case", sorted(BOMBS))
def test_a_workbook_bomb_is_f07_and_reading_it_stays_in_bounded_memory(case):
    got = _child(case)
    assert got["size"] < 2_000_000  # a small upload, far below max_file_bytes
    assert (got["statut"], got["code"], got["message"]) == ("REJETE", "F07", EXPECTED[case])
    assert got["grew_mb"] < LIMIT_MB, got


def test_the_102_mb_shared_strings_bomb_is_small_and_expands_as_told():
    import io
    import zipfile

    data = shared_strings_bomb()
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("xl/sharedStrings.xml")
    assert len(data) < 500_000 and info.file_size > 100_000_000


def _peak_rss_of_run(base) -> tuple[int, str]:
    """`esat-exchange run` in a child process: its exit code's output and its peak RSS in MB (os.wait4)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exchange.cli",
            "--config",
            str(base / "esat-exchange.toml"),
            "run",
            "--as-of",
            "2025-12-15",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    out = process.stdout.read().decode("utf-8", "replace") if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss // 1024, out


def test_the_bomb_on_the_drop_area_is_f07_and_the_run_stays_in_bounded_memory(tmp_path):
    quiet, bombed = tmp_path / "quiet", tmp_path / "bombed"
    for base in (quiet, bombed):
        seed_examples(base)
        assert cli(base, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    name = "ESAT_81234567600017_RG_20251210_002.xlsx"
    (bombed / "drop" / "esat-seine" / "depot" / name).write_bytes(shared_strings_bomb())
    baseline, _ = _peak_rss_of_run(quiet)
    peak, out = _peak_rss_of_run(bombed)
    assert "Traceback" not in out
    assert peak - baseline < LIMIT_MB, (baseline, peak)
    code, listing, err = cli(bombed, "files", "list", "--format", "json")
    files = {f["fichier"]: (f["statut"], f["code"]) for f in json.loads(listing)}
    assert files[name] == ("REJETE", "F07"), files
    answer = (bombed / "drop" / "esat-seine" / "retour" / f"{name}.CR.csv").read_text("utf-8-sig")
    assert "Le classeur contient trop de texte (plus de 52428800 octets de texte)" in answer


def _peak_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


@pytest.mark.browser
def test_the_bomb_on_the_verifier_page_is_f07_and_the_console_stays_in_bounded_memory(tmp_path):
    import html

    from tests.areas import write_config
    from tests.browser import free_port, multipart, post, start_console

    port = free_port()
    cfg = seed_examples(tmp_path)
    write_config(tmp_path / "esat-exchange.toml", cfg)
    with open(tmp_path / "esat-exchange.toml", "a", encoding="utf-8") as f:
        f.write(f'[web]\nbind = "127.0.0.1:{port}"\ntrusted_proxies = ["127.0.0.1"]\n')
    running = start_console(tmp_path / "esat-exchange.toml", port)
    try:
        console = {"port": port}
        ok, _, _ = post(console, *multipart("ESAT_81234567600017_RG_20251210_002.csv", b"x"))  # warm the route
        before = _peak_mb(running.process.pid)
        status, text, _ = post(console, *multipart("ESAT_81234567600017_RG_20251210_002.xlsx", shared_strings_bomb()))
        after = _peak_mb(running.process.pid)
    finally:
        running.process.terminate()
        running.process.wait(30)
    assert ok == 200 and status == 200
    assert html.escape("Le classeur contient trop de texte (plus de 52428800 octets de texte)") in text
    assert after - before < LIMIT_MB, (before, after)
