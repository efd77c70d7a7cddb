"""The database's schema revision (Alembic): bring a database to head, or refuse one that is not there.

`upgrade(engine)` is safe on its own: it holds an exclusive lock for the whole migration (PostgreSQL:
`pg_advisory_xact_lock` inside the one migration transaction; SQLite: `BEGIN EXCLUSIVE`), so a second
process waits, then finds the database at head and does nothing. See docs/migrations.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:  # Alembic is imported where a migration or a full check needs it, not for every command
    from alembic.config import Config as AlembicConfig

from exchange.errors import TerminalError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001_baseline"
UPGRADE_COMMAND = "esat-exchange db upgrade"
# Tables in the same database that Alembic never touches: APScheduler creates and owns its job store.
OUTSIDE_ALEMBIC = frozenset({"apscheduler_jobs"})
# pg_advisory_xact_lock(class, key): the class is the project's ("ESAT"), the key the current schema.
PG_LOCK_CLASS = 0x45534154


class SchemaError(TerminalError):
    """The database is not at this program's head revision; the message (French) names the fix."""


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: its revision (None when none is recorded) against the program's head."""

    current: str | None
    head: str
    known: bool  # the current revision is one of this program's migrations (or None)
    has_tables: bool  # at least one of the project's tables exists

    @property
    def verdict(self) -> str:
        """'current', 'behind', 'ahead', 'pre-alembic' or 'empty'."""
        if self.current is None:
            return "pre-alembic" if self.has_tables else "empty"
        if not self.known:
            return "ahead"
        return "current" if self.current == self.head else "behind"

    def problem(self) -> str | None:
        """The French sentence refusing this database, None when it is at head."""
        shown = self.current or "aucune"
        return {
            "current": None,
            "empty": f"La base de données est vide (aucune table) : lancez « {UPGRADE_COMMAND} » pour la créer.",
            "pre-alembic": (
                "La base de données date d'avant les migrations (aucune révision enregistrée) : "
                f"lancez « {UPGRADE_COMMAND} » pour l'adopter et la mettre à jour."
            ),
            "behind": (
                f"La base de données est à la révision {shown}, ce programme attend {self.head} : "
                f"lancez « {UPGRADE_COMMAND} »."
            ),
            "ahead": (
                f"La base de données est à la révision {shown}, inconnue de ce programme (attendue : "
                f"{self.head}) : une version plus récente l'a migrée ; utilisez cette version, dont "
                f"« {UPGRADE_COMMAND} » connaît la révision."
            ),
        }[self.verdict]


@dataclass(frozen=True)
class Upgrade:
    """What `upgrade` did: the revision before (None: none recorded), after, and whether it adopted a database."""

    before: str | None
    after: str
    adopted: bool
    created: tuple[str, ...]  # what adoption created to match the baseline ("index ix_records_pending"…)

    @property
    def changed(self) -> bool:
        return self.adopted or self.before != self.after


def include_name(name: str | None, type_: str, _parent_names: dict[str, Any]) -> bool:
    """Alembic's filter: the tables it does not own (OUTSIDE_ALEMBIC) are never compared nor migrated."""
    return not (type_ == "table" and name in OUTSIDE_ALEMBIC)


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """An Alembic configuration built in code (no alembic.ini): the packaged scripts, the given connection."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(rev)s")  # versions/0002_what.py for revision 0002_what
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration shipped"
    return head


def _state(conn: Connection) -> SchemaState:
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    current = MigrationContext.configure(conn).get_current_revision()
    known = current is None or current in {s.revision for s in script.walk_revisions()}
    tables = set(inspect(conn).get_table_names()) - OUTSIDE_ALEMBIC - {"alembic_version"}
    return SchemaState(current=current, head=script.get_current_head() or "", known=known, has_tables=bool(tables))


def schema_state(engine: Engine) -> SchemaState:
    """Where the database stands (read only)."""
    with engine.connect() as conn:
        return _state(conn)


# `revision = "…"` / `down_revision = "…"` (or None) in a migration script, read as text
_REVISION_LINE = re.compile(r"""^(revision|down_revision)\s*=\s*(?:["']([^"']+)["']|None)\s*$""", re.M)


def shipped_head() -> str | None:
    """The head revision of the packaged scripts, read from their text without importing Alembic; None
    unless the scripts form one plain chain (then check_current asks Alembic itself)."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            continue
        revisions.add(found["revision"])
        if found.get("down_revision"):
            downs.add(found["down_revision"])
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 and downs <= revisions else None


def at_shipped_head(engine: Engine) -> bool:
    """The database records exactly the shipped head (the common case, answered without Alembic)."""
    head = shipped_head()
    if head is None:
        return False
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        return conn.execute(text("SELECT version_num FROM alembic_version")).all() == [(head,)]


