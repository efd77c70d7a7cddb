"""`purge` (cli.md, issue 21): what is due goes everywhere, nothing early or unfinished, counts remain."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from exchange.store.engine import open_database
from exchange.store.tables import anomalies, anomaly_tallies, emissions, files, purges, record_tallies, records, runs
from tests.areas import cli, seed_examples, tree, write_config
from tests.conftest import EXAMPLES, ROOT, make_config

SEINE = "81234567600017"
EXTRA_CA = f"ESAT_{SEINE}_CA_20251213_001.csv"
ANNE = "292027512345620"  # declared in three files of esat-seine, to the Caf 75 and the Caf 69
BAD_DATE_NIR = "190037512345687"  # a record rejected for its birth date: kept only in an anomaly
CA_HEADER = (
    "siret_esat;nir;nom;prenoms;date_naissance;numero_allocataire;code_caf;type_changement;date_effet;"
    "taux_activite_avant;taux_activite_apres;motif_depart;siret_employeur_mo;type_contrat_mo;"
    "date_debut_mo;heures_hebdo_mo"
)
EXTRA_LINES = [
    f"{SEINE};{ANNE};Lefèvre;Anne Marie;03/02/1992;;69;BAISSE_TAUX;01/02/2026;80;60;;;;;",
    f"{SEINE};{BAD_DATE_NIR};Durand;Paul;31/02/1990;;75;BAISSE_TAUX;01/02/2026;80;60;;;;;",
]
PAST_EVERYTHING = "2032-03-01"


def all_nirs() -> set[str]:
    """Every NIR of the example files and of the extra one."""
    import re

    found = set()
    for p in (EXAMPLES / "drop").rglob("*"):
        if p.is_file():
            found.update(re.findall(rb"(?<![0-9])[12][0-9]{14}(?![0-9])", p.read_bytes()))
    return {n.decode() for n in found} | {ANNE, BAD_DATE_NIR}


def deployment(base: Path, db_url: str, retention: dict | None = None, *, drop: Path | None = None) -> None:
    """The examples plus one CA file with a rejected record, received and emitted on 2025-12-15."""
    drop = drop or base / "drop"
    shutil.copytree(EXAMPLES / "drop", drop, dirs_exist_ok=True)
    depot = drop / "esat-seine" / "depot"
    depot.mkdir(parents=True, exist_ok=True)
    (depot / EXTRA_CA).write_text("\n".join([CA_HEADER, *EXTRA_LINES]) + "\n", encoding="utf-8")
    configure(base, db_url, retention)
    assert cli(base, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    code, out, err = cli(base, "run", "--as-of", "2025-12-15")
    assert code == 0 and "4 ACCEPTE, 1 PARTIEL" in out, out + err
    backdate(base, db_url)


RECEIVED = datetime(2025, 12, 15, 11, 0, tzinfo=UTC)


def backdate(base: Path, db_url: str | None) -> None:
    """As if the run had happened on its processing date, 15/12/2025 (the clock of this machine may be later)."""
    engine = engine_of(base, db_url)
    with engine.begin() as conn:
        conn.execute(files.update().values(received_at=RECEIVED, state_changed_at=RECEIVED, processed_at=RECEIVED))
        conn.execute(records.update().values(received_at=RECEIVED))
        conn.execute(emissions.update().values(created_at=RECEIVED, completed_at=RECEIVED))
        conn.execute(runs.update().values(started_at=RECEIVED, ended_at=RECEIVED))
    engine.dispose()


def configure(base: Path, db_url: str, retention: dict | None = None, **sections) -> None:
    cfg = make_config(base, db_url, **sections)
    path = base / "esat-exchange.toml"
    write_config(path, cfg)
    if retention:
        with path.open("a", encoding="utf-8") as f:
            f.write("[retention]\n" + "".join(f'{k} = "{v}"\n' for k, v in retention.items()))


def engine_of(base: Path, db_url: str | None):  # noqa: ANN201
    if db_url is None or db_url.startswith("sqlite"):
        return open_database(f"sqlite:///{base / 'exchange.db'}")
    return open_database(db_url)


def database_bytes(base: Path, db_url: str) -> bytes:
    """The raw database as it lies on disk: the SQLite file and its WAL, or a pg_dump of the test schema."""
    if db_url is None or db_url.startswith("sqlite"):
        return b"".join(p.read_bytes() for p in base.glob("exchange.db*") if p.is_file())
    from sqlalchemy.engine import make_url

    schema = db_url.split("search_path%3D")[1]
    url = make_url(db_url.split("?")[0])
    dump = subprocess.run(
        [
            "pg_dump",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            "-n",
            schema,
            url.database,
        ],
        capture_output=True,
        check=True,
    )
    return dump.stdout


def found_nirs(base: Path, db_url: str, roots: list[Path]) -> dict[str, list[str]]:
    """NIR → where it is still found: any file under the roots, the database's bytes."""
    blobs = {str(p): p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file()}
    blobs["base de données"] = database_bytes(base, db_url)
    return {
        n: [w for w, b in blobs.items() if n.encode() in b]
        for n in all_nirs()
        if any(n.encode() in b for b in blobs.values())
    }


