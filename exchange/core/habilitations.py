"""The habilitations in force as values (a Habpps extract's partners, conventions, bulletins, groups, users), and
the rules read from them once: which Caf manages a partner, and whether its Esat service is open on a day.

The store loads them (exchange.store.habilitations); reconciliation (exchange.core.reconcile) and the campaign
follow-up (exchange.core.campaign) judge with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

import polars as pl

from exchange.core.vocabulary import CNA_CODE_CAF, ESAT_SERVICE
from schemas.reference import MAYOTTE


def caf_gestionnaire(portee: str, code_caf: str) -> str:
    """The Caf that manages a partner: the CNA ('78') for a multi-departmental partner (IT 2025-061 §3), else the
    Caf of its convention."""
    return CNA_CODE_CAF if portee == "MULTI_DEPARTEMENTALE" else code_caf


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
        return caf_gestionnaire(self.portee, self.code_caf)


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
    def from_rows(
        cls,
        rows: Mapping[str, Iterable[Mapping[str, Any]]],
        import_id: int | None = None,
        imported_at: datetime | None = None,
    ) -> Habilitations:
        """From rows (dicts of the extract's columns) per table name."""

        def build(kind: type[Any], table: str) -> list[Any]:
            names = [f.name for f in fields(kind)]
            return [kind(**{k: r[k] for k in names}) for r in rows.get(table, ())]

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
    def from_frames(cls, frames: Mapping[str, pl.DataFrame]) -> Habilitations:
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

    def _by_key(self, table: str, key: str) -> dict[str, list[Any]]:
        """The rows of `table` grouped by `key`, in extract order: built on first use, then each lookup
        costs the same whatever the number of partners (a scan per file grew with the nation)."""
        cache = self.__dict__.setdefault("_index", {})
        if (table, key) not in cache:
            grouped: dict[str, list[Any]] = {}
            for row in getattr(self, table):
                grouped.setdefault(getattr(row, key), []).append(row)
            cache[(table, key)] = grouped
        found: dict[str, list[Any]] = cache[(table, key)]
        return found


def signed_esat_bulletins(bulletins: Iterable[Bulletin], day: date) -> list[Bulletin]:
    """The Esat-service bulletins signed on or before `day`."""
    return [
        b
        for b in bulletins
        if b.service == ESAT_SERVICE
        and b.statut == "SIGNE"
        and b.date_signature is not None
        and b.date_signature <= day
    ]


def service_failure(habs: Habilitations, siret: str, day: date) -> tuple[str | None, Convention | None]:
    """The partner-level checks of habilitations.md, in their order: the first that fails (H01 unknown partner,
    H02 not exactly one covering convention, H07 no contrat de services yet, H03 no signed Esat bulletin, H04
    no signed Esat bulletin bearing the convention's SIRET), else None; with the covering convention."""
    if habs.partenaire(siret) is None:
        return "H01", None
    covering = habs.conventions_covering(siret, day)
    if len(covering) != 1:
        return "H02", None
    convention = covering[0]
    if convention.date_contrat_service is None or convention.date_contrat_service > day:
        return "H07", convention
    signed = signed_esat_bulletins(habs.bulletins_of(convention.id_convention), day)
    if not signed:
        return "H03", convention
    if not any(b.siret == convention.siret for b in signed):
        return "H04", convention
    return None, convention


def in_mayotte(partner: Partenaire) -> bool:
    """Mayotte has no AAH managed by a Caf (H06): its Esats are outside the service."""
    return partner.departement == MAYOTTE


def service_open(habs: Habilitations, siret: str, day: date) -> bool:
    """The partner's Esat service is open on `day`: every partner-level check passes, outside Mayotte."""
    partner = habs.partenaire(siret)
    return partner is not None and service_failure(habs, siret, day)[0] is None and not in_mayotte(partner)
