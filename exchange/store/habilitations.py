"""The habilitations in force: atomic import of a validated extract into the database, and the in-memory snapshot."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl
from sqlalchemy import Connection, Table, delete, insert, select
from sqlalchemy.engine import Engine

from exchange.store import tables
from exchange.edges.habpps import TABLES, Problem, extract_files, read_extract
from exchange.core.vocabulary import CNA_CODE_CAF, ESAT_SERVICE  # noqa: F401 - re-exported (defined in the light module)

DB_TABLES: dict[str, Table] = {
    "partenaires": tables.hab_partenaires,
    "conventions": tables.hab_conventions,
    "bulletins": tables.hab_bulletins,
    "groupes": tables.hab_groupes,
    "utilisateurs": tables.hab_utilisateurs,
}


@dataclass(frozen=True)
class ImportResult:
    """The outcome of `habilitations import`: refused with its problems, or accepted with its row counts."""

    accepted: bool
    problems: list[Problem]
    counts: dict[str, int]
    import_id: int | None


@dataclass(frozen=True)
class Partenaire:
    siret: str
    raison_sociale: str
    code_caf: str
    departement: str
    portee: str

    @property
    def caf_gestionnaire(self) -> str:
        """'78' (the CNA) for a multi-departmental partner, else the Caf of its convention."""
        return CNA_CODE_CAF if self.portee == "MULTI_DEPARTEMENTALE" else self.code_caf


@dataclass(frozen=True)
class Convention:
    id_convention: str
    siret: str
    statut: str
    date_debut: date
    date_fin: date | None
    mode_gestion: str
    date_contrat_service: date | None

    def covers(self, day: date) -> bool:
        """ACTIVE and date_debut ≤ day ≤ date_fin (no date_fin: open-ended)."""
        return self.statut == "ACTIVE" and self.date_debut <= day and (self.date_fin is None or day <= self.date_fin)


@dataclass(frozen=True)
class Bulletin:
    id_bulletin: str
    id_convention: str
    service: str
    siret: str
    date_signature: date | None
    statut: str


@dataclass(frozen=True)
class Groupe:
    id_groupe: str
    id_convention: str
    service: str
    role: str


@dataclass(frozen=True)
class Membership:
    """One line of `utilisateurs`: a login in a group, for a partner."""

    login: str
    siret: str
    id_groupe: str
    actif: str


@dataclass(frozen=True)
class Habilitations:
    """A snapshot of the extract in force, indexed for reconciliation; load once per run."""

    partenaires: Mapping[str, Partenaire] = field(default_factory=dict)
    conventions: tuple[Convention, ...] = ()
    bulletins: tuple[Bulletin, ...] = ()
    groupes: Mapping[str, Groupe] = field(default_factory=dict)
    utilisateurs: tuple[Membership, ...] = ()
    import_id: int | None = None
    imported_at: datetime | None = None

    @classmethod
    def from_rows(cls, rows: Mapping[str, Iterable[Mapping]], import_id: int | None = None,
                  imported_at: datetime | None = None) -> "Habilitations":
        """From rows (dicts of the extract's columns) per table name."""
        def build(kind, table: str) -> list:
            return [kind(**{k: r[k] for k in TABLES[table]}) for r in rows.get(table, ())]

        return cls(
            partenaires={p.siret: p for p in build(Partenaire, "partenaires")},
            conventions=tuple(build(Convention, "conventions")),
            bulletins=tuple(build(Bulletin, "bulletins")),
            groupes={g.id_groupe: g for g in build(Groupe, "groupes")},
            utilisateurs=tuple(build(Membership, "utilisateurs")),
            import_id=import_id,
            imported_at=imported_at,
        )

    @classmethod
    def from_frames(cls, frames: Mapping[str, pl.DataFrame]) -> "Habilitations":
        """From the frames read_extract returns (e.g. to reconcile against an extract not imported)."""
        return cls.from_rows({t: f.to_dicts() for t, f in frames.items()})

    def partenaire(self, siret: str) -> Partenaire | None:
        return self.partenaires.get(siret)

    def caf_gestionnaire(self, siret: str) -> str | None:
        p = self.partenaires.get(siret)
        return p.caf_gestionnaire if p else None

    def conventions_covering(self, siret: str, day: date) -> list[Convention]:
        return [c for c in self._by_key("conventions", "siret").get(siret, ()) if c.covers(day)]

    def bulletins_of(self, id_convention: str) -> list[Bulletin]:
        return list(self._by_key("bulletins", "id_convention").get(id_convention, ()))

    def memberships_of(self, login: str) -> list[Membership]:
        return list(self._by_key("utilisateurs", "login").get(login, ()))

    def _by_key(self, table: str, key: str) -> dict[str, list]:
        """The rows of `table` grouped by `key`, in extract order: built on first use, then each lookup
        costs the same whatever the number of partners (a scan per file grew with the nation)."""
        cache = self.__dict__.setdefault("_index", {})
        if (table, key) not in cache:
            grouped: dict[str, list] = {}
            for row in getattr(self, table):
                grouped.setdefault(getattr(row, key), []).append(row)
            cache[(table, key)] = grouped
        return cache[(table, key)]


def extract_sha256(path: Path) -> str:
    """SHA-256 of the workbook, or of the folder's table files concatenated in name order."""
    h = hashlib.sha256()
    for file in extract_files(Path(path)):
        with open(file, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def import_extract(engine: Engine, path: Path, actor: str | None = None,
                   fence: Callable[[Connection], None] | None = None) -> ImportResult:
    """Validate the whole extract, then replace the habilitations in one transaction (or change nothing)."""
    path = Path(path)
    frames, problems = read_extract(path)
    if frames is None:
        return ImportResult(accepted=False, problems=problems, counts={}, import_id=None)
    counts = {t: frames[t].height for t in TABLES}
    digest = extract_sha256(path)
    with engine.begin() as conn:
        if fence is not None:  # the import lock is still held (exchange.store.fences)
            fence(conn)
        for table in reversed(list(TABLES)):
            conn.execute(delete(DB_TABLES[table]))
        for table in TABLES:
            rows = frames[table].to_dicts()
            if rows:
                conn.execute(insert(DB_TABLES[table]), rows)
        import_id = conn.execute(
            insert(tables.hab_imports).values(
                imported_at=datetime.now(timezone.utc),
                source=str(path.resolve()),
                sha256=digest,
                imported_by=actor,
                counts=json.dumps(counts),
            ).returning(tables.hab_imports.c.id)
        ).scalar_one()
    return ImportResult(accepted=True, problems=[], counts=counts, import_id=import_id)


def _load(conn: Connection) -> Habilitations:
    rows = {t: [dict(r._mapping) for r in conn.execute(select(DB_TABLES[t]))] for t in TABLES}
    last = conn.execute(
        select(tables.hab_imports.c.id, tables.hab_imports.c.imported_at).order_by(tables.hab_imports.c.id.desc()).limit(1)
    ).first()
    return Habilitations.from_rows(rows, import_id=last.id if last else None,
                                   imported_at=last.imported_at if last else None)


def load_habilitations(conn_or_engine: Connection | Engine) -> Habilitations:
    """The habilitations in force (empty when no extract was ever imported)."""
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            return _load(conn)
    return _load(conn_or_engine)
