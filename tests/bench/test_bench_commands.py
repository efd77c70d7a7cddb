"""fixtures.bench_commands: interleaved (--help, command) pairs measured in child processes, a French section."""

from __future__ import annotations

from fixtures.bench_commands import STARTUP, command_times
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES


def test_command_times_measures_pairs_and_writes_its_section(tmp_path):
    seed_examples(tmp_path)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    times = command_times(tmp_path / "esat-exchange.toml", 2, only=("runs show 1", "files list (terminal)"))
    assert list(times) == [STARTUP, "runs show 1", "files list (terminal)"]
    assert times[STARTUP].pairs == 4 and all(v > 0 for v in times[STARTUP].wall.values)
    assert times["runs show 1"].pairs == 2 and times["files list (terminal)"].terminal
    section = times.section()
    assert section.startswith("## Commandes d'exploitation") and "| `runs show 1` |" in section