def db_state(base: Path, db_url: str) -> dict:
    engine = engine_of(base, db_url)
    with engine.connect() as conn:
        state = {
            t.name: sorted(map(repr, conn.execute(select(t)).all()))
            for t in (files, records, anomalies, emissions, runs, purges)
        }
    engine.dispose()
    return state


def counts(base: Path, db_url: str) -> dict:
    """What the dashboard and history read: file statuts, records per Caf, kind and year, anomalies per code
    (rows, and the counts the purge turned them into)."""
    from collections import Counter

    engine = engine_of(base, db_url)
    with engine.connect() as conn:
        statuts = sorted(
            conn.execute(
                select(
                    files.c.name, files.c.statut, files.c.records_in, files.c.records_accepted, files.c.records_rejected
                )
            ).all()
        )
        per_caf: Counter = Counter()
        for caf, kind, year, n in conn.execute(
            select(records.c.code_caf, records.c.kind, records.c.annee_reference, func.count()).group_by(
                records.c.code_caf, records.c.kind, records.c.annee_reference
            )
        ).all():
            per_caf[(caf, kind, year)] += n
        for caf, kind, year, n in conn.execute(
            select(
                record_tallies.c.code_caf,
                record_tallies.c.kind,
                record_tallies.c.annee_reference,
                func.sum(record_tallies.c.n),
            ).group_by(record_tallies.c.code_caf, record_tallies.c.kind, record_tallies.c.annee_reference)
        ).all():
            per_caf[(caf, kind, year)] += int(n)
        codes: Counter = Counter(
            dict(conn.execute(select(anomalies.c.code, func.count()).group_by(anomalies.c.code)).all())
        )
        for code, n in conn.execute(
            select(anomaly_tallies.c.code, func.sum(anomaly_tallies.c.n)).group_by(anomaly_tallies.c.code)
        ).all():
            codes[code] += int(n)
    engine.dispose()
    return {"statuts": statuts, "par_caf": sorted(per_caf.items()), "codes": sorted(codes.items())}


def reader_counts(base: Path, db_url: str) -> dict:
    """The same through the store's readers the console and /metrics use (dashboard, Esat page, history, file
    pages, monitoring), for the whole nation."""
    from exchange.core.perimeter import EVERYTHING
    from exchange.store.esats import esat_profile
    from exchange.store.metrics import service_counts
    from exchange.store.reads.campaign import accepted_rg_per_caf
    from exchange.store.reads.files import file_anomaly_counts, rejections_by_code
    from exchange.store.trends import first_declarations

    engine = engine_of(base, db_url)
    with engine.connect() as conn:
        monitored = service_counts(conn, perimeter=EVERYTHING)
        ids = conn.execute(select(files.c.id).order_by(files.c.id)).scalars().all()
        out = {
            "metrics": (monitored["records"], monitored["anomalies"]),
            "campagne": accepted_rg_per_caf(conn, 2025, perimeter=EVERYTHING),
            "historique": first_declarations(conn, 2025, perimeter=EVERYTHING),
            "esat": esat_profile(conn, SEINE, perimeter=EVERYTHING)["rg_par_annee"],
            "fichiers": {i: file_anomaly_counts(conn, i, perimeter=EVERYTHING) for i in ids},
            "rejets": rejections_by_code(conn, datetime(2000, 1, 1, tzinfo=UTC), perimeter=EVERYTHING),
        }
    engine.dispose()
    return out


