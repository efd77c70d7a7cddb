"""The database schema under Alembic: baseline = today's tables, upgrades keep data, refusals, concurrency."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Date, DateTime, inspect, select, text

import exchange.store.revision as schema
from exchange.app.habilitations import import_extract
from exchange.app.run import run_job
from exchange.store.engine import open_database
from exchange.store.migrations.baseline_schema import baseline_metadata
from exchange.store.revision import BASELINE, alembic_config, differences, head_revision, upgrade
from exchange.store.tables import metadata
from tests.areas import cli, seed_examples, write_config
from tests.conftest import EXAMPLES, ROOT, make_config
from tests.services import private_pg_schema

SHIPPED = head_revision()  # the shipped head; "9990_essai" below is a newer program's revision on top of it
BEHIND = (
    f"La base de données est à la révision {SHIPPED}, ce programme attend 9990_essai : "
    "lancez « esat-exchange db upgrade »."
)
AHEAD = (
    f"La base de données est à la révision 9990_essai, inconnue de ce programme (attendue : {SHIPPED}) : "
    "une version plus récente l'a migrée ; utilisez cette version, dont « esat-exchange db upgrade » "
    "connaît la révision."
)
# What the program at the baseline (commit 8c34a3e, before Alembic) left for the spec's examples: a run
# without habilitations (every file H05), the Habpps import, `files replay 2`: its rows and its drop area.
BASELINE_STATE = ROOT / "fixtures" / "schema" / "0001_baseline"
EMPTY = "La base de données est vide (aucune table) : lancez « esat-exchange db upgrade » pour la créer."
PRE_ALEMBIC = (
    "La base de données date d'avant les migrations (aucune révision enregistrée) : "
    "lancez « esat-exchange db upgrade » pour l'adopter et la mettre à jour."
)


# -- what is compared -------------------------------------------------------------------------------


def shape(engine) -> dict:  # noqa: ANN001
    """Everything `inspect` sees of the project's tables: columns (type, nullability), PKs, indexes,
    uniques, foreign keys — the APScheduler job store excluded."""
    insp = inspect(engine)
    out = {}
    for table in sorted(set(insp.get_table_names()) - schema.OUTSIDE_ALEMBIC):
        out[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(table)
            ),
            "uniques": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in insp.get_foreign_keys(table)
            ),
        }
    return out


def rows(engine, meta=None) -> dict:  # noqa: ANN001
    """Every row of every table of db.py (or of `meta`, e.g. the baseline's columns), in primary-key order."""
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in (meta or metadata).sorted_tables
            if t.name in metadata.tables
        }  # not those dropped since


def _run_examples(cfg, engine) -> None:  # noqa: ANN001
    assert import_extract(engine, EXAMPLES / "habpps").accepted
    outcome = run_job(cfg, engine, as_of=date(2025, 12, 15))
    assert outcome.status == "OK", outcome.error


def _copy_baseline_rows(source, target) -> None:  # noqa: ANN001
    """The rows of the baseline's tables and columns, from a database at head into one at the baseline."""
    baseline = baseline_metadata()
    with source.connect() as src, target.begin() as dst:
        for t in baseline.sorted_tables:
            if t.name not in metadata.tables:  # dropped since the baseline (0007: job_locks)
                continue
            head_table = metadata.tables[t.name]
            data = [dict(r._mapping) for r in src.execute(select(*[head_table.c[c.name] for c in t.columns]))]
            if data:
                dst.execute(t.insert(), data)
            if target.dialect.name == "postgresql" and "id" in t.c and data:
                dst.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), (SELECT max(id) FROM {t.name}))")
                )


def fill_as_at_the_baseline(url: str) -> None:
    """The baseline program's rows (BASELINE_STATE/rows.json), in a database at the baseline or pre-Alembic."""
    data = json.loads((BASELINE_STATE / "rows.json").read_text(encoding="utf-8"))["tables"]
    engine = open_database(url)
    with engine.begin() as conn:
        for table in baseline_metadata().sorted_tables:
            names, values = data[table.name]["columns"], data[table.name]["rows"]
            if values:
                conn.execute(table.insert(), [{n: _typed(table.c[n], v) for n, v in zip(names, r)} for r in values])
            if engine.dialect.name == "postgresql" and "id" in table.c and values:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"
                    )
                )
    engine.dispose()


