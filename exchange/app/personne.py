"""The right-of-access use case (cli.md `personne`): everything held about one NIR, journaled in the audit log.

Called the same way by the command line and (later) the console's page for national operators: the caller
gives who asks; the answer is one JSON-ready dict, rendered by exchange.core.personne_forms.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from exchange.app.personne_files import HeldFile, files_holding
from exchange.config import Config
from exchange.core.clock import PARIS
from exchange.core.compte_rendu.names import CR_EXTENSIONS, kept_stem
from exchange.core.retention import KINDS
from exchange.errors import TerminalError
from exchange.store import operators
from exchange.store import personne as store
from exchange.store import purge as store_purge
from exchange.store.engine import Engine, in_transaction
from exchange.store.ledger import utcnow

INTERNAL = ("id", "file_id", "emission_id", "replaces_id")


class NirError(TerminalError):
    """Not a NIR (French message)."""


def normalise_nir(text: str) -> str:
    """The NIR without spaces, upper case (2A/2B); NirError unless 13 or 15 letters and digits."""
    nir = "".join(text.split()).upper()
    if len(nir) not in (13, 15) or not nir.isascii() or not nir.isalnum():
        raise NirError(f"NIR attendu (13 ou 15 caractères, chiffres et 2A/2B), pas {text!r}")
    return nir


def _value(v: object) -> object:
    return v.isoformat() if isinstance(v, (date, datetime)) else v


def _record(r: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in r.items():
        if k in INTERNAL:
            continue
        if k.endswith("_c"):
            out[k[:-2]] = None if v is None else v / 100
        else:
            out[k] = _value(v)
    return out


def _retour_names(f: dict[str, Any], latest: dict[tuple[str, str], int]) -> list[str]:
    if f["answers_purged_at"] is not None:
        return []
    stems = [kept_stem(f["name"], f["id"], pair) for pair in range(f["answers"] or 0)]
    if latest.get((f["account"], f["name"])) == f["id"]:
        stems = stems[:-1] + [f["name"]] if stems else [f["name"]]
    return [f"retour/{stem}.{ext}" for stem in stems for ext in CR_EXTENSIONS]


def _purges(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Purge steps grouped by day and kind: the years, and how many items, records and anomalies went."""
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["at"].astimezone(PARIS).date().isoformat(), r["kind"])
        g = grouped.setdefault(
            key,
            {
                "date": key[0],
                "donnees": KINDS.get(r["kind"], r["kind"]),
                "annees": set(),
                "elements": 0,
                "enregistrements": 0,
                "anomalies": 0,
            },
        )
        if r["annee"] is not None:
            g["annees"].add(r["annee"])
        g["elements"] += r["removed"]
        g["enregistrements"] += r["records"]
        g["anomalies"] += r["anomalies"]
    return [{**g, "annees": sorted(g["annees"])} for g in grouped.values()]


def audit_target(nir: str) -> str:
    """What the audit journal keeps of an asked NIR: its key alone (2 of 97 values: nothing that singles a
    person out beside the counts of the answer), the rest masked."""
    nir = "".join(nir.split())
    return "*" * 13 + (nir[13:15] if len(nir) == 15 and nir.isascii() and nir.isalnum() else "")


