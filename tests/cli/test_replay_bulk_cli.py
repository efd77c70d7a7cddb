"""`files replay --habilitation` (issue 23 §3): after a corrected Habpps extract, the command line replays at once
every file rejected for a habilitation code (of one Esat with --siret), as the console's bulk replay does, through
the same use case; a simulation lists them first; each replay and the group are journaled as `cli:<user>`.

The database: the spec's examples run with no extract (the four files rejected H05), then the extract imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.core.perimeter import EVERYTHING
from exchange.store.engine import open_database
from exchange.store.reads.audit import list_audit
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES

SEINE, HORIZON = "81234567600017", "44306184100021"
NAMES = {
    1: "ESAT_81234567600017_CA_20251212_001.csv",
    2: "ESAT_81234567600017_RG_20251210_001.csv",
    3: "ESAT_44306184100021_CA_20251212_001.xml",
    4: "ESAT_44306184100021_RG_20251211_001.xml",
}


@pytest.fixture
def area(tmp_path: Path) -> Path:
    seed_examples(tmp_path)
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0  # no extract: every file H05
    return tmp_path


def journal(base: Path) -> list[tuple[str, str, str, str]]:
    from exchange.config import load_config

    engine = open_database(load_config(base / "esat-exchange.toml").database_url)
    try:
        with engine.connect() as conn:
            lines = list_audit(conn, perimeter=EVERYTHING)
    finally:
        engine.dispose()
    return [
        (e["action"], e["objet"], e["resultat"], e["siret"] or "")
        for e in reversed(lines)
        if e["action"].startswith("rejeu")
    ]


def run_of(out: str) -> int:
    """The one replay run a bulk replay's summary names."""
    return int(out.splitlines()[-1].split("(exécution n° ")[1].split(")")[0])


def test_nothing_to_replay_before_the_corrected_extract(area):
    # the files wait for an extract imported after their judgement: replaying them now would reject them again
    assert cli(area, "files", "replay", "--habilitation") == (
        0,
        "Aucun fichier à rejouer : aucun fichier rejeté pour une habilitation n'attend un rejeu.\n",
        "",
    )
    assert journal(area) == [("rejeu_groupe", "tous les Esats", "OK", "")]


def test_simulation_lists_then_one_esat_then_every_file_is_replayed_and_journaled(area):
    assert cli(area, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    code, out, err = cli(area, "files", "replay", "--habilitation", "--dry-run")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Rejeu groupé des fichiers rejetés pour une habilitation (simulation) : 4 fichiers seraient rejoués.",
        *[f"  n° {i} {NAMES[i]} : REJETE H05" for i in (1, 2, 3, 4)],
    ]
    assert journal(area) == []  # a simulation changes nothing

    code, out, err = cli(area, "files", "replay", "--habilitation", "--siret", SEINE)
    assert (code, err) == (0, "")
    run = run_of(out)  # both files in one replay run, as the console's bulk replay
    assert out.splitlines() == [
        f"Fichier n° 1 rejoué (jugé au 15/12/2025) : ACCEPTE (exécution n° {run}).",
        f"Fichier n° 2 rejoué (jugé au 15/12/2025) : ACCEPTE (exécution n° {run}).",
        f"Rejeu groupé des fichiers de l'Esat {SEINE} (exécution n° {run}) : 2 fichiers rejoués sur 2.",
    ]
    code, out, _ = cli(area, "files", "replay", "--habilitation", "--dry-run")
    assert out.splitlines()[0].endswith(": 2 fichiers seraient rejoués.") and HORIZON in out and SEINE not in out

    code, out, err = cli(area, "files", "replay", "--habilitation")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == (
        f"Rejeu groupé des fichiers rejetés pour une habilitation (exécution n° {run_of(out)}) : "
        "2 fichiers rejoués sur 2."
    )
    code, out, _ = cli(area, "files", "show", "4")
    assert code == 0 and "ACCEPTE" in out
    assert cli(area, "files", "replay", "--habilitation")[1].startswith("Aucun fichier à rejouer")
    assert journal(area) == [
        ("rejeu", "fichier n° 1", "OK", SEINE),
        ("rejeu", "fichier n° 2", "OK", SEINE),
        ("rejeu_groupe", f"Esat {SEINE}", "OK", SEINE),
        ("rejeu", "fichier n° 3", "OK", HORIZON),
        ("rejeu", "fichier n° 4", "OK", HORIZON),
        ("rejeu_groupe", "tous les Esats", "OK", ""),
        ("rejeu_groupe", "tous les Esats", "OK", ""),
    ]