def _typed(column, value):  # noqa: ANN001, ANN202 - JSON cell → the column's Python value
    if value is not None and isinstance(column.type, DateTime):
        return datetime.fromisoformat(value)
    if value is not None and isinstance(column.type, Date):
        return date.fromisoformat(value)
    return value


def fill(base: Path, url: str) -> None:
    """The spec's examples through the cycle, as the program that made this database ran them. Once the
    head is past the baseline, today's program runs them on a scratch database at head and the rows of
    the baseline's columns are copied into this one (what the baseline's program would have stored)."""
    cfg = seed_examples(base, url, upgrade=False)
    engine = open_database(url)
    try:
        if head_revision() == BASELINE:
            _run_examples(cfg, engine)
            return
        if url.startswith("sqlite"):
            scratch = open_database(f"sqlite:///{base / 'scratch-head.db'}")
            upgrade(scratch)
            _run_examples(cfg, scratch)
            _copy_baseline_rows(scratch, engine)
            scratch.dispose()
        else:
            with private_pg_schema() as scratch_url:
                scratch = open_database(scratch_url)
                upgrade(scratch)
                _run_examples(cfg, scratch)
                _copy_baseline_rows(scratch, engine)
                scratch.dispose()
    finally:
        engine.dispose()


def fresh_head(tmp_path: Path, like_url: str) -> dict:
    """The shape of a fresh database at head, on the same backend as `like_url`."""
    if like_url.startswith("sqlite"):
        engine = open_database(f"sqlite:///{tmp_path / 'fresh.db'}")
        upgrade(engine)
        try:
            return shape(engine)
        finally:
            engine.dispose()
    with private_pg_schema() as url:
        engine = open_database(url)
        upgrade(engine)
        try:
            return shape(engine)
        finally:
            engine.dispose()


def pre_alembic(url: str, *, pending_index: str | None) -> None:
    """A database made the pre-Alembic way: create_all of the baseline tables, `ix_records_pending`
    missing (pending_index None) or as it was before the composite index ("old": on emission_id only)."""
    from sqlalchemy import Index

    meta = baseline_metadata()
    records = meta.tables["records"]
    records.indexes.discard(next(i for i in records.indexes if i.name == "ix_records_pending"))
    if pending_index == "old":
        Index("ix_records_pending", records.c.emission_id)
    engine = open_database(url)
    meta.create_all(engine)
    engine.dispose()


# -- the baseline is today's schema; db.py and the migrations never drift ----------------------------


def test_head_is_exactly_what_db_py_declares(tmp_path, blank_db_url):
    engine = open_database(blank_db_url)
    upgrade(engine)
    with engine.connect() as conn:
        assert differences(conn, metadata) == []  # autogenerate against head finds nothing
        if head_revision() == BASELINE:
            assert differences(conn, baseline_metadata()) == []
    migrated = shape(engine)
    engine.dispose()
    if blank_db_url.startswith("sqlite"):
        made = open_database(f"sqlite:///{tmp_path / 'create_all.db'}")
        metadata.create_all(made)
        assert dict(shape(made).items()) == {t: s for t, s in migrated.items() if t != "alembic_version"}
        made.dispose()
    else:
        with private_pg_schema() as url:
            made = open_database(url)
            metadata.create_all(made)
            assert shape(made) == {t: s for t, s in migrated.items() if t != "alembic_version"}
            made.dispose()
    assert "ix_records_pending" in {i[0] for i in migrated["records"]["indexes"]}
    assert migrated["alembic_version"]["columns"][0][0] == "version_num"


def test_autogenerate_ignores_the_apscheduler_job_store(db_url):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    engine = open_database(db_url)
    SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs").jobs_t.create(engine)
    with engine.connect() as conn:
        assert differences(conn, metadata) == []
    assert schema.schema_state(engine).verdict == "current"
    engine.dispose()


# -- upgrading keeps the data and ends with exactly the fresh schema --------------------------------