def record_rows(base: Path, db_url: str) -> tuple[int, int]:
    """Rows left that stand for one worker: records, and anomalies of a line."""
    engine = engine_of(base, db_url)
    with engine.connect() as conn:
        n_records = conn.execute(select(func.count()).select_from(records)).scalar_one()
        n_anomalies = conn.execute(select(func.count()).where(anomalies.c.ligne.is_not(None))).scalar_one()
    engine.dispose()
    return n_records, n_anomalies


def test_a_purge_past_every_period_leaves_no_nir_anywhere_and_keeps_the_counts(tmp_path, db_url):
    deployment(tmp_path, db_url)
    roots = [tmp_path / "drop", tmp_path / "received", tmp_path / "outbound"]
    assert set(found_nirs(tmp_path, db_url, roots)) == all_nirs()  # everywhere before
    before, read_before = counts(tmp_path, db_url), reader_counts(tmp_path, db_url)
    assert read_before["campagne"] and read_before["esat"] and any(read_before["fichiers"].values())
    files_before = json.loads(cli(tmp_path, "files", "list", "--format", "json")[1])

    # a dry run says what it would do and changes nothing
    snapshot, rows = tree(tmp_path / "drop"), db_state(tmp_path, db_url)
    code, out, err = cli(tmp_path, "purge", "--dry-run", "--as-of", PAST_EVERYTHING)
    assert code == 0, out + err
    assert out.splitlines()[0] == (
        "Simulation de la purge au 01/03/2032 : rien n'a été supprimé. Seraient supprimés ou rendus anonymes :"
    )
    assert (
        "Identité des travailleurs (enregistrements et anomalies) :\n  2025 : 5 fichiers, 10 enregistrements, "
        "1 anomalie\n" in out
    )
    assert "Copies reçues (stockage local et archive/ de la zone de dépôt) :\n  2025 : 5 fichiers\n" in out
    assert tree(tmp_path / "drop") == snapshot and db_state(tmp_path, db_url) == rows

    code, out, err = cli(tmp_path, "purge", "--as-of", PAST_EVERYTHING)
    assert code == 0, out + err
    assert out.splitlines()[0] == "Purge au 01/03/2032 : terminée (exécution n° 2). Supprimés ou rendus anonymes :"
    assert "Comptes rendus (retour/ de la zone de dépôt) :\n  2025 : 5 fichiers\n" in out
    assert "Fichiers pour les Caf (dossier de sortie) :\n  2025 : 7 émissions\n" in out
    assert found_nirs(tmp_path, db_url, roots) == {}
    # no row stands for a worker any more; the counts the dashboard and the history read are the same
    assert record_rows(tmp_path, db_url) == (0, 0)
    assert counts(tmp_path, db_url) == before and reader_counts(tmp_path, db_url) == read_before
    after = json.loads(cli(tmp_path, "files", "list", "--format", "json")[1])
    keep = ("id", "fichier", "compte", "siret", "statut", "enregistrements_acceptes", "enregistrements_rejetes")
    assert [{k: f[k] for k in keep} for f in after] == [{k: f[k] for k in keep} for f in files_before]
    # the run of 15/12/2025 is older than the 5 years runs are kept: only the purge itself is listed
    assert [r["job"] for r in json.loads(cli(tmp_path, "runs", "list", "--format", "json")[1])] == ["purge"]
    # only the account folders are left in the drop area, nothing in depot/
    assert sorted(str(p.relative_to(tmp_path / "drop")) for p in (tmp_path / "drop").rglob("*") if p.is_file()) == []

    # a file whose copy is gone cannot be replayed, and says why
    code, _, err = cli(tmp_path, "files", "replay", "1")
    assert (code, err) == (
        1,
        "Rejeu impossible : la copie du fichier n° 1 a été supprimée à l'échéance de sa durée "
        "de conservation : il ne peut plus être rejoué.\n",
    )

    # a second purge has nothing left to do
    code, out, _ = cli(tmp_path, "purge", "--as-of", PAST_EVERYTHING)
    assert code == 0 and "Identité des travailleurs (enregistrements et anomalies) : rien" in out


