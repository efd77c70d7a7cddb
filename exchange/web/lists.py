"""The console's big lists: received files filtered, sorted, paginated and exported as CSV (exchange.store.reads)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from exchange.core.csv_cells import guard_text
from exchange.core.perimeter import Perimeter
from exchange.core.vocabulary import ETATS, RUN_COUNTS, STATUTS
from exchange.store import run_log, runs
from exchange.store.engine import Connection, Engine
from exchange.store.reads import files as file_reads
from exchange.store.reads import runs as run_reads
from exchange.web.kit import disposition, engine_of, page, render
from exchange.web.pages import _choice, _day, _int, _pages, _query_without_page

FILE_COLUMNS = [
    ("id", "N°"),
    ("fichier", "Fichier"),
    ("esat", "Esat"),
    ("caf", "Caf"),
    ("recu", "Reçu le"),
    ("etat", "État"),
    ("statut", "Statut"),
    ("code", "Code"),
    ("rejetes", "Enregistrements"),
]
CSV_COLUMNS = [
    "id",
    "fichier",
    "esat",
    "caf",
    "siret",
    "compte",
    "type",
    "date_reception",
    "etat",
    "statut",
    "code",
    "enregistrements_recus",
    "enregistrements_acceptes",
    "enregistrements_rejetes",
    "execution",
]


def _text(request: Request, key: str, longest: int = 200) -> str | None:
    value = request.query_params.get(key, "").strip()
    if len(value) > longest:
        raise HTTPException(400, f"Valeur trop longue pour « {key} » ({longest} caractères au plus).")
    return value or None


def file_filters(
    request: Request,
    text: Callable[[Request, str, int], str | None],
    choice: Callable[[Request, str, tuple[str, ...]], str | None],
    number: Callable[[Request, str], int | None],
    day: Callable[[Request, str], date | None],
) -> dict[str, Any]:
    """The files list's filters (FileQuery's fields but its order), each read by the front door's own parsers: the
    console's, or the API's stricter ones (a repeated key, a control character: 400)."""
    return {
        "nom": text(request, "nom", 200),
        "esat": text(request, "esat", 200),
        "caf": text(request, "caf", 3),
        "code": text(request, "code", 3),
        "statut": choice(request, "statut", STATUTS),
        "etat": choice(request, "etat", ETATS),
        "compte": text(request, "compte", 200),
        "siret": text(request, "siret", 14),
        "run_id": number(request, "execution"),
        "du": day(request, "du"),
        "au": day(request, "au"),
    }


def file_query(request: Request) -> file_reads.FileQuery:
    """The files list's filters and order from the query string (400 with a French message when invalid)."""
    return file_reads.FileQuery(
        **file_filters(request, _text, _choice, _int, _day),
        tri=_choice(request, "tri", tuple(file_reads.FILE_SORTS)) or "id",
        ordre=_choice(request, "ordre", file_reads.ORDERS) or "desc",
    )


