"""The bench's arithmetic: per-pair ratios, their median and range, the rounds of the big runs (pure, nothing timed)."""

from __future__ import annotations

import math
from pathlib import Path

from fixtures.bench_e2e import CLOSE, FILES, FLOOR, ONE, RECORDS, RUN, Campaign, Rounds, Sample
from fixtures.bench_e2e_report import load_text, section, targets
from fixtures.bench_pairs import Ratio, pair_ratios, spread


def test_each_pair_is_divided_in_its_own_round_and_the_median_taken() -> None:
    r = pair_ratios({0: 10.0, 1: 30.0, 2: 12.0}, {0: 2.0, 1: 3.0, 2: 4.0})
    assert r.values == (5.0, 10.0, 3.0)
    assert (r.median, r.low, r.high, r.pairs) == (5.0, 3.0, 10.0, 3)


def test_a_round_measured_on_one_side_only_makes_no_pair() -> None:
    r = pair_ratios({0: 8.0, 2: 9.0, 3: 1.0}, {0: 4.0, 1: 7.0, 2: 3.0, 3: 0.0})
    assert r.values == (2.0, 3.0)  # round 1 has no numerator, round 3 a zero denominator
    assert r.median == 2.5


def test_no_pair_gives_nan_not_an_error() -> None:
    r = pair_ratios({}, {0: 1.0})
    assert r.pairs == 0 and math.isnan(r.median) and math.isnan(r.low) and math.isnan(r.high)
    assert Ratio((4.0,)).median == Ratio((4.0,)).low == 4.0


def test_the_median_of_pairs_is_not_the_ratio_of_medians() -> None:
    a, b = {0: 1.0, 1: 10.0, 2: 10.0}, {0: 1.0, 1: 1.0, 2: 10.0}  # one loaded round per side
    assert pair_ratios(a, b).median == 1.0
    assert sorted(a.values())[1] / sorted(b.values())[1] == 10.0


def test_big_rounds_are_spread_among_the_rounds() -> None:
    assert spread(2, 5) == [1, 3]
    assert spread(1, 5) == [2]
    assert spread(5, 5) == [0, 1, 2, 3, 4]
    assert spread(7, 3) == [0, 1, 2]  # never more big rounds than rounds
    assert spread(0, 4) == []
    assert spread(2, 2) == [0, 1]


def _s(wall: float, cpu: float, rss: int = 100 << 20, load: float = 1.0) -> Sample:
    return Sample(wall, cpu, rss, load, load + 0.5)


def _rounds() -> Rounds:
    c = {
        ONE: Campaign(ONE, "1×", Path("a"), 10, 100, 10_000),
        RECORDS: Campaign(RECORDS, "10× enregistrements", Path("b"), 10, 100, 100_000),
        FILES: Campaign(FILES, "10× fichiers", Path("c"), 100, 1000, 100_000),
    }
    res = Rounds(campaigns=c, backends=["sqlite"], rounds=2, big_rounds=[0, 1])
    for rnd, (floor, one, recs, files) in enumerate([(1.0, 4.0, 20.0, 44.0), (2.0, 5.0, 30.0, 60.0)]):
        res.add("sqlite", FLOOR, ONE, rnd, _s(floor * 1.5, floor))
        res.add("sqlite", RUN, ONE, rnd, _s(one * 1.5, one))
        res.add("sqlite", RUN, RECORDS, rnd, _s(recs * 1.5, recs))
        res.add("sqlite", RUN, FILES, rnd, _s(files * 1.5, files))
        res.add("sqlite", CLOSE, ONE, rnd, _s(1.0, 1.0, rss=(300 + rnd * 100) << 20))
    return res


def test_rounds_give_cpu_and_wall_ratios_per_backend() -> None:
    res = _rounds()
    assert res.ratio("sqlite", (RUN, ONE), (FLOOR, ONE), "cpu").values == (4.0, 2.5)
    assert res.ratio("sqlite", (RUN, FILES), (RUN, ONE), "cpu").values == (11.0, 12.0)
    assert res.ratio("sqlite", (RUN, FILES), (RUN, ONE), "wall").median == 11.5
    assert res.median("sqlite", CLOSE, ONE, "peak_rss") == 350 << 20
    assert sorted(res.loads()) == [1.0] * 10 + [1.5] * 10


def test_targets_say_which_are_met_and_why_not() -> None:
    found = {t.label: t for t in targets(_rounds(), " ; le profil attribue : x 50 %")}
    floor = found["`run` ÷ plancher polars, CPU, SQLite (1×)"]
    assert floor.measured == 3.25 and not floor.met and "le profil attribue : x 50 %" in floor.why
    files = found["10× fichiers ÷ 1×, CPU, SQLite"]
    assert files.measured == 11.5 and not files.met
    assert "par fichier passe de 45,0 ms à 52,0 ms (+16 %)" in files.why  # medians: 4.5 s / 100, 52 s / 1000
    assert found["10× enregistrements ÷ 1×, CPU, SQLite"].met
    close = found["`campaign close` (1×), RSS maximal, SQLite"]
    assert close.measured == 350 and not close.met