def test_nothing_early_nothing_unfinished_and_the_open_campaign_is_untouched(tmp_path, db_url):
    zero = {"copies": "0 jours", "outputs": "0 jours"}
    deployment(tmp_path, db_url, zero)
    # a file set aside in QUARANTAINE is kept whatever the date
    engine = engine_of(tmp_path, db_url)
    with engine.begin() as conn:
        quarantined = conn.execute(select(files.c.id).where(files.c.name == EXTRA_CA)).scalar_one()
        conn.execute(files.update().where(files.c.id == quarantined).values(state="QUARANTAINE", error="test"))
    engine.dispose()
    snapshot = (tree(tmp_path / "drop"), tree(tmp_path / "received"), tree(tmp_path / "outbound"))

    # the window of 2025 is open until the end of February 2026: nothing of that campaign goes
    code, out, _ = cli(tmp_path, "purge", "--as-of", "2026-02-28")
    assert code == 0 and out.count(": rien") == 6, out
    assert (tree(tmp_path / "drop"), tree(tmp_path / "received"), tree(tmp_path / "outbound")) == snapshot

    # from 1 March 2026: copies (0 days) go; comptes rendus and identities (2 years) stay; the quarantined
    # file keeps everything
    code, out, _ = cli(tmp_path, "purge", "--as-of", "2026-03-01")
    assert code == 0
    assert "Copies reçues (stockage local et archive/ de la zone de dépôt) :\n  2025 : 4 fichiers\n" in out
    assert "Comptes rendus (retour/ de la zone de dépôt) : rien" in out
    assert "Identité des travailleurs (enregistrements et anomalies) : rien" in out
    assert sorted(p.name for p in (tmp_path / "drop" / "esat-seine" / "archive").iterdir()) == [EXTRA_CA]
    assert len(list((tmp_path / "drop" / "esat-seine" / "retour").iterdir())) == 9
    assert len([p for p in (tmp_path / "received").rglob("*") if p.is_file()]) == 1
    assert ANNE in cli(tmp_path, "personne", ANNE)[1]

    # two years after the window closed, identities and comptes rendus go, but never the quarantined file's
    code, out, _ = cli(tmp_path, "purge", "--as-of", "2028-03-01")
    assert (
        "Identité des travailleurs (enregistrements et anomalies) :\n  2025 : 4 fichiers, 9 enregistrements, "
        "0 anomalie\n" in out
    )
    engine = engine_of(tmp_path, db_url)
    with engine.connect() as conn:
        kept = conn.execute(select(anomalies.c.nir).where(anomalies.c.file_id == quarantined)).scalars().all()
    engine.dispose()
    assert BAD_DATE_NIR in kept
    assert sorted(p.name for p in (tmp_path / "drop" / "esat-seine" / "retour").iterdir()) == [
        f"{EXTRA_CA}.CR.{ext}" for ext in ("csv", "html", "xml")
    ]

    # the upper bound (`unfinished`, 5 years after the close of its campaign): the quarantined file goes too
    code, out, _ = cli(tmp_path, "purge", "--as-of", "2031-02-28")
    assert code == 0 and "Identité des travailleurs (enregistrements et anomalies) : rien" in out
    code, out, _ = cli(tmp_path, "purge", "--as-of", "2031-03-01")
    assert code == 0
    assert (
        "Identité des travailleurs (enregistrements et anomalies) :\n  2025 : 1 fichier, 1 enregistrement, "
        "1 anomalie\n" in out
    ), out
    assert "Copies reçues (stockage local et archive/ de la zone de dépôt) :\n  2025 : 1 fichier\n" in out
    assert not [p for p in (tmp_path / "received").rglob("*") if p.is_file()]
    assert not list((tmp_path / "drop" / "esat-seine" / "archive").iterdir())
    assert not list((tmp_path / "drop" / "esat-seine" / "retour").iterdir())
    assert record_rows(tmp_path, db_url) == (0, 0)


