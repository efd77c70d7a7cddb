"""Through `run`: each habilitation failure rejects the file with its code and emits nothing; replay after the fix emits."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from sqlalchemy import delete

from exchange.store.engine import open_database
from exchange.store.tables import hab_partenaires
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES
from tests.expected import read_cr

SEINE_RG = "ESAT_81234567600017_RG_20251210_001.csv"
SEINE = "81234567600017"


def mutated_extract(tmp_path, edits: dict[str, list[tuple[str, str]]]):
    """A copy of the example Habpps extract with textual edits per table."""
    target = tmp_path / "habpps-mutated"
    shutil.copytree(EXAMPLES / "habpps", target)
    for table, replacements in edits.items():
        path = target / f"{table}.csv"
        text = path.read_text(encoding="utf-8")
        for old, new in replacements:
            assert old in text, f"{old!r} not in {table}"
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
    return target


CASES = {
    "F06": {
        "utilisateurs": [
            ("esat-seine;81234567600017;G-75-0001-ESAT-DECL", "esat-seine;44306184100021;G-13-0042-ESAT-DECL")
        ]
    },
    "H02": {"conventions": [("CONV-75-0001;81234567600017;ACTIVE", "CONV-75-0001;81234567600017;CLOTUREE")]},
    "H07": {"conventions": [("CENTRALISE;2024-01-15", "CENTRALISE;")]},
    "H03": {"bulletins": [("2025-05-20;SIGNE", "2025-05-20;EN_ATTENTE")]},
    "H04": {"bulletins": [("ESAT;81234567600017;2025-05-20", "ESAT;81234567600025;2025-05-20")]},
    "H05": {
        "utilisateurs": [
            ("esat-seine;81234567600017;G-75-0001-ESAT-DECL;O", "esat-seine;81234567600017;G-75-0001-ESAT-DECL;N")
        ]
    },
    "H05-declarant": {
        "groupes": [
            ("G-75-0001-ESAT-DECL;CONV-75-0001;ESAT;DECLARANT", "G-75-0001-ESAT-DECL;CONV-75-0001;ESAT;CONSULTANT")
        ]
    },
    "H06": {"partenaires": [("ESAT Les Ateliers de la Seine;75;75;", "ESAT Les Ateliers de la Seine;75;976;")]},
}


def seine_emitted(base) -> pl.DataFrame:
    frames = [pl.read_parquet(p) for p in (base / "outbound").glob("*/AAH-ESAT_*.parquet")]
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal").filter(pl.col("siret_esat") == SEINE)


@pytest.mark.parametrize("case", sorted(CASES) + ["H01"])
def test_habilitation_failure_rejects_then_replay_emits(tmp_path, case, db_url):
    seed_examples(tmp_path, db_url)
    if case == "H01":  # an extract accepted by the import always knows the login's partner:
        # H01 guards a partner that disappeared from the tables in force
        assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
        engine = open_database(f"sqlite:///{tmp_path / 'exchange.db'}" if db_url.startswith("sqlite") else db_url)
        with engine.begin() as conn:
            conn.execute(delete(hab_partenaires).where(hab_partenaires.c.siret == SEINE))
    else:
        code, out, err = cli(tmp_path, "habilitations", "import", str(mutated_extract(tmp_path, CASES[case])))
        assert code == 0, out + err
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0

    expected_code = case.split("-")[0]
    rows = read_cr(tmp_path / "drop" / "esat-seine" / "retour" / f"{SEINE_RG}.CR.csv")
    assert [(r["statut"], r["code"], r["gravite"], r["ligne"]) for r in rows] == [
        ("REJETE", expected_code, "BLOQUANTE", "")
    ]
    assert rows[0]["enregistrements_recus"] == "3" and rows[0]["enregistrements_rejetes"] == "3"
    assert "Caf" in rows[0]["message"] or "CSSM" in rows[0]["message"]
    assert seine_emitted(tmp_path).height == 0
    # the other Esat is not affected
    assert (
        read_cr(tmp_path / "drop" / "horizon-paie" / "retour" / "ESAT_44306184100021_RG_20251211_001.xml.CR.csv")[0][
            "statut"
        ]
        == "ACCEPTE"
    )

    # the Caf fixes the habilitations; the operator replays the kept file
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    code, out, _ = cli(tmp_path, "files", "list", "--siret", SEINE, "--format", "json")
    import json

    listed = {f["fichier"]: f for f in json.loads(out)}
    file_id = listed[SEINE_RG]["id"]
    code, out, err = cli(tmp_path, "files", "replay", str(file_id))
    assert code == 0, out + err
    assert "ACCEPTE" in out
    rows = read_cr(tmp_path / "drop" / "esat-seine" / "retour" / f"{SEINE_RG}.CR.csv")
    assert [(r["statut"], r["code"]) for r in rows] == [("ACCEPTE", "")]
    assert rows[0]["date_traitement"] == "2025-12-15"  # judged at its original processing date
    emitted = seine_emitted(tmp_path)
    assert sorted(emitted["nom"].to_list()) == ["LEFÈVRE", "MARTIN", "N'DIAYE"]
    assert set(emitted["caf_gestionnaire"]) == {"75"}
    # the compte rendu of the first judgement is kept under the file's id, the new one has the plain name
    kept = read_cr(tmp_path / "drop" / "esat-seine" / "retour" / f"{SEINE_RG}.{file_id}.CR.csv")
    assert [(r["statut"], r["code"]) for r in kept] == [("REJETE", expected_code)]
    assert (tmp_path / "drop" / "esat-seine" / "retour" / f"{SEINE_RG}.{file_id}.CR.xml").exists()
    assert (tmp_path / "drop" / "esat-seine" / "retour" / f"{SEINE_RG}.{file_id}.CR.html").exists()
    if expected_code.startswith("H"):
        assert kept[0]["que_faire"].startswith(
            "Aucune ligne n'a été traitée : demandez à votre Caf de corriger votre habilitation"
        )
    # the replayed file's compte rendu says it is a replay, and when
    import re

    assert re.fullmatch(
        r"Nouveau traitement de ce fichier le [0-3][0-9]/[01][0-9]/20[0-9]{2} à [0-2][0-9]:[0-5][0-9] "
        r"\(après une correction de la Caf\) : ce compte rendu remplace le précédent\. Aucune anomalie\.",
        rows[0]["synthese"],
    ), rows[0]["synthese"]
    from lxml import etree

    root = etree.fromstring((tmp_path / "drop" / "esat-seine" / "retour" / f"{SEINE_RG}.CR.xml").read_bytes())
    assert root.get("rejoueLe") and root.get("rejoueLe").startswith("20")
    page = (tmp_path / "drop" / "esat-seine" / "retour" / f"{SEINE_RG}.CR.html").read_text(encoding="utf-8")
    assert "Nouveau traitement de ce fichier le " in page


def test_replay_of_an_accepted_file_is_refused(tmp_path):
    seed_examples(tmp_path)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    runs_before = cli(tmp_path, "runs", "list", "--format", "json")[1]
    code, out, err = cli(tmp_path, "files", "replay", "1")
    assert code == 1
    assert err == (
        "Rejeu impossible : le fichier n° 1 (ACCEPTE) ne peut pas être rejoué : seul un fichier rejeté "
        "en entier pour une habilitation (codes H01 à H07) ou pour F06, ou mis en quarantaine, peut "
        "l'être ; pour corriger des enregistrements, l'Esat envoie un nouveau fichier.\n"
    )
    assert cli(tmp_path, "runs", "list", "--format", "json")[1] == runs_before  # nothing ran


def test_replay_before_a_corrected_extract_is_refused_with_what_to_do(tmp_path):
    seed_examples(tmp_path)  # no extract: every file is rejected H05
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    runs_before = cli(tmp_path, "runs", "list", "--format", "json")[1]
    code, out, err = cli(tmp_path, "files", "replay", "1")
    assert code == 1 and out == ""
    assert err.startswith("Rejeu impossible : le fichier n° 1 a été rejeté pour H05 (habilitation) le "), err
    assert err.endswith(
        " et aucun extrait Habpps n'a été importé depuis : rejoué maintenant, il serait rejeté de "
        "nouveau pour la même raison. Importez d'abord l'extrait corrigé par la Caf, puis rejouez le "
        "fichier.\n"
    ), err
    assert cli(tmp_path, "runs", "list", "--format", "json")[1] == runs_before  # nothing ran, no second rejection
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    code, out, err = cli(tmp_path, "files", "replay", "1")
    assert code == 0 and "rejoué" in out, out + err


def test_replay_while_a_cycle_runs_elsewhere_says_so(tmp_path):
    from exchange.store.engine import open_database
    from exchange.store.fences import holding

    cfg = seed_examples(tmp_path)  # no habilitation extract yet: every file is H05, hence replayable…
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0  # …once an extract is in
    with holding(open_database(cfg.database_url), "cycle") as held:
        assert held is not None
        code, out, err = cli(tmp_path, "files", "replay", "1")
    assert code == 1 and "non effectué" in err and "rejoué" not in out
