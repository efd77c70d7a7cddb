"""The compte rendu (formats.md §6): the CSV (with BOM), the XML, and the text and JSON forms of `check`."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from functools import cache
from importlib import resources

from lxml import etree

from exchange.core.compte_rendu.html import cr_html
from exchange.core.compte_rendu.summary import AnomalyLine, Summary, anomaly_lines, cr_summary, records_text
from exchange.core.csv_cells import guard_text
from exchange.core.judge import Judgement

SPEC_COLUMNS = (
    "fichier",
    "date_traitement",
    "statut",
    "enregistrements_recus",
    "enregistrements_acceptes",
    "enregistrements_rejetes",
    "ligne",
    "nir_masque",
    "code",
    "gravite",
    "champ",
    "message",
)
# Project additions, at the end only (formats.md §6 fixes the first twelve): the worker, then the summary
# and the « que faire » sentence repeated on every line like the first six columns.
EXTRA_COLUMNS = ("nom", "prenoms", "synthese", "que_faire")
CR_COLUMNS = SPEC_COLUMNS + EXTRA_COLUMNS
CR_NS = "urn:esat:compte-rendu:v1"
TEXT_COLUMNS = ("fichier", "nir_masque", "champ", "message", "nom", "prenoms", "synthese", "que_faire")


def cr_rows(
    j: Judgement,
    processing_date: date,
    replayed_at: datetime | None = None,
    *,
    summary: Summary | None = None,
    lines: list[AnomalyLine] | None = None,
) -> list[AnomalyLine]:
    """One row per anomaly (file-level first, then by line); one summary-only row when there is none.
    `summary` and `lines`, when given, are this judgement's cr_summary and anomaly_lines (computed once)."""
    s = summary or cr_summary(j, processing_date, replayed_at)
    head = {
        "fichier": s.fichier,
        "date_traitement": processing_date.isoformat(),
        "statut": s.statut,
        "enregistrements_recus": s.recus,
        "enregistrements_acceptes": s.acceptes,
        "enregistrements_rejetes": s.rejetes,
    }
    tail = {"synthese": s.texte, "que_faire": s.que_faire}
    empty = {
        "ligne": None,
        "nir_masque": "",
        "code": "",
        "gravite": "",
        "champ": "",
        "message": "",
        "nom": "",
        "prenoms": "",
    }
    rows = [{**head, **line, **tail} for line in (anomaly_lines(j) if lines is None else lines)]
    return rows or [{**head, **empty, **tail}]


