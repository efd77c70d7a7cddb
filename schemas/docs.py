"""Render the rule catalogue (schemas/rules.csv) as docs/RULES.md: `python -m schemas.docs > docs/RULES.md`."""

from __future__ import annotations

from schemas.catalogue import catalogue

INTRO = """# Rule catalogue

Generated from `schemas/rules.csv` by `make docs` (`python -m schemas.docs`); the code reads the same
table, and `tests/core/test_rules_doc.py` fails when this page is out of date. Codes never change meaning.
`{champ}` is replaced by the field concerned and `{detail}` by the value or figure that explains the
anomaly. Order of the file-level checks: F04 → F07 → F02 → F01/F08 → F03 → F06 → H01–H07 (in `run`
only) → F05; record checks run only on a file that passed them all, and every record is checked
against every rule.
"""

LEVELS = {"FICHIER": "file", "ENREGISTREMENT": "record"}


def render() -> str:
    lines = [
        INTRO,
        "| code | variant | level | severity | field | message (French, as the Esat reads it) | when |",
        "|---|---|---|---|---|---|---|",
    ]
    for (code, variant), r in sorted(catalogue().items()):
        cells = [f"`{code}`", variant, LEVELS[r.level], r.severity, r.field, r.message, r.trigger]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
