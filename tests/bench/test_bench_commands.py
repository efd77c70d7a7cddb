"""fixtures.bench_commands: interleaved (--help, command) pairs measured in child processes, a French section."""

from __future__ import annotations

from fixtures.bench_commands import EMPTY_PURGE, STARTUP, command_times
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES


def test_command_times_measures_pairs_and_writes_its_section(tmp_path):
    seed_examples(tmp_path)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    times = command_times(tmp_path / "esat-exchange.toml", 2, only=("runs show 1", "files list (terminal)"))
    assert list(times) == [STARTUP, "runs show 1", "files list (terminal)", EMPTY_PURGE]
    assert times[STARTUP].pairs == 4 and all(v > 0 for v in times[STARTUP].wall.values)
    assert times["runs show 1"].pairs == 2 and times["files list (terminal)"].terminal
    assert times[EMPTY_PURGE].whole and times[EMPTY_PURGE].pairs == 2
    assert all(v > 0 for v in times[EMPTY_PURGE].cpu.values)
    section = times.section()
    assert section.startswith("## Commandes d'exploitation") and "| `runs show 1` |" in section
    assert f"| {EMPTY_PURGE} |" in section
    labels = [t.label for t in times.targets()]
    assert labels == [
        "Démarrage de la ligne de commande : `--help` (durée)",
        "Démarrage de la ligne de commande : `purge --dry-run` sur une base vide, démarrage compris (durée)",
    ]
    assert all(t.limit == 100 and t.unit == "ms" for t in times.targets())
