"""NIR masking: a declared NIR, and any NIR-shaped run of characters inside a message, shown as formats.md §6 does."""

from __future__ import annotations

import re

# The NIR form (sex 1-8, year, month, département incl. 2A/2B, commune, order) with or without its key,
# not glued to other digits. ASCII digits only ([0-9]); a letter before it does not protect it.
NIR_SHAPED = r"(?i)(?<![0-9])([1-8][0-9]{4})(?:[0-9]{2}|2[AB])[0-9]{6}((?:[0-9]{2})?)(?![0-9])"
_NIR_SHAPED = re.compile(NIR_SHAPED)
# NIRs glued to other digits (or to each other): no identifier a message quotes is that long, so a run
# of 16 digits or more keeps only its first 5; a Corsican form (2A/2B) followed by digits likewise.
LONG_RUN = r"(?i)([0-9]{5})(?:[0-9]{11,}|[0-9]{2}2[AB][0-9]{6,}|2[AB][0-9]{6,})"
_LONG_RUN = re.compile(LONG_RUN)
MASK = "********"
_SHORTEST = 13  # the shortest text either pattern matches (13 characters: a NIR without its key)


def mask_nir(nir: str | None) -> str:
    """First 5 characters, ********, then the 2-character key; '' when absent.

    Always of the compte rendu's `nirMasque` form (`[0-9A-Za-z*]{0,5}(\\*{8}[0-9A-Za-z]{2})?`): a
    value holding anything but ASCII letters and digits shows nothing of itself (`*****`).
    """
    if not nir:
        return ""
    nir = nir.strip()
    if not (nir.isascii() and nir.isalnum()):
        return "*" * 5 if nir else ""
    if len(nir) < 7:
        return "*" * min(len(nir), 5)
    return nir[:5] + MASK + nir[-2:]


def mask_nirs_in(text: str) -> str:
    """`text` with every NIR-shaped run masked (5 characters, ********, the key when there is one)."""
    if len(text) < _SHORTEST:  # most log fields (codes, counts, names): nothing NIR-shaped fits, no regex to run
        return text
    text = _NIR_SHAPED.sub(lambda m: m.group(1) + MASK + m.group(2), text)
    return _LONG_RUN.sub(lambda m: m.group(1) + MASK, text)


# The same for polars (Rust regex: no look-behind, so the neighbouring character is captured and put back).
NIR_SHAPED_RUST = r"(?i)(^|[^0-9])([1-8][0-9]{4})(?:[0-9]{2}|2[AB])[0-9]{6}((?:[0-9]{2})?)([^0-9]|$)"
NIR_MASKED_RUST = "${1}${2}" + MASK + "${3}${4}"
LONG_RUN_MASKED_RUST = "${1}" + MASK