def test_files_no_row_points_to_are_kept_and_reported(tmp_path, db_url):
    """A database restored from an older backup no longer knows some copies and output files: no purge removes
    them (cli.md v1.3: a restored database never destroys what it does not know); dry run, purge and status
    report them."""
    deployment(tmp_path, db_url)
    lost_copy = tmp_path / "received" / "esat-seine" / ("0" * 64 + ".csv")
    lost_copy.write_text(f"{CA_HEADER}\n{EXTRA_LINES[0]}\n", encoding="utf-8")
    lost_output = tmp_path / "outbound" / "75" / "AAH-ESAT_CA_75_20240101000000.csv"
    lost_output.write_text(f"nir\n{ANNE}\n", encoding="utf-8")
    unknown = (
        "2 fichiers inconnus de la base (1 copie reçue (dossier de stockage), 1 fichier pour les Caf (dossier de "
        "sortie)) : conservés, jamais supprimés par la purge ni par un cycle ; après une restauration, voir "
        "docs/operations.md (§ 5b, « Fichiers inconnus de la base »)"
    )
    code, out, _ = cli(tmp_path, "purge", "--dry-run", "--as-of", PAST_EVERYTHING)
    assert code == 0 and f"\n{unknown}\n" in out, out
    assert "sans année" not in out
    assert "Copies reçues (stockage local et archive/ de la zone de dépôt) :\n  2025 : 5 fichiers\n" in out
    code, out, _ = cli(tmp_path, "purge", "--as-of", PAST_EVERYTHING)
    assert code == 0 and f"\n{unknown}\n" in out and "sans année" not in out
    assert lost_copy.read_text(encoding="utf-8") == f"{CA_HEADER}\n{EXTRA_LINES[0]}\n"
    assert lost_output.read_text(encoding="utf-8") == f"nir\n{ANNE}\n"
    assert [p for p in (tmp_path / "received").rglob("*") if p.is_file()] == [lost_copy]  # the ledger's went
    code, out, _ = cli(tmp_path, "status")
    assert f"- {unknown}\n" in out and "Fichiers inconnus de la base : 2\n" in out
    report = json.loads(cli(tmp_path, "status", "--format", "json")[1])
    assert report["purge"] == {
        "fichiers_inconnus_de_la_base": {"copies": 1, "outputs": 1},
        "effacement_non_termine": 0,
    }


def test_dot_names_links_and_folders_are_not_unknown_files(tmp_path, db_url):
    """Temporary dot files, links and folders in the storage and output folders are neither copies nor Caf files:
    `status` counts no unknown file."""
    deployment(tmp_path, db_url)
    elsewhere = tmp_path / "ailleurs"
    (elsewhere / "compte").mkdir(parents=True)
    (elsewhere / "compte" / "copie.csv").write_text("x", encoding="utf-8")
    account = tmp_path / "received" / "esat-seine"
    (account / ".incoming-1234").write_text("en cours", encoding="utf-8")
    (account / "lien.csv").symlink_to(elsewhere / "compte" / "copie.csv")
    (account / "sous-dossier").mkdir()
    (tmp_path / "received" / "notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / "received" / "esat-lien").symlink_to(elsewhere / "compte", target_is_directory=True)
    (tmp_path / "outbound" / "75").mkdir(parents=True, exist_ok=True)
    (tmp_path / "outbound" / "75" / ".AAH-ESAT_CA_75_20240101000000.csv.tmp").write_text("x", encoding="utf-8")
    report = json.loads(cli(tmp_path, "status", "--format", "json")[1])
    assert report["purge"]["fichiers_inconnus_de_la_base"] == {"copies": 0, "outputs": 0}


def test_records_not_yet_emitted_are_kept(tmp_path, db_url):
    """`collect` answers the files but writes no Caf file: a file with records not yet emitted keeps everything
    (a file answered without any record accepted is finished, and goes) — up to the `unfinished` bound."""
    from jobs.tasks import scheduled

    seed_examples(tmp_path, db_url)
    with (tmp_path / "esat-exchange.toml").open("a", encoding="utf-8") as f:
        f.write('[retention]\nunfinished = "10 ans"\n')  # processed today: past PAST_EVERYTHING whatever today is
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    assert scheduled("collect", str(tmp_path / "esat-exchange.toml"))["status"] == "OK"
    engine = engine_of(tmp_path, db_url)
    with engine.connect() as conn:
        waiting = conn.execute(
            select(files.c.account, files.c.archived_name).where(files.c.records_accepted > 0).order_by(files.c.id)
        ).all()
    assert waiting
    code, out, _ = cli(tmp_path, "purge", "--as-of", PAST_EVERYTHING)
    assert code == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(records.c.nir == "")).scalar() == 0
        assert (
            conn.execute(
                select(func.count()).where(files.c.records_accepted > 0, files.c.copies_purged_at.is_not(None))
            ).scalar()
            == 0
        )
    engine.dispose()
    for account, name in waiting:
        assert (tmp_path / "drop" / account / "archive" / name).exists()
        assert (tmp_path / "drop" / account / "retour" / f"{name}.CR.csv").exists()
    # past the bound (10 years after the close of their campaign), they go too
    code, out, _ = cli(tmp_path, "purge", "--as-of", "2045-03-01")
    assert code == 0
    for account, name in waiting:
        assert not (tmp_path / "drop" / account / "archive" / name).exists()
    assert record_rows(tmp_path, db_url) == (0, 0)


