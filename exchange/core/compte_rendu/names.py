"""Where a reception's comptes rendus are in retour/: `<name>.CR.*` for the latest answered reception of a name,
`<name>.<id>[-rejeuN].CR.*` for every pair kept once it no longer is."""

from __future__ import annotations

from typing import Any

CR_EXTENSIONS = ("CR.csv", "CR.xml", "CR.html")  # the three forms a file is answered with (forms.cr_files)


def kept_stem(name: str, file_id: int, pair: int) -> str:
    """Where the `pair`-th compte rendu pair (0: the first answer, then one per replay) of reception
    `file_id` is kept once it no longer describes the latest reception of its name."""
    return f"{name}.{file_id}" + (f"-rejeu{pair}" if pair else "")


def compte_rendu_names(row: dict[str, Any], latest_answered: int | None) -> list[str]:
    """The retour/ names that may hold this reception's comptes rendus (`row`: id, name, answers), every form:
    `<name>.CR.*` when it is the latest answered reception of its name, then every kept pair (its first answer,
    then one per replay)."""
    stems = [row["name"]] if latest_answered == row["id"] else []
    stems += [kept_stem(row["name"], row["id"], pair) for pair in range(max(row.get("answers") or 0, 1))]
    return [f"{stem}.{ext}" for stem in stems for ext in CR_EXTENSIONS]
