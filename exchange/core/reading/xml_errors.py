"""The XML library's errors in French for an Esat: the usual XSD failures and syntax errors mapped to a
sentence with the element and the line; anything else a French generic sentence (never libxml2's English)."""

from __future__ import annotations

import re

from schemas.anomalies import Anomaly

_ELEMENT = re.compile(r"^Element '(?:\{[^}]*\})?([^']+)'(?:, attribute '([^']+)')?: ")
_EXPECTED = re.compile(r"Expected is (?:one of )?\( ([^)]*) \)")
_VALUE = re.compile(r"The value '([^']*)'")
_NAMESPACE = re.compile(r"^Element '(?:\{([^}]*)\})?[^']+': No matching global declaration")
_TAG_MISMATCH = re.compile(r"Opening and ending tag mismatch: (\S+) line \d+ and (\S+)")
_PREMATURE = re.compile(r"Premature end of data in tag (\S+)")
_ENTITY = re.compile(r"Entity '([^']+)' not defined")
SCHEMA_ELEMENT_CONTENT = 1871
SCHEMA_NO_ROOT = 1845
SCHEMA_ATTRIBUTE_MISSING = 1868
SCHEMA_ATTRIBUTE_NOT_ALLOWED = 1866
SCHEMA_VALUE = frozenset({1824, 1839, 1840, 1841, 1842, 1843, 1844})  # datatype, pattern, enumeration, length…


def _names(listed: str) -> list[str]:
    return [re.sub(r"^\{[^}]*\}", "", n.strip()) for n in listed.split(",") if n.strip()]


def _expected(names: list[str]) -> str:
    if not names:
        return ""
    shown = ", ".join(f"<{n}>" for n in names)
    return f" (attendu : {shown})" if len(names) == 1 else f" (attendu : l'un de {shown})"


def schema_error(line: int | None, type_code: int, message: str) -> Anomaly:
    """F03 for one XSD complaint, in French, with the element and the line."""
    ligne = line or None
    m = _ELEMENT.match(message)
    element, attribute = (m[1], m[2]) if m else ("", None)
    expected = _names(e[1]) if (e := _EXPECTED.search(message)) else []
    if type_code == SCHEMA_NO_ROOT:
        ns = _NAMESPACE.match(message)
        if ns is not None:
            return Anomaly.of("F03", "xsd_espace_de_noms", valeur=element, ligne=ligne)
    if type_code == SCHEMA_ELEMENT_CONTENT and "Missing child element" in message:
        missing = expected[0] if len(expected) == 1 else " ou ".join(f"{n}" for n in expected) or "?"
        return Anomaly.of("F03", "xsd_element_manquant", valeur=missing, detail=f" dans <{element}>", ligne=ligne)
    if type_code == SCHEMA_ELEMENT_CONTENT and "not expected" in message:
        return Anomaly.of("F03", "xsd_element_inattendu", valeur=element, detail=_expected(expected), ligne=ligne)
    if type_code in SCHEMA_VALUE:
        value = v[1] if (v := _VALUE.search(message)) else ""
        target = f"{element} (attribut {attribute})" if attribute else element
        return Anomaly.of("F03", "xsd_valeur", valeur=target, detail=value, ligne=ligne)
    if type_code == SCHEMA_ATTRIBUTE_MISSING:
        name = a[1] if (a := re.search(r"The attribute '([^']+)' is required", message)) else "?"
        return Anomaly.of(
            "F03", "xsd_attribut", valeur=element, detail=f"{name} est obligatoire mais absent", ligne=ligne
        )
    if type_code == SCHEMA_ATTRIBUTE_NOT_ALLOWED:
        return Anomaly.of("F03", "xsd_attribut", valeur=element, detail=f"{attribute} n'est pas permis", ligne=ligne)
    place = f"dans l'élément <{element}>, " if element else ""
    detail = (
        f"ligne {line} : {place}la structure ne correspond pas au format de la déclaration"
        if line
        else (f"{place}la structure ne correspond pas au format de la déclaration")
    )
    return Anomaly.of("F03", "xsd", detail=detail, ligne=ligne)


def syntax_error(line: int | None, message: str) -> Anomaly:
    """F03 for a document that does not parse, in French, with the line."""
    if m := _TAG_MISMATCH.search(message):
        words = f"la balise <{m[1]}> est fermée par </{m[2]}>"
    elif m := _PREMATURE.search(message):
        words = f"le fichier s'arrête avant la fin de l'élément <{m[1]}> (fichier tronqué ?)"
    elif m := _ENTITY.search(message):
        words = f"l'entité &{m[1]}; n'existe pas (écrivez &amp; pour le caractère &)"
    elif "redefined" in message:
        words = "un attribut est écrit deux fois dans la même balise"
    elif "invalid Char" in message or "not allowed" in message.lower() and "char" in message.lower():
        words = "le fichier contient un caractère interdit en XML"
    elif "XML_PARSE_HUGE" in message or "huge" in message.lower():
        words = "un élément ou un texte dépasse la taille permise"
    elif "Start tag expected" in message or "Document is empty" in message:
        words = "aucune balise XML au début du fichier"
    elif "StartTag: invalid element name" in message:
        words = "un nom d'élément est invalide (caractère « < » seul ?)"
    elif "EntityRef: expecting ';'" in message or "xmlParseEntityRef" in message:
        words = "un caractère « & » seul : écrivez &amp;"
    elif "Extra content at the end" in message:
        words = "du contenu suit la fin de l'élément racine"
    else:
        words = "le XML ne se lit pas (balise mal fermée, caractère interdit ou fichier tronqué)"
    detail = f"ligne {line} : {words}" if line else words
    return Anomaly.of("F03", "xml_mal_forme", detail=detail, ligne=line or None)
