"""A reception's comptes rendus as the console serves them: rebuilt from the ledger (the judgement stored for it),
never read from the drop area on a page view, which must not wait on SFTP."""

from __future__ import annotations

from typing import Any

from exchange.config import Config
from exchange.core.compte_rendu.names import kept_stem
from exchange.core.vocabulary import ACQUITTE
from exchange.store.engine import Engine

FORMS = ("csv", "xml", "html")


def _stem(row: dict[str, Any], latest_answered: int | None) -> str:
    """Where this reception's last answer is in retour/: `<name>.CR.*` while it is the latest answered reception of
    its name, else its kept name (exchange.core.compte_rendu.names.kept_stem)."""
    if latest_answered == row["id"]:
        return str(row["name"])
    return kept_stem(row["name"], row["id"], max((row.get("answers") or 1) - 1, 0))


def answer_names(row: dict[str, Any], latest_answered: int | None) -> list[str]:
    """The names of this reception's last answer (csv, xml, html) when the console can rebuild it: answered
    (ACQUITTE), its comptes rendus and the workers' identity not purged; else none."""
    if row["state"] != ACQUITTE or not row.get("answers"):
        return []
    if row.get("answers_purged_at") is not None or row.get("identity_purged_at") is not None:
        return []
    stem = _stem(row, latest_answered)
    return [f"{stem}.CR.{ext}" for ext in FORMS]


def earlier_answer_names(row: dict[str, Any]) -> list[str]:
    """The kept names of this reception's earlier answers (before each replay), in retour/ of its Esat: listed for
    the operator, not served (their judgement was replaced by the replay's; only the Esat's copy holds them)."""
    if row["state"] != ACQUITTE or row.get("answers_purged_at") is not None:
        return []
    pairs = range(max((row.get("answers") or 0) - 1, 0))
    return [f"{kept_stem(row['name'], row['id'], pair)}.CR.{ext}" for pair in pairs for ext in FORMS]


def rebuilt_answer(
    config: Config, engine: Engine, row: dict[str, Any], name: str, latest_answered: int | None
) -> bytes | None:
    """The compte rendu `name` of this reception (one of answer_names), rebuilt from its stored judgement exactly as
    the cycle wrote it; None when `name` is not one of them."""
    from exchange.app.cycle import stored_judgement
    from exchange.core.clock import as_utc
    from exchange.core.compte_rendu.forms import cr_files

    names = answer_names(row, latest_answered)
    if name not in names:
        return None
    with engine.connect() as conn:
        judgement = stored_judgement(conn, row)
    replayed_at = as_utc(row["state_changed_at"]) if (row.get("answers") or 0) > 1 else None
    forms = cr_files(judgement, row["processing_date"], replayed_at=replayed_at, guide_url=config.web.guide_url)
    return forms["CR." + name.rsplit(".", 1)[1]]


__all__ = ["answer_names", "earlier_answer_names", "rebuilt_answer"]
