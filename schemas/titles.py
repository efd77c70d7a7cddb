"""Each anomaly code's short French title, as the compte rendu and the Esats' guide head its section."""

from __future__ import annotations

TITLES: dict[str, str] = {
    "F01": "Fichier illisible",
    "F02": "Nom du fichier",
    "F03": "Structure du fichier",
    "F04": "Fichier déjà reçu",
    "F05": "Période de déclaration",
    "F06": "SIRET de l'Esat",
    "F07": "Fichier trop volumineux",
    "F08": "XML interdit",
    "H01": "Habilitation : partenaire inconnu",
    "H02": "Habilitation : convention d'accès",
    "H03": "Habilitation : bulletin d'adhésion",
    "H04": "Habilitation : SIRET du bulletin",
    "H05": "Habilitation : compte de dépôt",
    "H06": "Habilitation : Mayotte",
    "H07": "Habilitation : contrat de services",
    "R01": "Champ obligatoire, interdit ou trop long",
    "R02": "NIR",
    "R03": "SIRET",
    "R04": "Date",
    "R05": "Taux ou heures",
    "R06": "Montant",
    "R07": "Cumul avec le milieu ordinaire",
    "R08": "Salarié sur plusieurs lignes",
    "R09": "Code hors liste",
    "R10": "Sens du changement de taux",
    "R11": "FINESS ou numéro allocataire",
    "W01": "Rémunération garantie au-dessus du maximum",
    "W02": "Aide au poste au-dessus du maximum",
    "W03": "Plus de 35 heures par semaine",
    "W04": "Entrée à l'Esat après novembre",
    "W05": "Enregistrement remplacé",
    "W06": "Changement déjà reçu",
    "W07": "Fichier lu en Windows-1252",
    "W08": "Date d'effet éloignée",
    "W09": "Déclaration après le 15 janvier",
    "W10": "NIR provisoire",
    "W11": "Rémunération garantie très basse",
    "W12": "Ligne masquée dans le classeur",
}


def title(code: str) -> str:
    """The code's title (the code itself for one the table does not know)."""
    return TITLES.get(code, code)


def anchor(code: str) -> str:
    """The id of the code's section in the Esats' guide (« code-r02 »)."""
    return f"code-{code.lower()}"
