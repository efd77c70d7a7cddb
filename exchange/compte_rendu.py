"""The compte rendu (formats.md §6): the CSV (with BOM) and the XML an Esat reads back."""
from __future__ import annotations

import csv
import io
import json
from datetime import date
from functools import cache
from importlib import resources

from lxml import etree

from exchange.csv_cells import guard_text
from exchange.judge import Judgement
from exchange.safe_text import safe_text
from schemas.anomalies import mask_nir

CR_COLUMNS = (
    "fichier", "date_traitement", "statut", "enregistrements_recus", "enregistrements_acceptes",
    "enregistrements_rejetes", "ligne", "nir_masque", "code", "gravite", "champ", "message",
)
CR_NS = "urn:esat:compte-rendu:v1"


def cr_rows(j: Judgement, processing_date: date) -> list[dict]:
    """One row per anomaly (file-level first, then by line); one summary-only row when there is none."""
    head = {
        "fichier": j.name,
        "date_traitement": processing_date.isoformat(),
        "statut": j.statut,
        "enregistrements_recus": j.records_in,
        "enregistrements_acceptes": j.records_accepted,
        "enregistrements_rejetes": j.records_rejected,
    }
    empty = {"ligne": None, "nir_masque": "", "code": "", "gravite": "", "champ": "", "message": ""}
    ordered = j.anomalies.sort(["ligne", "code"], nulls_last=False, maintain_order=True)
    rows = [
        {**head, "ligne": a["ligne"], "nir_masque": mask_nir(a["nir"]), "code": a["code"],
         "gravite": a["gravite"], "champ": a["champ"] or "", "message": a["message"]}
        for a in ordered.iter_rows(named=True)
    ]
    return [_written(r) for r in rows] if rows else [_written({**head, **empty})]


# -- output boundary: every text of a row is made safe for XML and terminals here, once --------------
_TEXT_FIELDS = ("fichier", "nir_masque", "champ", "message")


def _written(row: dict) -> dict:
    """The row as it may be written out: control, non-XML and bidi characters escaped (exchange.safe_text)."""
    return {**row, **{k: safe_text(row[k]) for k in _TEXT_FIELDS if isinstance(row[k], str)}}


def cr_csv(j: Judgement, processing_date: date, bom: bool = True) -> bytes:
    """The .CR.csv: UTF-8 with BOM, `;`, the spec's columns, formula guard on text cells."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(CR_COLUMNS)
    for r in cr_rows(j, processing_date):
        w.writerow([
            guard_text(r["fichier"]), r["date_traitement"], r["statut"], r["enregistrements_recus"],
            r["enregistrements_acceptes"], r["enregistrements_rejetes"],
            "" if r["ligne"] is None else r["ligne"], guard_text(r["nir_masque"]), r["code"],
            r["gravite"], guard_text(r["champ"]), guard_text(r["message"]),
        ])
    text = buf.getvalue()
    return (("\ufeff" if bom else "") + text).encode("utf-8")


def cr_xml(j: Judgement, processing_date: date) -> bytes:
    """The .CR.xml, valid against schemas/compte-rendu-v1.xsd."""
    rows = cr_rows(j, processing_date)
    root = etree.Element(f"{{{CR_NS}}}compteRendu", nsmap={None: CR_NS})
    first = rows[0]
    root.set("fichier", first["fichier"])
    root.set("dateTraitement", first["date_traitement"])
    root.set("statut", j.statut)
    root.set("enregistrementsRecus", str(first["enregistrements_recus"]))
    root.set("enregistrementsAcceptes", str(first["enregistrements_acceptes"]))
    root.set("enregistrementsRejetes", str(first["enregistrements_rejetes"]))
    for r in rows:
        if not r["code"]:
            continue
        a = etree.SubElement(root, f"{{{CR_NS}}}anomalie")
        if r["ligne"] is not None:
            a.set("ligne", str(r["ligne"]))
        if r["nir_masque"]:
            a.set("nirMasque", r["nir_masque"])
        a.set("code", r["code"])
        a.set("gravite", r["gravite"])
        if r["champ"]:
            a.set("champ", r["champ"])
        a.text = r["message"]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def cr_json(j: Judgement, processing_date: date) -> str:
    """The compte rendu as one JSON object (for `check --format json`)."""
    rows = cr_rows(j, processing_date)
    head = {k: rows[0][k] for k in CR_COLUMNS[:6]}
    anomalies = [{k: r[k] for k in CR_COLUMNS[6:]} for r in rows if r["code"]]
    return json.dumps({**head, "anomalies": anomalies}, ensure_ascii=False, indent=2)


@cache
def cr_schema() -> etree.XMLSchema:
    xsd = resources.files("schemas").joinpath("compte-rendu-v1.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(xsd, etree.XMLParser(resolve_entities=False, no_network=True)))


def cr_text(j: Judgement, processing_date: date) -> str:
    """A readable French report (for `check --format text`)."""
    lines = [
        f"Fichier : {safe_text(j.name)}",
        f"Date de traitement : {processing_date.strftime('%d/%m/%Y')}",
        f"Statut : {j.statut}",
        f"Enregistrements : {j.records_in} reçus, {j.records_accepted} acceptés, "
        f"{j.records_rejected} rejetés",
    ]
    rows = [r for r in cr_rows(j, processing_date) if r["code"]]
    if not rows:
        lines.append("Aucune anomalie.")
    else:
        lines.append(f"Anomalies ({len(rows)}) :")
        for r in rows:
            where = f"ligne {r['ligne']}" if r["ligne"] is not None else "fichier"
            who = f" — NIR {r['nir_masque']}" if r["nir_masque"] else ""
            champ = f" [{r['champ']}]" if r["champ"] else ""
            lines.append(f"  {r['code']} {r['gravite']} ({where}{who}){champ} : {r['message']}")
    return "\n".join(lines) + "\n"
