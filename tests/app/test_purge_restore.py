"""A restored deployment (issues 30 and 32; cli.md v1.3 « a restored database never destroys what it does not
know »): a copy restored beside its original purges only its own files; an older database (made by the
earlier program, absolute paths) restored into another folder deletes nothing it does not know, and `status`
reports those files."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from exchange.store.tables import files
from tests.app.test_purge import (
    CA_HEADER,
    PAST_EVERYTHING,
    SEINE,
    backdate,
    configure,
    console_sante,
    deployment,
    engine_of,
    found_nirs,
)
from tests.areas import cli, tree, write_config
from tests.conftest import EXAMPLES, ROOT, make_config, upgrade_database
from tests.services import PG_ADMIN_URL

# the last program that recorded received copies by absolute path (schema 0010): the tree of main before issue 32
OLD_PROGRAM = "b4ca365"
# the Esat sends a corrected file under the name of one the backup knows: its answer takes <name>.CR.*
LATER_CA = f"ESAT_{SEINE}_CA_20251212_001.csv"
LATER_NIR = "186027512345673"
LATER_LINE = f"{SEINE};{LATER_NIR};Martin;Luc;01/02/1986;;75;BAISSE_TAUX;01/02/2026;80;60;;;;;"


def roots(base: Path) -> list[Path]:
    return [base / "drop", base / "received", base / "outbound"]


def snapshot(base: Path) -> dict:
    return {str(r.name): tree(r) for r in roots(base)}


@pytest.fixture
def other_db_url(db_url, tmp_path):
    """A second database on the same backend as db_url: the restored copy's (a SQLite file of its own folder,
    or a fresh PostgreSQL schema)."""
    if db_url.startswith("sqlite"):
        yield None
        return
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    sep = "&" if "?" in PG_ADMIN_URL else "?"
    yield f"{PG_ADMIN_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as c:
        c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _schema(url: str) -> str:
    return url.split("search_path%3D")[1]


def backup(base: Path, db_url: str, dest: Path) -> Path:
    """A backup of the ledger as an administrator takes it: SQLite's online backup, or `pg_dump` of the schema."""
    if db_url.startswith("sqlite"):
        src, out = sqlite3.connect(base / "exchange.db"), sqlite3.connect(dest)
        src.backup(out)
        src.close(), out.close()
        return dest
    dump = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-n", _schema(db_url), "test"],
        capture_output=True,
        check=True,
    )
    dest.write_bytes(dump.stdout)
    return dest


def restore(saved: Path, db_url: str, base: Path, url: str | None) -> None:
    """The backup restored into `base` (SQLite: its exchange.db) or into the schema of `url` (psql)."""
    if url is None:
        shutil.copyfile(saved, base / "exchange.db")
        return
    script = saved.read_text(encoding="utf-8").replace(_schema(db_url), _schema(url))
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "test"],
        input=script,
        capture_output=True,
        text=True,
        check=True,
    )


def copy_folders(src: Path, dst: Path) -> None:
    """The drop area, the storage and output folders copied to another folder (a restore of the files)."""
    for r in roots(src):
        shutil.copytree(r, dst / r.name, symlinks=True)


def own_url(base: Path, db_url: str) -> str:
    """The deployment's database: its own SQLite file in its folder, or the PostgreSQL schema of db_url."""
    return f"sqlite:///{base / 'exchange.db'}" if db_url.startswith("sqlite") else db_url


def db_url_of(base: Path, url: str | None) -> str:
    return url or f"sqlite:///{base / 'exchange.db'}"


def test_a_copy_restored_beside_its_original_purges_only_its_own_files(tmp_path, db_url, other_db_url):
    original, copy = tmp_path / "original", tmp_path / "copie"
    original.mkdir()
    copy.mkdir()
    db_url = own_url(original, db_url)
    deployment(original, db_url)
    copy_folders(original, copy)
    restore(backup(original, db_url, tmp_path / "sauvegarde"), db_url, copy, other_db_url)
    configure(copy, db_url_of(copy, other_db_url))
    kept = snapshot(original)
    assert cli(copy, "status")[1].count("Fichiers inconnus de la base : 0\n") == 1

    code, out, err = cli(copy, "purge", "--as-of", PAST_EVERYTHING)
    assert code == 0, out + err
    assert "Copies reçues (stockage local et archive/ de la zone de dépôt) :\n  2025 : 5 fichiers\n" in out
    assert found_nirs(copy, db_url_of(copy, other_db_url), roots(copy)) == {}
    assert snapshot(original) == kept  # not one byte of the original touched

    code, out, err = cli(original, "purge", "--as-of", PAST_EVERYTHING)
    assert code == 0, out + err
    assert "Copies reçues (stockage local et archive/ de la zone de dépôt) :\n  2025 : 5 fichiers\n" in out
    assert found_nirs(original, db_url, roots(original)) == {}