def test_database_at_the_baseline_filled_then_upgraded(tmp_path, blank_db_url):
    engine = open_database(blank_db_url)
    with engine.begin() as conn:
        from alembic import command

        command.upgrade(alembic_config(conn), BASELINE)
    engine.dispose()
    fill(tmp_path, blank_db_url)
    engine = open_database(blank_db_url)
    before = rows(engine, baseline_metadata())
    assert len(before["files"]) > 0 and len(before["records"]) > 0 and len(before["hab_partenaires"]) > 0
    code, out, err = cli(tmp_path, "db", "upgrade")
    assert (code, err) == (0, "")
    assert out == (
        f"Base de données déjà à jour (révision {BASELINE}).\n"
        if head_revision() == BASELINE
        else f"Base de données mise à jour : révision {BASELINE} → {head_revision()}.\n"
    )
    assert rows(engine, baseline_metadata()) == before
    assert shape(engine) == fresh_head(tmp_path, blank_db_url)
    engine.dispose()


@pytest.mark.parametrize("pending_index", [None, "old"])
def test_pre_alembic_database_is_adopted_with_its_data(tmp_path, blank_db_url, pending_index):
    pre_alembic(blank_db_url, pending_index=pending_index)
    fill(tmp_path, blank_db_url)
    engine = open_database(blank_db_url)
    before = rows(engine, baseline_metadata())
    assert len(before["files"]) == 4 and len(before["records"]) == 9 and len(before["emissions"]) > 0
    assert schema.schema_state(engine).verdict == "pre-alembic"

    code, out, err = cli(tmp_path, "db", "upgrade")
    assert (code, err) == (0, "")
    assert out == (
        "Base de données existante adoptée (créé pour rejoindre la référence : index ix_records_pending), "
        f"puis mise à jour : révision aucune → {head_revision()}.\n"
    )
    assert rows(engine, baseline_metadata()) == before
    assert shape(engine) == fresh_head(tmp_path, blank_db_url)
    pending = next(i for i in shape(engine)["records"]["indexes"] if i[0] == "ix_records_pending")
    assert pending == ("ix_records_pending", ("emission_id", "file_id", "ligne"), False)  # as 0015 made it
    assert cli(tmp_path, "db", "status") == (
        0,
        f"Révision de la base de données : {head_revision()}\n"
        f"Révision attendue par ce programme : {head_revision()}\n"
        "État : à jour.\n",
        "",
    )
    assert cli(tmp_path, "db", "upgrade") == (0, f"Base de données déjà à jour (révision {head_revision()}).\n", "")
    engine.dispose()


def test_pre_alembic_database_that_adoption_cannot_repair_is_left_untouched(tmp_path, blank_db_url):
    meta = baseline_metadata()
    meta.remove(meta.tables["hab_imports"])
    from sqlalchemy import Column, Integer, String, Table

    Table("hab_imports", meta, Column("id", Integer, primary_key=True), Column("source", String(10)))
    engine = open_database(blank_db_url)
    meta.create_all(engine)
    seed_examples(tmp_path, blank_db_url, upgrade=False)
    before = shape(engine)
    code, out, err = cli(tmp_path, "db", "upgrade")
    assert (code, out) == (1, "")
    assert err.startswith(
        "Mise à jour de la base de données impossible : Adoption de la base de données "
        f"impossible : elle diffère du schéma de référence {BASELINE} ("
    )
    assert err.count("\n") == 1 and "hab_imports" in err
    assert shape(engine) == before  # the whole adoption was rolled back: no index, no alembic_version
    assert schema.schema_state(engine).verdict == "pre-alembic"
    engine.dispose()


# -- commands refuse a database that is not at head -------------------------------------------------


def _with_second_migration(tmp_path: Path) -> Path:
    """A copy of the shipped migrations plus one more revision (a newer program's)."""
    copy = tmp_path / "migrations-next"
    shutil.copytree(schema.MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "versions" / "9990_essai.py").write_text(
        '"""Test revision: one more index."""\n'
        "from alembic import op\n\n"
        'revision = "9990_essai"\n'
        f'down_revision = "{SHIPPED}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        'def upgrade():\n    op.create_index("ix_essai_runs_job", "runs", ["job"])\n\n\n'
        'def downgrade():\n    op.drop_index("ix_essai_runs_job", table_name="runs")\n',
        encoding="utf-8",
    )
    return copy


