"""Health for monitoring (`status`): last runs, files waiting, stuck and rejected; OK or ALERTE with reasons."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from exchange.store.tables import anomalies, files, hab_imports, runs
from exchange.store.ledger import QUARANTAINE, UNFINISHED_STATES, as_utc, utcnow
from exchange.store.nodes import LEADER, list_nodes
from exchange.core.safe_text import safe_text
from exchange.edges.transport.base import Refused, Transport, TransportError

PARIS = ZoneInfo("Europe/Paris")
JOBS = ("run", "collect", "nightly", "campaign")
CYCLE_JOBS = ("run", "collect", "nightly", "replay")  # each resumes every unfinished file before collecting
NIGHTLY_MAX_AGE = timedelta(hours=26)
STUCK_AFTER = timedelta(hours=24)
REJECTIONS_WINDOW = timedelta(hours=24)


@dataclass
class Health:
    """What `status` reports; `reasons` (French) is empty when healthy."""

    checked_at: datetime
    reasons: list[str] = field(default_factory=list)
    last_runs: dict[str, dict | None] = field(default_factory=dict)
    depot: dict[str, int] | None = None  # files waiting per account; None when the source is unreachable
    waiting: list[dict] = field(default_factory=list)  # every file waiting in a depot/, oldest first
    source_error: str | None = None
    states: dict[str, int] = field(default_factory=dict)
    stuck: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    rejected_by_code: dict[str, int] = field(default_factory=dict)
    nodes: list[dict] = field(default_factory=list)  # scheduler nodes, leader first (exchange.store.nodes)

    @property
    def healthy(self) -> bool:
        return not self.reasons


def _run_view(row) -> dict:  # noqa: ANN001 - a result mapping
    return {"id": row["id"], "job": row["job"], "debut": as_utc(row["started_at"]),
            "fin": as_utc(row["ended_at"]), "statut": row["status"], "erreur": row["error"]}


def _last_run(conn, job: str, finished_only: bool = False) -> dict | None:  # noqa: ANN001
    q = select(runs).where(runs.c.job == job)
    if finished_only:
        q = q.where(runs.c.status.in_(("OK", "ECHEC")))
    row = conn.execute(q.order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1)).mappings().first()
    return _run_view(row) if row else None


def _stamp(value: datetime) -> str:
    """Dates shown to operators are in Europe/Paris (domain.md)."""
    return value.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")


def _nightly_reasons(conn, now: datetime) -> list[str]:  # noqa: ANN001
    """Last nightly that really ran (OK/ECHEC): none at all, failed, or older than 26 h."""
    last = _last_run(conn, "nightly", finished_only=True)
    if last is None:
        return ["aucune exécution nightly n'a encore eu lieu : les fichiers des Caf ne sont pas produits "
                "(le planificateur tourne-t-il ?)"]
    reasons = []
    if last["statut"] == "ECHEC":
        reasons.append(f"la dernière exécution nightly (n° {last['id']}, {_stamp(last['debut'])}) a échoué : "
                       f"{last['erreur'] or 'erreur inconnue'}")
    if last["debut"] < now - NIGHTLY_MAX_AGE:
        hours = int((now - last["debut"]).total_seconds() // 3600)
        reasons.append(f"la dernière exécution nightly (n° {last['id']}) date de {hours} h (plus de 26 h)")
    return reasons


def _file_view(r) -> dict:  # noqa: ANN001 - a result mapping
    return {"id": r["id"], "fichier": r["name"], "compte": r["account"], "etat": r["state"],
            "depuis": as_utc(r["state_changed_at"]), "erreur": r["error"]}


def _stuck(conn, now: datetime) -> tuple[list[dict], dict | None]:  # noqa: ANN001
    """Unfinished files that a cycle which started after their last step did not finish (every cycle
    resumes them first), or that have not moved for 24 h; and that cycle."""
    last = conn.execute(select(runs).where(and_(runs.c.job.in_(CYCLE_JOBS), runs.c.status.in_(("OK", "ECHEC"))))
                        .order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1)).mappings().first()
    limit = now - STUCK_AFTER
    if last is not None:
        limit = max(limit, as_utc(last["started_at"]))
    rows = conn.execute(select(files).where(and_(files.c.state.in_(UNFINISHED_STATES),
                                                 files.c.state_changed_at < limit)).order_by(files.c.id)).mappings()
    stuck = [_file_view(r) for r in rows]
    return stuck, (_run_view(last) if last is not None and stuck and
                   any(s["depuis"] < as_utc(last["started_at"]) for s in stuck) else None)


def _ids(items: list[dict]) -> str:
    return ", ".join(str(i["id"]) for i in items[:10]) + ("…" if len(items) > 10 else "")


def _depot(transport: Transport) -> tuple[dict[str, int], list[dict]]:
    """Names waiting in each account's depot/, and every waiting file (account, name, since), oldest first."""
    counts: dict[str, int] = {}
    waiting: list[dict] = []
    with transport as t:
        snapshot = getattr(t, "depot_snapshot", None)  # every account in one pass, where the transport can
        listed = snapshot() if snapshot is not None else _depot_one_by_one(t)
    for account, entries in listed.items():
        if entries is None:  # a depot/ that cannot be read is reported by the run; here it counts nothing
            counts[account] = 0
            continue
        counts[account] = len(entries)
        waiting += [{"compte": account, "fichier": safe_text(e.name),
                     "depuis": datetime.fromtimestamp(e.mtime, timezone.utc)} for e in entries]
    return counts, sorted(waiting, key=lambda w: (w["depuis"], w["compte"], w["fichier"]))


