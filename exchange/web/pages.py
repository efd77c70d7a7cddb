"""The console's read pages: dashboard, runs, files, campaign, habilitations, migration, audit log."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from exchange.app.campaign import campaign_followup
from exchange.app.launch import LAUNCHABLE
from exchange.app.memo import VersionedMemo
from exchange.app.pauses import job_states
from exchange.app.status import check_health
from exchange.core.campaign import SITUATIONS, WHO_ACTS, deadline
from exchange.core.clock import today_in_paris
from exchange.core.csv_cells import guard_text
from exchange.core.perimeter import Perimeter
from exchange.store.engine import Engine
from exchange.store.ledger import utcnow
from exchange.store.reads import audit as audit_reads
from exchange.store.reads import campaign as campaign_reads
from exchange.store.reads import files as file_reads
from exchange.store.reads import runs as run_reads
from exchange.store.trends import first_declarations
from exchange.web.charts import bar_chart, progress_line
from exchange.web.kit import LARGEST_ID, disposition, engine_of, page, render, view_audit
from exchange.web.verify import compte_rendu_csp

PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 25  # a journal line often takes two lines (its detail): a page stays under 5 screens
ANOMALIES_SHOWN = 200
REJECTION_DAYS = 30
CAMPAIGN_PAGE = 30  # Esats per page of the campaign list (its summary comes first)


def _day(request: Request, key: str) -> date | None:
    value = request.query_params.get(key, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"Date invalide pour « {key} » : {value!r} (format AAAA-MM-JJ attendu).") from None


def _choice(request: Request, key: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query_params.get(key, "").strip()
    if not value:
        return None
    if value not in allowed:
        raise HTTPException(400, f"Valeur inconnue pour « {key} » : {value!r} (attendu : {', '.join(allowed)}).")
    return value


def _int(request: Request, key: str, default: int | None = None) -> int | None:
    value = request.query_params.get(key, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()):
        raise HTTPException(400, f"Nombre attendu pour « {key} », pas {value!r}.")
    number = int(value)
    if number > LARGEST_ID:  # no page, run or line has such a number (and the database's integers stop there)
        raise HTTPException(404)
    return number


def _pages(total: int, current: int, size: int = PAGE_SIZE) -> dict[str, Any]:
    last = max(1, -(-total // size))
    return {"current": current, "last": last, "total": total}


def _query_without_page(request: Request) -> str:
    return urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "page" and v])


@page()
def dashboard(request: Request) -> Response:
    engine, perimeter = engine_of(request), request.state.perimeter
    depot = request.app.state.depot.state()  # the background lister's last listing: never the drop area itself
    health = check_health(engine, depot, perimeter=perimeter)
    with engine.connect() as conn:
        last_runs = {  # counts and errors of the perimeter's files only
            job: run_reads.narrowed_run(conn, run, perimeter) for job, run in run_reads.last_run_per_job(conn).items()
        }
        next_runs = run_reads.next_scheduled_runs(conn)
        rejections = file_reads.rejections_by_code(conn, utcnow() - timedelta(days=REJECTION_DAYS), perimeter=perimeter)
        quarantined = file_reads.list_files(
            conn, file_reads.FileQuery(etat="QUARANTAINE"), limit=10, perimeter=perimeter
        )
    waiting = sum(health.depot.values()) if health.depot is not None else None

    jobs = job_states(engine)

    return render(
        request,
        "dashboard.html",
        nav="dashboard",
        health=health,
        launchable=LAUNCHABLE,
        last_runs=last_runs,
        next_runs=next_runs,
        waiting=waiting,
        depot=depot,
        quarantined=quarantined,
        quarantine_count=health.states.get("QUARANTAINE", 0),
        rejections=rejections,
        days=REJECTION_DAYS,
        jobs=jobs,
        paused=[j for j in jobs if j["suspendue"]],
        next_of={
            j["tache"]: [n for n in next_runs if n["tache"] == j["tache"] or n["tache"].startswith(j["tache"] + "-")]
            for j in jobs
        },
        chart=bar_chart(rejections, f"Fichiers rejetés par code, {REJECTION_DAYS} derniers jours"),
    )


def _compte_rendu_forms(row: dict[str, Any], latest: int | None) -> list[dict[str, Any]]:
    """This reception's last answer (csv, xml, html), served rebuilt from the ledger (exchange.app.answers)."""
    from exchange.app.answers import answer_names

    return [{"name": n, "format": n.rsplit(".", 1)[1].upper()} for n in answer_names(row, latest)]


