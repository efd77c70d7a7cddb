"""The right-of-access answer (exchange.app.personne's dict) as French text, a standalone HTML page, or JSON."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from jinja2 import Environment

NOT_HELD = "Aucune donnée n'est détenue sur ce NIR."
PURGES_UNKNOWN = (
    "Purges effectuées (le service ne garde aucune trace des personnes dont les données ont été "
    "purgées : ce NIR a pu en faire partie) :"
)


def _day(value: str | None) -> str:
    """An ISO date or datetime as a French day (a datetime in Paris time, with its hour)."""
    if not value:
        return ""
    if "T" in value:
        from exchange.core.clock import french_moment

        return french_moment(datetime.fromisoformat(value))
    return date.fromisoformat(value).strftime("%d/%m/%Y")


LABELS = {
    "received_at": "reçu le",
    "finess_esat": "FINESS",
    "caf_gestionnaire": "Caf gestionnaire",
    "date_entree_esat": "entrée à l'Esat",
    "taux_activite_esat": "taux d'activité (%)",
    "remuneration_garantie_nette": "rémunération garantie nette (€)",
    "part_financee_esat_nette": "part financée par l'Esat (€)",
    "aide_au_poste_nette": "aide au poste (€)",
    "cumul_milieu_ordinaire": "cumul en milieu ordinaire",
    "taux_activite_avant": "taux avant (%)",
    "taux_activite_apres": "taux après (%)",
    "heures_hebdo_mo": "heures par semaine (milieu ordinaire)",
    "salaire_net_mo": "salaire net (milieu ordinaire, €)",
    "nature": "nature de l'émission",
}


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-":
        return _day(value)
    return str(value)


def _purge_line(p: dict[str, Any]) -> str:
    years = ", ".join(map(str, p["annees"])) or "sans année"
    detail = f"{p['elements']} élément(s)"
    if p["enregistrements"] or p["anomalies"]:
        detail += f", {p['enregistrements']} enregistrement(s), {p['anomalies']} anomalie(s)"
    return f"le {_day(p['date'])} : {p['donnees']} — année(s) {years} ({detail})"


WHERE = {
    "stockage": "copie reçue (dossier de stockage)",
    "archive": "copie archive/ de la zone de dépôt",
    "sortie": "fichier pour la Caf (dossier de sortie)",
}


def _held_line(h: dict[str, Any]) -> str:
    """One file on disk that holds the NIR, with what the ledger knows of it."""
    if h["emplacement"] == "sortie":
        known = f"émission {h['emission']}" if h["emission"] else "inconnu de la base"
    else:
        ids = ", ".join(f"n° {i}" for i in h["fichiers"])
        known = f"fichier {ids}" if ids else "inconnu de la base"
    return f"{WHERE[h['emplacement']]} : {h['chemin']} ({known})"


def person_text(report: dict[str, Any]) -> str:
    lines = [f"Données détenues sur le NIR {report['nir']} (demande du {_day(report['date_de_la_demande'])})", ""]
    if not report["donnees_detenues"]:
        lines.append(NOT_HELD)
    recs = report["enregistrements"]
    if recs:
        lines.append(f"Enregistrements acceptés : {len(recs)}")
        for r in recs:
            year = f" {r['annee_reference']}" if r.get("annee_reference") else ""
            lines.append(
                f"  Fichier n° {r['fichier_id']} {r['fichier']}, ligne {r['ligne']} — {r['kind']}{year}"
                f"{' (remplacé par une déclaration plus récente)' if r['superseded'] else ''}"
            )
            if r["nir"]:
                lines.append(
                    f"    Nom : {r['nom']} ; prénoms : {r['prenoms']} ; né(e) le {_day(r['date_naissance'])} ; "
                    f"numéro allocataire : {r['numero_allocataire'] or 'non renseigné'} ; Caf : {r['code_caf']} ; "
                    f"Esat : {r['siret_esat']}"
                )
            details = {
                k: v
                for k, v in r.items()
                if v is not None
                and k
                not in (
                    "fichier_id",
                    "fichier",
                    "ligne",
                    "kind",
                    "annee_reference",
                    "superseded",
                    "nir",
                    "nom",
                    "prenoms",
                    "date_naissance",
                    "numero_allocataire",
                    "code_caf",
                    "siret_esat",
                    "emission",
                )
            }
            if details:
                lines.append(
                    "    "
                    + " ; ".join(f"{LABELS.get(k, k.replace('_', ' '))} : {_shown(v)}" for k, v in details.items())
                )
            lines.append(f"    Émis vers la Caf : {r['emission'] or 'pas encore'}")
    anos = report["anomalies"]
    if anos:
        lines.append(f"Anomalies : {len(anos)}")
        for a in anos:
            lines.append(
                f"  Fichier n° {a['fichier_id']} {a['fichier']}, ligne {a['ligne']} : {a['code']} "
                f"({a['gravite']}) {a['champ'] or ''} — {a['message']}"
            )
            if a["nom"] or a["prenoms"] or a.get("nir"):
                lines.append(
                    f"    Nom : {a['nom'] or 'non renseigné'} ; prénoms : {a['prenoms'] or 'non renseignés'} ; "
                    f"NIR déclaré : {a.get('nir') or 'non renseigné'}"
                )
    if report["fichiers"]:
        lines.append("Fichiers et comptes rendus :")
        for f in report["fichiers"]:
            kept = [f"copie locale {'conservée' if f['copie_locale'] else 'absente'}"]
            if f["archive"]:
                kept.append(f["archive"])
            if f["copies_purgees_le"]:
                kept.append(f"copies purgées le {_day(f['copies_purgees_le'])}")
            if f["comptes_rendus"]:
                kept.append("comptes rendus : " + ", ".join(f["comptes_rendus"]))
            if f["comptes_rendus_purges_le"]:
                kept.append(f"comptes rendus purgés le {_day(f['comptes_rendus_purges_le'])}")
            if f["identite_purgee_le"]:
                kept.append(f"identité purgée le {_day(f['identite_purgee_le'])}")
            lines.append(
                f"  Fichier n° {f['id']} {f['fichier']} (compte {f['compte']}, reçu le "
                f"{_day(f['date_reception'])}) : {f['statut'] or f['etat']} ; " + " ; ".join(kept)
            )
    held = report.get("fichiers_sur_disque") or []
    if held:
        lines.append(f"Fichiers sur le disque du service où figure ce NIR : {len(held)}")
        lines += [f"  {_held_line(h)}" for h in held]
    if report["emissions"]:
        lines.append("Émissions aux Caf :")
        for e in report["emissions"]:
            gone = f" ; fichiers supprimés le {_day(e['fichiers_purges_le'])}" if e["fichiers_purges_le"] else ""
            lines.append(f"  Caf {e['code_caf']} : {e['fichier']} ({e['flux']}) du {_day(e['date'])}{gone}")
    if report["purges"]:
        lines.append(PURGES_UNKNOWN if not report["donnees_detenues"] else "Purges effectuées :")
        lines += [f"  {_purge_line(p)}" for p in report["purges"]]
    return "\n".join(lines) + "\n"


def person_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


_PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Données détenues sur le NIR {{ r.nir }}</title>
<style>body{font-family:Marianne,Arial,sans-serif;margin:2rem}table{border-collapse:collapse;margin-bottom:1.5rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}</style></head>
<body><h1>Données détenues sur le NIR {{ r.nir }}</h1><p>Demande du {{ day(r.date_de_la_demande) }}.</p>
{% if not r.donnees_detenues %}<p><strong>{{ not_held }}</strong></p>{% endif %}
{% if r.enregistrements %}<h2>Enregistrements acceptés ({{ r.enregistrements|length }})</h2>
<table><tr><th>Fichier</th><th>Ligne</th><th>Type</th><th>Année</th><th>Nom</th><th>Prénoms</th><th>Naissance</th>
<th>Allocataire</th><th>Caf</th><th>Esat</th><th>Émis dans</th></tr>
{% for x in r.enregistrements %}<tr><td>n° {{ x.fichier_id }} {{ x.fichier }}</td><td>{{ x.ligne }}</td><td>{{ x.kind }}</td>
<td>{{ x.annee_reference or "" }}</td><td>{{ x.nom }}</td><td>{{ x.prenoms }}</td><td>{{ day(x.date_naissance) }}</td>
<td>{{ x.numero_allocataire or "" }}</td><td>{{ x.code_caf }}</td><td>{{ x.siret_esat }}</td><td>{{ x.emission or "pas encore" }}</td></tr>{% endfor %}
</table>{% endif %}
{% if r.anomalies %}<h2>Anomalies ({{ r.anomalies|length }})</h2><table><tr><th>Fichier</th><th>Ligne</th><th>Code</th>
<th>Gravité</th><th>Champ</th><th>Message</th><th>Nom</th><th>Prénoms</th><th>NIR déclaré</th></tr>
{% for a in r.anomalies %}<tr><td>n° {{ a.fichier_id }} {{ a.fichier }}</td>
<td>{{ a.ligne }}</td><td>{{ a.code }}</td><td>{{ a.gravite }}</td><td>{{ a.champ or "" }}</td><td>{{ a.message }}</td>
<td>{{ a.nom or "" }}</td><td>{{ a.prenoms or "" }}</td><td>{{ a.nir or "" }}</td></tr>{% endfor %}
</table>{% endif %}
{% if r.fichiers_sur_disque %}<h2>Fichiers sur le disque du service où figure ce NIR ({{ r.fichiers_sur_disque|length }})</h2>
<ul>{% for h in r.fichiers_sur_disque %}<li>{{ held_line(h) }}</li>{% endfor %}</ul>{% endif %}
{% if r.fichiers %}<h2>Fichiers et comptes rendus</h2><table><tr><th>Fichier</th><th>Compte</th><th>Reçu le</th><th>Statut</th>
<th>Copies</th><th>Comptes rendus</th><th>Identité purgée le</th></tr>{% for f in r.fichiers %}<tr><td>n° {{ f.id }} {{ f.fichier }}</td>
<td>{{ f.compte }}</td><td>{{ day(f.date_reception) }}</td><td>{{ f.statut or f.etat }}</td>
<td>{% if f.copies_purgees_le %}purgées le {{ day(f.copies_purgees_le) }}{% else %}{{ "copie locale" if f.copie_locale else "" }} {{ f.archive or "" }}{% endif %}</td>
<td>{% if f.comptes_rendus_purges_le %}purgés le {{ day(f.comptes_rendus_purges_le) }}{% else %}{{ f.comptes_rendus|join(", ") }}{% endif %}</td>
<td>{{ day(f.identite_purgee_le) }}</td></tr>{% endfor %}</table>{% endif %}
{% if r.emissions %}<h2>Émissions aux Caf</h2><table><tr><th>Caf</th><th>Fichier</th><th>Flux</th><th>Date</th><th>Fichiers supprimés le</th></tr>
{% for e in r.emissions %}<tr><td>{{ e.code_caf }}</td><td>{{ e.fichier }}</td><td>{{ e.flux }}</td><td>{{ day(e.date) }}</td>
<td>{{ day(e.fichiers_purges_le) }}</td></tr>{% endfor %}</table>{% endif %}
{% if r.purges %}<h2>Purges</h2><p>{{ unknown if not r.donnees_detenues else "Purges effectuées :" }}</p><ul>
{% for p in r.purges %}<li>{{ purge_line(p) }}</li>{% endfor %}</ul>{% endif %}
</body></html>
"""


def person_html(report: dict[str, Any]) -> str:
    env = Environment(autoescape=True)
    return env.from_string(_PAGE).render(
        r=report, day=_day, purge_line=_purge_line, held_line=_held_line, not_held=NOT_HELD, unknown=PURGES_UNKNOWN
    )
