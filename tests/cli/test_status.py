"""`status`: exit 0 when healthy, 1 with French reasons when the nightly failed or is stale, a file is stuck,
or the drop area is unreachable."""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import insert

from exchange.store.engine import open_database
from exchange.store.ledger import utcnow
from exchange.store.tables import anomalies, files  # planted: rejected files of the last day, with anomalies
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES
from tests.rows import forget_runs, plant_run, set_file


@pytest.fixture
def area(tmp_path, db_url):
    seed_examples(tmp_path, db_url)
    code, out, err = cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))
    assert code == 0, out + err
    return tmp_path, open_database(db_url)


def add_run(engine, job: str, status: str, hours_ago: float, error: str | None = None) -> int:
    start = utcnow() - timedelta(hours=hours_ago)
    with engine.begin() as conn:
        return plant_run(
            conn, job=job, started_at=start, ended_at=start + timedelta(minutes=2), status=status, error=error
        )


def status(base, fmt: str = "text"):
    return cli(base, "status", "--format", fmt)


def test_healthy_after_a_nightly(area):
    base, engine = area
    (base / "drop" / "esat-seine" / "depot" / "ESAT_81234567600017_RG_20251210_001.csv").rename(base / "late.csv")
    code, out, err = cli(base, "run", "--as-of", "2025-12-15")
    assert code == 0, out + err
    shutil.move(base / "late.csv", base / "drop" / "esat-seine" / "depot" / "late.csv")
    nightly = add_run(engine, "nightly", "OK", hours_ago=3)
    code, out, _ = status(base)
    assert code == 0, out
    assert out.splitlines()[0] == "ÉTAT : OK"
    assert f"nightly   n° {nightly} : OK" in out
    assert "Fichiers en attente dans depot/ : 1" in out and "esat-seine : 1" in out
    oldest = out.splitlines()[
        out.splitlines().index("Fichiers en attente les plus anciens (déposés le, heure de Paris) :") + 1
    ]
    assert oldest.startswith("  esat-seine/late.csv : ")
    assert "Fichiers par état : ACQUITTE 3" in out
    code, out, _ = status(base, "json")
    data = json.loads(out)
    assert code == 0 and data["etat"] == "OK" and data["raisons"] == []
    assert data["depot"] == {"esat-seine": 1, "horizon-paie": 0}
    assert data["dernieres_executions"]["nightly"]["id"] == nightly
    assert data["dernieres_executions"]["run"]["statut"] == "OK"
    assert data["dernieres_executions"]["campaign"] is None
    assert data["fichiers_par_etat"] == {"ACQUITTE": 3}


def test_fresh_install_alerts_until_a_nightly_ran(area):
    base, engine = area
    code, out, _ = status(base)
    assert code == 1
    assert out.splitlines()[:2] == [
        "ÉTAT : ALERTE",
        "- aucun traitement de nuit n'a encore eu lieu : les fichiers "
        "des Caf ne sont pas produits (le planificateur tourne-t-il ?)",
    ]
    assert "nightly   aucune" in out
    add_run(engine, "nightly", "OK", hours_ago=1)
    assert status(base)[0] == 0


def test_no_habpps_extract_imported_alerts(tmp_path, db_url):
    seed_examples(tmp_path, db_url)
    engine = open_database(db_url)
    add_run(engine, "nightly", "OK", hours_ago=1)
    code, out, _ = status(tmp_path)
    assert code == 1
    assert out.splitlines()[1] == (
        "- aucun extrait Habpps importé : chaque fichier reçu est rejeté (H05) ; "
        "importez-le avec « esat-exchange habilitations import »"
    )


def test_last_nightly_failed(area):
    base, engine = area
    add_run(engine, "nightly", "OK", hours_ago=27)
    failed = add_run(engine, "nightly", "ECHEC", hours_ago=2, error="disque plein")
    add_run(engine, "nightly", "IGNORE", hours_ago=1)  # a skipped duplicate does not hide the failure
    code, out, _ = status(base)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "ÉTAT : ALERTE"
    assert lines[1].startswith(f"- le dernier traitement de nuit (exécution n° {failed}, ") and lines[1].endswith(
        "a échoué : disque plein"
    )
    code, out, _ = status(base, "json")
    assert code == 1 and json.loads(out)["etat"] == "ALERTE"


def test_nightly_older_than_26_hours(area):
    base, engine = area
    old = add_run(engine, "nightly", "OK", hours_ago=30)
    add_run(engine, "collect", "OK", hours_ago=0.2)  # collects do not replace the nightly
    code, out, _ = status(base)
    assert code == 1
    assert out.splitlines()[:2] == [
        "ÉTAT : ALERTE",
        f"- le dernier traitement de nuit (exécution n° {old}) date de 30 h (plus de 26 h)",
    ]


def test_nightly_of_25_hours_is_fine(area):
    base, engine = area
    add_run(engine, "nightly", "OK", hours_ago=25)
    assert status(base)[0] == 0


def test_no_nightly_while_in_service_for_days(area):
    base, engine = area
    add_run(engine, "collect", "OK", hours_ago=48)
    code, out, _ = status(base)
    assert code == 1
    assert "aucun traitement de nuit" in out.splitlines()[1]


def test_file_stuck_in_traite_for_two_days(area):
    base, engine = area
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0
    with engine.begin() as conn:
        set_file(conn, 2, state="TRAITE", state_changed_at=utcnow() - timedelta(days=2))
        set_file(conn, 3, state="RECU", state_changed_at=utcnow() - timedelta(hours=20))  # stuck, for 20 h: not yet
        forget_runs(conn)  # no cycle ran since: only the 24 h rule applies
    code, out, _ = status(base)
    assert code == 1
    assert any(
        line.startswith(
            "- 1 fichier bloqué depuis plus de 24 h (n° 2) : le planificateur tourne-t-il ? L'administrateur du service"
        )
        for line in out.splitlines()
    )
    assert "Fichiers bloqués en cours de traitement : 1" in out
    stuck = json.loads(status(base, "json")[1])["fichiers_bloques"]
    assert [(s["id"], s["etat"]) for s in stuck] == [(2, "TRAITE")]