@page()
def file_detail(request: Request) -> Response:
    from exchange.app.answers import earlier_answer_names
    from exchange.app.replay import replay_check
    from exchange.core.next_step import next_step
    from exchange.store.watch import managing_caf

    file_id, perimeter = request.path_params["file_id"], request.state.perimeter
    with engine_of(request).connect() as conn:
        row = file_reads.get_file(conn, file_id, perimeter=perimeter)
        if row is None:
            raise HTTPException(404)
        anomalies = file_reads.file_anomalies(conn, file_id, limit=ANOMALIES_SHOWN, perimeter=perimeter)
        counts = file_reads.file_anomaly_counts(conn, file_id, perimeter=perimeter)
        others = file_reads.other_receptions(conn, row["account"], row["name"], file_id, perimeter=perimeter)
        latest = file_reads.latest_answered_of_name(conn, row["account"], row["name"], perimeter=perimeter)
        caf = managing_caf(conn, row["siret"])
    view_audit(request, "consultation_fichier", f"fichier n° {file_id}", siret=row["siret"], file_id=file_id)
    view = file_reads.file_view(row)
    return render(
        request,
        "file.html",
        nav="files",
        file=view,
        step=next_step(view, caf),
        contact=request.app.state.config.web.national_contact,
        anomalies=anomalies,
        counts=counts,
        anomaly_total=sum(counts.values()),
        shown=ANOMALIES_SHOWN,
        others=others,
        comptes_rendus=_compte_rendu_forms(row, latest),
        earlier_answers=earlier_answer_names(row),
        refusal=replay_check(engine_of(request), file_id)[1],
        depot=request.app.state.depot.state(),
    )


@page()
def compte_rendu(request: Request) -> Response:
    from exchange.app.answers import rebuilt_answer

    file_id, name, perimeter = request.path_params["file_id"], request.path_params["name"], request.state.perimeter
    with engine_of(request).connect() as conn:
        row = file_reads.get_file(conn, file_id, perimeter=perimeter)
        if row is None:
            raise HTTPException(404)
        latest = file_reads.latest_answered_of_name(conn, row["account"], row["name"], perimeter=perimeter)
    data = rebuilt_answer(request.app.state.config, engine_of(request), row, name, latest)  # never the drop area
    if data is None:
        raise HTTPException(404)
    view_audit(request, "telechargement_cr", f"fichier n° {file_id} : {name}", siret=row["siret"], file_id=file_id)
    kind = {"csv": "text/csv; charset=utf-8", "xml": "application/xml", "html": "text/html; charset=utf-8"}
    headers = {"content-disposition": disposition(name, "inline" if name.endswith(".html") else "attachment")}
    if name.endswith(".html"):  # sandboxed (no script, no refresh, no navigation); its style allowed by hash
        headers["content-security-policy"] = compte_rendu_csp(data)
    return Response(data, media_type=kind[name.rsplit(".", 1)[1]], headers=headers)


CAF_CODE = re.compile(r"[0-9]{2,3}|2[AB]")


def campaign_year(request: Request) -> int:
    """?annee=, else the campaign in progress: year N from July N to June N+1."""
    year = _int(request, "annee") or current_campaign(today_in_paris())
    if not 2000 <= year <= 2100:
        raise HTTPException(404)  # no campaign that year
    return year


def current_campaign(today: date) -> int:
    """The campaign in progress on `today`: year N from July N to June N+1."""
    return today.year if today.month >= 7 else today.year - 1


T = TypeVar("T")


def campaign_figures(
    engine: Engine, memo: VersionedMemo, year: int, perimeter: Perimeter
) -> tuple[dict[str, int], dict[date, int]]:
    """The campaign's RG accepted per Caf and its first declarations per day, each kept in `memo` until the
    records change (the page, and exchange.web.warm before any page asks)."""

    def read(what: str, fn: Callable[..., T]) -> T:  # a read of the campaign's records, kept until they change
        def compute() -> T:
            with engine.connect() as conn:
                return fn(conn, year, perimeter=perimeter)

        return memo.get((what, year, perimeter), compute)

    return read("acceptes", campaign_reads.accepted_rg_per_caf), read("premieres", first_declarations)


def _campaign(request: Request) -> tuple[int, str | None, str | None, list[dict[str, Any]]]:
    """The year, the Caf and the situation asked for, and every open Esat without an accepted RG, each with
    its situation (exchange.app.campaign.campaign_followup)."""
    year = campaign_year(request)
    caf = request.query_params.get("caf", "").strip() or None
    if caf is not None and not CAF_CODE.fullmatch(caf):
        raise HTTPException(400, f"Code de Caf invalide : {caf!r} (deux ou trois chiffres, ou 2A, 2B).")
    wanted = _choice(request, "situation", tuple(SITUATIONS))
    missing = campaign_followup(
        engine_of(request),
        request.app.state.depot.state(),
        year,
        today_in_paris(),
        caf,
        perimeter=request.state.perimeter,
        memo=request.app.state.campaign_reads,
    )
    return year, caf, wanted, missing


