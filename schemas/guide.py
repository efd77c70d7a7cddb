"""The Esats' guide (docs/guide-esat.md, in French), generated from the columns and the rule catalogue:
`python -m schemas.guide > docs/guide-esat.md` (make docs); tests/core/test_rules_doc.py keeps it up to date."""

from __future__ import annotations

from schemas.catalogue import Rule, catalogue
from schemas.declaration import (
    CA_FIELDS_BY_TYPE,
    MOTIFS_DEPART,
    TYPES_CHANGEMENT,
    TYPES_CONTRAT,
    Kind,
    columns,
    required,
)
from schemas.fields import DESCRIPTIONS
from schemas.titles import anchor, title

DATES = {"date_naissance", "date_entree_esat", "date_debut_mo", "date_effet"}
AMOUNTS = {"remuneration_garantie_nette", "part_financee_esat_nette", "aide_au_poste_nette", "salaire_net_mo"}
RATES = {"taux_activite_esat", "taux_activite_avant", "taux_activite_apres"}
FORMS: dict[str, str] = {
    "siret_esat": "14 chiffres (cellule au format Texte)",
    "siret_employeur_mo": "14 chiffres (cellule au format Texte)",
    "finess_esat": "9 caractères (cellule au format Texte)",
    "annee_reference": "année sur 4 chiffres, par exemple 2025",
    "nir": "15 caractères sans espace, clé comprise (cellule au format Texte)",
    "nom": "80 caractères au plus",
    "prenoms": "80 caractères au plus",
    "numero_allocataire": "1 à 7 chiffres (cellule au format Texte)",
    "code_caf": "code de la Caf qui verse l'AAH du salarié (celle de ses courriers) : 01 à 95, 2A, 2B, 971 à 974",
    "cumul_milieu_ordinaire": "O ou N",
    "heures_hebdo_mo": "nombre d'heures, plus de 0 et moins de 35, par exemple 17,5",
    "type_contrat_mo": " ou ".join(TYPES_CONTRAT),
    "type_changement": ", ".join(TYPES_CHANGEMENT),
    "motif_depart": ", ".join(MOTIFS_DEPART),
}
PLACEHOLDER_WORDS = {"champ": "‹champ›", "valeur": "‹valeur trouvée›", "detail": "‹précision›", "ligne": "‹ligne›"}

INTRO = """# Guide de l'Esat : déclarer au service Esat de la Caf

Ce guide est généré à partir du catalogue des contrôles (`schemas/rules.csv`) par `make docs` ; il dit
exactement ce que le service contrôle et les phrases que vous lirez dans le compte rendu.

Chaque année, l'Esat envoie à la Caf la rémunération de novembre de ses travailleurs bénéficiaires de
l'AAH (déclaration **RG**, du 1er décembre au dernier jour de février, avant le 15 janvier de préférence),
et tout au long de l'année chaque changement d'activité (déclaration **CA**).

## 1. Préparer le fichier

Partez du modèle : `esat-exchange template rg --format xlsx` (ou `ca`, ou `--format ods` pour LibreOffice, ou
`--format csv`) écrit un classeur avec la ligne d'en-tête, une ligne d'exemple à remplacer, les colonnes
d'identifiants et de dates déjà au format Texte (le tableur ne transforme alors ni un SIRET en `8,12346E+13`,
ni une date en nombre) et les colonnes de taux au format pourcentage (tapez `80 %` ou `80` : c'est 80 %).

- **Une ligne par salarié** (RG) ou **par changement** (CA) ; la première ligne porte les noms de colonnes
  ci-dessous (l'ordre est libre, les colonnes facultatives peuvent être absentes).
- **Dates** : `JJ/MM/AAAA` (par exemple `05/03/1985`) ou `AAAA-MM-JJ`, l'année toujours sur 4 chiffres.
- **Montants** en euros et **taux** en pourcentage : un nombre seul, virgule ou point décimal, au plus
  2 décimales, **sans** séparateur de milliers, **sans** `€` ni `%` (par exemple `1862,35`, `62,5`).
- **Classeur** : ce que vous voyez est ce qui est lu. La feuille lue est la première qui porte la ligne
  d'en-tête (une feuille « mode d'emploi » avant elle et des lignes de titre au-dessus de l'en-tête sont
  permises) ; **tous les salariés sur cette seule feuille**. Une cellule affichée `80 %` se lit `80`, un
  code affiché `01` se lit `01`, une formule se lit comme elle s'affiche (`=30/35` au format `0 %` : `86`),
  une formule qui n'affiche rien (`=SI(L2="";"";L2-M2)`) est une cellule vide, une cellule fusionnée sur
  plusieurs lignes vaut pour chacune d'elles. Une ligne masquée est déclarée comme les autres (`W12`) : supprimez la
  ligne d'un salarié à ne pas déclarer. Les messages nomment la colonne et sa lettre (« colonne
  prenoms, F »).
- **Formats acceptés** : classeur `.xlsx` (Excel) ou `.ods` (LibreOffice), sans macro ni mot de passe,
  CSV avec le séparateur « ; » (dans le tableur : « CSV (séparateur : point-virgule) »), encodé en UTF-8, ou
  XML au format de la déclaration. Envoyer le classeur lui-même est le plus sûr : le CSV reprend les dates et
  montants tels que le tableur les affiche. Les fichiers `.xls` ne sont pas acceptés : enregistrez le classeur
  au format `.xlsx`, `.ods` ou CSV.
"""