def _output_base(name: str) -> str:
    for suffix in (".parquet", ".csv", ".manifest.json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _held_files(
    held: list[HeldFile],
    by_copy: dict[str, list[int]],
    by_output: dict[tuple[str, str], dict[str, Any]],
    file_rows: dict[int, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every file on disk that holds the NIR: received copies (and the archive/ copy of each reception they
    belong to: the same bytes), Caf output files; those the ledger does not know say so."""
    out: list[dict[str, Any]] = []
    for h in held:
        if h.where == "stockage":
            ids = by_copy.get(h.path, [])
            out.append({"emplacement": "stockage", "chemin": h.path, "fichiers": ids, "connu_de_la_base": bool(ids)})
            for i in ids:
                f = file_rows[i]
                if f["archived_name"] and f["copies_purged_at"] is None:
                    out.append(
                        {
                            "emplacement": "archive",
                            "chemin": f"{f['account']}/archive/{f['archived_name']}",
                            "fichiers": [i],
                            "connu_de_la_base": True,
                        }
                    )
        else:
            emission = by_output.get((h.folder, _output_base(h.path.split("/", 1)[1])))
            out.append(
                {
                    "emplacement": "sortie",
                    "chemin": h.path,
                    "emission": emission["name"] if emission else None,
                    "connu_de_la_base": emission is not None,
                }
            )
    return out


def person_report(
    engine: Engine, nir_text: str, *, login: str, config: Config | None = None, address: str | None = None
) -> dict[str, Any]:
    """Everything held about the NIR, journaled (who asked, the NIR masked, what was found); NirError when
    `nir_text` is not a NIR (journaled as refused). Matched on its 13 characters: asked with or without its
    key, a NIR declared with a wrong key is found. With `config`, the received copies and Caf output files on
    disk are searched too (exchange.app.personne_files), whatever the ledger still knows."""
    try:
        nir = normalise_nir(nir_text)
    except NirError:
        in_transaction(
            engine,
            operators.record_audit,
            login,
            "personne",
            "REFUSE",
            target=audit_target(nir_text),
            detail="NIR illisible",
            address=address,
        )
        raise
    nir13 = nir[:13]
    held = files_holding(config, nir13) if config is not None else []
    copies = [h.path for h in held if h.where == "stockage"]
    outputs = {(h.folder, _output_base(h.path.split("/", 1)[1])) for h in held if h.where == "sortie"}
    with engine.connect() as conn:
        recs = store.person_records(conn, nir13)
        anos = store.person_anomalies(conn, nir13)
        by_copy = store.files_by_copy(conn, copies)
        by_output = store.emissions_by_name(conn, outputs)
        file_rows = store.files_by_id(
            conn,
            {r["file_id"] for r in recs} | {a["file_id"] for a in anos} | {i for ids in by_copy.values() for i in ids},
        )
        latest = store.latest_answered(conn, {(f["account"], f["name"]) for f in file_rows.values()})
        emitted = store.emissions_by_id(
            conn,
            {r["emission_id"] for r in recs if r["emission_id"] is not None} | {e["id"] for e in by_output.values()},
        )
        campaigns = store.campaign_emissions(
            conn,
            {
                (r["annee_reference"], r["code_caf"])
                for r in recs
                if r["kind"] == "RG" and not r["superseded"] and r["annee_reference"] is not None
            },
        )
        history = store_purge.history(conn)
    names = {i: f["name"] for i, f in file_rows.items()}
    held_files = _held_files(held, by_copy, by_output, file_rows)
    report: dict[str, Any] = {
        "nir": nir,
        "date_de_la_demande": utcnow().isoformat(),
        "donnees_detenues": bool(recs or anos or held),
        "enregistrements": [
            {
                "fichier_id": r["file_id"],
                "fichier": names.get(r["file_id"]),
                **_record(r),
                "emission": (emitted[r["emission_id"]]["name"] if r["emission_id"] in emitted else None),
            }
            for r in recs
        ],
        "anomalies": [
            {
                "fichier_id": a["file_id"],
                "fichier": names.get(a["file_id"]),
                "ligne": a["ligne"],
                "code": a["code"],
                "gravite": a["gravite"],
                "champ": a["champ"],
                "message": a["message"],
                "nir": a["nir"],
                "nom": a["nom"],
                "prenoms": a["prenoms"],
            }
            for a in anos
        ],
        "fichiers": [
            {
                "id": f["id"],
                "fichier": f["name"],
                "compte": f["account"],
                "siret": f["siret"],
                "type": f["kind"],
                "date_reception": _value(f["received_at"]),
                "etat": f["state"],
                "statut": f["statut"],
                "code": f["code"],
                "copie_locale": f["stored_path"] is not None and f["copies_purged_at"] is None,
                "archive": (
                    f"archive/{f['archived_name']}" if f["archived_name"] and f["copies_purged_at"] is None else None
                ),
                "comptes_rendus": _retour_names(f, latest),
                "copies_purgees_le": _value(f["copies_purged_at"]),
                "comptes_rendus_purges_le": _value(f["answers_purged_at"]),
                "identite_purgee_le": _value(f["identity_purged_at"]),
            }
            for f in file_rows.values()
        ],
        "emissions": [
            {
                "id": e["id"],
                "fichier": e["name"],
                "flux": e["flux"],
                "code_caf": e["code_caf"],
                "annee": e["annee"],
                "date": _value(e["completed_at"]),
                "etat": e["state"],
                "fichiers_purges_le": _value(e["files_purged_at"]),
            }
            for e in sorted([*emitted.values(), *campaigns], key=lambda e: e["id"])
        ],
        "fichiers_sur_disque": held_files,
        "purges": _purges(history),
    }
    found = len(recs), len(anos)
    in_transaction(
        engine,
        operators.record_audit,
        login,
        "personne",
        "OK",
        target=audit_target(nir),
        detail=f"{found[0]} enregistrement(s), {found[1]} anomalie(s), {len(file_rows)} fichier(s), "
        f"{len(held_files)} sur disque",
        address=address,
    )
    return report


__all__ = ["person_report", "normalise_nir", "NirError"]