def sort_links(
    request: Request, columns: Sequence[tuple[str | None, str]], current: str, order: str
) -> list[dict[str, Any]]:
    """Each column header: its label, and when sortable the link that sorts by it (reversed when it is the
    current one) and its aria-sort value."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("tri", "ordre", "page") and v]
    out: list[dict[str, Any]] = []
    for key, label in columns:
        if key is None:
            out.append({"label": label})
            continue
        active = key == current
        nxt = (
            ("asc" if order == "desc" else "desc")
            if active
            else ("asc" if key in ("fichier", "esat", "caf") else "desc")
        )
        out.append(
            {
                "label": label,
                "href": "?" + urlencode([*kept, ("tri", key), ("ordre", nxt)]),
                "sort": ("ascending" if order == "asc" else "descending") if active else None,
            }
        )
    return out


FILES_PAGE_SIZE = 25  # two lines a file: a page of the list stays under 5 screens at 1280 × 900


@page()
def files_list(request: Request) -> Response:
    q = file_query(request)
    current = _int(request, "page", 1) or 1
    perimeter = request.state.perimeter
    with engine_of(request).connect() as conn:
        rows = file_reads.list_files(
            conn, q, perimeter=perimeter, limit=FILES_PAGE_SIZE, offset=(current - 1) * FILES_PAGE_SIZE
        )
        total = file_reads.count_files(conn, q, perimeter=perimeter)
    query = _query_without_page(request)
    return render(
        request,
        "files.html",
        nav="files",
        files=rows,
        filters=q,
        statuts=STATUTS,
        etats=ETATS,
        pages=_pages(total, current, FILES_PAGE_SIZE),
        query=query,
        headers=sort_links(request, FILE_COLUMNS, q.tri, q.ordre),
        csv_href="/fichiers.csv" + (f"?{query}" if query else ""),
    )


def _cell(value: object) -> object:
    """A CSV cell: text guarded against spreadsheet formulas, dates in ISO 8601, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, str):
        return guard_text(value)
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def _csv_lines(rows: Iterator[dict[str, Any]], columns: list[str]) -> Iterator[bytes]:
    """UTF-8 with a BOM, « ; », CRLF: what a French spreadsheet opens as is."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    yield b"\xef\xbb\xbf"
    w.writerow(columns)
    for n, row in enumerate(rows, 1):
        w.writerow([_cell(row[c]) for c in columns])
        if n % 500 == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


@page()
def files_csv(request: Request) -> Response:
    """Every file of the list's filters and order, one CSV line each (UTF-8 with BOM, « ; »)."""
    q, perimeter, engine = file_query(request), request.state.perimeter, engine_of(request)

    def rows() -> Iterator[dict[str, Any]]:  # read while the response is sent, in batches: memory bounded by a batch
        with engine.connect() as conn:
            yield from file_reads.every_file(conn, q, perimeter=perimeter)

    return _csv_response(CSV_COLUMNS, rows(), "fichiers.csv")


RUN_PAGE_SIZE = 15  # the run page summarises first; the files list has the rest


@page()
def run_detail(request: Request) -> Response:
    """A run: its summary first (files by statut and code, by Caf; Caf files emitted by Caf), then its files,
    rejected first, one page at a time."""
    from exchange.core.vocabulary import STATUTS as statuts
    from exchange.web.charts import bar_chart

    run_id = request.path_params["run_id"]
    current = _int(request, "page", 1) or 1
    perimeter = request.state.perimeter
    q = file_reads.FileQuery(run_id=run_id, tri="triage", ordre="asc")
    with engine_of(request).connect() as conn:
        run = run_reads.get_run(conn, run_id, perimeter=perimeter)  # its counts and Caf files narrowed to the perimeter
        if run is None:
            raise HTTPException(404)
        journal = run_log.last_lines(conn, run_id, perimeter=perimeter, limit=JOURNAL_ON_RUN_PAGE)
        journal_total = run_log.count_lines(conn, run_id, perimeter=perimeter)
        level_counts = run_log.count_by_level(conn, run_id, perimeter=perimeter)
        stop = runs.stop_asked(conn, run_id) if run["statut"] == "EN_COURS" else None
        summary = run_reads.run_summary(conn, run_id, perimeter=perimeter)
        total = file_reads.count_files(conn, q, perimeter=perimeter)
        rows = file_reads.list_files(
            conn, q, perimeter=perimeter, limit=RUN_PAGE_SIZE, offset=(current - 1) * RUN_PAGE_SIZE
        )
    from exchange.app.launch import LAUNCHABLE

    emitted: dict[str, list[str]] = {}
    for name in run["fichiers_emis"]:
        folder, _, rest = name.partition("/")
        emitted.setdefault(folder if rest else "", []).append(name)
    return render(
        request,
        "run.html",
        nav="runs",
        run=run,
        files=rows,
        file_count=total,
        summary=summary,
        statuts=statuts,
        emitted=emitted,
        pages=_pages(total, current, RUN_PAGE_SIZE),
        query=_query_without_page(request),
        journal=[journal_line(line) for line in journal],
        journal_total=journal_total,
        journal_last=journal[-1]["id"] if journal else 0,
        chart=bar_chart(run["anomalies_par_code"], f"Anomalies par code, exécution n° {run_id}"),
        relaunch=run["job"] in LAUNCHABLE,
        stop=stop,
        levels=level_counts,
    )


