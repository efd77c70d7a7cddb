"""The payroll clerk's example declaration (the spec's esat-seine RG file and Martin's line in it), shared by the
tests that feed a clerk's mistakes through `check`, `run` and the « Vérifier mon fichier » page."""

from __future__ import annotations

from tests.paths import EXAMPLES

SEINE, HORIZON = "esat-seine", "horizon-paie"
RG_CSV = (EXAMPLES / "drop" / SEINE / "depot" / "ESAT_81234567600017_RG_20251210_001.csv").read_text(encoding="utf-8")
RG_XML = (EXAMPLES / "drop" / HORIZON / "depot" / "ESAT_44306184100021_RG_20251211_001.xml").read_text(encoding="utf-8")
RG_NAME = "ESAT_81234567600017_RG_20251210_002.csv"  # a second RG of the day, as a clerk resends it
MARTIN = "81234567600017;750012345;2025;185057800608491;Martin;Jérôme;12/05/1985;1234567;78;01/09/2010;100;862,35;150,12;712,23;N;;;;;"
HEADER = RG_CSV.splitlines()[0].split(";")


def martin(**changes: str) -> str:
    """The example RG file with Martin's line changed (column → new text)."""
    values = dict(zip(HEADER, MARTIN.split(";")))
    values.update(changes)
    return RG_CSV.replace(MARTIN, ";".join(values[c] for c in HEADER))