def test_section_lists_the_pairs_and_the_load() -> None:
    text = section(_rounds())
    assert (
        "| `run` ÷ plancher (1×) | SQLite | 2 | 3,25 | 2,50 – 4,00 | 3,25 | 2,50 – 4,00 | ≤ 2,00 (CPU) | non |" in text
    )
    assert "1,00 à 1,50 (médiane 1,25)" in text
    assert load_text([float("nan")]) == "—"


def test_operator_commands_are_rendered_whatever_their_measures_look_like() -> None:
    from types import SimpleNamespace

    from fixtures.bench import QUICK, Results
    from fixtures.bench_render import commands_section
    from fixtures.bench_util import Measure

    res = Results(plan=QUICK, machine={}, e2e=_rounds())
    res.e2e.kept_campaign = FILES
    res.commands = {
        "status": SimpleNamespace(wall=Measure([0.2, 0.4, 0.3]), cpu=Measure([0.1, 0.2, 0.3])),
        "files list": SimpleNamespace(wall=[0.5, 0.7]),
        "--help": 0.25,
    }
    text = commands_section(res)
    assert text.startswith("## Commandes d'exploitation (SQLite 10× fichiers)")
    assert "| status | 300 | 200 | 3 |" in text
    assert "| files list | 600 | — | — |" in text and "| --help | 250 | — | — |" in text


def test_quick_plan_and_its_overrides() -> None:
    from fixtures.bench import parse_args, plan_of

    plan = plan_of(parse_args(["--quick", "--pairs", "3", "--backends", "sqlite"]))
    assert plan.quick and plan.esats == 60 and plan.workers == 5000 and plan.pairs == 3 and plan.big_pairs == 2
    assert plan.backends == ("sqlite",) and not plan.sftp and not plan.profile and plan.failover_reps == 0
    full = plan_of(parse_args(["--no-big", "--big-pairs", "1"]))
    assert (full.esats, full.pairs, full.big, full.big_pairs, full.backends) == (
        1400,
        3,  # the default: 3 rounds at 1×, so that the whole bench fits in 25 minutes (docs/benchmark.md)
        0.0,
        1,
        ("sqlite", "postgresql"),
    )


def test_rounds_alternate_backends_and_spread_the_big_runs(monkeypatch, tmp_path: Path) -> None:
    from fixtures import bench_e2e

    order: list[str] = []

    def floor(campaign, out):  # noqa: ANN001, ANN202
        order.append("plancher")
        return Sample(1.0, 1.0, 1, 0.0, 0.0, campaign.records)

    def run(campaign, work, backend, close, keep, after=None):  # noqa: ANN001, ANN202
        then = ":purge" if after is not None else ""
        order.append(f"{backend}:{campaign.key}{':close' if close else ''}{':keep' if keep else ''}{then}")
        s = Sample(2.0, 2.0, 1, 0.0, 0.0, campaign.records)
        return s, (s if close else None), (after(campaign, work, backend, work / "cfg", s) if after else None)

    monkeypatch.setattr(bench_e2e, "floor_sample", floor)
    monkeypatch.setattr(bench_e2e, "run_sample", run)
    res = bench_e2e.measure(
        _rounds().campaigns,
        ["sqlite", "postgresql"],
        3,
        1,
        tmp_path,
        say=lambda _: None,
        after=lambda campaign, work, backend, cfg, s: (backend, campaign.key),
        # the purge on the last run of each: never on the run kept for the console (SQLite 10× files)
        after_on=frozenset(
            {("sqlite", "1x"), ("postgresql", "1x"), ("postgresql", "10x-fichiers"), ("sqlite", "10x-fichiers")}
        ),
    )
    assert res.rounds == 3 and res.big_rounds == [1]
    assert order == [
        "plancher",
        "sqlite:1x:close",
        "plancher",
        "postgresql:1x:close",
        "plancher",
        "postgresql:1x:close",
        "postgresql:10x-enr",
        "postgresql:10x-fichiers:purge",
        "plancher",
        "sqlite:1x:close",
        "sqlite:10x-enr",
        "sqlite:10x-fichiers:keep",
        "plancher",
        "sqlite:1x:close:purge",
        "plancher",
        "postgresql:1x:close:purge",
    ]
    assert res.after_runs == [("postgresql", "10x-fichiers"), ("sqlite", "1x"), ("postgresql", "1x")]
    assert res.kept == tmp_path / "sqlite-10x-fichiers" / "esat-exchange.toml"
    assert res.ratio("postgresql", (RUN, ONE), (FLOOR, ONE), "cpu").pairs == 3
