"""The header line of a CSV or spreadsheet table: the column each position holds, or the F03 to report."""
from __future__ import annotations

from schemas.anomalies import Anomaly
from schemas.declaration import Kind, columns, required


def match_header(header: list[str], kind: Kind) -> list[str | None] | Anomaly:
    """The column each header position holds (None: an unnamed position), or the F03 to report.

    Checked in this order, one anomaly only: unknown names (a typo shows up as one unknown and one
    missing name, and the unknown one tells what to correct), repeated names, missing required names.
    """
    known = columns(kind)
    names = [h.strip().lower() for h in header]
    if len(names) == 1 and "," in names[0] and any(n.strip() in known for n in names[0].split(",")):
        shown = header[0].strip()
        return Anomaly.of("F03", "separateur_virgule", detail=shown if len(shown) <= 60 else shown[:60] + "…")
    unknown = [h.strip() for h, n in zip(header, names) if n and n not in known]
    if unknown and not any(n in known for n in names):  # a forgotten header: never quote that record
        return Anomaly.of("F03", "entete_absente")
    if unknown:
        return Anomaly.of("F03", "colonne_inconnue", detail=quoted_names(unknown))
    seen: set[str] = set()
    doubles = [n for n in names if n and (n in seen or seen.add(n))]
    if doubles:
        return Anomaly.of("F03", "colonne_double", detail=", ".join(dict.fromkeys(doubles)))
    missing = [c for c in known if c in required(kind) and c not in seen]
    if missing:
        return Anomaly.of("F03", "colonne_manquante", detail=", ".join(missing))
    return [n or None for n in names]


def quoted_names(names: list[str], most: int = 5, longest: int = 40) -> str:
    """Header names as a message quotes them: at most `most`, each cut at `longest` characters."""
    shown = [n if len(n) <= longest else n[:longest] + "…" for n in names[:most]]
    return ", ".join(shown) + (f"… ({len(names)} en tout)" if len(names) > most else "")
