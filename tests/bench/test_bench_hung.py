"""The bench's measure of the console with the drop area hung (fixtures/bench_hung.py) on the spec's examples: every
page is timed once the console says the drop area is unreachable (it raises on a page that does not)."""

from __future__ import annotations

from fixtures.bench_hung import _examples, hung_pages


def test_every_page_and_probe_is_timed_with_a_silent_sftp_server(tmp_path):
    figures = hung_pages(_examples(tmp_path), reps=1)
    labels = [label.split(" (`")[0] for label in figures]
    assert {"Tableau de bord", "Un fichier rejeté", "Campagne", "Sonde /sante", "Métriques /metrics"} <= set(labels)
    assert all(m.runs == 1 and m.values[0] > 0 for m in figures.values())