@pytest.mark.parametrize(
    "value, message",
    [
        ("-1 an", "retention.identity: durée négative '-1 an' refusée"),
        (
            "deux ans",
            "retention.identity: durée illisible 'deux ans' : un entier suivi de « ans », « mois » ou "
            "« jours » est attendu (ex. « 2 ans »)",
        ),
        (
            "0 jour",
            "retention.identity: une durée nulle n'est pas permise : la Caf peut demander les déclarations "
            "pendant la prescription des indus d'AAH (art. L821-5 CSS)",
        ),
    ],
)
def test_a_bad_duration_stops_the_purge_naming_the_key(tmp_path, value, message):
    deployment(tmp_path, None)
    snapshot = (tree(tmp_path / "drop"), tree(tmp_path / "received"), tree(tmp_path / "outbound"))
    with (tmp_path / "esat-exchange.toml").open("a", encoding="utf-8") as f:
        f.write(f'[retention]\nidentity = "{value}"\n')
    code, out, err = cli(tmp_path, "purge", "--as-of", PAST_EVERYTHING)
    assert (code, out, err) == (2, "", f"Erreur de configuration : {message}\n")
    assert (tree(tmp_path / "drop"), tree(tmp_path / "received"), tree(tmp_path / "outbound")) == snapshot


def test_a_purge_waits_for_the_cycle_lock(tmp_path):
    from exchange.config import load_config
    from exchange.store.fences import timings_of, try_lock

    deployment(tmp_path, None)
    config = load_config(tmp_path / "esat-exchange.toml")
    engine = open_database(config.database_url)
    lock = try_lock(engine, "cycle", timings_of(config))
    try:
        snapshot = tree(tmp_path / "drop")
        code, out, _ = cli(tmp_path, "purge", "--as-of", PAST_EVERYTHING)
    finally:
        lock.release()
        engine.dispose()
    assert code == 1
    assert out == (
        "Purge au 01/03/2032 non effectuée (exécution n° 2) : un autre processus exécute déjà un cycle. "
        "Relancez plus tard.\n"
    )
    assert tree(tmp_path / "drop") == snapshot


def test_the_scheduled_purge_goes_through_the_job_wrapper(tmp_path):
    from exchange.config import load_config
    from jobs.scheduler import job_specs
    from jobs.tasks import scheduled

    deployment(tmp_path, None)
    config = load_config(tmp_path / "esat-exchange.toml")
    assert [(s.id, s.job, s.task) for s in job_specs(config.schedule) if s.id == "purge"] == [
        ("purge", "purge", "jobs.tasks:scheduled")
    ]
    done = scheduled("purge", str(tmp_path / "esat-exchange.toml"))
    assert done["status"] == "OK" and done["error"] is None
    listed = json.loads(cli(tmp_path, "runs", "list", "--format", "json")[1])
    assert [(r["id"], r["job"], r["statut"]) for r in listed][0] == (done["run_id"], "purge", "OK")


def test_purge_over_sftp_removes_archive_and_retour_copies(tmp_path, sftp_server):
    shutil.copytree(EXAMPLES / "drop", sftp_server.root, dirs_exist_ok=True)
    depot = sftp_server.root / "esat-seine" / "depot"
    (depot / EXTRA_CA).write_text("\n".join([CA_HEADER, *EXTRA_LINES]) + "\n", encoding="utf-8")
    configure(tmp_path, None, source=sftp_server.config_section())
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    backdate(tmp_path, None)
    roots = [sftp_server.root, tmp_path / "received", tmp_path / "outbound"]
    assert set(found_nirs(tmp_path, "sqlite", roots)) == all_nirs()
    code, out, err = cli(tmp_path, "purge", "--as-of", PAST_EVERYTHING)
    assert code == 0, out + err
    assert found_nirs(tmp_path, "sqlite", roots) == {}
    assert not [p for p in sftp_server.root.rglob("*") if p.is_file()]


# -- kill -9 at every step of a purge -------------------------------------------------------------


