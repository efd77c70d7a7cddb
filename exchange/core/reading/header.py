"""The header line of a CSV or spreadsheet table: the column each position holds, or the F03 to report."""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

from schemas.anomalies import Anomaly
from schemas.declaration import Kind, columns, required

# Words a clerk adds to a column name that the format's names leave out (« date de naissance »).
FILLER_WORDS = frozenset({"de", "du", "des", "d", "la", "le", "les", "l", "a", "au", "en"})
ABBREVIATIONS = {"n": "numero", "no": "numero", "num": "numero", "nr": "numero"}  # « N° allocataire »
SEPARATORS = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=4096)  # the same few header names in every file; bounded against a hostile one
def name_key(name: str) -> str:
    """A header name without accents, case, spacing, filler words and plural marks: `Prénoms` → `prenom`,
    `date de naissance` → `date_naissance`."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = [
        w[:-1] if len(w) > 3 and w.endswith(("s", "x")) else w
        for w in (ABBREVIATIONS.get(w, w) for w in SEPARATORS.split(plain))
        if w and w not in FILLER_WORDS
    ]
    return "_".join(words)


def near_miss(name: str, kind: Kind) -> str | None:
    """The expected column an unknown header name was meant to be (accents, case, spaces, plural)."""
    key = name_key(name)
    return _columns_by_key(kind).get(key) if key else None


@cache
def _columns_by_key(kind: Kind) -> dict[str, str]:
    """The kind's columns by their name key (the first column of a key wins, as the format lists them)."""
    keyed: dict[str, str] = {}
    for column in columns(kind):
        keyed.setdefault(name_key(column), column)
    return keyed


def header_score(header: list[str], kind: Kind) -> int:
    """How many required columns of the kind a row names (exactly, or as a near miss)."""
    need = required(kind)
    exact = {n.strip().lower() for n in header}
    near = {near_miss(n, kind) for n in header if n.strip() and n.strip().lower() not in need}
    return len(need & (exact | near))


def match_header(header: list[str], kind: Kind, letters: list[str] | None = None) -> list[str | None] | Anomaly:
    """The column each header position holds (None: an unnamed position), or the F03 to report.

    Checked in this order, one anomaly only: unknown names (a typo shows up as one unknown and one
    missing name, and the unknown one tells what to correct; a near miss names the expected column),
    repeated names, missing required names. `letters` (a workbook's column letters) are shown beside names.
    """
    known = columns(kind)
    names = [h.strip().lower() for h in header]
    if len(names) == 1 and "," in names[0] and any(n.strip() in known for n in names[0].split(",")):
        first = header[0].strip()
        return Anomaly.of("F03", "separateur_virgule", detail=first if len(first) <= 60 else first[:60] + "…")
    unknown = [(i, h.strip()) for i, (h, n) in enumerate(zip(header, names)) if n and n not in known]
    if unknown and not any(n in known for n in names) and not any(near_miss(h, kind) for _, h in unknown):
        return Anomaly.of("F03", "entete_absente")  # a forgotten header: never quote that record
    if unknown:
        places = [_where(h, i, letters) for i, h in unknown]
        guesses = [near_miss(h, kind) for _, h in unknown]
        if all(guesses):
            detail = quoted_names([f"{s} (vouliez-vous dire {g} ?)" for s, g in zip(places, guesses)], longest=90)
            return Anomaly.of("F03", "colonne_proche", detail=detail)
        shown = [s if g is None else f"{s} (vouliez-vous dire {g} ?)" for s, g in zip(places, guesses)]
        return Anomaly.of("F03", "colonne_inconnue", detail=quoted_names(shown, longest=90 if letters else 40))
    seen: set[str] = set()
    doubles: list[str] = []
    for n in names:
        if n and n in seen:
            doubles.append(n)
        elif n:
            seen.add(n)
    if doubles:
        return Anomaly.of("F03", "colonne_double", detail=", ".join(dict.fromkeys(doubles)))
    missing = [c for c in known if c in required(kind) and c not in seen]
    if missing:
        return Anomaly.of("F03", "colonne_manquante", detail=", ".join(missing))
    return [n or None for n in names]


def _where(name: str, index: int, letters: list[str] | None) -> str:
    """An unknown name as a message quotes it: cut at 40 characters, with its column letter in a workbook."""
    cut = name if len(name) <= 40 else name[:40] + "…"
    return f"{cut} (colonne {letters[index]})" if letters is not None and index < len(letters) else cut


def quoted_names(names: list[str], most: int = 5, longest: int = 40) -> str:
    """Header names as a message quotes them: at most `most`, each cut at `longest` characters."""
    shown = [n if len(n) <= longest else n[:longest] + "…" for n in names[:most]]
    return ", ".join(shown) + (f"… ({len(names)} en tout)" if len(names) > most else "")
