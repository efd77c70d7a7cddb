"""The bench's measure of the console with the drop area hung (fixtures/bench_hung.py) on the spec's examples: every
page is timed once the console says the drop area is unreachable (it raises on a page that does not)."""

from __future__ import annotations

from fixtures.bench_hung import _examples, hung_pages, targets
from fixtures.bench_hung import section as section_of


def test_every_page_and_probe_is_timed_with_a_silent_sftp_server(tmp_path):
    figures = hung_pages(_examples(tmp_path), reps=1)
    labels = [label.split(" (`")[0] for label in figures]
    assert {"Tableau de bord", "Un fichier rejeté", "Campagne", "Sonde /sante", "Métriques /metrics"} <= set(labels)
    assert all(m.runs == 1 and m.values[0] > 0 for m in figures.values())
    section = section_of(figures, "exemples")
    assert section.startswith("## Console, zone de dépôt muette (exemples)")
    assert "| Métriques /metrics (`/metrics`) |" in section
    found = targets(figures, "exemples")
    assert [t.limit for t in found] == [1000.0, 50.0] and all(t.unit == "ms" for t in found)
    assert found[0].label.startswith("Console, zone de dépôt muette : page la plus lente, exemples (")
