"""Declaration fields as an Esat knows them: a French description and the label written in the file."""

from __future__ import annotations

from schemas.declaration import MO_XML_NAMES, camel

DESCRIPTIONS: dict[str, str] = {
    "siret_esat": "SIRET de l'Esat",
    "finess_esat": "numéro FINESS de l'Esat",
    "annee_reference": "année de référence",
    "nir": "NIR du salarié",
    "nom": "nom",
    "prenoms": "prénoms",
    "date_naissance": "date de naissance",
    "numero_allocataire": "numéro allocataire",
    "code_caf": "code Caf",
    "date_entree_esat": "date d'entrée à l'Esat",
    "taux_activite_esat": "taux d'activité à l'Esat",
    "remuneration_garantie_nette": "rémunération garantie nette",
    "part_financee_esat_nette": "part financée par l'Esat",
    "aide_au_poste_nette": "aide au poste nette",
    "cumul_milieu_ordinaire": "cumul avec le milieu ordinaire",
    "siret_employeur_mo": "SIRET de l'employeur en milieu ordinaire",
    "type_contrat_mo": "type de contrat en milieu ordinaire",
    "date_debut_mo": "date de début en milieu ordinaire",
    "heures_hebdo_mo": "heures hebdomadaires en milieu ordinaire",
    "salaire_net_mo": "salaire net en milieu ordinaire",
    "type_changement": "type de changement",
    "date_effet": "date d'effet",
    "taux_activite_avant": "taux d'activité avant le changement",
    "taux_activite_apres": "taux d'activité après le changement",
    "motif_depart": "motif de départ",
}
XML_MO_NAMES: dict[str, str] = {column: element for element, column in MO_XML_NAMES.items()}


def xml_name(column: str) -> str:
    """The XML element that holds a column (formats.md §4)."""
    if column == "cumul_milieu_ordinaire":
        return "milieuOrdinaire"
    return XML_MO_NAMES.get(column, camel(column))


def field_label(column: str, xml: bool = False) -> str:
    """« date de naissance (colonne date_naissance) », or (XML) « … (élément <dateNaissance>) »."""
    description = DESCRIPTIONS.get(column, column)
    if xml:
        return f"{description} (élément <{xml_name(column)}>)"
    return f"{description} (colonne {column})"


def plural(n: int, singular: str, plural_form: str) -> str:
    """`n` and the noun agreed by French rules: 0 and 1 take the singular (« 1 champ », « 0 rejet »)."""
    return f"{n} {singular if abs(n) < 2 else plural_form}"
