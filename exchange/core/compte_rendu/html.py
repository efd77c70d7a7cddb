"""The compte rendu as one self-contained HTML page (inline CSS, no script, nothing fetched), printable on A4."""
from __future__ import annotations

from datetime import date, datetime
from html import escape

from exchange.core.compte_rendu.summary import BLOCKING, Summary, anomaly_lines, cr_summary, records_text
from exchange.core.judge import Judgement
from schemas.fields import plural

STYLE = """
@page { size: A4; margin: 12mm 12mm 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 9pt; line-height: 1.3;
       color: #161616; margin: 0; padding: 12px; max-width: 190mm; }
@media print { body { padding: 0; } }
h1 { font-size: 14pt; margin: 0 0 2px; color: #000091; }
h2 { font-size: 10pt; margin: 7px 0 2px; padding: 2px 6px; border-left: 4px solid #000091; background: #f5f5fe; }
h2.NON_BLOQUANTE { border-left-color: #b34000; background: #fff4f3; }
p { margin: 2px 0; }
.fichier { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; overflow-wrap: anywhere; }
.synthese { border: 1px solid #ddd; padding: 6px 8px; margin: 6px 0; page-break-inside: avoid; }
.statut { font-size: 11pt; }
.statut strong { padding: 0 6px; border-radius: 3px; color: #fff; background: #000091; }
.statut-ACCEPTE strong { background: #18753c; } .statut-PARTIEL strong { background: #b34000; }
.statut-REJETE strong { background: #ce0500; } .statut-DOUBLON strong { background: #666; }
.que-faire { margin-top: 4px; padding: 4px 6px; background: #e8edff; font-weight: bold; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: 2px 4px; vertical-align: top; text-align: left; }
th { background: #eee; font-weight: bold; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; }
td.ligne { width: 11mm; text-align: right; } td.salarie { width: 42mm; }
.nir { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; color: #555; }
table.comptes { width: auto; margin-top: 4px; } table.comptes td, table.comptes th { padding: 1px 6px; }
table.comptes td.BLOQUANTE { font-weight: bold; }
.colonnes { font-size: 8pt; color: #555; margin: 6px 0 0; }
footer { margin-top: 8px; font-size: 7.5pt; color: #666; }
"""
SEVERITY = {"BLOQUANTE": ("anomalie bloquante", "anomalies bloquantes"),
            "NON_BLOQUANTE": ("anomalie non bloquante", "anomalies non bloquantes")}


def _summary_html(s: Summary) -> list[str]:
    out = [f'<section class="synthese statut-{escape(s.statut)}">',
           f'<p class="statut">Statut : <strong>{escape(s.statut)}</strong></p>',
           f"<p>Traité le {s.date_traitement.strftime('%d/%m/%Y')} — {escape(records_text(s))}.</p>",
           f"<p>{escape(s.texte)}</p>",
           f'<p class="que-faire">Que faire ? {escape(s.que_faire)}</p>']
    if s.par_code:  # one row: code, then how many (bold when blocking)
        cells = "".join(f'<td class="{escape(c.gravite)}">{escape(c.code)} : {c.nombre}</td>' for c in s.par_code)
        out.append(f'<table class="comptes"><tbody><tr><th>Anomalies par code</th>{cells}</tr></tbody></table>')
    out.append("</section>")
    return out


def _groups_html(lines: list[dict]) -> list[str]:
    """Anomalies grouped by code (blocking codes first), each group listing its lines."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for line in lines:
        groups.setdefault((line["code"], line["gravite"]), []).append(line)
    out: list[str] = []
    if groups:
        out.append('<p class="colonnes">Anomalies regroupées par code ; pour chacune : la ligne du fichier, le '
                   "salarié (NIR masqué), ce qui ne va pas et comment le corriger.</p>")
    for code, gravite in sorted(groups, key=lambda k: (k[1] != BLOCKING, k[0])):
        lines = groups[(code, gravite)]
        singular, plural_form = SEVERITY[gravite]
        out.append(f'<section class="code"><h2 class="{escape(gravite)}">{escape(code)} — '
                   f"{escape(plural(len(lines), singular, plural_form))}</h2>")
        out.append('<table class="lignes"><tbody>')
        for a in lines:
            ligne = "fichier" if a["ligne"] is None else str(a["ligne"])
            who = escape(" ".join(x for x in (a["nom"], a["prenoms"]) if x))
            nir = f'<br><span class="nir">{escape(a["nir_masque"])}</span>' if a["nir_masque"] else ""
            out.append(f'<tr><td class="ligne">{escape(ligne)}</td><td class="salarie">{who}{nir}</td>'
                       f"<td>{escape(a['message'])}</td></tr>")
        out.append("</tbody></table></section>")
    return out


def cr_html(j: Judgement, processing_date: date, replayed_at: datetime | None = None, *,
            summary: Summary | None = None, lines: list[dict] | None = None) -> bytes:
    """`<name>.CR.html`: the summary first, then the anomalies grouped by code (UTF-8 bytes); `summary` and
    `lines`, when given, are this judgement's cr_summary and anomaly_lines."""
    s = summary or cr_summary(j, processing_date, replayed_at)
    body = ["<h1>Compte rendu de votre dépôt</h1>", f'<p class="fichier">{escape(j.name)}</p>',
            *_summary_html(s), *_groups_html(anomaly_lines(j) if lines is None else lines),
            "<footer>Compte rendu du service Esat de la Caf. Le NIR est masqué ; les lignes sont celles de "
            "votre fichier (la ligne d'en-tête est la ligne 1).</footer>"]
    page = ("<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
            f"<title>Compte rendu — {escape(j.name)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    return page.encode("utf-8")