NAMING = """## 2. Nommer le fichier

`ESAT_<SIRET>_<TYPE>_<AAAAMMJJ>_<NNN>.<xlsx|ods|csv|xml>`, par exemple `ESAT_81234567600017_RG_20251210_001.xlsx` :
le SIRET de votre Esat (14 chiffres, le même que dans le fichier), `RG` ou `CA`, la date où vous avez produit
le fichier, puis un numéro d'ordre sur 3 chiffres (prenez-en un nouveau pour chaque envoi du même jour).

## 3. Déposer le fichier

Déposez le fichier dans le dossier `depot/` de votre compte de dépôt (SFTP). Il est pris en charge au
prochain passage (toutes les 15 minutes), puis déplacé dans `archive/`. Le compte rendu arrive dans
`retour/`, sous trois formes : `<nom du fichier>.CR.html` (à ouvrir dans un navigateur ou à imprimer),
`<nom du fichier>.CR.csv` (à ouvrir dans le tableur) et `<nom du fichier>.CR.xml` (pour un logiciel de paie).
Avant l'envoi, la page **« Vérifier mon fichier »** du service (adresse `…/verifier`, sans identifiant) donne
le même compte rendu pour le fichier que vous y déposez, sans rien transmettre ni conserver (sans les
contrôles d'habilitation, faits par la Caf) ; `esat-exchange check <fichier> --format html` fait de même.

## 4. Lire le compte rendu

En tête : le **statut**, les nombres d'enregistrements reçus, acceptés et rejetés, le nombre d'anomalies
par gravité et par code, et **que faire** :

| statut | ce qu'il veut dire | que faire |
|---|---|---|
| `ACCEPTE` | toutes les lignes sont acceptées (des anomalies non bloquantes peuvent être signalées) | rien ; vérifiez les points signalés |
| `PARTIEL` | certaines lignes sont rejetées, les autres acceptées et transmises | corrigez seulement les lignes rejetées et envoyez-les seules dans un nouveau fichier : une ligne renvoyée pour un salarié déjà accepté remplace la précédente (`W05`) |
| `REJETE` | le fichier entier (code `F…` ou `H…`), ou chacune de ses lignes, est rejeté | corrigez le fichier et renvoyez-le en entier ; pour un code `H…`, c'est votre Caf qui corrige l'habilitation |
| `DOUBLON` | ce contenu exact a déjà été reçu | rien |

Puis les anomalies, deux fois : **par salarié** (chaque ligne du fichier avec tous ses codes) et **par code**
(le titre du code, un lien vers sa section ci-dessous, et ses anomalies ; les anomalies identiques sont
regroupées : « 9 lignes : 2, 3, … »). Pour chacune : la **ligne** du fichier (la ligne d'en-tête est la ligne 1 ; pour un classeur, le
numéro de ligne de la feuille), le salarié (nom, prénoms, NIR masqué), le **code**, la **gravité**
(`BLOQUANTE` : la ligne ou le fichier est rejeté ; `NON_BLOQUANTE` : accepté, à vérifier) et le message,
qui nomme la colonne, montre la valeur trouvée et dit comment corriger.
"""


def _template(r: Rule) -> str:
    text = r.message
    for name, words in PLACEHOLDER_WORDS.items():
        text = text.replace("{" + name + "}", words)
    return text.replace("|", "\\|")


def _form(column: str) -> str:
    if column in DATES:
        return "date JJ/MM/AAAA ou AAAA-MM-JJ"
    if column in AMOUNTS:
        return "montant en euros, au plus 2 décimales, par exemple 862,35"
    if column in RATES:
        return "pourcentage, plus de 0 et au plus 100, par exemple 80 ou 62,5"
    return FORMS.get(column, "texte")


def _columns(kind: Kind) -> list[str]:
    title = "RG : une ligne par salarié" if kind == "RG" else "CA : une ligne par changement"
    lines = [
        f"### Colonnes de la déclaration {title}",
        "",
        "| colonne | obligatoire | contenu | forme |",
        "|---|---|---|---|",
    ]
    conditional = {c: [t for t, fields in CA_FIELDS_BY_TYPE.items() if c in fields] for c in columns(kind)}
    for c in columns(kind):
        if c in required(kind):
            need = "oui"
        elif kind == "RG" and c.endswith("_mo"):
            need = "si cumul O"
        elif kind == "CA" and conditional[c]:
            need = "pour " + ", ".join(conditional[c])
        else:
            need = "non"
        lines.append(f"| `{c}` | {need} | {DESCRIPTIONS.get(c, c)} | {_form(c)} |")
    return lines + [""]


def render() -> str:
    out = [
        INTRO,
        *_columns("RG"),
        *_columns("CA"),
        NAMING,
        "## 5. Chaque code : ce qu'il veut dire et comment corriger",
        "",
        "Dans les messages, ‹champ› est la colonne concernée (par exemple « date de naissance (colonne "
        "date_naissance) » ; dans un classeur, sa lettre suit : « (colonne date_naissance, G) »), ‹valeur "
        "trouvée› ce que contient la cellule (un NIR y est toujours masqué) et ‹précision› le chiffre ou "
        "l'exemple qui explique l'anomalie. Le compte rendu renvoie à la section de chaque code.",
        "",
    ]
    by_code: dict[str, list[Rule]] = {}
    for (code, _), r in sorted(catalogue().items()):
        by_code.setdefault(code, []).append(r)
    for code, rules in by_code.items():
        out += [
            f'### <a id="{anchor(code)}"></a>{code} — {title(code)}',
            "",
            "| gravité | quand | message du compte rendu |",
            "|---|---|---|",
        ]
        for r in rules:
            gravite = "bloquante" if r.blocking else "non bloquante"
            level = "fichier" if r.level == "FICHIER" else "ligne"
            out.append(f"| {gravite} ({level}) | {r.trigger.replace('|', '/')} | {_template(r)} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
