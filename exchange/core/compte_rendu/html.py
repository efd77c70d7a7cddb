"""The compte rendu as one self-contained HTML page (inline CSS, no script, nothing fetched), printable on A4."""

from __future__ import annotations

from datetime import date, datetime
from html import escape

from exchange.core.compte_rendu.summary import BLOCKING, AnomalyLine, Summary, anomaly_lines, cr_summary, records_text
from exchange.core.judge import Judgement
from schemas.fields import plural
from schemas.titles import anchor, title

STYLE = """
@page { size: A4; margin: 10mm 10mm 12mm 10mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 9pt; line-height: 1.3;
       color: #161616; margin: 0 auto; padding: 12px 16px; max-width: 297mm; }
@media print { body { padding: 0; font-size: 8.5pt; line-height: 1.25; } }
h1 { font-size: 14pt; margin: 0 0 2px; color: #000091; }
h2.vue { font-size: 10.5pt; margin: 8px 0 3px; color: #000091; }
tr.titre th { font-size: 9pt; padding: 2px 6px; border-left: 4px solid #000091; background: #f5f5fe; }
tr.titre.NON_BLOQUANTE th { border-left-color: #b34000; background: #fff4f3; }
tbody.code { page-break-inside: auto; }
a { color: #000091; } a.guide { font-weight: normal; font-size: 8pt; margin-left: 6px; }
a.BLOQUANTE { font-weight: bold; } a.NON_BLOQUANTE { color: #b34000; }
@media print { a.guide { display: none; } a { color: inherit; text-decoration: none; } }
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
.ligne { width: 16mm; text-align: right; } .salarie { width: 44mm; } table.lignes .salarie { width: 30mm; }
th.ligne { text-align: right; }
.nir { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; color: #555; }
table.comptes { width: auto; margin-top: 4px; } table.comptes td, table.comptes th { padding: 1px 6px; }
table.comptes td.BLOQUANTE { font-weight: bold; }
.colonnes { font-size: 8pt; color: #555; margin: 6px 0 0; }
footer { margin-top: 8px; font-size: 7.5pt; color: #666; }
"""
SEVERITY = {
    "BLOQUANTE": ("anomalie bloquante", "anomalies bloquantes"),
    "NON_BLOQUANTE": ("anomalie non bloquante", "anomalies non bloquantes"),
}
MOST_LINES_SHOWN = 12  # a group of identical anomalies lists at most this many line numbers


def _summary_html(s: Summary) -> list[str]:
    out = [
        f'<section class="synthese statut-{escape(s.statut)}">',
        f'<p class="statut">Statut : <strong>{escape(s.statut)}</strong></p>',
        f"<p>Traité le {s.date_traitement.strftime('%d/%m/%Y')} — {escape(records_text(s))}.</p>",
        f"<p>{escape(s.texte)}</p>",
        f'<p class="que-faire">Que faire ? {escape(s.que_faire)}</p>',
    ]
    if s.par_code:  # one row: code, then how many (bold when blocking), each linking to its section below
        cells = "".join(
            f'<td class="{escape(c.gravite)}"><a href="#{anchor(c.code)}">{escape(c.code)}</a> : {c.nombre}</td>'
            for c in s.par_code
        )
        out.append(
            f'<table class="comptes"><tbody><tr><th scope="row">Anomalies par code</th>{cells}</tr></tbody></table>'
        )
    out.append("</section>")
    return out


def _who(a: AnomalyLine) -> str:
    who = escape(" ".join(x for x in (a["nom"], a["prenoms"]) if x))
    nir = f' <span class="nir">{escape(a["nir_masque"])}</span>' if a["nir_masque"] else ""
    return who + nir


def _workers_html(lines: list[AnomalyLine]) -> list[str]:
    """Per worker (per line of the file): every anomaly of that line together, each code linking to its
    section of the per-code view."""
    rows: dict[object, list[AnomalyLine]] = {}
    for a in lines:
        rows.setdefault(a["ligne"], []).append(a)
    if len(rows) < 2 and all(k is None for k in rows):
        return []  # only file-level anomalies: the per-code view says it all
    out = [
        '<section class="vue"><h2 class="vue">Par salarié : les anomalies de chaque ligne</h2>',
        '<table class="salaries"><thead><tr><th scope="col" class="ligne">Ligne</th>'
        '<th scope="col" class="salarie">Salarié</th><th scope="col">Anomalies (code, colonne)</th></tr></thead>'
        "<tbody>",
    ]
    for ligne, found in rows.items():
        shown = "fichier" if ligne is None else str(ligne)
        items = []
        for a in found:
            where = f" {escape(a['champ'])}" if a["champ"] else ""
            items.append(
                f'<a class="{escape(a["gravite"])}" href="#{anchor(a["code"])}">{escape(a["code"])}</a>{where}'
            )
        out.append(
            f'<tr><td class="ligne">{escape(shown)}</td><td class="salarie">{_who(found[0])}</td>'
            f"<td>{' · '.join(items)}</td></tr>"
        )
    out.append("</tbody></table></section>")
    return out