def _depot_one_by_one(t: Transport) -> dict[str, list | None]:
    """Each account's depot/ entries through list_depot (None where it is refused)."""
    listed: dict[str, list | None] = {}
    for account in t.accounts():
        try:
            listing = t.list_depot(account, 0.0, 0)
        except Refused:
            listed[account] = None
            continue
        listed[account] = [*listing.ready, *listing.waiting, *(e for e, _ in listing.refused)]
    return listed


def _rejections(conn, since: datetime) -> dict[str, int]:  # noqa: ANN001
    """REJETE files processed since `since`, by file-level code, else by their blocking record codes."""
    rejected = conn.execute(select(files.c.id, files.c.code).where(and_(
        files.c.statut == "REJETE", files.c.processed_at >= since))).all()
    counts: Counter = Counter()
    without_code = [fid for fid, code in rejected if not code]
    counts.update(code for _fid, code in rejected if code)
    if without_code:
        pairs = conn.execute(select(anomalies.c.file_id, anomalies.c.code).distinct().where(and_(
            anomalies.c.file_id.in_(without_code), anomalies.c.gravite == "BLOQUANTE"))).all()
        counts.update(code for _fid, code in pairs)
    return dict(sorted(counts.items()))


def check_health(engine: Engine, transport: Transport | None, now: datetime | None = None) -> Health:
    """The health of the service; `transport` is an unopened drop-area transport (None: not checked)."""
    now = now or utcnow()
    health = Health(checked_at=now)
    with engine.connect() as conn:
        health.last_runs = {job: _last_run(conn, job) for job in JOBS}
        health.reasons += _nightly_reasons(conn, now)
        health.states = {state: n for state, n in conn.execute(
            select(files.c.state, func.count()).group_by(files.c.state).order_by(files.c.state)).all()}
        health.stuck, by_run = _stuck(conn, now)
        health.quarantined = [_file_view(r) for r in conn.execute(
            select(files).where(files.c.state == QUARANTAINE).order_by(files.c.id)).mappings()]
        health.rejected_by_code = _rejections(conn, now - REJECTIONS_WINDOW)
        health.nodes = [{"machine": n["host"], "pid": n["pid"], "role": n["role"], "depuis": n["role_since"],
                         "dernier_signe_de_vie": n["heartbeat_at"]} for n in list_nodes(conn)]
        extract = conn.execute(select(hab_imports.c.id).limit(1)).first()
    if extract is None:
        health.reasons.append("aucun extrait Habpps importé : chaque fichier reçu est rejeté (H05) ; importez-le "
                              "avec « esat-exchange habilitations import »")
    if health.quarantined:
        health.reasons.append(f"{len(health.quarantined)} fichier(s) en quarantaine (n° {_ids(health.quarantined)}) : "
                              "voir « files show », puis « files replay » une fois le défaut corrigé")
    if health.stuck and by_run is not None:
        health.reasons.append(f"{len(health.stuck)} fichier(s) bloqué(s) en cours de traitement "
                              f"(n° {_ids(health.stuck)}) : l'exécution n° {by_run['id']} du "
                              f"{_stamp(by_run['debut'])} ne les a pas terminés")
    elif health.stuck:
        health.reasons.append(f"{len(health.stuck)} fichier(s) bloqué(s) depuis plus de 24 h (n° {_ids(health.stuck)})")
    if transport is not None:
        try:
            health.depot, health.waiting = _depot(transport)
        except (TransportError, OSError) as e:
            health.source_error = str(e) or e.__class__.__name__
            health.reasons.append(f"zone de dépôt injoignable : {health.source_error}")
    return health