def test_several_ids_each_checked_the_refusals_said_and_exit_1(area):
    assert cli(area, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    code, out, err = cli(area, "files", "replay", "2", "99", "1")
    run = run_of(out)
    assert out.splitlines() == [
        f"Fichier n° 1 rejoué (jugé au 15/12/2025) : ACCEPTE (exécution n° {run}).",
        f"Fichier n° 2 rejoué (jugé au 15/12/2025) : ACCEPTE (exécution n° {run}).",
        f"Rejeu groupé des fichiers demandés (exécution n° {run}) : 2 fichiers rejoués sur 3.",
    ]
    assert err.endswith("\nFichier n° 99 inconnu.\n") and code == 1  # after the run's own warning in its log
    assert "WARNING fichier 3/3 non rejoué : fichier inconnu" in err
    assert journal(area)[-1] == ("rejeu_groupe", "tous les Esats", "ECHEC", "")


@pytest.mark.parametrize(
    "args, message",
    [
        (("files", "replay"), "donnez des numéros de fichier, ou --habilitation (pas les deux)."),
        (
            ("files", "replay", "3", "--habilitation"),
            "donnez des numéros de fichier, ou --habilitation (pas les deux).",
        ),
        (("files", "replay", "--siret", SEINE), "--siret ne s'emploie qu'avec --habilitation."),
        (("files", "replay", "--habilitation", "--siret", "8123"), "SIRET invalide '8123' (14 chiffres attendus)."),
    ],
)
def test_usage_errors_are_french_and_exit_2(area, args, message):
    assert cli(area, *args) == (2, "", f"esat-exchange files replay : {message}\n")


def test_one_id_keeps_the_single_replay_output(area):
    assert cli(area, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    code, out, err = cli(area, "files", "replay", "2")
    assert (code, err) == (0, "")
    assert out.splitlines()[:2] == [
        "Fichier n° 2 rejoué (jugé au 15/12/2025) : ACCEPTE.",
        f"Exécution n° {out.split('Exécution n° ')[1].split(' ')[0]} : terminée.",
    ]
    assert journal(area) == [("rejeu", "fichier n° 2", "OK", SEINE)]


def test_replays_are_refused_at_once_while_the_drop_area_is_down(area):

    from exchange.config import load_config
    from tests.rows import all_files, run_count

    assert cli(area, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    engine = open_database(load_config(area / "esat-exchange.toml").database_url)
    with engine.connect() as conn:
        before = run_count(conn)
    (area / "drop").rename(area / "ailleurs")  # the drop area is gone: nothing can be answered
    code, out, err = cli(area, "files", "replay", "2")
    assert code == 1 and out == ""
    assert err.startswith("Rejeu du fichier n° 2 impossible : la zone de dépôt est injoignable depuis ")
    assert "dossier de dépôt introuvable" in err and "rien n'est changé" in err and "None" not in err
    code, out, err = cli(area, "files", "replay", "--habilitation")
    assert code == 1 and "0 fichier rejoué sur 4." in out
    assert err.count("impossible : la zone de dépôt est injoignable") == 4 and "REJETE" not in err
    with engine.connect() as conn:
        assert run_count(conn) == before  # no run left behind
        assert {f["code"] for f in all_files(conn)} == {"H05"}  # nothing judged, nothing claimed
    engine.dispose()