def _line_numbers(group: list[AnomalyLine]) -> str:
    numbers = [str(a["ligne"]) for a in group if a["ligne"] is not None]
    if not numbers:
        return "fichier"
    if len(numbers) == 1:
        return numbers[0]
    shown = ", ".join(numbers[:MOST_LINES_SHOWN]) + ("…" if len(numbers) > MOST_LINES_SHOWN else "")
    return f"{len(numbers)} lignes : {shown}"


def _codes_html(lines: list[AnomalyLine], guide_url: str) -> list[str]:
    """Per code (blocking codes first), in one table: the code's title, a link to its section of the Esats'
    guide, and its anomalies, identical ones (same message) grouped on one row (« 9 lignes : 2, 3, … »)."""
    groups: dict[tuple[str, str], list[AnomalyLine]] = {}
    for line in lines:
        groups.setdefault((line["code"], line["gravite"]), []).append(line)
    if not groups:
        return []
    out = [
        '<section class="vue"><h2 class="vue">Par code : ce qui ne va pas et comment le corriger</h2>',
        '<table class="lignes"><thead><tr><th scope="col" class="ligne">Ligne</th>'
        '<th scope="col" class="salarie">Salarié</th><th scope="col">Ce qui ne va pas, et comment le corriger'
        "</th></tr></thead>",
    ]
    for code, gravite in sorted(groups, key=lambda k: (k[1] != BLOCKING, k[0])):
        found = groups[(code, gravite)]
        singular, plural_form = SEVERITY[gravite]
        guide = f' <a class="guide" href="{escape(guide_url)}#{anchor(code)}">voir le guide</a>' if guide_url else ""
        out.append(
            f'<tbody class="code" id="{anchor(code)}"><tr class="titre {escape(gravite)}">'
            f'<th colspan="3" scope="rowgroup">{escape(code)} — {escape(title(code))} · '
            f"{escape(plural(len(found), singular, plural_form))}{guide}</th></tr>"
        )
        same: dict[str, list[AnomalyLine]] = {}
        for a in found:
            same.setdefault(a["message"], []).append(a)
        for message, group in same.items():
            names = list(
                {
                    escape(" ".join(x for x in (a["nom"], a["prenoms"]) if x)): None
                    for a in group
                    if a["nom"] or a["prenoms"]
                }
            )
            who = ", ".join(names[:3]) + ("…" if len(names) > 3 else "")
            out.append(
                f'<tr><td class="ligne">{escape(_line_numbers(group))}</td><td class="salarie">{who}</td>'
                f"<td>{escape(message)}</td></tr>"
            )
        out.append("</tbody>")
    out.append("</table></section>")
    return out


def cr_html(
    j: Judgement,
    processing_date: date,
    replayed_at: datetime | None = None,
    *,
    summary: Summary | None = None,
    lines: list[AnomalyLine] | None = None,
    guide_url: str = "",
    back: tuple[str, str] | None = None,
) -> bytes:
    """`<name>.CR.html`: the summary first, then the anomalies per worker and per code (UTF-8 bytes);
    `summary` and `lines`, when given, are this judgement's cr_summary and anomaly_lines; `guide_url`, when
    known, is the address of the Esats' guide each code links to; `back` (address, label) a link shown first
    (the console's « Vérifier mon fichier » page)."""
    s = summary or cr_summary(j, processing_date, replayed_at)
    found = anomaly_lines(j) if lines is None else lines
    body = [
        *([f'<p class="retour"><a href="{escape(back[0])}">{escape(back[1])}</a></p>'] if back else []),
        "<h1>Compte rendu de votre dépôt</h1>",
        f'<p class="fichier">{escape(j.name)}</p>',
        *_summary_html(s),
        *_workers_html(found),
        *_codes_html(found, guide_url),
        "<footer>Compte rendu du service Esat de la Caf. Le NIR est masqué ; les lignes sont celles de "
        + (
            "votre fichier.</footer>"  # refused as a whole: where the header is may be what the refusal is about
            if j.file_code
            else f"votre fichier (la ligne d'en-tête est la ligne {j.header_line}).</footer>"
        ),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
        f"<title>Compte rendu — {escape(j.name)}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    return page.encode("utf-8")