def campaign_progress(per_day: dict[date, int], year: int, missing: int) -> dict[str, Any]:
    """Esats declared day after day (their first accepted RG of `year`: store.trends.first_declarations), against
    every open Esat."""
    if not per_day:
        return {"chart": "", "table": []}
    days = list(per_day)
    running, table = 0, []
    for day in days:
        running += per_day[day]
        table.append((day.strftime("%d/%m/%Y"), per_day[day], running))
    goal = running + missing
    return {
        "chart": progress_line(
            [t[0] for t in table],
            [t[2] for t in table],
            goal,
            f"Esats ayant déclaré leurs RG {year}, jour après jour, sur {goal}",
            "progression-campagne",
        ),
        "table": table,
        "goal": goal,
    }


@page()
def campaign(request: Request) -> Response:
    year, caf, wanted, missing = _campaign(request)
    accepted, firsts = campaign_figures(
        engine_of(request), request.app.state.campaign_reads, year, request.state.perimeter
    )
    progress = campaign_progress(firsts, year, len(missing))
    by_situation = {key: sum(1 for m in missing if m["situation"] == key) for key in SITUATIONS}
    per_caf: dict[str, dict[str, int]] = {}
    for m in missing:
        row = per_caf.setdefault(m["caf_gestionnaire"], dict.fromkeys(SITUATIONS, 0))
        row[m["situation"]] += 1
    shown = [m for m in missing if wanted is None or m["situation"] == wanted]
    current = _int(request, "page", 1) or 1
    return render(
        request,
        "campaign.html",
        nav="campaign",
        year=year,
        caf=caf,
        wanted=wanted,
        situations=SITUATIONS,
        who_acts=WHO_ACTS,
        by_situation=by_situation,
        per_caf=per_caf,
        missing_count=len(missing),
        rows=shown[(current - 1) * CAMPAIGN_PAGE : current * CAMPAIGN_PAGE],
        pages=_pages(len(shown), current, CAMPAIGN_PAGE),
        query=_query_without_page(request),
        accepted=accepted,
        deadline=deadline(year),
        progress=progress,
        days_left=missing[0]["jours_restants"] if missing else None,
        chart=bar_chart(accepted, f"Déclarations RG {year} acceptées, par Caf"),
    )


@page()
def campaign_csv(request: Request) -> Response:
    year, caf, wanted, missing = _campaign(request)
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(["caf_gestionnaire", "siret", "raison_sociale", "jours_restants", "situation", "dernier_fichier_rg"])
    for m in missing:
        if wanted is None or m["situation"] == wanted:
            w.writerow(
                [
                    m["caf_gestionnaire"],
                    m["siret"],
                    guard_text(m["raison_sociale"]),
                    m["jours_restants"],
                    SITUATIONS[m["situation"]],
                    m["fichier"] or "",
                ]
            )
    name = f"campagne-{year}{'-caf-' + caf if caf else ''}-sans-rg.csv"
    view_audit(request, "export_campagne", f"campagne {year} : {len(missing)} Esat(s)", detail=name)
    return Response(
        b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": disposition(name)},
    )


@page()
def habilitations(request: Request) -> Response:
    with engine_of(request).connect() as conn:
        in_force = campaign_reads.habilitations_in_force(conn)
    return render(
        request,
        "habilitations.html",
        nav="habilitations",
        in_force=in_force,
        result=None,
        contact=request.app.state.config.web.national_contact,
    )


@page()
def migration(request: Request) -> Response:
    return render(request, "migration.html", nav="migration", report=None)


@page()
def audit(request: Request) -> Response:
    """The journal; a national operator filters it by operator, Esat (SIRET) and date; others read the lines
    about the Esats of their perimeter."""
    current = _int(request, "page", 1) or 1
    filters = audit_reads.AuditQuery(
        operateur=request.query_params.get("operateur", "").strip() or None,
        siret=request.query_params.get("siret", "").strip() or None,
        du=_day(request, "du"),
        au=_day(request, "au"),
    )
    with engine_of(request).connect() as conn:
        entries = audit_reads.list_audit(
            conn,
            filters,
            limit=AUDIT_PAGE_SIZE,
            offset=(current - 1) * AUDIT_PAGE_SIZE,
            perimeter=request.state.perimeter,
        )
        total = audit_reads.count_audit(conn, filters, perimeter=request.state.perimeter)
    return render(
        request,
        "audit.html",
        nav="audit",
        entries=entries,
        filters=filters,
        pages=_pages(total, current, AUDIT_PAGE_SIZE),
        query=_query_without_page(request),
    )