def test_commands_refuse_a_database_behind_then_db_upgrade_fixes_it(tmp_path, db_url, monkeypatch):
    seed_examples(tmp_path, db_url)
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    engine = open_database(db_url)
    data = rows(engine)
    monkeypatch.setattr(schema, "MIGRATIONS", _with_second_migration(tmp_path))  # the next program version

    assert cli(tmp_path, "files", "list") == (1, "", BEHIND + "\n")
    assert cli(tmp_path, "runs", "list") == (1, "", BEHIND + "\n")
    assert cli(tmp_path, "status") == (1, "", BEHIND + "\n")
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps")) == (1, "", BEHIND + "\n")
    assert cli(tmp_path, "db", "status") == (
        1,
        f"Révision de la base de données : {SHIPPED}\n"
        "Révision attendue par ce programme : 9990_essai\n"
        f"État : {BEHIND}\n",
        "",
    )
    assert rows(engine) == data

    assert cli(tmp_path, "db", "upgrade") == (
        0,
        f"Base de données mise à jour : révision {SHIPPED} → 9990_essai.\n",
        "",
    )
    assert cli(tmp_path, "db", "status")[0] == 0
    code, out, err = cli(tmp_path, "files", "list", "--format", "csv")
    assert (code, err) == (0, "") and len(out.splitlines()) == 1 + len(data["files"])
    assert rows(engine) == data
    assert shape(engine) == fresh_head(tmp_path, db_url)  # upgraded from the baseline = fresh at 0002
    engine.dispose()


def test_commands_refuse_a_database_a_newer_program_migrated(tmp_path, db_url, monkeypatch):
    seed_examples(tmp_path, db_url)
    with monkeypatch.context() as newer:
        newer.setattr(schema, "MIGRATIONS", _with_second_migration(tmp_path))
        assert cli(tmp_path, "db", "upgrade")[0] == 0
    engine = open_database(db_url)
    before = shape(engine)
    assert cli(tmp_path, "files", "list") == (1, "", AHEAD + "\n")
    assert cli(tmp_path, "campaign", "status", "--year", "2025") == (1, "", AHEAD + "\n")
    assert cli(tmp_path, "db", "status") == (
        1,
        "Révision de la base de données : 9990_essai\n"
        f"Révision attendue par ce programme : {SHIPPED}\n"
        f"État : {AHEAD}\n",
        "",
    )
    assert cli(tmp_path, "db", "upgrade") == (1, "", f"Mise à jour de la base de données impossible : {AHEAD}\n")
    assert cli(tmp_path, "run", "--as-of", "2025-12-15") == (1, "", AHEAD + "\n")
    assert shape(engine) == before
    assert (tmp_path / "drop").exists() and not (tmp_path / "received").exists()  # run did nothing
    engine.dispose()


def test_empty_and_pre_alembic_databases_are_refused_run_creates(tmp_path, blank_db_url):
    seed_examples(tmp_path, blank_db_url, upgrade=False)
    assert cli(tmp_path, "files", "list") == (1, "", EMPTY + "\n")
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps")) == (1, "", EMPTY + "\n")
    assert cli(tmp_path, "db", "status") == (
        1,
        "Révision de la base de données : aucune\n"
        f"Révision attendue par ce programme : {head_revision()}\n"
        f"État : {EMPTY}\n",
        "",
    )
    code, out, _ = cli(tmp_path, "run", "--as-of", "2025-12-15")  # run brings the database to head itself
    assert code == 0 and out.startswith("Exécution n° 1 : terminée.")
    assert cli(tmp_path, "db", "status")[0] == 0
    assert cli(tmp_path, "files", "list")[0] == 0


def test_pre_alembic_database_is_refused_by_commands(tmp_path, blank_db_url):
    pre_alembic(blank_db_url, pending_index=None)
    seed_examples(tmp_path, blank_db_url, upgrade=False)
    assert cli(tmp_path, "files", "list") == (1, "", PRE_ALEMBIC + "\n")
    assert cli(tmp_path, "status") == (1, "", PRE_ALEMBIC + "\n")