# -- a run's log (exchange.store.run_log): the run page's last lines, the whole log page by page, as text, as JSON

JOURNAL_ON_RUN_PAGE = 200  # the run page shows the last lines in a scrolled box; « voir tout le journal » has all
JOURNAL_PAGE_SIZE = 40  # a page of the whole log stays under 5 screens; the level filter and « autour » find the rest
JOURNAL_BATCH = 200  # lines the run page's script receives at once
LEVELS = {
    "DEBUG": ("débogage", ""),
    "INFO": ("info", "info"),
    "WARNING": ("attention", "warning"),
    "ERROR": ("erreur", "error"),
    "CRITICAL": ("critique", "error"),
}


def journal_line(line: dict[str, Any]) -> dict[str, Any]:
    """A log line as the console shows it: Paris time, the level's French label and DSFR badge, the message, and the
    file it is about (its number, linked to its page, and its account) when it is about one."""
    from exchange.web.formats import paris

    label, badge = LEVELS.get(line["level"], (line["level"].lower(), ""))
    fields = line.get("fields") or {}
    file_id = fields.get("file_id")
    return {
        "id": line["id"],
        "heure": paris(line["at"], True),
        "niveau": label,
        "badge": badge,
        "message": line["message"],
        "fichier": file_id if isinstance(file_id, int) else None,
        "compte": fields.get("account") or "",
    }


def _journal_run(conn: Connection, request: Request) -> tuple[int, str]:
    """The run of the path and its status; 404 when there is no such run (as the run page)."""
    run_id = request.path_params["run_id"]
    status = run_log.run_status(conn, run_id)
    if status is None:
        raise HTTPException(404)
    return run_id, status


# the level filter: a level and those above it (as a logger's level); « aller aux erreurs » opens the first error
AT_LEAST = {
    "INFO": ("INFO", "WARNING", "ERROR", "CRITICAL"),
    "WARNING": ("WARNING", "ERROR", "CRITICAL"),
    "ERROR": ("ERROR", "CRITICAL"),
}
LEVEL_FILTERS = [
    (None, "Toutes les lignes"),
    ("INFO", "Info et plus"),
    ("WARNING", "Avertissements et erreurs"),
    ("ERROR", "Erreurs"),
]


def level_summary(counts: dict[str, int]) -> dict[str, Any]:
    """How many lines of each kind an operator looks for: erreurs (ERROR and CRITICAL), avertissements, and every line
    at or above each filter's level."""
    return {
        "erreurs": counts.get("ERROR", 0) + counts.get("CRITICAL", 0),
        "avertissements": counts.get("WARNING", 0),
        "par_filtre": {key: sum(counts.get(v, 0) for v in AT_LEAST[key]) for key in AT_LEAST},
        "total": sum(counts.values()),
    }


@page()
def run_journal(request: Request) -> Response:
    """The whole log of a run the operator's perimeter sees, oldest first, page by page; `niveau` keeps a level and
    those above it; `autour` opens the page that holds that line (« aller aux erreurs », « voir dans le journal »)."""
    niveau = _choice(request, "niveau", tuple(AT_LEAST))
    levels = AT_LEAST[niveau] if niveau else None
    around = _int(request, "autour")
    current = _int(request, "page", 1) or 1
    perimeter = request.state.perimeter
    with engine_of(request).connect() as conn:
        run_id, status = _journal_run(conn, request)
        if around is not None and around < 2**62:
            before = run_log.count_lines(conn, run_id, perimeter=perimeter, levels=levels, before_id=around)
            current = before // JOURNAL_PAGE_SIZE + 1
        total = run_log.count_lines(conn, run_id, perimeter=perimeter, levels=levels)
        lines = run_log.read_lines(
            conn,
            run_id,
            perimeter=perimeter,
            limit=JOURNAL_PAGE_SIZE,
            offset=(current - 1) * JOURNAL_PAGE_SIZE,
            levels=levels,
        )
        counts = level_summary(run_log.count_by_level(conn, run_id, perimeter=perimeter))
        first_error = run_log.first_line_of(conn, run_id, perimeter=perimeter, levels=AT_LEAST["ERROR"])
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k not in ("page", "autour") and v])
    return render(
        request,
        "run_journal.html",
        nav="runs",
        run_id=run_id,
        statut=status,
        total=total,
        lines=[journal_line(line) for line in lines],
        pages=_pages(total, current, JOURNAL_PAGE_SIZE),
        query=query,
        niveau=niveau,
        filters=LEVEL_FILTERS,
        counts=counts,
        first_error=first_error,
        marked=around,
    )


