"""The benchmark's functions on a tiny campaign, so that `make bench` cannot rot (nothing here is timed)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyinstrument  # noqa: F401 - `make test` installs the bench extra, so that this smoke test runs
import pytest

from fixtures import bench
from fixtures.bench_db import ADMIN, pg_missing
from fixtures.bench_e2e import CLOSE, FILES, FLOOR, ONE, RECORDS, RUN
from fixtures.bench_pipeline import xml_frame
from fixtures.bench_profile import LEAVES, STAGES, Profile, _by_label, _walk
from fixtures.bench_report import Target, num
from fixtures.bench_sftp import sftp_available, sftp_bench
from fixtures.bench_util import run_module
from tests.services import unavailable

TINY = bench.Plan(
    esats=10,
    workers=500,
    big=2,
    pairs=1,
    big_pairs=1,
    reps=2,
    id_values=4000,
    id_distinct=300,
    stdnum_reps=1,
    sftp=False,
    xml_records=700,
    workbook_rows=300,
    bomb_bytes=8 << 20,
    profile_share=0.5,
    console_reps=2,
    command_pairs=1,
    failover_reps=1,
    failover_heartbeat=1,
    failover_timeout=6,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("banc")


@pytest.fixture(scope="module")
def measured(data: Path) -> bench.Results:
    """Every measure of `make bench`, through the same entry point, on a tiny plan."""
    if pg_missing() is not None:
        unavailable("PostgreSQL at 127.0.0.1:5432")
    return bench.run(TINY, data)


@pytest.fixture(scope="module")
def tiny(data: Path, measured: bench.Results) -> tuple[Path, dict]:
    campaign = data / "campagne-1x"
    return campaign, json.loads((campaign / "manifest.json").read_text(encoding="utf-8"))


def test_every_run_is_a_child_with_its_cpu_rss_records_and_load(tiny, measured) -> None:
    _, manifest = tiny
    e = measured.e2e
    assert e.backends == ["sqlite", "postgresql"] and e.rounds == 1 and e.big_rounds == [0]  # pairs: test_bench_math
    for backend in e.backends:
        runs = e.series(backend, RUN, ONE)
        assert sorted(runs) == [0]
        for s in runs.values():
            assert s.records == manifest["records"]["total"]
            assert s.wall > 0 and s.cpu > 0 and s.peak_rss > 20 * 2**20  # a Python process with polars loaded
            assert s.load_start >= 0 and s.load_end >= 0
        assert sorted(e.series(backend, CLOSE, ONE)) == [0]  # `campaign close` after each 1× run
        assert sorted(e.series(backend, RUN, RECORDS)) == sorted(e.series(backend, RUN, FILES)) == [0]
        assert e.ratio(backend, (RUN, ONE), (FLOOR, ONE), "cpu").pairs == 1
        assert e.ratio(backend, (RUN, FILES), (RUN, ONE), "wall").pairs == 1


def test_no_bench_database_is_left_on_postgresql(measured) -> None:
    import os

    import psycopg

    with psycopg.connect(ADMIN) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"bench\\_{os.getpid()}\\_%",)
        ).fetchall()
    assert left == []


def test_console_pages_are_timed_on_the_big_files_run(measured) -> None:
    pages = measured.console
    assert any(label.startswith("Tableau de bord") for label in pages)
    assert any("/fichiers/" in label for label in pages) and any("/campagne" in label for label in pages)
    assert any(label.startswith("Tableau de bord, périmètre Caf 75") for label in pages)  # narrowed reads too
    assert all(f.time.runs == TINY.console_reps and all(v > 0 for v in f.time.values) for f in pages.values())
    # each page's height in Chromium, in screens of 900 px (a download has none)
    assert all(f.screens is None if "csv" in label else f.screens >= 0.5 for label, f in pages.items())
    report = bench.render(measured)
    assert "## Console web (SQLite 2× fichiers)" in report
    assert "| Console : page la plus haute, SQLite 2× fichiers (" in report
    assert measured.e2e.kept is not None and not measured.e2e.kept.exists()  # removed once measured


def test_big_campaigns_have_twice_the_records_or_twice_the_files(measured) -> None:
    c = measured.campaigns
    one, recs, files = c[ONE], c[RECORDS], c[FILES]
    assert recs.files == one.files and 1.7 * one.records <= recs.records <= 2.2 * one.records
    assert files.files == 2 * one.files and files.esats == 2 * one.esats
    assert 0.7 <= (files.records / files.files) / (one.records / one.files) <= 1.3


def test_an_existing_campaign_with_the_same_options_is_reused(data: Path, measured) -> None:
    before = (data / "campagne-1x" / "manifest.json").stat().st_mtime_ns
    assert bench.campaign(data, "campagne-1x", TINY.esats, TINY.workers, 1.0) == data / "campagne-1x"
    assert (data / "campagne-1x" / "manifest.json").stat().st_mtime_ns == before


def test_floor_reads_the_same_records_in_a_child(tiny, measured) -> None:
    _, manifest = tiny
    for backend in measured.e2e.backends:
        floors = measured.e2e.series(backend, FLOOR, ONE)
        assert len(floors) == 1
        assert all(s.records == manifest["records"]["total"] and s.cpu > 0 for s in floors.values())


def test_floor_xml_frame_has_one_row_per_record_with_nested_fields(tiny) -> None:
    campaign, manifest = tiny
    xml_rg = [f for f in manifest["file_list"] if f["format"] == "xml" and f["kind"] == "RG"]
    assert xml_rg, "the tiny campaign must have an XML RG file"
    path = campaign / "drop" / xml_rg[0]["login"] / "depot" / xml_rg[0]["file"]
    frame = xml_frame(path)
    assert frame.height == xml_rg[0]["records"]
    assert {"nir", "nom", "tauxActiviteEsat"} <= set(frame.columns)


def test_identifier_checks_agree_with_stdnum(measured) -> None:
    i = measured.ids
    assert i.values == 4000
    assert i.ours_valid == i.peer_valid
    assert 0.97 * i.values <= i.ours_valid < i.values  # about 1 % wrong keys, no more


def test_xml_memory_reads_every_record(measured) -> None:
    x = measured.xml
    assert x["records"] == 700
    assert x["peak"] >= x["baseline"] > x["interpreter"] > 0
    assert x["cold_increase"] > 0
    assert x["file_bytes"] > 700 * 200


def test_workbook_memory_refuses_the_bomb_and_reads_every_row_of_the_big_workbook(measured) -> None:
    bomb, big = measured.workbook
    assert bomb.rows == -1 and bomb.codes != "-" and bomb.expanded_bytes >= 8 << 20
    assert big.rows == 300 and big.codes == "-" and big.increase > 0


def test_import_cost_compares_the_same_imports_with_and_without_bytecode(measured) -> None:
    ic = measured.imports
    assert ic.modules > 300 and len(ic.compiled.values) == len(ic.source.values) == 3
    assert all(v > 0 for v in ic.compiled.values + ic.source.values)
    report = bench.render(measured)
    assert "## Coût fixe d'un processus : les imports, avec et sans .pyc" in report
    assert "## Mémoire de la lecture d'un classeur (.xlsx)" in report and "frictionless" not in report
    sections = [s for s in report.split("\n## ")[1:] if not s.startswith(("Objectifs", "Durée"))]
    assert all("Mesuré sur le commit `" in s for s in sections), [s.splitlines()[0] for s in sections]


def test_profile_names_the_stages(measured) -> None:
    # what the sampling profiler saw depends on the machine and the day: only its shape is asserted here;
    # how samples become stages is asserted on a tree made by hand (below)
    pr = measured.profile
    assert pr is not None and isinstance(pr.text, str)
    assert {label for label, _ in pr.stages} <= set(STAGES.values())
    assert {label for label, _ in pr.leaves} <= set(LEAVES.values())
    assert all(0 <= pr.share(s) <= 100 for _, s in pr.stages + pr.leaves)


@dataclass
class Frame:
    """The part of a pyinstrument frame that bench_profile reads."""

    function: str
    time: float
    children: list[Frame] = field(default_factory=list)


def test_profile_stages_count_the_outermost_occurrence_and_leaves_the_innermost() -> None:
    tree = Frame(
        "run_job",
        10.0,
        [
            Frame("read_declaration", 3.0, [Frame("validate_records", 1.0)]),  # nested: counted in its outer stage
            Frame("validate_records", 4.0, [Frame("execute", 0.5, [Frame("execute", 0.25)])]),
            Frame("_move", 1.0, [Frame("fsync", 0.5)]),
            Frame("_move_all", 0.5),
            Frame("other", 1.5),
        ],
    )
    found: dict[str, float] = {}
    leaves: dict[str, float] = {}
    _walk(tree, found, leaves)
    assert found == {"read_declaration": 3.0, "validate_records": 4.0, "_move": 1.0, "_move_all": 0.5}
    assert leaves == {"execute": 0.25, "fsync": 0.5}
    assert _by_label(STAGES, found) == [
        ("règles d'enregistrement (polars)", 4.0),
        ("lecture CSV / XML", 3.0),
        ("registre : transitions d'état", 1.5),
    ]
    assert Profile(total=10.0, stages=[], leaves=[], text="").share(2.5) == 25.0
    assert Profile(total=0.0, stages=[], leaves=[], text="").share(2.5) == 0.0


def test_report_has_machine_targets_and_tables(measured) -> None:
    text = bench.render(measured)
    assert text.startswith("# BENCHMARKS")
    assert "| Objectif | Mesuré | Cible | Verdict |" in text
    assert "| Cœurs |" in text and "| polars |" in text and "| OpenSSH |" in text
    assert (
        "`run` ÷ plancher polars, CPU, SQLite (1×)" in text
        and "`run` ÷ plancher polars, durée, PostgreSQL (1×)" in text
    )
    assert "2× fichiers ÷ 1×, CPU, PostgreSQL" in text and "`campaign close` (1×), RSS maximal, SQLite" in text
    assert "Identifiants polars ÷ python-stdnum (par valeur)" in text
    assert re.search(r"\| `run` ÷ plancher \(1×\) \| SQLite \| 1 \| \d+,\d\d \| \d+,\d\d – \d+,\d\d \|", text)
    assert "| Charge au début du banc (1 min) |" in text and text.count("Charge de la machine") >= 4
    assert "## Profil d'une exécution à 1× (pyinstrument)" in text
    from tests.twohosts import missing

    if missing() is None:  # root, ip, unshare and initdb: the failover of two nodes was measured
        assert "## Bascule entre deux nœuds" in text and "| kill -9 du meneur |" in text


def test_the_purge_of_each_campaign_is_measured_against_its_run(measured) -> None:
    assert not [n for n in measured.notes if n.startswith("Purge")]
    assert sorted((r.backend, r.campaign.key) for r in measured.purge) == sorted(
        [("sqlite", ONE), ("postgresql", ONE), ("postgresql", FILES)]  # purge ÷ run at 10× files on PostgreSQL
    )
    for r in measured.purge:
        assert r.run.wall > 0 and r.dry_run.wall > 0 and r.purge.wall > 0 and r.anonymised > 0
        assert (r.database_bytes is None) == (r.backend == "postgresql")
    text = bench.render(measured)
    assert "## Purge (durées de conservation)" in text
    assert "Purge d'une année ÷ le run qui l'a reçue (SQLite, 1×)" in text
    assert "Purge à blanc (--dry-run) d'une année (PostgreSQL, 1×)" in text


def test_target_verdicts_say_by_how_much() -> None:
    assert Target("x", 2.0, 3, True).gap == "atteint"
    assert Target("x", 6.0, 3, True).gap == "manqué : 2,00 fois la limite"
    assert Target("x", 15.0, 100, False).gap == "manqué : 15 % de l'objectif"
    assert num(1234567.891) == "1 234 567,89"


def test_child_peak_rss_is_the_childs_own(tmp_path: Path) -> None:
    (tmp_path / "grow.py").write_text("b = bytearray(200 * 2**20)\nb[::4096] = b'x' * len(b[::4096])\n")
    (tmp_path / "idle.py").write_text("pass\n")
    hog = bytearray(300 * 2**20)  # a large parent must not show in its children's figures
    hog[::4096] = b"y" * len(hog[::4096])
    small = run_module("idle", [], cwd=tmp_path)
    big = run_module("grow", [], cwd=tmp_path)
    assert small.returncode == 0 and big.returncode == 0
    assert small.peak_rss < 100 * 2**20
    assert 200 * 2**20 < big.peak_rss < 300 * 2**20


def test_sftp_bench_against_real_sshd(tiny, tmp_path: Path) -> None:
    if not sftp_available():
        unavailable("OpenSSH sshd and sftp")
    campaign, manifest = tiny
    res = sftp_bench(campaign, tmp_path / "sftp", rounds=2, big_bytes=2 * 2**20)
    assert res.files == manifest["files"]["total"]
    tools = ["esat-exchange", "OpenSSH sftp -b", "paramiko naïf"]
    for rounds in (res.small, res.big_down, res.big_up):
        assert list(rounds.runs) == tools and all(len(rounds.runs[t]) == 2 for t in tools)
        assert len(rounds.load) == 2 and all(r.wall > 0 and r.cpu >= 0 for t in tools for r in rounds.runs[t])
        assert len(rounds.ratios("esat-exchange", "OpenSSH sftp -b")) == 2
    labels = [t.label for t in res.targets()]
    assert labels[0] == "SFTP petits fichiers : fichiers/s ÷ OpenSSH" and len(labels) == 4
    section = res.section()
    assert section.startswith("## SFTP (sshd OpenSSH sur 127.0.0.1)") and "2 tours" in section
    assert "os.getloadavg()" in section and section.count("| Petits fichiers |") == 3


def test_the_sftp_section_replaces_only_its_own_lines() -> None:
    from fixtures.bench_sftp import replace_section

    report = (
        "# B\n\n## Objectifs\n\n| Objectif | Mesuré | Cible | Verdict |\n|---|---|---|---|\n"
        "| Bout en bout | 6 × | ≤ 3 × | manqué |\n| SFTP vieux | 0,3 × | ≥ 0,6 × | manqué |\n\n"
        "### Objectifs manqués : de combien, et pourquoi\n\n- **Bout en bout** — manqué.\n"
        "- **SFTP vieux** — manqué.\n\n## SFTP (ancien)\n\nvieux\n\n## Mémoire\n\nreste\n\n"
        "## Durée du banc\n\n| Étape | Secondes |\n|---|---|\n| SFTP | 63,6 |\n"
    )
    targets = [Target("SFTP neuf", 0.5, 0.7, False, why="parce que."), Target("SFTP ok", 1.0, 0.8, False)]
    out = replace_section(report, "## SFTP (neuf)\n\nnouveau\n", targets)
    assert "vieux" not in out and "## SFTP (neuf)\n\nnouveau\n" in out and "## Mémoire\n\nreste" in out
    assert "| Bout en bout | 6 × | ≤ 3 × | manqué |\n| SFTP neuf | 0,50 × | ≥ 0,70 × |" in out
    assert "- **Bout en bout** — manqué.\n- **SFTP neuf** — manqué : 71 % de l'objectif. parce que.\n" in out
    assert "SFTP ok** —" not in out
    assert "| SFTP | 63,6 |" in out  # another table's SFTP row is left alone


def test_a_relative_work_folder_gives_absolute_configuration_paths(
    tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fixtures.bench_pipeline import prepare_run

    campaign, _ = tiny
    monkeypatch.chdir(tmp_path)
    cfg = prepare_run(campaign, Path("relatif"))
    text = cfg.read_text(encoding="utf-8")
    assert f'root = "{(tmp_path / "relatif" / "drop").as_posix()}"' in text
    assert (tmp_path / "relatif" / "exchange.db").exists()  # the Habpps import ran against it


def test_console_only_rewrites_the_console_section_and_targets_and_keeps_the_rest() -> None:
    from fixtures.bench_console import PageFigures
    from fixtures.bench_render import console_block, console_targets
    from fixtures.bench_util import Measure

    old = "\n".join(
        [
            "# BENCHMARKS",
            "",
            "## Objectifs",
            "",
            "| Objectif | Mesuré | Cible | Verdict |",
            "|---|---|---|---|",
            "| `run` ÷ plancher | 2,61 × | ≤ 3,00 × | atteint |",
            "| Console : page la plus lente, SQLite 10× fichiers (Campagne) | 312,05 ms | ≤ 300,00 ms | manqué : 1,04 fois la limite |",
            "| Identifiants | 31,75 × | ≥ 20,00 × | atteint |",
            "",
            "### Objectifs manqués : de combien, et pourquoi",
            "",
            "- **Console : page la plus lente, SQLite 10× fichiers (Campagne)** — manqué : 1,04 fois la limite. Lent.",
            "- **Règles ÷ frictionless** — manqué. Pourquoi.",
            "",
            "## Console web (SQLite 10× fichiers)",
            "",
            "ancien tableau",
            "",
            "## Commandes d'exploitation",
            "",
            "gardé",
            "",
        ]
    )
    console = {
        "Tableau de bord (`/`)": PageFigures(Measure([0.05, 0.06]), 1.5, first=0.1),
        "Campagne (`/campagne`)": PageFigures(Measure([0.2, 0.25]), 6.0, first=0.45),
    }
    found = console_targets(console, "SQLite 10× fichiers")
    new = bench.with_console(old, console_block(console, "SQLite 10× fichiers", 2, "Mesuré seul."), found)
    lines = new.splitlines()
    assert [line for line in lines if line.startswith("| Console :")] == [
        "| Console : page la plus lente, SQLite 10× fichiers (Campagne (`/campagne`)) | 225,00 ms | ≤ 300,00 ms | atteint |",
        "| Console : première vue la plus lente, SQLite 10× fichiers (Campagne (`/campagne`)) | 450,00 ms "
        "| ≤ 300,00 ms | manqué : 1,50 fois la limite |",
        "| Console : page la plus haute, SQLite 10× fichiers (Campagne (`/campagne`)) | 6,00 écrans | ≤ 5,00 écrans "
        "| manqué : 1,20 fois la limite |",
    ]
    missed = [line for line in lines if line.startswith("- **Console")]
    assert [m.split("** — ")[0] for m in missed] == [
        "- **Console : première vue la plus lente, SQLite 10× fichiers (Campagne (`/campagne`))",
        "- **Console : page la plus haute, SQLite 10× fichiers (Campagne (`/campagne`))",
    ]
    assert "- **Règles ÷ frictionless** — manqué. Pourquoi." in lines and "ancien tableau" not in new
    assert "| Campagne (`/campagne`) | 450 | 225 | 250 | 2 | 6,0 | non |" in lines
    assert "| Tableau de bord (`/`) | 100 | 55 | 60 | 2 | 1,5 | oui |" in lines
    assert lines.index("## Commandes d'exploitation") > lines.index("<!-- console : fin -->")
    assert "gardé" in lines and "| Identifiants | 31,75 × | ≥ 20,00 × | atteint |" in lines
    # a second pass finds the markers and replaces the same block
    again = bench.with_console(new, console_block(console, "SQLite 10× fichiers", 2, "Encore."), found)
    assert again.count("## Console web") == 1 and "Encore." in again and "Mesuré seul." not in again
