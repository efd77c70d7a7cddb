"""`campaign status` (undeclared partners read from the store, judged by core.habilitations.service_open) says
exactly what the rule over the whole snapshot says."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert

from exchange.app.campaign import campaign_status
from exchange.core.campaign import deadline
from exchange.core.habilitations import service_open
from exchange.core.perimeter import EVERYTHING
from exchange.store.engine import in_transaction, open_database
from exchange.store.habilitations import load_habilitations
from exchange.store.tables import files, hab_bulletins, hab_conventions, hab_partenaires, records

DAYS = (date(2025, 1, 1), date(2025, 6, 30), date(2025, 12, 15), date(2026, 1, 20))
CAFS = ("75", "78", "13", "2A", "974")


def _day(rng: random.Random) -> date:
    return date(2024, 6, 1) + timedelta(days=rng.randrange(0, 700))


def _maybe(rng: random.Random, value, p: float = 0.2):  # noqa: ANN001, ANN202
    return None if rng.random() < p else value


def fill(engine, seed: int, partners: int = 300) -> None:  # noqa: ANN001
    """Partners with every edge of service_open: 0, 1 or 2 covering conventions, ended, future or suspended
    ones, no or late contrat de services, unsigned, late, foreign-SIRET or other-service bulletins,
    Mayotte, multi-departmental partners; RG records for some of them, for two years."""
    rng = random.Random(seed)
    parts, convs, buls, recs = [], [], [], []
    for i in range(partners):
        siret = f"{rng.randrange(10**13, 10**14):014d}"
        parts.append(
            {
                "siret": siret,
                "raison_sociale": f"ESAT n° {i}",
                "code_caf": rng.choice(CAFS),
                "departement": rng.choice(("75", "976", "13", "2A")),
                "portee": rng.choice(("DEPARTEMENTALE", "DEPARTEMENTALE", "MULTI_DEPARTEMENTALE")),
            }
        )
        for k in range(rng.choice((0, 1, 1, 1, 2))):
            start = _day(rng)
            conv = f"C-{i}-{k}"
            convs.append(
                {
                    "id_convention": conv,
                    "siret": siret,
                    "statut": rng.choice(("ACTIVE", "ACTIVE", "ACTIVE", "SUSPENDUE")),
                    "date_debut": start,
                    "date_fin": _maybe(rng, start + timedelta(days=rng.randrange(0, 500)), 0.6),
                    "mode_gestion": "DIRECT",
                    "date_contrat_service": _maybe(rng, start + timedelta(days=rng.randrange(-30, 300))),
                }
            )
            for j in range(rng.choice((0, 1, 1, 2))):
                buls.append(
                    {
                        "id_bulletin": f"B-{i}-{k}-{j}",
                        "id_convention": conv,
                        "service": rng.choice(("ESAT", "ESAT", "ESAT", "AUTRE")),
                        "siret": siret if rng.random() < 0.85 else f"{rng.randrange(10**13, 10**14):014d}",
                        "date_signature": _maybe(rng, start + timedelta(days=rng.randrange(-10, 400))),
                        "statut": rng.choice(("SIGNE", "SIGNE", "SIGNE", "EN_ATTENTE")),
                    }
                )
        if rng.random() < 0.3:
            recs.append(siret)
    now = datetime(2025, 12, 15, 8, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(hab_partenaires), parts)
        conn.execute(insert(hab_conventions), convs)
        if buls:
            conn.execute(insert(hab_bulletins), buls)
        file_id = conn.execute(
            insert(files)
            .values(
                account="a",
                name="f.csv",
                sha256="0" * 64,
                size=1,
                stored_path=None,
                kind="RG",
                siret=None,
                state="ACQUITTE",
                state_changed_at=now,
                received_at=now,
                processing_date=date(2025, 12, 15),
                replays=0,
                answers=1,
            )
            .returning(files.c.id)
        ).scalar_one()
        for n, siret in enumerate(recs):
            conn.execute(
                insert(records).values(
                    file_id=file_id,
                    kind=rng.choice(("RG", "RG", "CA")),
                    ligne=n + 2,
                    received_at=now,
                    siret_esat=siret,
                    annee_reference=rng.choice((2025, 2025, 2024)),
                    nir="1" * 15,
                    nom="N",
                    prenoms="P",
                    code_caf="75",
                    superseded=False,
                )
            )


def reference(engine, year: int, day: date, caf: str | None = None) -> list[dict]:  # noqa: ANN001
    """The former implementation: every habilitation in memory, service_open per partner."""
    from sqlalchemy import and_, select

    habs = in_transaction(engine, load_habilitations)
    with engine.connect() as conn:
        declared = {
            s
            for (s,) in conn.execute(
                select(records.c.siret_esat)
                .where(and_(records.c.kind == "RG", records.c.annee_reference == year))
                .distinct()
            )
        }
    left = (deadline(year) - day).days
    rows = [
        {
            "siret": p.siret,
            "raison_sociale": p.raison_sociale,
            "caf_gestionnaire": p.caf_gestionnaire,
            "jours_restants": left,
        }
        for p in sorted(habs.partenaires.values(), key=lambda p: (p.caf_gestionnaire, p.siret))
        if p.siret not in declared and service_open(habs, p.siret, day)
    ]
    return [r for r in rows if r["caf_gestionnaire"] == caf] if caf else rows


@pytest.mark.parametrize("seed", [1, 2])
def test_campaign_status_matches_the_in_memory_rule(db_url, seed):
    engine = open_database(db_url)
    try:
        fill(engine, seed)
        seen = 0
        for day in DAYS:
            for year in (2024, 2025):
                expected = reference(engine, year, day)
                assert campaign_status(engine, year, day, perimeter=EVERYTHING) == expected
                seen += len(expected)
                for caf in ("75", "78", "2A", "99"):
                    assert campaign_status(engine, year, day, caf=caf, perimeter=EVERYTHING) == reference(
                        engine, year, day, caf
                    )
        assert seen > 20  # the cases really reach open services
    finally:
        engine.dispose()