def crash(base: Path, step: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.purge_crash_runner", step, str(base / "esat-exchange.toml"), PAST_EVERYTHING],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode


def test_a_clean_purge_is_the_reference(tmp_path):
    """The totals a killed-then-resumed purge must also reach (the crash matrix below compares with them)."""
    deployment(tmp_path, None)
    assert cli(tmp_path, "purge", "--as-of", PAST_EVERYTHING)[0] == 0
    assert purge_totals(tmp_path, "sqlite") == EXPECTED_TOTALS


EXPECTED_TOTALS = {
    "audit": (2, 0, 0),  # the command line's journal lines of the set-up (import, run)
    "copies": (5, 0, 0),
    "comptes_rendus": (5, 0, 0),
    "identity": (5, 10, 1),
    "outputs": (7, 0, 0),
    "runs": (1, 0, 0),
}


def purge_totals(base: Path, db_url: str) -> dict:
    engine = engine_of(base, db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                purges.c.kind, func.sum(purges.c.removed), func.sum(purges.c.records), func.sum(purges.c.anomalies)
            ).group_by(purges.c.kind)
        ).all()
    engine.dispose()
    totals = {kind: (int(i), int(r), int(a)) for kind, i, r, a in rows}
    totals.setdefault("audit", (0, 0, 0))
    return totals


CRASH_STEPS = [
    "after_file_marks",
    "mid_file_removal",
    "before_files_closed",
    "second_file_batch",
    "mid_identity",
    "after_output_marks",
    "mid_output_removal",
    "before_outputs_closed",
    "before_journal",
    "before_reclaim",
]


@pytest.mark.parametrize("step", CRASH_STEPS)
def test_a_purge_killed_at_any_step_is_finished_by_the_next_one(tmp_path, step, db_url):
    import signal

    deployment(tmp_path, db_url)
    assert crash(tmp_path, step) == -signal.SIGKILL
    # in between, every ledger row whose files are gone says so
    engine = engine_of(tmp_path, db_url)
    with engine.connect() as conn:
        for row in conn.execute(select(files)).mappings():
            if row["stored_path"] and not (tmp_path / "received" / row["stored_path"]).exists():
                assert row["copies_purged_at"] is not None and row["purge_pending"]
            archived = tmp_path / "drop" / row["account"] / "archive" / row["archived_name"]
            if not archived.exists():
                assert row["copies_purged_at"] is not None
        for row in conn.execute(select(emissions)).mappings():
            if not (tmp_path / "outbound" / row["code_caf"] / f"{row['name']}.parquet").exists():
                assert row["files_purged_at"] is not None
    engine.dispose()

    code, out, err = cli(tmp_path, "purge", "--as-of", PAST_EVERYTHING)
    assert code == 0, out + err
    roots = [tmp_path / "drop", tmp_path / "received", tmp_path / "outbound"]
    assert found_nirs(tmp_path, db_url, roots) == {}
    # each thing counted once; the run of 15/12/2025 and the killed purge (closed ECHEC) are past 5 years
    assert purge_totals(tmp_path, db_url) == {**EXPECTED_TOTALS, "runs": (2, 0, 0)}
    listed = json.loads(cli(tmp_path, "runs", "list", "--format", "json")[1])
    assert [(r["job"], r["statut"]) for r in listed] == [("purge", "OK")]
    engine = engine_of(tmp_path, db_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(files.c.purge_pending.is_(True))).scalar() == 0
        assert conn.execute(select(func.count()).where(emissions.c.purge_pending.is_(True))).scalar() == 0
        assert conn.execute(select(func.count()).select_from(records)).scalar() == 0
    engine.dispose()