def check_current(engine: Engine) -> None:
    """Raise SchemaError (French, naming `esat-exchange db upgrade`) unless the database is at head."""
    if at_shipped_head(engine):
        return
    problem = schema_state(engine).problem()
    if problem:
        raise SchemaError(problem)


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    """One connection in one transaction holding the database's upgrade lock until commit or rollback."""
    if engine.dialect.name == "sqlite":
        # pysqlite begins transactions lazily and never before DDL: drive the transaction ourselves.
        # Foreign keys are off during the migration (SQLite's procedure for altering a table: batch
        # mode drops and renames tables others reference) and checked as a whole before the commit.
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            try:
                conn.exec_driver_sql("BEGIN EXCLUSIVE")
                try:
                    yield conn
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise SchemaError(
                            f"la migration laisserait {len(broken)} référence(s) brisée(s) "
                            f"(table {broken[0][0]}) : rien n'a été changé."
                        )
                except BaseException:
                    dbapi: Any = conn.connection.dbapi_connection
                    if dbapi is not None and dbapi.in_transaction:
                        conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("COMMIT")
            finally:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:cls, hashtext(coalesce(current_schema(), '')))"),
                {"cls": PG_LOCK_CLASS},
            )
        yield conn


def upgrade(engine: Engine) -> Upgrade:
    """Bring the database to head: create it when empty, adopt a pre-Alembic one, apply pending migrations.

    Raises SchemaError (nothing changed) when the database is ahead of this program or a pre-Alembic
    database differs from the baseline in a way adoption cannot repair.
    """
    from alembic import command

    with _exclusive(engine) as conn:
        before = _state(conn)
        if before.verdict == "ahead":
            raise SchemaError(before.problem())
        created: tuple[str, ...] = ()
        if before.verdict == "pre-alembic":
            created = adopt(conn)
            command.stamp(alembic_config(conn), BASELINE)
        command.upgrade(alembic_config(conn), "head")
        after = _state(conn)
    return Upgrade(
        before=before.current, after=after.current or "", adopted=before.verdict == "pre-alembic", created=created
    )


def adopt(conn: Connection) -> tuple[str, ...]:
    """Make a pre-Alembic database equal to the baseline: missing tables, nullable columns and indexes are
    created, an index of a baseline name on other columns is rebuilt; data is untouched. SchemaError when
    a difference remains (e.g. a missing NOT NULL column)."""
    from alembic import command  # noqa: F401 - the operations below need Alembic's plugins loaded
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    from exchange.store.migrations.baseline_schema import baseline_metadata

    baseline = baseline_metadata()
    ops = Operations(MigrationContext.configure(conn))
    insp = inspect(conn)
    existing = set(insp.get_table_names())
    created: list[str] = []
    for table in baseline.sorted_tables:
        if table.name not in existing:
            table.create(conn)
            created.append(f"table {table.name}")
            continue
        columns = {c["name"] for c in insp.get_columns(table.name)}
        for column in table.columns:
            if column.name not in columns and column.nullable:
                ops.add_column(table.name, column._copy())
                created.append(f"colonne {table.name}.{column.name}")
        indexes = {ix["name"]: ix for ix in insp.get_indexes(table.name)}
        for index in table.indexes:
            have = indexes.get(index.name)
            wanted = [c.name for c in index.columns]
            if have and have["column_names"] == wanted and bool(have["unique"]) == bool(index.unique):
                continue
            if have:
                ops.drop_index(str(index.name), table_name=table.name)
            index.create(conn)
            created.append(f"index {index.name}")
    left = differences(conn, baseline)
    if left:
        raise SchemaError(
            "Adoption de la base de données impossible : elle diffère du schéma de référence "
            f"{BASELINE} ({'; '.join(left)})."
        )
    return tuple(created)


def differences(conn: Connection, target: MetaData) -> list[str]:
    """Alembic's autogenerate comparison of the database with `target`, one line per difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    ctx = MigrationContext.configure(conn, opts={"include_name": include_name, "compare_type": True})
    return [_describe(diff) for diff in compare_metadata(ctx, target)]


def _describe(diff: object) -> str:
    if isinstance(diff, list):  # column modifications come grouped
        return ", ".join(_describe(d) for d in diff)
    parts: list[Any] = list(diff)  # type: ignore[call-overload]  # an Alembic diff: a tuple (kind, objects…)
    kind, rest = parts[0], parts[1:]
    names = [getattr(r, "name", None) or str(r) for r in rest if r is not None][:3]
    return f"{kind} {' '.join(str(n) for n in names)}"