def test_db_upgrade_creates_an_empty_database(tmp_path, blank_db_url):
    seed_examples(tmp_path, blank_db_url, upgrade=False)
    assert cli(tmp_path, "db", "upgrade") == (0, f"Base de données créée : révision aucune → {head_revision()}.\n", "")
    assert cli(tmp_path, "db", "upgrade") == (0, f"Base de données déjà à jour (révision {head_revision()}).\n", "")


def test_db_upgrade_on_an_unreachable_database_is_one_french_line(tmp_path):
    seed_examples(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/nowhere", upgrade=False)
    code, out, err = cli(tmp_path, "db", "upgrade")
    assert (code, out) == (1, "")
    assert err.startswith("Mise à jour de la base de données impossible : OperationalError : ")
    assert err.count("\n") == 1


# -- concurrent upgrades ----------------------------------------------------------------------------


def _upgrader(url: str, barrier, results) -> None:  # noqa: ANN001 - multiprocessing objects
    engine = open_database(url)
    try:
        barrier.wait(timeout=60)
        done = upgrade(engine)
        results.put(("ok", done.before, done.after))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        results.put(("error", repr(e), None))
    finally:
        engine.dispose()


def _race(url: str, processes: int) -> list[tuple]:
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    workers = [ctx.Process(target=_upgrader, args=(url, barrier, results)) for _ in range(processes)]
    for w in workers:
        w.start()
    got = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    return got


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_processes_upgrading_one_fresh_database_at_once(tmp_path, backend):
    head = head_revision()
    expected = fresh_head(tmp_path, "sqlite" if backend == "sqlite" else "postgresql")
    for attempt in range(10):
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'race-{attempt}.db'}"
            got = _race(url, 3)
            engine = open_database(url)
            check = shape(engine), schema.schema_state(engine).verdict
            engine.dispose()
        else:
            with private_pg_schema() as url:
                got = _race(url, 3)
                engine = open_database(url)
                check = shape(engine), schema.schema_state(engine).verdict
                engine.dispose()
        assert sorted(got, key=str) == sorted([("ok", None, head)] + [("ok", head, head)] * 2, key=str), attempt
        assert check[1] == "current"
        assert check[0] == expected, attempt


def test_new_migration_helper_writes_the_next_revision_with_nothing_pending(tmp_path, monkeypatch):
    from exchange.store.migrations.new import main

    shipped_head = head_revision()
    copy = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(schema, "MIGRATIONS", copy)
    assert main(["9999_essai", "nothing yet"]) == 0
    written = (copy / "versions" / "9999_essai.py").read_text(encoding="utf-8")
    assert f"revision = '9999_essai'\ndown_revision = '{shipped_head}'" in written
    upgrade_body = written.split("def upgrade() -> None:")[1].split("def downgrade")[0]
    assert [ln.strip() for ln in upgrade_body.splitlines() if ln.strip() and not ln.strip().startswith("#")] == [
        "pass"
    ]  # db.py and the shipped migrations agree: autogenerate has nothing to write
    assert head_revision() == "9999_essai"


# -- what the baseline program left, upgraded, then used by today's program --------------------------

RESENT = "ESAT_81234567600017_RG_20251210_001.csv"  # file 2: answered, then replayed, by the baseline program