def _text_lines(engine: Engine, run_id: int, perimeter: Perimeter) -> Iterator[bytes]:
    """The log as text, one line per event (Paris time with its offset, level, message, fields), in pages."""
    from exchange.core.clock import PARIS

    after = 0
    while True:
        with engine.connect() as conn:
            lines = run_log.read_lines(conn, run_id, perimeter=perimeter, after_id=after, limit=2000)
        if not lines:
            return
        out = []
        for line in lines:
            fields = " ".join(f"{k}={v}" for k, v in line["fields"].items())
            stamp = line["at"].astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S%z")
            out.append(f"{stamp} {line['level']:<7} {line['message']}" + (f" [{fields}]" if fields else "") + "\n")
        yield "".join(out).encode("utf-8")
        after = lines[-1]["id"]


@page()
def run_journal_txt(request: Request) -> Response:
    """The whole log of a run the perimeter sees, as a UTF-8 text file."""
    with engine_of(request).connect() as conn:
        run_id, _ = _journal_run(conn, request)
    return StreamingResponse(
        _text_lines(engine_of(request), run_id, request.state.perimeter),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": disposition(f"execution-{run_id}-journal.txt")},
    )


@page()
def run_journal_json(request: Request) -> Response:
    """The lines after `apres` (the last the page shows), the run's status and how many files it answered:
    what the run page's script asks every 2 seconds while the run is EN_COURS."""
    from starlette.responses import JSONResponse

    after = _int(request, "apres", 0) or 0
    perimeter = request.state.perimeter
    with engine_of(request).connect() as conn:
        run_id, status = _journal_run(conn, request)
        lines = run_log.read_lines(conn, run_id, perimeter=perimeter, after_id=after, limit=JOURNAL_BATCH)
        done = file_reads.count_files(conn, file_reads.FileQuery(run_id=run_id, etat="ACQUITTE"), perimeter=perimeter)
    from exchange.web.formats import plural_of

    return JSONResponse(
        {
            "statut": status,
            "lignes": [journal_line(line) for line in lines],
            "dernier": lines[-1]["id"] if lines else after,
            "suite": len(lines) == JOURNAL_BATCH,
            "progression": f"{plural_of(done, 'fichier traité', 'fichiers traités')}",
        },
        headers={"Cache-Control": "no-store"},
    )


RUN_COLUMNS = [
    ("id", "N°"),
    ("tache", "Tâche"),
    ("statut", "Statut"),
    ("debut", "Début"),
    (None, "Durée"),
    ("fichiers", "Fichiers"),
    (None, "Acceptés"),
    (None, "Partiels"),
    ("rejetes", "Rejetés"),
    (None, "Enr. acceptés"),
    (None, "Enr. rejetés"),
    (None, "Erreur"),
]
RUN_CSV = [
    "id",
    "job",
    "statut",
    "debut",
    "fin",
    "duree",
    *RUN_COUNTS,
    "erreur",
]


def _run_filters(request: Request) -> tuple[run_reads.RunQuery, str, str]:
    from exchange.core.vocabulary import JOBS, RUN_STATUSES

    filters = run_reads.RunQuery(
        job=_choice(request, "job", JOBS),
        statut=_choice(request, "statut", RUN_STATUSES),
        du=_day(request, "du"),
        au=_day(request, "au"),
        tri=_choice(request, "tri", tuple(run_reads.RUN_SORTS)) or "id",
        ordre=_choice(request, "ordre", file_reads.ORDERS) or "desc",
    )
    return filters, filters.tri, filters.ordre