def old_program(dest: Path) -> Path:
    """The earlier program's tree (git archive of OLD_PROGRAM): what made the older databases being restored."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", OLD_PROGRAM, "exchange", "schemas", "jobs"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def old_cli(program: Path, base: Path, *args: str) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(program)}
    proc = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "--config", str(base / "esat-exchange.toml"), *args],
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_an_older_database_restored_elsewhere_destroys_nothing_it_does_not_know(tmp_path, db_url, other_db_url):
    """Made by the earlier program (received copies by absolute path, schema 0010), backed up; the service then
    receives one more file; the backup is restored with the files into another folder: the migration makes
    the paths relative, `status` reports the later file's copies as unknown, `run` and `purge` keep them."""
    program = old_program(tmp_path / "ancien-programme")
    original, moved = tmp_path / "original", tmp_path / "restauree"
    original.mkdir()
    moved.mkdir()
    db_url = own_url(original, db_url)
    # the earlier program's deployment: the examples, run on 15/12/2025 (its own `db upgrade`)
    shutil.copytree(EXAMPLES / "drop", original / "drop")
    write_config(original / "esat-exchange.toml", make_config(original, db_url, upgrade=False))
    if db_url.startswith("postgresql"):  # the head's tables (db_url fixture): the earlier program starts blank
        with engine_of(original, db_url).begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{_schema(db_url)}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{_schema(db_url)}"'))
    else:
        (original / "exchange.db").unlink(missing_ok=True)
    assert old_cli(program, original, "db", "upgrade")[0] == 0
    assert old_cli(program, original, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    code, out = old_cli(program, original, "run", "--as-of", "2025-12-15")
    assert code == 0 and "4 ACCEPTE" in out, out
    backdate(original, db_url)
    engine = engine_of(original, db_url)
    with engine.connect() as conn:
        paths = conn.execute(select(files.c.stored_path).where(files.c.stored_path.is_not(None))).scalars().all()
    engine.dispose()
    assert paths and all(p.startswith(str(original / "received")) for p in paths)  # absolute, as it recorded them
    saved = backup(original, db_url, tmp_path / "sauvegarde")

    # today's program: upgraded in place, one more file received after the backup
    upgrade_database(db_url)
    depot = original / "drop" / "esat-seine" / "depot"
    (depot / LATER_CA).write_text(f"{CA_HEADER}\n{LATER_LINE}\n", encoding="utf-8")
    code, out, err = cli(original, "run", "--as-of", "2025-12-18")
    assert code == 0 and "1 ACCEPTE" in out, out + err
    later = [p for p in roots(original) for p in p.rglob("*") if p.is_file() and LATER_NIR.encode() in p.read_bytes()]
    assert len(later) == 4  # its received copy, its archive/ copy, its Caf output files (parquet, CSV)

    # the backup and the files restored into another folder
    copy_folders(original, moved)
    restore(saved, db_url, moved, other_db_url)
    configure(moved, db_url_of(moved, other_db_url))  # `db upgrade`: 0014_purge makes the paths relative
    engine = engine_of(moved, other_db_url)
    with engine.connect() as conn:
        paths = conn.execute(select(files.c.stored_path).where(files.c.stored_path.is_not(None))).scalars().all()
    engine.dispose()
    assert paths and all(not p.startswith("/") and p.count("/") == 1 for p in paths)  # <account>/<file>
    kept = snapshot(original)

    code, out, _ = cli(moved, "status")
    assert "Fichiers inconnus de la base : 4\n" in out, out  # the copy, and the emission's parquet, CSV, manifest
    assert "- 4 fichiers inconnus de la base (1 copie reçue (dossier de stockage), 3 fichiers pour les Caf" in out
    unknown_before = {str(p.relative_to(moved)): p.read_bytes() for p in _holding(moved, LATER_NIR)}
    assert len(unknown_before) == 4
    # <name>.CR.* answers the later reception (its 1 record), the restored ledger's pair of that name was kept
    # aside as <name>.<id>.CR.* by that later run
    retour = moved / "drop" / "esat-seine" / "retour"
    later_answer = {p.name: p.read_bytes() for p in retour.glob(f"{LATER_CA}.CR.*")}
    assert (
        len(later_answer) == 3 and f";{LATER_CA.rsplit('.', 1)[0]}" not in later_answer[f"{LATER_CA}.CR.csv"].decode()
    )
    assert ";1;1;0;" in later_answer[f"{LATER_CA}.CR.csv"].decode("utf-8-sig")

    # nothing in depot/: a run finds nothing new and leaves every unknown file as it was
    assert cli(moved, "run", "--as-of", "2025-12-20")[0] == 0
    code, out, err = cli(moved, "purge", "--dry-run", "--as-of", PAST_EVERYTHING)
    assert code == 0 and "\n4 fichiers inconnus de la base" in out and "sans année" not in out, out + err
    code, out, err = cli(moved, "purge", "--as-of", PAST_EVERYTHING)
    assert code == 0, out + err
    assert "\n4 fichiers inconnus de la base" in out and "sans année" not in out
    # what the ledger knew is gone (the examples' NIRs); what it does not know is kept, byte for byte
    assert {str(p.relative_to(moved)): p.read_bytes() for p in _holding(moved, LATER_NIR)} == unknown_before
    assert found_nirs(moved, db_url_of(moved, other_db_url), roots(moved)) == {}
    assert snapshot(original) == kept  # the original deployment: not one byte touched
    # the later reception's answer stays; every compte rendu the ledger knows is gone
    assert {p.name: p.read_bytes() for p in retour.iterdir()} == later_answer
    status = json.loads(cli(moved, "status", "--format", "json")[1])
    assert status["purge"]["fichiers_inconnus_de_la_base"] == {"copies": 1, "outputs": 3}
    assert status["purge"]["effacement_non_termine"] == 0
    sante = console_sante(moved)  # /sante: as the purge counted them
    assert sante["purge"]["fichiers_inconnus_de_la_base"] == {"copies": 1, "outputs": 3}
    assert {"code": "FICHIERS_INCONNUS_DE_LA_BASE", "nombre": 4} in sante["avertissements"]  # codes and counts


def _holding(base: Path, nir: str) -> list[Path]:
    return sorted(p for r in roots(base) for p in r.rglob("*") if p.is_file() and nir.encode() in p.read_bytes())