def test_a_file_answered_twice_before_the_upgrade_keeps_both_pairs_after_a_resend(tmp_path, blank_db_url):
    engine = open_database(blank_db_url)
    with engine.begin() as conn:
        from alembic import command

        command.upgrade(alembic_config(conn), BASELINE)
    engine.dispose()
    fill_as_at_the_baseline(blank_db_url)
    shutil.copytree(BASELINE_STATE / "drop", tmp_path / "drop")
    for account in ("esat-seine", "horizon-paie"):
        (tmp_path / "drop" / account / "depot").mkdir(exist_ok=True)
    write_config(tmp_path / "esat-exchange.toml", make_config(tmp_path, blank_db_url, upgrade=False))
    retour = tmp_path / "drop" / "esat-seine" / "retour"
    before = {p.name: p.read_bytes() for p in retour.iterdir()}
    assert sorted(n for n in before if n.startswith(RESENT)) == [
        f"{RESENT}.2.CR.csv",
        f"{RESENT}.2.CR.xml",
        f"{RESENT}.CR.csv",
        f"{RESENT}.CR.xml",
    ]

    assert cli(tmp_path, "db", "upgrade")[0] == 0
    # The Esat sends file 2's name again, with other content (one amount corrected).
    sent = (tmp_path / "drop" / "esat-seine" / "archive" / RESENT).read_bytes()
    changed = sent.replace(b";862,35;", b";862,36;", 1)
    assert changed != sent
    (tmp_path / "drop" / "esat-seine" / "depot" / RESENT).write_bytes(changed)
    code, out, err = cli(tmp_path, "run", "--as-of", "2025-12-15")
    assert (code, err) == (0, ""), out

    after = {p.name: p.read_bytes() for p in retour.iterdir()}
    assert sorted(n for n in after if n.startswith(RESENT)) == [
        f"{RESENT}.2-rejeu1.CR.csv",
        f"{RESENT}.2-rejeu1.CR.xml",
        f"{RESENT}.2.CR.csv",
        f"{RESENT}.2.CR.xml",
        f"{RESENT}.CR.csv",
        f"{RESENT}.CR.html",
        f"{RESENT}.CR.xml",
    ]  # today's answer adds the .CR.html
    # nothing answered before the upgrade is lost or overwritten: the first answer stays where it was,
    # the replay's answer is kept under the name today's program gives a replay's pair
    for ext in ("CR.csv", "CR.xml"):
        assert after[f"{RESENT}.2.{ext}"] == before[f"{RESENT}.2.{ext}"]
        assert after[f"{RESENT}.2-rejeu1.{ext}"] == before[f"{RESENT}.{ext}"]
        assert after[f"{RESENT}.{ext}"] != before[f"{RESENT}.{ext}"]
    for name, content in before.items():  # the other files' comptes rendus are untouched
        if not name.startswith(RESENT):
            assert after[name] == content


def test_sqlite_migration_breaking_references_is_rolled_back(tmp_path, monkeypatch):
    seed_examples(tmp_path)
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    engine = open_database(f"sqlite:///{tmp_path / 'exchange.db'}")
    data = rows(engine)
    copy = _with_second_migration(tmp_path)
    (copy / "versions" / "9990_essai.py").write_text(
        f'from alembic import op\n\nrevision = "9990_essai"\ndown_revision = "{SHIPPED}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade():\n    op.execute('DELETE FROM files')\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(schema, "MIGRATIONS", copy)
    code, out, err = cli(tmp_path, "db", "upgrade")
    assert (code, out) == (1, "")
    assert err.startswith("Mise à jour de la base de données impossible : la migration laisserait ")
    assert err.endswith(" : rien n'a été changé.\n")
    assert rows(engine) == data and schema.schema_state(engine).current == SHIPPED
    engine.pool.dispose()
    with pytest.raises(schema.SchemaError):
        upgrade(engine)  # on the engine's one pooled connection
    with engine.connect() as conn:  # that connection got its foreign keys back
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert rows(engine) == data
    engine.dispose()


def test_run_upgrades_only_once_the_cycle_running_elsewhere_has_finished(tmp_path, blank_db_url):
    """Issue 9 §8: migrations are applied under the job lock: while another process holds the cycle lock
    (a cycle running on the old schema), `run` waits before touching the schema, then upgrades and runs."""
    import subprocess
    import sys
    import time

    from exchange.store.fences import try_lock

    seed_examples(tmp_path, blank_db_url, upgrade=False)
    engine = open_database(blank_db_url)
    held = try_lock(engine, "cycle")
    assert held is not None
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exchange.cli",
            "--config",
            str(tmp_path / "esat-exchange.toml"),
            "run",
            "--as-of",
            "2025-12-15",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None  # still waiting for the lock…
        assert schema.schema_state(engine).verdict == "empty"  # …and nothing of the schema touched
    finally:
        held.release()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert out.startswith("Exécution n° 1 : terminée.")
    assert schema.schema_state(engine).verdict == "current"
    engine.dispose()