def test_a_purge_killed_during_vacuum_is_not_declared_erased_until_the_next_one_finishes(tmp_path, db_url):
    """The ledger has erased every identity, the database's bytes not yet (kill -9 inside VACUUM): status says the
    erasure is not complete; the next purge finishes it, and no NIR is left in the raw database."""
    import signal

    deployment(tmp_path, db_url)
    assert crash(tmp_path, "during_reclaim") == -signal.SIGKILL
    if db_url.startswith("sqlite"):  # the old page images are still in the file and its WAL: not erased yet
        assert any(n.encode() in database_bytes(tmp_path, db_url) for n in all_nirs())
    code, out, _ = cli(tmp_path, "status")
    assert (
        "- purge inachevée : l'identité de 5 fichiers est effacée du registre, mais l'effacement physique de la "
        "base (compactage, journal WAL) n'est pas terminé ; relancez « esat-exchange purge » (sans lecteur ouvert sur "
        "la base)\n" in out
    )
    assert "Fichiers dont l'effacement physique n'est pas terminé : 5\n" in out
    assert json.loads(cli(tmp_path, "status", "--format", "json")[1])["purge"]["effacement_non_termine"] == 5
    sante = console_sante(tmp_path)  # the monitoring system sees it too, without a login
    assert sante["purge"] == {"fichiers_inconnus_de_la_base": {"copies": 0, "outputs": 0}, "effacement_non_termine": 5}
    assert {"code": "PURGE_INACHEVEE", "nombre": 5} in sante["avertissements"]  # codes and counts only

    code, out, err = cli(tmp_path, "purge", "--as-of", PAST_EVERYTHING)
    assert code == 0, out + err
    assert "Identité des travailleurs (enregistrements et anomalies) : rien" in out  # already done: not twice
    assert json.loads(cli(tmp_path, "status", "--format", "json")[1])["purge"]["effacement_non_termine"] == 0
    assert "Fichiers dont l'effacement physique n'est pas terminé : 0\n" in cli(tmp_path, "status")[1]
    roots = [tmp_path / "drop", tmp_path / "received", tmp_path / "outbound"]
    assert found_nirs(tmp_path, db_url, roots) == {}
    if db_url.startswith("postgresql"):
        raw = pg_raw_bytes(db_url)
        assert [n for n in sorted(all_nirs()) if n.encode() in raw] == []


def console_sante(base: Path) -> dict:
    """GET /sante from the console started on this deployment (a real server on loopback)."""
    import urllib.error
    import urllib.request

    from tests.browser import free_port, start_console

    port = free_port()
    config = base / "esat-exchange.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text + f'[web]\nbind = "127.0.0.1:{port}"\n', encoding="utf-8")
    console = start_console(config, port)
    try:
        try:
            with urllib.request.urlopen(console.url + "/sante", timeout=30) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as e:  # 503 on ALERTE: the body is the same JSON
            return json.loads(e.read())
    finally:
        console.stop()
        config.write_text(text, encoding="utf-8")


def pg_raw_bytes(db_url: str) -> bytes:
    """The bytes of every data file of the test schema's relations (tables, indexes, their TOAST) as they lie in
    the cluster's data directory, after a CHECKPOINT wrote every dirty page (read as the superuser)."""
    from sqlalchemy import create_engine, text

    from tests.services import PG_ADMIN_URL

    schema = db_url.split("search_path%3D")[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text("CHECKPOINT"))
        data_dir = Path(c.execute(text("SHOW data_directory")).scalar_one())
        paths = (
            c.execute(
                text(
                    """
                WITH own AS (SELECT c.oid, c.reltoastrelid FROM pg_class c JOIN pg_namespace n
                             ON n.oid = c.relnamespace WHERE n.nspname = :schema),
                     toast AS (SELECT reltoastrelid AS oid FROM own WHERE reltoastrelid <> 0),
                     toast_index AS (SELECT indexrelid AS oid FROM pg_index WHERE indrelid IN (SELECT oid FROM toast))
                SELECT pg_relation_filepath(oid) FROM (
                    SELECT oid FROM own UNION SELECT oid FROM toast UNION SELECT oid FROM toast_index) r
                WHERE pg_relation_filepath(oid) IS NOT NULL
                """
                ),
                {"schema": schema},
            )
            .scalars()
            .all()
        )
    admin.dispose()
    assert paths
    blobs = []
    for rel in paths:
        for segment in sorted((data_dir / rel).parent.glob(Path(rel).name + "*")):  # 1 GB segments, forks
            blobs.append(segment.read_bytes())
    return b"".join(blobs)


def test_postgresql_data_files_hold_no_nir_after_the_purge(tmp_path, pg_url):
    """Not only pg_dump: the raw files of the tables and of their indexes (a B-tree keeps deleted keys until it
    is rebuilt), as the SQLite test reads exchange.db and its WAL."""
    from tests.conftest import upgrade_database

    upgrade_database(pg_url)
    deployment(tmp_path, pg_url)
    assert {n for n in all_nirs() if n.encode() in pg_raw_bytes(pg_url)}  # the scan sees them before
    code, out, err = cli(tmp_path, "purge", "--as-of", PAST_EVERYTHING)
    assert code == 0, out + err
    assert (
        "Base de données : tables PostgreSQL nettoyées (VACUUM), enregistrements et anomalies réécrits avec leurs "
        "index (VACUUM FULL).\n" in out
    )
    raw = pg_raw_bytes(pg_url)
    assert [n for n in sorted(all_nirs()) if n.encode() in raw] == []
