"""`personne NIR` (cli.md, issue 21): everything held about one person, journaled; after a purge, what went."""

from __future__ import annotations

import json

from tests.app.test_purge import ANNE, BAD_DATE_NIR, EXTRA_CA, PAST_EVERYTHING, deployment, engine_of
from tests.areas import cli
from tests.rows import journal

SEINE_RG = "ESAT_81234567600017_RG_20251210_001.csv"
SEINE_CA = "ESAT_81234567600017_CA_20251212_001.csv"


def audit_lines(base, db_url) -> list[tuple]:
    engine = engine_of(base, db_url)
    with engine.connect() as conn:
        lines = [line for line in journal(conn) if line["action"] == "personne"]
    engine.dispose()
    return [(line["operateur"], line["action"], line["objet"], line["resultat"], line["detail"]) for line in lines]


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
    code, out, _ = cli(tmp_path, "personne", "185127800700011")
    assert code == 1 and "Aucune donnée n'est détenue sur ce NIR.\n" in out
    code, out, err = cli(tmp_path, "personne", "12345")
    assert (code, out) == (2, "") and err.startswith("Demande refusée : NIR attendu (13 ou 15 caractères")
    journal = audit_lines(tmp_path, db_url)
    assert [(a, t, o, d) for _, a, t, o, d in journal] == [
        ("personne", "*************20", "OK", ANNE_FOUND),
        ("personne", "*************20", "OK", ANNE_FOUND),
        ("personne", "*************20", "OK", ANNE_FOUND),
        ("personne", "*************87", "OK", "0 enregistrement(s), 1 anomalie(s), 1 fichier(s), 2 sur disque"),
        ("personne", "*************11", "OK", "0 enregistrement(s), 0 anomalie(s), 0 fichier(s), 0 sur disque"),
        ("personne", "*************", "REFUSE", "NIR illisible"),
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


ANNE_FOUND = "3 enregistrement(s), 0 anomalie(s), 3 fichier(s), 12 sur disque"
WRONG_KEY = ANNE[:13] + "99"  # the same person, declared by an Esat with a wrong key
WRONG_KEY_CA = "ESAT_81234567600017_CA_20251216_001.csv"


def held_files(report: dict) -> list[tuple[str, str]]:
    return sorted((h["emplacement"], h["chemin"].rsplit(".", 1)[-1]) for h in report["fichiers_sur_disque"])


def test_identity_purged_before_the_copies_the_files_still_answer(tmp_path, db_url):
    """`copies = "5 ans"`: after the 2 years of the identity, the NIR still stands in 3 received copies, their 3
    archive/ copies and 6 Caf output files: `personne` finds every one, asked with or without the key."""
    from tests.app.test_purge import deployment

    deployment(tmp_path, db_url, {"copies": "5 ans", "outputs": "5 ans"})
    assert cli(tmp_path, "purge", "--as-of", "2028-03-01")[0] == 0
    for asked in (ANNE, ANNE[:13], "2 92 02 75 123 456"):
        code, out, err = cli(tmp_path, "personne", asked, "--format", "json")
        assert code == 0, out + err
        report = json.loads(out)
        assert report["donnees_detenues"] is True and report["enregistrements"] == []
        assert held_files(report) == [
            ("archive", "csv"),
            ("archive", "csv"),
            ("archive", "csv"),
            ("sortie", "csv"),
            ("sortie", "csv"),
            ("sortie", "csv"),
            ("sortie", "parquet"),
            ("sortie", "parquet"),
            ("sortie", "parquet"),
            ("stockage", "csv"),
            ("stockage", "csv"),
            ("stockage", "csv"),
        ]
        assert all(h["connu_de_la_base"] for h in report["fichiers_sur_disque"])
        assert sorted(f["fichier"] for f in report["fichiers"]) == sorted([SEINE_CA, SEINE_RG, EXTRA_CA])
        assert all(f["identite_purgee_le"] and f["copie_locale"] for f in report["fichiers"])
        assert sorted(e["code_caf"] for e in report["emissions"]) == ["69", "75", "75"]
    code, out, _ = cli(tmp_path, "personne", ANNE)
    assert "Fichiers sur le disque du service où figure ce NIR : 12\n" in out
    assert f"  copie archive/ de la zone de dépôt : esat-seine/archive/{SEINE_RG} (fichier n° 2)\n" in out
    # once the copies and outputs are gone too, nothing is held
    assert cli(tmp_path, "purge", "--as-of", PAST_EVERYTHING)[0] == 0
    assert cli(tmp_path, "personne", ANNE)[0] == 1


def test_a_nir_declared_with_a_wrong_key_is_found_with_the_right_key_and_without_key(tmp_path, db_url):
    from tests.app.test_purge import CA_HEADER, SEINE, deployment

    deployment(tmp_path, db_url)
    depot = tmp_path / "drop" / "esat-seine" / "depot"
    line = f"{SEINE};{WRONG_KEY};Lefèvre;Anne Marie;03/02/1992;;75;BAISSE_TAUX;01/03/2026;60;50;;;;;"
    (depot / WRONG_KEY_CA).write_text(f"{CA_HEADER}\n{line}\n", encoding="utf-8")
    assert cli(tmp_path, "run", "--as-of", "2025-12-16")[0] == 0
    for asked in (ANNE, ANNE[:13]):
        code, out, _ = cli(tmp_path, "personne", asked, "--format", "json")
        report = json.loads(out)
        assert code == 0
        wrong = [a for a in report["anomalies"] if a["fichier"] == WRONG_KEY_CA]
        assert [(a["ligne"], a["nir"], a["nom"], a["prenoms"]) for a in wrong] == [
            (2, WRONG_KEY, "Lefèvre", "Anne Marie")
        ]
        assert len(report["enregistrements"]) == 3
    code, out, _ = cli(tmp_path, "personne", ANNE)
    assert f"  Fichier n° 6 {WRONG_KEY_CA}, ligne 2 : " in out
    assert f"    Nom : Lefèvre ; prénoms : Anne Marie ; NIR déclaré : {WRONG_KEY}\n" in out
    code, html, _ = cli(tmp_path, "personne", ANNE, "--format", "html")
    assert f"<td>Lefèvre</td><td>Anne Marie</td><td>{WRONG_KEY}</td>" in html
