"""Health (`status`, the dashboard, /sante): the verdict from what the store and the drop area say, and its text.

Pure: counts and rows in, reasons (French) and text or JSON out. Read by exchange.app.status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from exchange.core.clock import PARIS
from exchange.core.vocabulary import ECHEC, LEADER
from schemas.fields import plural

NIGHTLY_MAX_AGE = timedelta(hours=26)
COLLECT_FAILURES_ALERT = 3  # collects failed in a row before an alert (a collect every 15 min: 45 min without one)
STUCK_AFTER = timedelta(hours=24)
REJECTIONS_WINDOW = timedelta(hours=24)


ALERTE, A_TRAITER = "ALERTE", "À TRAITER"


# Who acts on a failure (every alert, page and compte rendu names one of them)
ESAT, CAF, CNA, NATIONAL, ADMIN = "l'Esat", "la Caf", "la CNA", "l'équipe nationale", "l'administrateur du service"


@dataclass(frozen=True)
class Reason:
    """One thing an operator must act on: what (French), the command-line hint (with its separator), where the
    console shows it (a path with its query, and the link's text), its `code` and `count` (all that /sante
    publishes: no free text there), and who acts (`who`, one of ESAT, CAF, CNA, NATIONAL, ADMIN)."""

    text: str
    hint: str = ""
    link: str | None = None
    label: str | None = None
    code: str = "AUTRE"
    count: int = 1
    who: str = ADMIN

    @property
    def line(self) -> str:
        """As `status` prints it: what, then the command to type."""
        return self.text + self.hint


@dataclass
class Health:
    """What `status` reports. `alerts`: the service is failing (ALERTE); `todo`: the service works but the Caf
    must act (À TRAITER: files rejected for its own habilitation data). Both empty: OK. `warnings`: what an
    operator must not forget but that changes no verdict (a scheduled job paused on purpose)."""

    checked_at: datetime
    alerts: list[Reason] = field(default_factory=list)
    todo: list[Reason] = field(default_factory=list)
    warnings: list[Reason] = field(default_factory=list)
    last_runs: dict[str, dict | None] = field(default_factory=dict)
    depot: dict[str, int] | None = None  # files waiting per account; None when the source is unreachable
    waiting: list[dict] = field(default_factory=list)  # every file waiting in a depot/, oldest first
    source_error: str | None = None
    refused: list[dict[str, Any]] = field(default_factory=list)  # names in a depot/ never collected (links, folders…)
    depot_listed_at: datetime | None = None  # when the listing shown was made (the console's background lister)
    depot_unreachable_since: datetime | None = None
    states: dict[str, int] = field(default_factory=dict)
    stuck: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    rejected_by_code: dict[str, int] = field(default_factory=dict)
    nodes: list[dict] = field(default_factory=list)  # scheduler nodes, leader first (exchange.store.nodes)
    # the purge's side (exchange.store.purge): files the ledger does not know, per kind (copies, outputs), as
    # last counted; files whose identity was purged but whose physical erasure (VACUUM…) is not confirmed
    unknown_files: dict[str, int] = field(default_factory=dict)
    unknown_checked_at: datetime | None = None
    erasure_pending: int = 0

    @property
    def healthy(self) -> bool:
        """Nothing failing (a Caf action item alone keeps the service healthy for monitoring)."""
        return not self.alerts

    @property
    def state(self) -> str:
        return ALERTE if self.alerts else A_TRAITER if self.todo else "OK"

    @property
    def reasons(self) -> list[str]:
        """Every alert, every Caf action item, then every warning, as the command line writes them."""
        return [r.line for r in (*self.alerts, *self.todo, *self.warnings)]


def _stamp(value: datetime) -> str:
    """Dates shown to operators are in Europe/Paris (domain.md)."""
    return value.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")


def nightly_reasons(last: dict | None, now: datetime) -> list[Reason]:
    """Last nightly that really ran (OK/ECHEC): none at all, failed, or older than 26 h."""
    if last is None:
        return [
            Reason(
                "aucun traitement de nuit n'a encore eu lieu : les fichiers des Caf ne sont pas produits "
                "(le planificateur tourne-t-il ?)",
                link="/executions?job=nightly",
                label="Voir les exécutions du traitement de nuit",
                code="TRAITEMENT_DE_NUIT_ABSENT",
            )
        ]
    reasons = []
    if last["statut"] == ECHEC:
        reasons.append(
            Reason(
                f"le dernier traitement de nuit (exécution n° {last['id']}, {_stamp(last['debut'])}) a échoué : "
                f"{last['erreur'] or 'cause non enregistrée'}",
                link=f"/executions/{last['id']}",
                label=f"Voir l'exécution n° {last['id']}",
                code="TRAITEMENT_DE_NUIT_EN_ECHEC",
            )
        )
    if last["debut"] < now - NIGHTLY_MAX_AGE:
        hours = int((now - last["debut"]).total_seconds() // 3600)
        reasons.append(
            Reason(
                f"le dernier traitement de nuit (exécution n° {last['id']}) date de {hours} h (plus de 26 h)",
                link="/executions?job=nightly",
                label="Voir les exécutions du traitement de nuit",
                code="TRAITEMENT_DE_NUIT_ANCIEN",
            )
        )
    return reasons


def stuck_limit(now: datetime, last_cycle: dict | None) -> datetime:
    """Unfinished files whose last step is older than this are stuck: a cycle that started after it did not
    finish them (every cycle resumes them first), or they have not moved for 24 h."""
    limit = now - STUCK_AFTER
    return max(limit, last_cycle["debut"]) if last_cycle is not None else limit


def stuck_by(stuck: list[dict], last_cycle: dict | None) -> dict | None:
    """The cycle that left these files unfinished, when one started after their last step."""
    if last_cycle is not None and stuck and any(s["depuis"] < last_cycle["debut"] for s in stuck):
        return last_cycle
    return None


def _ids(items: list[dict]) -> str:
    return ", ".join(str(i["id"]) for i in items[:10]) + ("…" if len(items) > 10 else "")


def verdict(
    health: Health, extract_imported: bool, by_run: dict | None, habilitation_rejections: dict[str, int] | None = None
) -> None:
    """Add what an operator must act on (after the nightly's own reasons): alerts, and the Caf's action items
    (`habilitation_rejections`: files still rejected for an `H` code, by code)."""
    if not extract_imported:
        health.alerts.append(
            Reason(
                "aucun extrait Habpps importé : chaque fichier reçu est rejeté (H05)",
                " ; importez-le avec « esat-exchange habilitations import »",
                "/habilitations",
                "Importer un extrait Habpps",
                code="EXTRAIT_HABPPS_ABSENT",
                who=NATIONAL,
            )
        )
    if health.quarantined:
        n = len(health.quarantined)
        health.alerts.append(
            Reason(
                f"{plural(n, 'fichier', 'fichiers')} en quarantaine (n° {_ids(health.quarantined)}) : le service "
                f"n'a pas pu {agree(n, 'le', 'les')} juger ; l'administrateur du service corrige le défaut, puis "
                f"{agree(n, 'le', 'les')} rejoue",
                " : voir « files show », puis « files replay » une fois le défaut corrigé",
                "/fichiers?etat=QUARANTAINE",
                "Voir les fichiers en quarantaine",
                code="QUARANTAINE",
                count=n,
            )
        )
    n = len(health.stuck)
    if health.stuck and by_run is not None:
        health.alerts.append(
            Reason(
                f"{plural(n, 'fichier', 'fichiers')} {agree(n, 'bloqué', 'bloqués')} en cours "
                f"de traitement (n° {_ids(health.stuck)}) : l'exécution n° {by_run['id']} du "
                f"{_stamp(by_run['debut'])} ne les a pas terminés ; la prochaine exécution les reprend, sinon "
                "l'administrateur du service lit le journal de cette exécution",
                link=f"/executions/{by_run['id']}",
                label=f"Voir l'exécution n° {by_run['id']}",
                code="FICHIERS_BLOQUES",
                count=n,
            )
        )
    elif health.stuck:
        health.alerts.append(
            Reason(
                f"{plural(n, 'fichier', 'fichiers')} {agree(n, 'bloqué', 'bloqués')} depuis "
                f"plus de 24 h (n° {_ids(health.stuck)}) : le planificateur tourne-t-il ? L'administrateur du "
                "service vérifie qu'une collecte a lieu",
                link="/executions",
                label="Voir les exécutions",
                code="FICHIERS_BLOQUES",
                count=n,
            )
        )
    if habilitation_rejections:
        n = sum(habilitation_rejections.values())
        codes = ", ".join(f"{c} × {k}" for c, k in habilitation_rejections.items())
        health.todo.append(
            Reason(
                f"{plural(n, 'fichier', 'fichiers')} {agree(n, 'rejeté', 'rejetés')} pour une erreur d'habilitation "
                f"({codes}), sans fichier accepté depuis : la Caf corrige ses données dans Habpps, puis on importe "
                "l'extrait corrigé et on rejoue les fichiers",
                " (« habilitations import », puis « files replay »)",
                "/fichiers?statut=REJETE&code=H",
                "Voir les fichiers rejetés pour une habilitation",
                code="HABILITATIONS_A_CORRIGER",
                count=n,
                who=CAF,
            )
        )


def pause_reasons(paused: dict[str, dict]) -> list[Reason]:
    """One warning per scheduled job an operator paused (exchange.store.pauses rows): the scheduler skips its
    slots until it is resumed."""
    from exchange.core.vocabulary import JOB_LABELS

    return [
        Reason(
            f"tâche {JOB_LABELS.get(job, job)} suspendue par {row['paused_by']} depuis le "
            f"{_stamp(row['paused_at'])}"
            + (f" (motif : {row['reason']})" if row.get("reason") else "")
            + " : ses créneaux planifiés sont sautés",
            f" ; reprenez-la avec « esat-exchange scheduler resume {job} »",
            "/#taches",
            "Voir les tâches planifiées",
            code="TACHE_SUSPENDUE",
        )
        for job, row in paused.items()
    ]


def collect_failures_reason(failed: list[dict[str, Any]], now: datetime) -> list[Reason]:
    """An alert once the last COLLECT_FAILURES_ALERT collects in a row failed (`failed`: those consecutive failed
    runs, newest first, each with id, debut, erreur): the drop area is read by no one meanwhile."""
    if len(failed) < COLLECT_FAILURES_ALERT:
        return []
    first, last = failed[-1], failed[0]
    return [
        Reason(
            f"les {len(failed)} dernières collectes ont échoué (depuis le {_stamp(first['debut'])}, dernière : "
            f"exécution n° {last['id']} : {last['erreur'] or 'cause non enregistrée'}) : aucun fichier n'est "
            "collecté ; l'administrateur du service rétablit l'accès à la zone de dépôt, les fichiers déposés "
            "attendent sans perte",
            link=f"/executions/{last['id']}",
            label=f"Voir l'exécution n° {last['id']}",
            code="COLLECTES_EN_ECHEC",
            count=len(failed),
        )
    ]


def depot_reason(unreachable_since: datetime | None, error: str | None, now: datetime) -> list[Reason]:
    """The drop area did not answer its last listing (or has not answered for a while): who acts, what next."""
    if unreachable_since is None:
        return []
    return [
        Reason(
            f"zone de dépôt injoignable depuis {since_hour(unreachable_since, now)} : {error or 'aucune réponse'} ; "
            "l'administrateur du service vérifie le serveur SFTP, le réseau et les clés ; les fichiers déposés "
            "attendent sans perte et seront collectés dès son retour",
            code="ZONE_DE_DEPOT_INJOIGNABLE",
        )
    ]


def since_hour(value: datetime, now: datetime) -> str:
    """« 08:12 » (Paris) when `value` is today, else « le 06/12/2026 à 23:40 »."""
    at, today = value.astimezone(PARIS), now.astimezone(PARIS)
    return at.strftime("%H:%M") if at.date() == today.date() else at.strftime("le %d/%m/%Y à %H:%M")


UNKNOWN_KINDS = {
    "copies": ("copie reçue (dossier de stockage)", "copies reçues (dossier de stockage)"),
    "outputs": ("fichier pour les Caf (dossier de sortie)", "fichiers pour les Caf (dossier de sortie)"),
}


def unknown_files_text(unknown: dict[str, int]) -> str | None:
    """« N fichiers inconnus de la base … » (cli.md v1.3), or None when there is none."""
    total = sum(unknown.values())
    if not total:
        return None
    detail = ", ".join(plural(n, *UNKNOWN_KINDS[k]) for k, n in unknown.items() if n and k in UNKNOWN_KINDS)
    return (
        f"{plural(total, 'fichier inconnu de la base', 'fichiers inconnus de la base')} ({detail}) : "
        "conservés, jamais supprimés par la purge ni par un cycle ; après une restauration, voir "
        "docs/operations.md (§ 5b, « Fichiers inconnus de la base »)"
    )


def purge_reasons(h: Health) -> list[Reason]:
    """Warnings from the purge's side: files the ledger does not know, a physical erasure not yet finished."""
    reasons = []
    unknown = unknown_files_text(h.unknown_files)
    if unknown:
        reasons.append(Reason(unknown, code="FICHIERS_INCONNUS_DE_LA_BASE", count=sum(h.unknown_files.values())))
    if h.erasure_pending:
        n = h.erasure_pending
        reasons.append(
            Reason(
                f"purge inachevée : l'identité de {plural(n, 'fichier', 'fichiers')} est effacée du registre, mais "
                "l'effacement physique de la base (compactage, journal WAL) n'est pas terminé",
                " ; relancez « esat-exchange purge » (sans lecteur ouvert sur la base)",
                code="PURGE_INACHEVEE",
                count=n,
            )
        )
    return reasons


def agree(n: int, singular: str, plural_form: str) -> str:
    """A word agreed with `n` (French: 0 and 1 take the singular)."""
    return singular if abs(n) < 2 else plural_form


SHOWN = 10  # lines per list in the summary; --all shows every one


def _capped(lines: list[str], show_all: bool) -> list[str]:
    """The first SHOWN lines (the oldest), then how many more; every line with show_all."""
    if show_all or len(lines) <= SHOWN:
        return lines
    return lines[:SHOWN] + [f"  … et {len(lines) - SHOWN} autre(s) (--all pour tout afficher)"]


def health_text(h: Health, show_all: bool = False, next_runs: list[dict] | None = None) -> str:
    """French report; first line « ÉTAT : OK », « ÉTAT : À TRAITER » or « ÉTAT : ALERTE », then one reason per line, then a
    summary that fits a screen: counts, the 10 accounts with most files waiting, the 10 oldest waiting and
    the 10 oldest stuck files (`show_all` for every one), the next scheduled runs."""
    lines = [f"ÉTAT : {h.state}"]
    lines += [f"- {r}" for r in h.reasons]
    lines += ["", "Dernières exécutions (heure de Paris) :"]
    for job, run in h.last_runs.items():
        if run is None:
            lines.append(f"  {job:<9} aucune")
        else:
            end = _stamp(run["fin"]) if run["fin"] else "en cours"
            lines.append(f"  {job:<9} n° {run['id']} : {run['statut']}, début {_stamp(run['debut'])}, fin {end}")
    if next_runs is not None:
        lines.append(
            "Prochaines exécutions planifiées : "
            + (
                ", ".join(
                    f"{n['tache']} le {_stamp(n['prochaine'])}" if n["prochaine"] else f"{n['tache']} en pause"
                    for n in next_runs
                )
                or "aucune (le planificateur n'a jamais démarré sur cette base)"
            )
        )
    if h.depot is None:
        lines.append(
            "Fichiers en attente dans depot/ : inconnu (zone de dépôt injoignable)"
            if h.source_error
            else "Fichiers en attente dans depot/ : non vérifié"
        )
    else:
        busy = sorted(((n, a) for a, n in h.depot.items() if n), key=lambda x: (-x[0], x[1]))
        lines.append(
            f"Fichiers en attente dans depot/ : {sum(h.depot.values())}"
            + (f" ({len(busy)} compte(s) sur {len(h.depot)})" if busy else "")
        )
        shown = busy if show_all else busy[:SHOWN]
        lines += [f"  {account} : {n}" for n, account in shown]
        if len(busy) > len(shown):
            lines.append(f"  … et {len(busy) - len(shown)} autre(s) compte(s) (--all pour tout afficher)")
        if h.waiting:
            lines.append("Fichiers en attente les plus anciens (déposés le, heure de Paris) :")
            lines += _capped([f"  {w['compte']}/{w['fichier']} : {_stamp(w['depuis'])}" for w in h.waiting], show_all)
    lines.append("Fichiers par état : " + (", ".join(f"{s} {n}" for s, n in h.states.items()) or "aucun fichier"))
    lines.append(f"Fichiers bloqués en cours de traitement : {len(h.stuck)}")
    lines += _capped(
        [
            f"  n° {s['id']} {s['compte']}/{s['fichier']} : {s['etat']} depuis le {_stamp(s['depuis'])}"
            for s in sorted(h.stuck, key=lambda s: s["depuis"])
        ],
        show_all,
    )
    lines.append(f"Fichiers en quarantaine : {len(h.quarantined)}")
    lines += _capped(
        [
            f"  n° {s['id']} {s['compte']}/{s['fichier']} depuis le {_stamp(s['depuis'])} : {s['erreur'] or ''}"
            for s in sorted(h.quarantined, key=lambda s: s["depuis"])
        ],
        show_all,
    )
    lines.append(
        "Fichiers rejetés ces dernières 24 h, par code : "
        + (", ".join(f"{c} × {n}" for c, n in h.rejected_by_code.items()) or "aucun")
    )
    lines.append(f"Fichiers inconnus de la base : {sum(h.unknown_files.values())}")
    lines.append(f"Fichiers dont l'effacement physique n'est pas terminé : {h.erasure_pending}")
    lines += _nodes_text(h)
    return "\n".join(lines) + "\n"


def _nodes_text(h: Health) -> list[str]:
    """The scheduler nodes: who leads since when, each standby's last heartbeat (seconds ago)."""
    if not h.nodes:
        return ["Planificateur : aucun nœud enregistré"]
    lines = ["Planificateur (heure de Paris) :"]
    for n in h.nodes:
        ago = int((h.checked_at - n["dernier_signe_de_vie"]).total_seconds())
        beat = f"dernier signe de vie {_stamp_s(n['dernier_signe_de_vie'])} (il y a {ago} s)"
        if n["role"] == LEADER:
            lines.append(f"  meneur     {n['machine']} (pid {n['pid']}) depuis le {_stamp_s(n['depuis'])}, {beat}")
        else:
            lines.append(f"  en attente {n['machine']} (pid {n['pid']}), {beat}")
    return lines


def _stamp_s(value: datetime) -> str:
    return value.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S")


def health_json(h: Health) -> dict:
    """The same content as one JSON-ready object (French keys, like the other listings)."""
    return {
        "etat": h.state,
        "raisons": h.reasons,
        "verifie_le": h.checked_at,
        "dernieres_executions": h.last_runs,
        "depot": h.depot,
        "fichiers_en_attente": h.waiting,
        "source_injoignable": h.source_error,
        "fichiers_par_etat": h.states,
        "fichiers_bloques": h.stuck,
        "fichiers_en_quarantaine": h.quarantined,
        "rejets_24h_par_code": h.rejected_by_code,
        "planificateur": h.nodes,
        "purge": purge_counts(h),
    }


def purge_counts(h: Health) -> dict[str, Any]:
    """The purge's side, as counts (status --format json, /sante): files the ledger does not know per kind,
    files whose physical erasure is not complete."""
    return {"fichiers_inconnus_de_la_base": h.unknown_files, "effacement_non_termine": h.erasure_pending}


__all__ = [
    "Health",
    "Reason",
    "health_text",
    "health_json",
    "pause_reasons",
    "purge_counts",
    "purge_reasons",
    "unknown_files_text",
    "verdict",
]