@page()
def runs_list(request: Request) -> Response:
    from exchange.core.vocabulary import JOBS, RUN_STATUSES

    filters, tri, ordre = _run_filters(request)
    current = _int(request, "page", 1) or 1
    with engine_of(request).connect() as conn:
        rows = run_reads.list_runs(
            conn,
            filters,
            perimeter=request.state.perimeter,
            limit=RUNS_PAGE_SIZE,
            offset=(current - 1) * RUNS_PAGE_SIZE,
        )
        total = run_reads.count_runs(conn, filters)
        grid = runs_grid(conn)
    query = _query_without_page(request)
    return render(
        request,
        "runs.html",
        nav="runs",
        runs=rows,
        filters=filters,
        jobs=JOBS,
        statuses=RUN_STATUSES,
        grid=grid,
        pages=_pages(total, current, RUNS_PAGE_SIZE),
        query=query,
        headers=sort_links(request, RUN_COLUMNS, tri, ordre),
        tri=tri,
        ordre=ordre,
        csv_href="/executions.csv" + (f"?{query}" if query else ""),
    )


GRID_DAYS = 14
RUNS_PAGE_SIZE = 20  # one line a run, under the grid: the page stays under 5 screens whatever the schedule


def runs_grid(conn: Connection) -> dict[str, Any]:
    """The runs of the last 14 Paris days as a job × day grid (Airflow's grid view): each cell folds that day's runs
    of the job (96 collects are one cell) and says first how many failed; each links to those runs."""
    from exchange.core.clock import paris_day_start, today_in_paris
    from exchange.core.vocabulary import JOBS
    from exchange.store.trends import runs_per_job_and_day
    from exchange.web.formats import plural_of

    today = today_in_paris()
    days = [today - timedelta(days=n) for n in range(GRID_DAYS - 1, -1, -1)]
    cells = runs_per_job_and_day(conn, paris_day_start(days[0]))
    rows, failures = [], 0
    for job in (j for j in JOBS if any((j, d) in cells for d in days)):
        row: list[dict[str, str] | None] = []
        for day in days:
            counts = cells.get((job, day))
            if not counts:
                row.append(None)
                continue
            total, failed, running = sum(counts.values()), counts["ECHEC"], counts["EN_COURS"]
            failures += failed
            query = f"job={job}&du={day.isoformat()}&au={day.isoformat()}"
            if failed:
                kind, text, said = "error", plural_of(failed, "échec", "échecs"), f"en échec sur {total}"
                query += "&statut=ECHEC"
            elif running:
                kind, text, said = "info", "en cours", plural_of(total, "exécution", "exécutions")
            elif counts["OK"]:
                kind, text, said = "success", f"{total} OK" if total == counts["OK"] else f"{counts['OK']} OK", ""
                if counts["IGNORE"]:
                    said = plural_of(counts["IGNORE"], "ignorée", "ignorées")
            else:
                kind, text, said = "info", plural_of(total, "ignorée", "ignorées"), ""
            row.append({"badge": kind, "text": text, "more": said, "href": f"/executions?{query}"})
        rows.append({"job": job, "cells": row})
    return {"days": days, "rows": rows, "failures": failures}


def _csv_response(columns: list[str], rows: Iterable[dict[str, Any]], name: str) -> Response:
    return StreamingResponse(
        _csv_lines(iter(rows), columns),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": disposition(name)},
    )


@page()
def runs_csv(request: Request) -> Response:
    filters, tri, ordre = _run_filters(request)
    with engine_of(request).connect() as conn:
        rows = run_reads.list_runs(conn, filters, perimeter=request.state.perimeter, limit=None)
    return _csv_response(RUN_CSV, rows, "executions.csv")


AUDIT_CSV = ["date", "operateur", "action", "objet", "resultat", "detail", "adresse", "siret", "fichier"]


@page()
def audit_csv(request: Request) -> Response:
    """The journal as the page filters it (operator, Esat, dates; a non-national operator: its perimeter's lines)."""
    from exchange.store.reads.audit import AuditQuery, list_audit

    filters = AuditQuery(
        operateur=_text(request, "operateur"),
        siret=_text(request, "siret", 14),
        du=_day(request, "du"),
        au=_day(request, "au"),
    )
    with engine_of(request).connect() as conn:
        rows = list_audit(conn, filters, limit=None, perimeter=request.state.perimeter)
    return _csv_response(AUDIT_CSV, rows, "journal.csv")
