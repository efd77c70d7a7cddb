"""Where a reception's earlier comptes rendus are kept: a name the cycle, the purge and the console share."""

from __future__ import annotations


def kept_stem(name: str, file_id: int, pair: int) -> str:
    """Where the `pair`-th compte rendu pair (0: the first answer, then one per replay) of reception
    `file_id` is kept once it no longer describes the latest reception of its name."""
    return f"{name}.{file_id}" + (f"-rejeu{pair}" if pair else "")
