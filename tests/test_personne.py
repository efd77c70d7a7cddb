"""`personne NIR` (cli.md, issue 21): everything held about one person, journaled; after a purge, what went."""

from __future__ import annotations

import json

from sqlalchemy import select

from exchange.store.tables import audit_log
from tests.areas import cli
from tests.test_purge import ANNE, BAD_DATE_NIR, EXTRA_CA, PAST_EVERYTHING, deployment, engine_of

SEINE_RG = "ESAT_81234567600017_RG_20251210_001.csv"
SEINE_CA = "ESAT_81234567600017_CA_20251212_001.csv"


def audit_lines(base, db_url) -> list[tuple]:
    engine = engine_of(base, db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.login, audit_log.c.action, audit_log.c.target, audit_log.c.outcome, audit_log.c.detail)
            .where(audit_log.c.action == "personne")
            .order_by(audit_log.c.id)
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_a_worker_is_found_across_files_and_cafs_and_every_look_is_journaled(tmp_path, db_url):
    deployment(tmp_path, db_url)
    code, out, err = cli(tmp_path, "personne", "2 92 02 75 123 456 20", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["nir"] == ANNE and report["donnees_detenues"] is True
    assert sorted((r["fichier"], r["ligne"], r["kind"], r["code_caf"]) for r in report["enregistrements"]) == [
        (SEINE_CA, 2, "CA", "75"),
        (EXTRA_CA, 2, "CA", "69"),
        (SEINE_RG, 3, "RG", "75"),
    ]
    first = next(r for r in report["enregistrements"] if r["fichier"] == SEINE_RG)
    assert (first["nom"], first["prenoms"], first["date_naissance"], first["annee_reference"]) == (
        "Lefèvre",
        "Anne Marie",
        "1992-02-03",
        2025,
    )
    assert first["remuneration_garantie_nette"] == 431.18 and first["emission"].startswith("AAH-ESAT_RG_75_")
    assert sorted({e["code_caf"] for e in report["emissions"]}) == ["69", "75"]
    assert sorted(f["fichier"] for f in report["fichiers"]) == sorted([SEINE_CA, SEINE_RG, EXTRA_CA])
    rg = next(f for f in report["fichiers"] if f["fichier"] == SEINE_RG)
    assert rg["comptes_rendus"] == [f"retour/{SEINE_RG}.CR.{ext}" for ext in ("csv", "xml", "html")]
    assert rg["archive"] == f"archive/{SEINE_RG}" and rg["copie_locale"] is True
    assert report["anomalies"] == [] and report["purges"] == []

    code, out, _ = cli(tmp_path, "personne", ANNE)
    assert code == 0
    assert out.startswith(f"Données détenues sur le NIR {ANNE} (demande du ")
    assert "Enregistrements acceptés : 3\n" in out
    assert (
        "    Nom : Lefèvre ; prénoms : Anne Marie ; né(e) le 03/02/1992 ; numéro allocataire : non renseigné ; "
        "Caf : 69 ; Esat : 81234567600017\n" in out
    )
    code, html, _ = cli(tmp_path, "personne", ANNE, "--format", "html")
    assert code == 0 and html.startswith("<!DOCTYPE html>") and "<td>Anne Marie</td>" in html

    # a rejected record is held only in its anomaly: found too
    code, out, _ = cli(tmp_path, "personne", BAD_DATE_NIR, "--format", "json")
    held = json.loads(out)
    assert code == 0 and held["enregistrements"] == []
    assert [(a["fichier"], a["ligne"], a["code"], a["nom"]) for a in held["anomalies"]] == [
        (EXTRA_CA, 3, "R04", "Durand")
    ]

    # nothing held: exit 1; not a NIR: exit 2, refused; every use journaled with the NIR masked
    code, out, _ = cli(tmp_path, "personne", "185057800608400")
    assert code == 1 and "Aucune donnée n'est détenue sur ce NIR.\n" in out
    code, out, err = cli(tmp_path, "personne", "12345")
    assert (code, out) == (2, "") and err.startswith("Demande refusée : NIR attendu (13 ou 15 caractères")
    journal = audit_lines(tmp_path, db_url)
    assert [(a, t, o, d) for _, a, t, o, d in journal] == [
        ("personne", "29202********20", "OK", "3 enregistrement(s), 0 anomalie(s), 3 fichier(s)"),
        ("personne", "29202********20", "OK", "3 enregistrement(s), 0 anomalie(s), 3 fichier(s)"),
        ("personne", "29202********20", "OK", "3 enregistrement(s), 0 anomalie(s), 3 fichier(s)"),
        ("personne", "19003********87", "OK", "0 enregistrement(s), 1 anomalie(s), 1 fichier(s)"),
        ("personne", "18505********00", "OK", "0 enregistrement(s), 0 anomalie(s), 0 fichier(s)"),
        ("personne", "*****", "REFUSE", "NIR illisible"),
    ]
    assert all(login.startswith("cli:") for login, *_ in journal)
    assert not any(ANNE in " ".join(map(str, line)) for line in journal)


def test_after_a_purge_it_says_what_went_and_when(tmp_path, db_url):
    deployment(tmp_path, db_url)
    assert cli(tmp_path, "purge", "--as-of", PAST_EVERYTHING)[0] == 0
    code, out, _ = cli(tmp_path, "personne", ANNE)
    assert code == 1
    assert "Aucune donnée n'est détenue sur ce NIR.\n" in out
    assert (
        "Purges effectuées (le service ne garde aucune trace des personnes dont les données ont été purgées : "
        "ce NIR a pu en faire partie) :\n"
    ) in out
    assert (
        "Identité des travailleurs (enregistrements et anomalies) — année(s) 2025 (5 élément(s), "
        "10 enregistrement(s), 1 anomalie(s))" in out
    )
    report = json.loads(cli(tmp_path, "personne", ANNE, "--format", "json")[1])
    assert {p["donnees"] for p in report["purges"]} >= {
        "Copies reçues (stockage local et archive/ de la zone de dépôt)",
        "Comptes rendus (retour/ de la zone de dépôt)",
        "Fichiers pour les Caf (dossier de sortie)",
    }
