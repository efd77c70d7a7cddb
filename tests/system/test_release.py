"""Running it in production (cli.md v1.3): config init, backup while the service writes, the missing-configuration
line, the console's access log and every process's start-up line, the version from git, the hardened units."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from exchange.cli.config_init import sample_config
from exchange.cli.main import main
from exchange.config import load_config
from exchange.store.backup import row_counts
from exchange.store.engine import open_database
from tests.areas import cli, seed_examples
from tests.paths import ROOT
from tests.services import PG_ADMIN_URL, unavailable

# -- config init ----------------------------------------------------------------------------------------------


def test_config_init_writes_every_key_with_absolute_paths_and_never_overwrites(tmp_path, capsys):
    target = tmp_path / "etc" / "esat-exchange.toml"
    target.parent.mkdir()
    assert main(["config", "init", str(target), "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert f"Configuration écrite dans {target}" in out and f"--config {target} db upgrade" in out
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    cfg = load_config(target)  # it parses, every key known
    data = tmp_path / "data"
    assert cfg.database_url == f"sqlite:///{data / 'exchange.db'}"
    assert (cfg.drop_root, cfg.storage_dir, cfg.output_dir) == (data / "zone-de-depot", data / "recus", data / "caf")
    text_written = target.read_text(encoding="utf-8")
    for key in ("misfire_grace_seconds", "max_file_bytes", "[web.oidc]", "[retention]", "[alerts]", "[locks]"):
        assert key in text_written
    assert "secret_key_file" not in text_written  # unused: not offered to a new installation

    assert main(["config", "init", str(tmp_path / "absent" / "e.toml")]) == 1
    assert capsys.readouterr().err == (
        f"Écriture impossible de {tmp_path / 'absent' / 'e.toml'} : dossier ou fichier introuvable ; "
        "rien n'a été écrit.\n"
    )
    target.write_text("# mine\n", encoding="utf-8")
    assert main(["config", "init", str(target)]) == 1
    assert capsys.readouterr().err == f"Refusé : {target} existe déjà ; rien n'a été écrit (choisissez un autre nom).\n"
    assert target.read_text(encoding="utf-8") == "# mine\n"


def test_the_release_sample_is_what_config_init_writes(tmp_path):
    """dist/esat-exchange.toml.sample is written by the same code, with the standard library only (make dist)."""
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "exchange.cli.config_init"],  # -S: no site-packages, as the build venv
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": os.environ["PATH"]},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == sample_config()
    sample = tmp_path / "esat-exchange.toml"
    sample.write_text(proc.stdout, encoding="utf-8")
    assert load_config(sample).database_url == "sqlite:////var/lib/esat-exchange/exchange.db"


def test_without_any_configuration_file_the_first_line_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["db", "status"])
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("Aucun fichier de configuration (ni --config, ni ./esat-exchange.toml)")
    assert "esat-exchange config init /etc/esat-exchange/esat-exchange.toml" in first

    assert main(["--config", str(tmp_path / "absent.toml"), "status"]) == 2
    assert capsys.readouterr().err == (
        f"Erreur de configuration : fichier de configuration introuvable : {tmp_path / 'absent.toml'}"
        f" ; pour en écrire un : esat-exchange config init {tmp_path / 'absent.toml'}\n"
    )


# -- backup ---------------------------------------------------------------------------------------------------


def _processed_area(tmp_path: Path, db_url: str | None = None):  # noqa: ANN202
    cfg = seed_examples(tmp_path, db_url)
    code, out, err = cli(tmp_path, "run", "--as-of", "2025-12-15")
    assert code == 0, err
    return cfg


def test_backup_of_sqlite_while_a_writer_holds_the_wal_keeps_every_row(tmp_path, capsys):
    cfg = _processed_area(tmp_path)
    db = Path(cfg.database_url.removeprefix("sqlite:///"))
    # the service is running: a connection keeps the WAL from being checkpointed, and writes one more row
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("INSERT INTO job_pauses (job, paused_by, paused_at) VALUES ('collect', 'test', '2026-12-07')")
    writer.commit()
    assert (db.parent / (db.name + "-wal")).stat().st_size > 0
    engine = open_database(cfg.database_url)
    live = row_counts(engine)
    engine.dispose()
    assert live["files"] == 4 and live["runs"] >= 1 and live["job_pauses"] == 1

    cold = tmp_path / "cold.db"  # what the issue saw: a copy of exchange.db alone misses what sits in -wal
    shutil.copyfile(db, cold)
    cold_pauses = sqlite3.connect(cold).execute("SELECT count(*) FROM job_pauses").fetchone()[0]
    assert cold_pauses == 0

    dest = tmp_path / "sauvegardes" / "2026-12-07"
    dest.parent.mkdir()
    code = main(["--config", str(tmp_path / "esat-exchange.toml"), "backup", str(dest)])
    writer.close()
    out = capsys.readouterr().out
    assert code == 0
    assert f"Sauvegarde faite dans {dest} :" in out
    assert "exchange.db, 4 fichiers reçus" in out
    assert sorted(p.name for p in dest.iterdir()) == ["MANIFEST.sha256", "exchange.db", "sauvegarde.json"]
    assert oct(dest.stat().st_mode & 0o777) == "0o700" and oct((dest / "exchange.db").stat().st_mode & 0o777) == "0o600"
    summary = json.loads((dest / "sauvegarde.json").read_text(encoding="utf-8"))
    assert summary["base"] == "sqlite" and summary["lignes"] == live
    assert not (dest / "exchange.db-wal").exists()  # a standalone file
    restored = open_database(f"sqlite:///{dest / 'exchange.db'}")
    assert row_counts(restored) == live  # every row, the WAL's included
    restored.dispose()

    # the manifest: every received copy, Caf file, compte rendu and archived original, with its SHA-256
    manifest = {line[66:]: line[:64] for line in (dest / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines()}
    kept = [p for root in (cfg.storage_dir, cfg.output_dir) for p in root.rglob("*") if p.is_file()]
    kept += [p for p in cfg.drop_root.glob("*/retour/*") if p.is_file()]
    kept += [p for p in cfg.drop_root.glob("*/archive/*") if p.is_file()]
    assert len(kept) >= 4 + 4 * 2 + 3  # copies, comptes rendus, Caf files at least
    assert set(manifest) == {str(p) for p in kept}
    for path, digest in manifest.items():
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
    check = subprocess.run(["sha256sum", "--quiet", "-c", str(dest / "MANIFEST.sha256")], capture_output=True)
    assert check.returncode == 0, check.stdout


def test_a_backup_that_cannot_be_made_leaves_nothing(tmp_path, capsys):
    cfg = _processed_area(tmp_path)
    capsys.readouterr()
    existing = tmp_path / "deja"
    existing.mkdir()
    assert main(["--config", str(tmp_path / "esat-exchange.toml"), "backup", str(existing)]) == 1
    assert capsys.readouterr().err == (
        f"Sauvegarde non faite : {existing} existe déjà : une sauvegarde va dans un dossier nouveau ; "
        f"rien n'a été laissé à {existing}.\n"
    )
    # a database file that is not SQLite: the copy fails, and no half-made folder stays
    broken = tmp_path / "broken.toml"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    broken.write_text(f'[database]\nurl = "sqlite:///{garbage}"\n', encoding="utf-8")
    dest = tmp_path / "b2"
    assert main(["--config", str(broken), "backup", str(dest)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Sauvegarde non faite : ") and err.endswith(f"rien n'a été laissé à {dest}.\n")
    assert err == (
        "Sauvegarde non faite : base de données : le fichier n'est pas une base SQLite ; "
        f"rien n'a été laissé à {dest}.\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".b2", "b2"))) == []
    # no ledger at all: nothing is created, nothing is saved
    missing = tmp_path / "sans-base.toml"
    missing.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "nulle-part.db"}"\n', encoding="utf-8")
    assert main(["--config", str(missing), "backup", str(tmp_path / "b3")]) == 1
    assert f"Sauvegarde non faite : base SQLite introuvable : {tmp_path / 'nulle-part.db'}" in capsys.readouterr().err
    assert not (tmp_path / "nulle-part.db").exists() and not (tmp_path / "b3").exists()
    # a backup inside a folder it lists would hash itself
    inside = cfg.storage_dir / "sauvegarde"
    assert main(["--config", str(tmp_path / "esat-exchange.toml"), "backup", str(inside)]) == 1
    assert f"{inside} est dans {cfg.storage_dir}, dont elle recense les fichiers" in capsys.readouterr().err
    assert not inside.exists()
    # a folder whose parent does not exist
    assert main(["--config", str(tmp_path / "esat-exchange.toml"), "backup", str(tmp_path / "x" / "y")]) == 1
    assert f"le dossier {tmp_path / 'x'} n'existe pas" in capsys.readouterr().err
    assert cfg.database_url  # the service's own database untouched
    assert main(["--config", str(tmp_path / "esat-exchange.toml"), "db", "status"]) == 0


@pytest.mark.postgres
def test_backup_of_postgresql_is_a_pg_dump_that_restores_every_row(tmp_path, pg_url, capsys):
    if shutil.which("pg_restore") is None:
        unavailable("pg_restore (postgresql-client)")
    cfg = _processed_area(tmp_path, pg_url)
    dest = tmp_path / "sauvegarde"
    assert main(["--config", str(tmp_path / "esat-exchange.toml"), "backup", str(dest)]) == 0
    assert "base postgresql" in capsys.readouterr().out
    summary = json.loads((dest / "sauvegarde.json").read_text(encoding="utf-8"))
    assert summary["fichier_base"] == "esat.pgdump" and summary["lignes"]["files"] == 4
    engine = open_database(cfg.database_url)
    live = row_counts(engine)
    engine.dispose()
    assert summary["lignes"] == live

    # restored into a new database: the same rows, table by table
    name = "r30_" + uuid.uuid4().hex[:10]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        target = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + f"/{name}"
        restore = subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "-d", target, str(dest / "esat.pgdump")],
            capture_output=True,
            text=True,
        )
        assert restore.returncode == 0, restore.stderr
        schema = re.search(r"search_path%3D(\w+)", pg_url).group(1)
        restored = open_database(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}?options=-csearch_path%3D{schema}")
        assert row_counts(restored) == live
        restored.dispose()
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


# -- logs -----------------------------------------------------------------------------------------------------


def test_every_process_logs_one_json_start_up_line(tmp_path):
    cfg = seed_examples(tmp_path)
    config = tmp_path / "esat-exchange.toml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "exchange.cli.main",
            "--config",
            str(config),
            "--log-format",
            "json",
            "--log-level",
            "INFO",
            "db",
            "status",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    starts = [line for line in lines if line.get("event") == "demarrage"]
    assert len(starts) == 1
    start = starts[0]
    assert start["message"] == "démarrage d'esat-exchange" and start["level"] == "INFO"
    assert start["config"] == str(config) and start["base"] == "sqlite" and start["command"] == "db"
    assert start["version"] and start["version"] != "inconnue"
    assert cfg.database_url not in proc.stderr  # the kind of database, never its URL (a password)


def test_the_console_logs_one_line_per_request_without_query_or_nir(config, caplog):
    from starlette.testclient import TestClient

    from exchange.web.access_log import AccessLog
    from exchange.web.app import create_app

    engine = open_database(config.database_url)
    app = AccessLog(create_app(config, engine))
    caplog.set_level(logging.INFO, logger="esat_exchange.access")
    with TestClient(app) as client:
        assert client.get("/connexion?login=marie&nir=185057512345678").status_code == 200
        answered = client.get("/fichiers/185057512345678", follow_redirects=False).status_code
    engine.dispose()
    lines = [r.event for r in caplog.records if r.name == "esat_exchange.access"]
    assert len(lines) == 2
    first, second = lines
    assert first["method"] == "GET" and first["path"] == "/connexion" and first["status"] == 200
    assert first["event"] == "acces" and isinstance(first["duration_ms"], float)
    assert second["status"] == answered  # logged as answered (a redirect to the login page, or 404)
    assert "185057512345678" not in second["path"] and second["path"].startswith("/fichiers/18505")
    assert all("?" not in line["path"] and "marie" not in line["path"] for line in lines)


# -- version and units ----------------------------------------------------------------------------------------


def _scm_version(checkout: Path) -> str:
    build_python = ROOT / ".tools" / "build" / "bin" / "python"
    if not build_python.exists():
        subprocess.run(["make", "-s", "-C", str(ROOT), ".tools/build/.installed"], check=True, capture_output=True)
    proc = subprocess.run(
        [str(build_python), "-m", "setuptools_scm"], cwd=checkout, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def test_two_commits_build_two_versions_and_a_tag_builds_its_own(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-local", str(ROOT), str(clone)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(clone),
            "tag",
            "-d",
            *subprocess.run(["git", "-C", str(clone), "tag"], capture_output=True, text=True).stdout.split(),
        ],
        capture_output=True,
    )
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    untagged = _scm_version(clone)
    assert re.fullmatch(r"0\.1\.dev\d+\+g[0-9a-f]+", untagged), untagged  # a clone without tags: still distinct
    subprocess.run([*git, "commit", "--quiet", "--allow-empty", "-m", "next"], check=True)
    after = _scm_version(clone)
    assert after != untagged
    subprocess.run([*git, "tag", "v1.4.0"], check=True)
    assert _scm_version(clone) == "1.4.0"
    subprocess.run([*git, "commit", "--quiet", "--allow-empty", "-m", "after the release"], check=True)
    assert re.fullmatch(r"1\.4\.1\.dev1\+g[0-9a-f]+", _scm_version(clone))


@pytest.mark.parametrize("unit", ["esat-exchange.service", "esat-exchange-web.service"])
def test_both_units_are_hardened_to_ok(unit):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        unavailable("systemd-analyze (systemd)")
    proc = subprocess.run(
        [analyze, "security", "--offline=yes", str(ROOT / "deploy" / unit)], capture_output=True, text=True
    )
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", proc.stdout)
    assert score, proc.stdout + proc.stderr
    assert float(score.group(1)) <= 2.5 and score.group(2) == "OK", score.group(0)
    text_unit = (ROOT / "deploy" / unit).read_text(encoding="utf-8")
    assert "User=esat-exchange" in text_unit and "ExecStart=/opt/esat-exchange/bin/esat-exchange --config" in text_unit
    assert "--log-format json --log-level INFO" in text_unit


def test_a_key_the_service_user_cannot_read_is_named_as_such(tmp_path, monkeypatch):
    """Unit test of the transport's key loading (the issue: root's 0600 key, « phrase secrète erronée ? »)."""
    import getpass

    import paramiko

    from exchange.edges.transport.sftp import SftpTransport

    def refused(path, password=None):  # noqa: ANN001, ANN202 - what open() raises for another user's 0600 file
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(paramiko.PKey, "from_path", refused)
    t = SftpTransport("127.0.0.1", 22, "esat", tmp_path / "id_ed25519", tmp_path / "known_hosts")
    with pytest.raises(Exception) as err:
        t._load_key()
    assert str(err.value) == (
        f"clé privée SFTP {tmp_path / 'id_ed25519'} illisible par l'utilisateur du service ({getpass.getuser()}) : "
        "elle doit lui appartenir (chown, chmod 0600)"
    )
    assert err.value.transient is False
    monkeypatch.undo()
    with pytest.raises(Exception, match=f"clé privée SFTP introuvable : {tmp_path / 'id_ed25519'}"):
        t._load_key()


def test_the_console_as_a_service_writes_json_lines_only(tmp_path):
    """`web --log-format json`: the start-up line, « console disponible », then uvicorn's own error, all JSON."""
    import socket

    seed_examples(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "esat-exchange.toml"
        config.write_text(config.read_text(encoding="utf-8") + f'[web]\nbind = "127.0.0.1:{port}"\n', encoding="utf-8")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "exchange.cli",
                "--config",
                str(config),
                "--log-format",
                "json",
                "--log-level",
                "INFO",
                "web",
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), "ESAT_EXCHANGE_WEB_SECRET": "s" * 40},
            timeout=60,
        )
    assert proc.returncode != 0 and proc.stdout == ""
    lines = [json.loads(line) for line in proc.stderr.splitlines()]  # every line is JSON
    assert lines[0]["event"] == "demarrage" and lines[0]["command"] == "web"
    assert lines[1]["message"] == "console disponible" and lines[1]["adresse"] == f"http://127.0.0.1:{port}/"
    assert any(line["level"] == "ERROR" and "98" in line["message"] for line in lines[2:]), lines
