"""Use case: an Esat's comptes rendus of one reception, read from its retour/ for the console (which only renders)."""

from __future__ import annotations

from dataclasses import dataclass

from exchange.config import Config
from exchange.core.compte_rendu.names import compte_rendu_names
from exchange.edges.transport.base import TransportError
from exchange.edges.transport.factory import open_transport


@dataclass(frozen=True)
class CompteRenduFile:
    """One compte rendu present in retour/."""

    name: str
    format: str  # CSV, XML, HTML
    size: int
    earlier: bool  # a kept pair (an earlier answer, or the reception is no longer the latest of its name)


def compte_rendu_files(config: Config, row: dict, latest_answered: int | None) -> list[CompteRenduFile] | str:
    """The comptes rendus of reception `row` present in its account's retour/ (core.compte_rendu.names), or why
    the drop area could not be read (French)."""
    found = []
    try:
        with open_transport(config) as transport:
            for name in compte_rendu_names(row, latest_answered):
                data = transport.read_retour(row["account"], name)
                if data is not None:
                    earlier = not name.startswith(f"{row['name']}.CR.")
                    found.append(CompteRenduFile(name, name.rsplit(".", 1)[1].upper(), len(data), earlier))
    except (TransportError, OSError) as e:
        return f"zone de dépôt injoignable : {e}"
    return found


def read_compte_rendu(config: Config, row: dict, latest_answered: int | None, name: str) -> bytes | None:
    """The bytes of compte rendu `name` of reception `row`; None when it is not one of its names or not there."""
    if name not in compte_rendu_names(row, latest_answered):
        return None
    with open_transport(config) as transport:
        return transport.read_retour(row["account"], name)


__all__ = ["CompteRenduFile", "compte_rendu_files", "read_compte_rendu"]