SHOWN = 10  # lines per list in the summary; --all shows every one


def _capped(lines: list[str], show_all: bool) -> list[str]:
    """The first SHOWN lines (the oldest), then how many more; every line with show_all."""
    if show_all or len(lines) <= SHOWN:
        return lines
    return lines[:SHOWN] + [f"  … et {len(lines) - SHOWN} autre(s) (--all pour tout afficher)"]


def health_text(h: Health, show_all: bool = False, next_runs: list[dict] | None = None) -> str:
    """French report; first line « ÉTAT : OK » or « ÉTAT : ALERTE », then one reason per line, then a
    summary that fits a screen: counts, the 10 accounts with most files waiting, the 10 oldest waiting and
    the 10 oldest stuck files (`show_all` for every one), the next scheduled runs."""
    lines = ["ÉTAT : OK" if h.healthy else "ÉTAT : ALERTE"]
    lines += [f"- {r}" for r in h.reasons]
    lines += ["", "Dernières exécutions (heure de Paris) :"]
    for job, run in h.last_runs.items():
        if run is None:
            lines.append(f"  {job:<9} aucune")
        else:
            end = _stamp(run["fin"]) if run["fin"] else "en cours"
            lines.append(f"  {job:<9} n° {run['id']} : {run['statut']}, début {_stamp(run['debut'])}, fin {end}")
    if next_runs is not None:
        lines.append("Prochaines exécutions planifiées : " + (", ".join(
            f"{n['tache']} le {_stamp(n['prochaine'])}" if n["prochaine"] else f"{n['tache']} en pause"
            for n in next_runs) or "aucune (le planificateur n'a jamais démarré sur cette base)"))
    if h.depot is None:
        lines.append("Fichiers en attente dans depot/ : inconnu (zone de dépôt injoignable)" if h.source_error
                     else "Fichiers en attente dans depot/ : non vérifié")
    else:
        busy = sorted(((n, a) for a, n in h.depot.items() if n), key=lambda x: (-x[0], x[1]))
        lines.append(f"Fichiers en attente dans depot/ : {sum(h.depot.values())}"
                     + (f" ({len(busy)} compte(s) sur {len(h.depot)})" if busy else ""))
        shown = busy if show_all else busy[:SHOWN]
        lines += [f"  {account} : {n}" for n, account in shown]
        if len(busy) > len(shown):
            lines.append(f"  … et {len(busy) - len(shown)} autre(s) compte(s) (--all pour tout afficher)")
        if h.waiting:
            lines.append("Fichiers en attente les plus anciens (déposés le, heure de Paris) :")
            lines += _capped([f"  {w['compte']}/{w['fichier']} : {_stamp(w['depuis'])}" for w in h.waiting], show_all)
    lines.append("Fichiers par état : " + (", ".join(f"{s} {n}" for s, n in h.states.items()) or "aucun fichier"))
    lines.append(f"Fichiers bloqués en cours de traitement : {len(h.stuck)}")
    lines += _capped([f"  n° {s['id']} {s['compte']}/{s['fichier']} : {s['etat']} depuis le {_stamp(s['depuis'])}"
                      for s in sorted(h.stuck, key=lambda s: s["depuis"])], show_all)
    lines.append(f"Fichiers en quarantaine : {len(h.quarantined)}")
    lines += _capped([f"  n° {s['id']} {s['compte']}/{s['fichier']} depuis le {_stamp(s['depuis'])} : {s['erreur'] or ''}"
                      for s in sorted(h.quarantined, key=lambda s: s["depuis"])], show_all)
    lines.append("Fichiers rejetés ces dernières 24 h, par code : "
                 + (", ".join(f"{c} × {n}" for c, n in h.rejected_by_code.items()) or "aucun"))
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
        "etat": "OK" if h.healthy else "ALERTE", "raisons": h.reasons, "verifie_le": h.checked_at,
        "dernieres_executions": h.last_runs, "depot": h.depot, "fichiers_en_attente": h.waiting,
        "source_injoignable": h.source_error,
        "fichiers_par_etat": h.states, "fichiers_bloques": h.stuck,
        "fichiers_en_quarantaine": h.quarantined, "rejets_24h_par_code": h.rejected_by_code,
        "planificateur": h.nodes,
    }


__all__ = ["Health", "check_health", "health_text", "health_json"]
