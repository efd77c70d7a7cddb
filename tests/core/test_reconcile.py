"""Reconciliation of a received file with the habilitations: each check of habilitations.md, in order."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from exchange.app.habilitations import import_extract
from exchange.core.habilitations import Convention, Habilitations
from exchange.core.reconcile import reconcile
from exchange.edges.habpps import read_extract
from exchange.store.engine import in_transaction, open_database
from exchange.store.habilitations import load_habilitations
from schemas.catalogue import rule
from tests.conftest import EXAMPLES

SEINE, HORIZON = "81234567600017", "44306184100021"
D = date(2025, 12, 15)


@pytest.fixture(scope="module")
def frames() -> dict[str, pl.DataFrame]:
    result, problems = read_extract(EXAMPLES / "habpps")
    assert problems == []
    return result


def changed(frames, table: str, key: str, value: str, **changes) -> Habilitations:
    """The example snapshot with the rows of `table` where key == value changed (None values: rows removed)."""
    out = dict(frames)
    f = out[table]
    if not changes:
        out[table] = f.filter(pl.col(key) != value)
    else:
        out[table] = f.with_columns(
            pl.when(pl.col(key) == value).then(pl.lit(v, dtype=f.schema[c])).otherwise(pl.col(c)).alias(c)
            for c, v in changes.items()
        )
    return Habilitations.from_frames(out)


def assert_anomaly(result, code: str, variant: str = "", detail: str = "") -> None:
    a = result.anomaly
    assert a is not None, "expected an anomaly"
    assert (a.code, a.gravite, a.ligne, a.nir) == (code, "BLOQUANTE", None, None)
    assert a.message == rule(code, variant).render(detail=detail)


def test_the_two_example_accounts_pass(frames):
    habs = Habilitations.from_frames(frames)
    seine = reconcile(habs, "esat-seine", SEINE, D)
    assert (seine.anomaly, seine.caf_gestionnaire, seine.raison_sociale) == (
        None,
        "75",
        "ESAT Les Ateliers de la Seine",
    )
    horizon = reconcile(habs, "horizon-paie", HORIZON, D)
    assert (horizon.anomaly, horizon.caf_gestionnaire, horizon.raison_sociale) == (
        None,
        "78",
        "Association Horizon Travail (ESAT multi-sites)",
    )


def test_the_example_accounts_pass_from_the_database(db_url):
    engine = open_database(db_url)
    try:
        assert import_extract(engine, EXAMPLES / "habpps").accepted
        habs = in_transaction(engine, load_habilitations)
    finally:
        engine.dispose()
    assert reconcile(habs, "esat-seine", SEINE, D).caf_gestionnaire == "75"
    r = reconcile(habs, "horizon-paie", HORIZON, D)
    assert (r.anomaly, r.caf_gestionnaire) == (None, "78")


# 1 -- H05 compte_inactif
def test_unknown_login_is_h05_compte_inactif(frames):
    r = reconcile(Habilitations.from_frames(frames), "inconnu", SEINE, D)
    assert_anomaly(r, "H05", "compte_inactif", "inconnu")
    assert "Le compte de dépôt inconnu n'est pas un utilisateur actif" in r.anomaly.message
    assert r.caf_gestionnaire == "75"  # the SIRET is known even though the account is not


def test_inactive_login_is_h05_compte_inactif(frames):
    habs = changed(frames, "utilisateurs", "login", "esat-seine", actif="N")
    assert_anomaly(reconcile(habs, "esat-seine", SEINE, D), "H05", "compte_inactif", "esat-seine")


def test_empty_habilitations_refuse_every_account():
    r = reconcile(Habilitations(), "esat-seine", SEINE, D)
    assert_anomaly(r, "H05", "compte_inactif", "esat-seine")
    assert (r.caf_gestionnaire, r.raison_sociale) == (None, None)


# 2 -- F06 compte
def test_account_of_another_partner_is_f06_compte(frames):
    r = reconcile(Habilitations.from_frames(frames), "esat-seine", HORIZON, D)
    assert_anomaly(r, "F06", "compte", HORIZON)
    assert r.anomaly.champ == "siret_esat"
    assert f"n'est pas rattaché à l'Esat de SIRET {HORIZON}" in r.anomaly.message


# 3 -- H01
def test_unknown_partner_is_h01(frames):
    habs = changed(frames, "partenaires", "siret", SEINE)
    r = reconcile(habs, "esat-seine", SEINE, D)
    assert_anomaly(r, "H01", "", SEINE)
    assert f"Le SIRET {SEINE} n'est pas connu" in r.anomaly.message
    assert r.caf_gestionnaire is None


# 4 -- H02
@pytest.mark.parametrize(
    "login,siret,day,changes",
    [
        ("esat-seine", SEINE, D, {"statut": "CLOTUREE"}),
        ("esat-seine", SEINE, date(2024, 1, 14), {}),  # the day before date_debut
        ("horizon-paie", HORIZON, date(2028, 3, 1), {}),  # the day after date_fin
    ],
    ids=["cloturee", "avant-debut", "apres-fin"],
)
def test_no_active_convention_covering_the_day_is_h02(frames, login, siret, day, changes):
    habs = changed(frames, "conventions", "siret", siret, **changes) if changes else Habilitations.from_frames(frames)
    assert_anomaly(reconcile(habs, login, siret, day), "H02", "", siret)


def test_convention_bounds_are_inclusive(frames):
    habs = Habilitations.from_frames(frames)
    assert reconcile(habs, "horizon-paie", HORIZON, date(2028, 2, 29)).anomaly is None
    r = reconcile(habs, "horizon-paie", HORIZON, date(2025, 6, 2))  # start day and bulletin signing day
    assert r.anomaly is None


def test_two_active_conventions_covering_the_day_is_h02(frames):
    habs = Habilitations.from_frames(frames)
    extra = Convention("CONV-75-0002", SEINE, "ACTIVE", date(2025, 1, 1), None, "DELEGUE", date(2025, 1, 1))
    habs = Habilitations(
        partenaires=habs.partenaires,
        conventions=habs.conventions + (extra,),
        bulletins=habs.bulletins,
        groupes=habs.groupes,
        utilisateurs=habs.utilisateurs,
    )
    assert_anomaly(reconcile(habs, "esat-seine", SEINE, D), "H02", "", SEINE)


# 5 -- H07
@pytest.mark.parametrize("contrat", [None, date(2025, 12, 16)], ids=["absent", "apres-la-date"])
def test_no_contrat_de_services_at_the_date_is_h07(frames, contrat):
    habs = changed(frames, "conventions", "siret", SEINE, date_contrat_service=contrat)
    r = reconcile(habs, "esat-seine", SEINE, D)
    assert_anomaly(r, "H07")
    assert "pas de contrat de services signé" in r.anomaly.message


# 6 -- H03
@pytest.mark.parametrize(
    "changes",
    [
        {"statut": "EN_ATTENTE"},
        {"statut": "RESILIE"},
        {"service": "PETITE_ENFANCE"},
        {"date_signature": date(2025, 12, 16)},
    ],
    ids=["en-attente", "resilie", "autre-service", "signe-apres"],
)
def test_no_signed_esat_bulletin_at_the_date_is_h03(frames, changes):
    habs = changed(frames, "bulletins", "id_convention", "CONV-75-0001", **changes)
    r = reconcile(habs, "esat-seine", SEINE, D)
    assert_anomaly(r, "H03")
    assert "Pas de bulletin d'adhésion au service Esat signé" in r.anomaly.message


# 7 -- H04
def test_bulletin_siret_differs_from_convention_is_h04(frames):
    other = "78234567800018"
    habs = changed(frames, "bulletins", "id_convention", "CONV-75-0001", siret=other)
    r = reconcile(habs, "esat-seine", SEINE, D)
    assert_anomaly(r, "H04", "", other)
    assert f"({other}) diffère de celui de la convention" in r.anomaly.message


# 8 -- H05 pas_declarant
def test_consultant_only_account_is_h05_pas_declarant(frames):
    r = reconcile(Habilitations.from_frames(frames), "horizon-direction", HORIZON, D)
    assert_anomaly(r, "H05", "pas_declarant", "horizon-direction")
    assert r.caf_gestionnaire == "78"


def test_declarant_group_of_another_service_is_h05_pas_declarant(frames):
    habs = changed(frames, "groupes", "id_groupe", "G-75-0001-ESAT-DECL", service="RSA")
    assert_anomaly(reconcile(habs, "esat-seine", SEINE, D), "H05", "pas_declarant", "esat-seine")


# 9 -- H06
def test_mayotte_partner_is_h06(frames):
    habs = changed(frames, "partenaires", "siret", SEINE, departement="976", code_caf="976")
    r = reconcile(habs, "esat-seine", SEINE, D)
    assert_anomaly(r, "H06")
    assert "Mayotte" in r.anomaly.message


def test_first_failing_check_wins(frames):
    # inactive account AND Mayotte AND no contract: the account check comes first
    out = dict(frames)
    out["utilisateurs"] = frames["utilisateurs"].with_columns(actif=pl.lit("N"))
    out["partenaires"] = frames["partenaires"].with_columns(departement=pl.lit("976"))
    habs = Habilitations.from_frames(out)
    assert reconcile(habs, "esat-seine", SEINE, D).anomaly.code == "H05"
    out["utilisateurs"] = frames["utilisateurs"]
    out["conventions"] = frames["conventions"].with_columns(date_contrat_service=pl.lit(None, dtype=pl.Date))
    assert reconcile(Habilitations.from_frames(out), "esat-seine", SEINE, D).anomaly.code == "H07"