def cr_csv(
    j: Judgement,
    processing_date: date,
    bom: bool = True,
    replayed_at: datetime | None = None,
    *,
    summary: Summary | None = None,
    lines: list[AnomalyLine] | None = None,
) -> bytes:
    """The .CR.csv: UTF-8 with BOM, `;`, the spec's columns then the project's, formula guard on text cells."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(CR_COLUMNS)
    for r in cr_rows(j, processing_date, replayed_at, summary=summary, lines=lines):
        cells = {**r, "ligne": "" if r["ligne"] is None else r["ligne"]}
        w.writerow([guard_text(cells[c]) if c in TEXT_COLUMNS else cells[c] for c in CR_COLUMNS])
    text = buf.getvalue()
    return (("\ufeff" if bom else "") + text).encode("utf-8")


def _summary_element(root: etree._Element, s: Summary) -> None:
    """<synthese>: the counts per severity and code, the summary sentence and « que faire »."""
    el = etree.SubElement(root, f"{{{CR_NS}}}synthese")
    el.set("anomaliesBloquantes", str(s.bloquantes))
    el.set("anomaliesNonBloquantes", str(s.non_bloquantes))
    for c in s.par_code:
        count = etree.SubElement(el, f"{{{CR_NS}}}code")
        count.set("code", c.code)
        count.set("gravite", c.gravite)
        count.set("nombre", str(c.nombre))
    etree.SubElement(el, f"{{{CR_NS}}}texte").text = s.texte
    etree.SubElement(el, f"{{{CR_NS}}}queFaire").text = s.que_faire


def cr_xml(
    j: Judgement,
    processing_date: date,
    replayed_at: datetime | None = None,
    *,
    summary: Summary | None = None,
    lines: list[AnomalyLine] | None = None,
) -> bytes:
    """The .CR.xml, valid against schemas/compte-rendu-v1.xsd."""
    s = summary or cr_summary(j, processing_date, replayed_at)
    root = etree.Element(f"{{{CR_NS}}}compteRendu", nsmap={None: CR_NS})
    root.set("fichier", s.fichier)
    root.set("dateTraitement", processing_date.isoformat())
    root.set("statut", j.statut)
    root.set("enregistrementsRecus", str(s.recus))
    root.set("enregistrementsAcceptes", str(s.acceptes))
    root.set("enregistrementsRejetes", str(s.rejetes))
    if replayed_at is not None:
        root.set("rejoueLe", replayed_at.isoformat(timespec="seconds"))
    _summary_element(root, s)
    for r in anomaly_lines(j) if lines is None else lines:
        a = etree.SubElement(root, f"{{{CR_NS}}}anomalie")
        if r["ligne"] is not None:
            a.set("ligne", str(r["ligne"]))
        if r["nir_masque"]:
            a.set("nirMasque", r["nir_masque"])
        a.set("code", r["code"])
        a.set("gravite", r["gravite"])
        if r["champ"]:
            a.set("champ", r["champ"])
        if r["nom"]:
            a.set("nom", r["nom"])
        if r["prenoms"]:
            a.set("prenoms", r["prenoms"])
        a.text = r["message"]
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return document


def cr_json(j: Judgement, processing_date: date, replayed_at: datetime | None = None) -> str:
    """The compte rendu as one JSON object (for `check --format json`)."""
    s = cr_summary(j, processing_date, replayed_at)
    rows = cr_rows(j, processing_date, replayed_at)
    head = {k: rows[0][k] for k in SPEC_COLUMNS[:6]}
    line_keys = SPEC_COLUMNS[6:] + ("nom", "prenoms")
    anomalies = [{k: r[k] for k in line_keys} for r in rows if r["code"]]
    synthese = {
        "anomalies_bloquantes": s.bloquantes,
        "anomalies_non_bloquantes": s.non_bloquantes,
        "par_code": [{"code": c.code, "gravite": c.gravite, "nombre": c.nombre} for c in s.par_code],
        "texte": s.texte,
        "que_faire": s.que_faire,
    }
    return json.dumps({**head, "synthese": synthese, "anomalies": anomalies}, ensure_ascii=False, indent=2)


def cr_files(
    j: Judgement, processing_date: date, replayed_at: datetime | None = None, guide_url: str = ""
) -> dict[str, bytes]:
    """The three comptes rendus a file is answered with (`CR.csv`, `CR.xml`, `CR.html` → bytes), from one
    summary and one list of anomaly lines; the HTML links each code to `guide_url` when given."""
    lines = anomaly_lines(j)
    s = cr_summary(j, processing_date, replayed_at, lines)
    return {
        "CR.csv": cr_csv(j, processing_date, replayed_at=replayed_at, summary=s, lines=lines),
        "CR.xml": cr_xml(j, processing_date, replayed_at, summary=s, lines=lines),
        "CR.html": cr_html(j, processing_date, replayed_at, summary=s, lines=lines, guide_url=guide_url),
    }


@cache
def cr_schema() -> etree.XMLSchema:
    xsd = resources.files("schemas").joinpath("compte-rendu-v1.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(xsd, etree.XMLParser(resolve_entities=False, no_network=True)))


def cr_text(j: Judgement, processing_date: date, replayed_at: datetime | None = None) -> str:
    """A readable French report (for `check --format text`)."""
    s = cr_summary(j, processing_date, replayed_at)
    lines = [
        f"Fichier : {s.fichier}",
        f"Date de traitement : {processing_date.strftime('%d/%m/%Y')}",
        f"Statut : {j.statut}",
        f"Enregistrements : {records_text(s)}",
        f"Synthèse : {s.texte}",
        f"Que faire : {s.que_faire}",
    ]
    rows = anomaly_lines(j)
    if rows:
        lines.append("Anomalies :")
        for r in rows:
            where = f"ligne {r['ligne']}" if r["ligne"] is not None else "fichier"
            who = " ".join(x for x in (r["nom"], r["prenoms"]) if x)
            who = f" — {who}" if who else ""
            nir = f" — NIR {r['nir_masque']}" if r["nir_masque"] else ""
            lines.append(f"  {r['code']} {r['gravite']} ({where}{who}{nir}) : {r['message']}")
    return "\n".join(lines) + "\n"


__all__ = [
    "CR_COLUMNS",
    "SPEC_COLUMNS",
    "cr_csv",
    "cr_files",
    "cr_html",
    "cr_json",
    "cr_rows",
    "cr_schema",
    "cr_text",
    "cr_xml",
]