def test_file_not_finished_by_the_last_run_alerts_at_once(area):
    base, engine = area
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0
    with engine.begin() as conn:
        forget_runs(conn)
    add_run(engine, "nightly", "OK", hours_ago=2)
    with engine.begin() as conn:
        set_file(conn, 2, state="TRAITE", state_changed_at=utcnow() - timedelta(hours=3))
        # changed after the last run started: in hand
        set_file(conn, 3, state="RECU", state_changed_at=utcnow() - timedelta(minutes=30))
    code, out, _ = status(base)
    assert code == 1
    nightly = json.loads(status(base, "json")[1])["dernieres_executions"]["nightly"]
    line = out.splitlines()[1]
    assert line.startswith(f"- 1 fichier bloqué en cours de traitement (n° 2) : l'exécution n° {nightly['id']} du ")
    assert line.endswith(
        " ne les a pas terminés ; la prochaine exécution les reprend, sinon l'administrateur du service lit le "
        "journal de cette exécution"
    )
    assert "Fichiers bloqués en cours de traitement : 1" in out
    stuck = json.loads(status(base, "json")[1])["fichiers_bloques"]
    assert [(s["id"], s["etat"]) for s in stuck] == [(2, "TRAITE")]


def test_quarantined_file_alerts_at_once(area):
    base, engine = area
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0
    add_run(engine, "nightly", "OK", hours_ago=1)
    with engine.begin() as conn:
        set_file(conn, 4, state="QUARANTAINE", state_changed_at=utcnow(), error="ValueError: défaut")
    code, out, _ = status(base)
    assert code == 1
    assert out.splitlines()[1] == (
        "- 1 fichier en quarantaine (n° 4) : le service n'a pas pu le juger ; l'administrateur du service corrige "
        "le défaut, puis le rejoue : voir « files show », puis « files replay » une fois le défaut corrigé"
    )
    assert "Fichiers en quarantaine : 1" in out and "ValueError: défaut" in out


def test_unreachable_drop_area(area):
    base, engine = area
    add_run(engine, "nightly", "OK", hours_ago=1)
    shutil.rmtree(base / "drop")
    code, out, _ = status(base)
    assert code == 1
    assert re.match(r"- zone de dépôt injoignable depuis \d\d:\d\d : dossier de dépôt introuvable", out.splitlines()[1])
    assert "Fichiers en attente dans depot/ : inconnu (zone de dépôt injoignable)" in out
    data = json.loads(status(base, "json")[1])
    assert data["depot"] is None and data["source_injoignable"]


def test_recent_rejections_by_code(area):
    base, engine = area
    add_run(engine, "nightly", "OK", hours_ago=1)
    now = utcnow()
    rows = [
        ("a.csv", "F01", now - timedelta(hours=1)),
        ("b.csv", "F01", now - timedelta(hours=2)),
        ("c.csv", "H02", now - timedelta(hours=3)),
        ("d.csv", None, now - timedelta(hours=4)),
        ("e.csv", "F01", now - timedelta(hours=30)),
    ]  # too old to count
    with engine.begin() as conn:
        for name, code, when in rows:
            fid = conn.execute(
                insert(files).values(
                    account="esat-seine",
                    name=name,
                    sha256=name * 8,
                    size=1,
                    stored_path="/x",
                    state="ACQUITTE",
                    state_changed_at=when,
                    statut="REJETE",
                    code=code,
                    received_at=when,
                    processing_date=when.date(),
                    processed_at=when,
                    replays=0,
                )
            ).inserted_primary_key[0]
            if code is None:  # every record rejected: counted by its blocking record codes, once per file
                for ligne, c, g in ((2, "R02", "BLOQUANTE"), (3, "R02", "BLOQUANTE"), (4, "W01", "NON_BLOQUANTE")):
                    conn.execute(insert(anomalies).values(file_id=fid, ligne=ligne, code=c, gravite=g, message="m"))
    code, out, _ = status(base)
    assert code == 0, out
    assert "Fichiers rejetés ces dernières 24 h, par code : F01 × 2, H02 × 1, R02 × 1" in out
    assert json.loads(status(base, "json")[1])["rejets_24h_par_code"] == {"F01": 2, "H02": 1, "R02": 1}


def test_files_rejected_for_a_habilitation_are_a_caf_action_item(tmp_path, db_url):
    seed_examples(tmp_path, db_url)
    engine = open_database(db_url)
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0  # no extract yet: every file rejected H05
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    add_run(engine, "nightly", "OK", hours_ago=1)
    code, out, _ = status(tmp_path)
    assert code == 0, out  # the service works: monitoring is not paged for the Caf's own data
    assert out.splitlines()[:2] == [
        "ÉTAT : À TRAITER",
        "- 4 fichiers rejetés pour une erreur d'habilitation (H05 × 4), sans fichier accepté depuis : la Caf corrige "
        "ses données dans Habpps, puis on importe l'extrait corrigé et on rejoue les fichiers "
        "(« habilitations import », puis « files replay »)",
    ]
    data = json.loads(status(tmp_path, "json")[1])
    assert data["etat"] == "À TRAITER" and len(data["raisons"]) == 1
    for file_id in (1, 2, 3, 4):
        assert cli(tmp_path, "files", "replay", str(file_id))[0] == 0
    code, out, _ = status(tmp_path)
    assert code == 0 and out.splitlines()[0] == "ÉTAT : OK", out
