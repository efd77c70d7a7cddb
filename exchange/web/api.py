"""The JSON API (/api/v1) for a Caf's own tools: runs, files, anomaly counts, Esats, the campaign follow-up, replay,
stop and pause. A request carries an operator's token (`Authorization: Bearer esat_…`, store.api_tokens) and acts as
that operator: the console's perimeter, role check, journal and throttle, the same use cases and store reads.
The document that describes it is exchange.web.api_doc (served at /api/v1/openapi.json)."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any, overload

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from exchange.core.throttle import retry_at
from exchange.store import api_tokens, operators, throttle
from exchange.store.engine import in_transaction
from exchange.store.reads import files as file_reads
from exchange.store.reads import runs as run_reads
from exchange.web.kit import (
    GESTIONNAIRE,
    check_role,
    drives_jobs,
    engine_of,
    file_in_perimeter,
    json_answer,
    json_error,
    perimeter_of,
)
from exchange.web.lists import file_filters
from exchange.web.security import client_address

PREFIX = "/api/v1"
THROTTLE_KEY = "(jeton API)"  # failed token attempts are counted per client address under this login
PER_PAGE, MAX_PER_PAGE = 50, 200
LONGEST_NUMBER = 9  # ids and pages: beyond, 400 (no overflow reaches the database)
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
Answer = dict[str, Any] | tuple[int, dict[str, Any]]


# -- answers -------------------------------------------------------------------------------------------


# -- parameters (every bad value is a 400 in French, never a 500) ----------------------------------------


def _number(value: str, what: str) -> int:
    if not (value.isascii() and value.isdigit() and len(value) <= LONGEST_NUMBER):
        raise HTTPException(400, f"Nombre attendu pour « {what} », pas {value[:40]!r}.")
    return int(value)


def _path_id(request: Request, key: str) -> int:
    """A path's id: 404 unless a number of at most 9 digits (nothing else can exist)."""
    value = request.path_params[key]
    if not (value.isascii() and value.isdigit() and len(value) <= LONGEST_NUMBER):
        raise HTTPException(404)
    return int(value)


def _query(request: Request, key: str, longest: int = 200) -> str | None:
    values = request.query_params.getlist(key)
    if len(values) > 1:
        raise HTTPException(400, f"Paramètre « {key} » donné plusieurs fois.")
    value = values[0].strip() if values else ""
    if len(value) > longest:
        raise HTTPException(400, f"Valeur trop longue pour « {key} » ({longest} caractères au plus).")
    if any(ord(c) < 32 for c in value):
        raise HTTPException(400, f"Caractère de contrôle refusé dans « {key} ».")
    return value or None


@overload
def _int(request: Request, key: str, default: int, *, low: int = 1, high: int | None = None) -> int: ...
@overload
def _int(request: Request, key: str, default: None = None, *, low: int = 1, high: int | None = None) -> int | None: ...
def _int(
    request: Request, key: str, default: int | None = None, *, low: int = 1, high: int | None = None
) -> int | None:
    value = _query(request, key, 20)
    if value is None:
        return default
    n = _number(value, key)
    if n < low or (high is not None and n > high):
        raise HTTPException(400, f"« {key} » doit être entre {low} et {high if high is not None else 'l’infini'}.")
    return n


def _choice(request: Request, key: str, allowed: tuple[str, ...]) -> str | None:
    value = _query(request, key, 40)
    if value is not None and value not in allowed:
        raise HTTPException(400, f"Valeur inconnue pour « {key} » : {value!r} (attendu : {', '.join(allowed)}).")
    return value


def _day(request: Request, key: str) -> date | None:
    value = _query(request, key, 10)
    if value is None:
        return None
    try:
        if not DAY.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"Date invalide pour « {key} » : {value!r} (format AAAA-MM-JJ attendu).") from None


def _known(request: Request, allowed: set[str]) -> None:
    """400 for a query parameter the endpoint does not know (a typo is not silently ignored)."""
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if unknown:
        raise HTTPException(400, f"Paramètre inconnu : {', '.join(unknown)[:200]}.")


def _paging(request: Request) -> tuple[int, int]:
    return _int(request, "page", 1), _int(request, "par_page", PER_PAGE, high=MAX_PER_PAGE)


# -- who is asking: the token, the throttle, the role ----------------------------------------------------


def _authenticate(request: Request) -> dict[str, Any]:
    """The operator of the request's token; 401 when none, 429 while the address must wait. The console's login
    throttle ([web] login_attempts, login_max_delay_seconds; store.throttle.count_attempt): every presented token is
    counted for the client address before it is checked, a good one clears the count."""
    from exchange.store.ledger import utcnow

    web, engine, address = request.app.state.config.web, engine_of(request), client_address(request)
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise HTTPException(
            401, "Jeton d'API attendu : en-tête « Authorization: Bearer <jeton> ».", {"WWW-Authenticate": "Bearer"}
        )
    now = utcnow()
    forgotten = now - timedelta(seconds=web.login_window_seconds)

    def allowed_after(failures: int, last: datetime) -> datetime:
        return retry_at(failures, last, web.login_attempts, web.login_max_delay_seconds)

    attempt = in_transaction(engine, throttle.count_attempt, THROTTLE_KEY, address, now, forgotten, allowed_after)
    if not attempt.counted:
        wait = max(1, math.ceil((attempt.allowed_at - now).total_seconds()))
        raise HTTPException(
            429,
            f"{attempt.failures} jetons refusés depuis votre adresse : "
            f"réessayez dans {wait} seconde{'s' if wait > 1 else ''}.",
            headers={"Retry-After": str(wait)},
        )
    found = in_transaction(engine, api_tokens.operator_of_token, secret.strip())
    if found is None:
        in_transaction(
            engine,
            operators.record_audit,
            "?",
            "api",
            "REFUSE",
            request.url.path[:300],
            "jeton inconnu ou révoqué",
            address,
        )
        raise HTTPException(401, "Jeton d'API inconnu ou révoqué.", {"WWW-Authenticate": "Bearer"})
    in_transaction(engine, throttle.clear, THROTTLE_KEY, address)
    return found


def endpoint(
    role: str | None = None, *, jobs: bool = False
) -> Callable[[Callable[[Request], Answer]], Callable[[Request], Awaitable[Response]]]:
    """Wrap an API handler (sync, returning its JSON body, or (status, body)): the token, the perimeter, the role
    (`role`; `jobs`: the national gestionnaire rule of kit.drives_jobs); errors as JSON."""

    def wrap(fn: Callable[[Request], Answer]) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(fn)
        async def handler(request: Request) -> Response:
            try:
                op = await run_in_threadpool(_authenticate, request)
                request.state.operator = op
                request.state.perimeter = perimeter_of(op)
                check_role(request, role)
                if jobs:
                    drives_jobs(request)
                answer = await run_in_threadpool(fn, request)
            except HTTPException as e:
                return json_error(e)
            status, body = answer if isinstance(answer, tuple) else (200, answer)
            return json_answer(body, status)

        return handler

    return wrap


def _journal(request: Request, action: str, outcome: str, target: str, detail: str, **about: object) -> None:
    """One journal line, as the console writes it, saying it came through the API and with which token."""
    in_transaction(
        engine_of(request),
        operators.record_audit,
        request.state.operator["login"],
        action,
        outcome,
        target,
        f"{detail} (API, jeton n° {request.state.operator['jeton']})",
        client_address(request),
        **about,
    )


# -- runs ----------------------------------------------------------------------------------------------


def _run_body(run: dict[str, Any], stop: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {k: v for k, v in run.items() if k not in ("machine", "pid")}
    body["arret_demande"] = stop is not None
    return body


@endpoint()
def runs_list(request: Request) -> Answer:
    from exchange.core.vocabulary import JOBS, RUN_STATUSES

    _known(request, {"job", "statut", "du", "au", "page", "par_page"})
    filters = run_reads.RunQuery(
        job=_choice(request, "job", JOBS),
        statut=_choice(request, "statut", RUN_STATUSES),
        du=_day(request, "du"),
        au=_day(request, "au"),
    )
    page, size = _paging(request)
    with engine_of(request).connect() as conn:
        rows = run_reads.list_runs(
            conn, filters, perimeter=request.state.perimeter, limit=size, offset=(page - 1) * size
        )
        total = run_reads.count_runs(conn, filters)
    return {"total": total, "page": page, "par_page": size, "executions": [_run_body(r) for r in rows]}


@endpoint()
def run_detail(request: Request) -> Answer:
    from exchange.store.runs import stop_asked

    _known(request, set())
    run_id = _path_id(request, "run_id")
    with engine_of(request).connect() as conn:
        run = run_reads.get_run(conn, run_id, perimeter=request.state.perimeter)
        stop = stop_asked(conn, run_id)
    if run is None:
        raise HTTPException(404)
    return _run_body(run, stop)


LEVELS_AT_LEAST = {
    "INFO": ("INFO", "WARNING", "ERROR", "CRITICAL"),
    "WARNING": ("WARNING", "ERROR", "CRITICAL"),
    "ERROR": ("ERROR", "CRITICAL"),
}


@endpoint()
def run_journal(request: Request) -> Answer:
    """The run's log lines the token's perimeter sees, after line `apres`, of `niveau` and above: what a monitoring
    tool follows (`dernier` is the next `apres`)."""
    from exchange.store import run_log

    _known(request, {"niveau", "apres", "par_page"})
    run_id = _path_id(request, "run_id")
    niveau = _choice(request, "niveau", tuple(LEVELS_AT_LEAST))
    after = _int(request, "apres", 0, low=0)
    size = _int(request, "par_page", MAX_PER_PAGE, high=MAX_PER_PAGE)
    with engine_of(request).connect() as conn:
        status = run_log.run_status(conn, run_id)
        if status is None:
            raise HTTPException(404)
        lines = run_log.read_lines(
            conn,
            run_id,
            perimeter=request.state.perimeter,
            after_id=after,
            limit=size,
            levels=LEVELS_AT_LEAST[niveau] if niveau else None,
        )
    return {
        "execution": run_id,
        "statut": status,
        "lignes": [
            {
                "id": line["id"],
                "date": line["at"],
                "niveau": line["level"],
                "message": line["message"],
                "fichier": line["fields"].get("file_id") if isinstance(line["fields"].get("file_id"), int) else None,
                "compte": line["account"],
            }
            for line in lines
        ],
        "dernier": lines[-1]["id"] if lines else after,
        "suite": len(lines) == size,
    }


@endpoint(jobs=True)
def run_stop(request: Request) -> Answer:
    from exchange.app.stop import ask_stop

    _known(request, set())
    run_id = _path_id(request, "run_id")
    result = ask_stop(engine_of(request), run_id, request.state.operator["login"])
    if result.unknown:
        raise HTTPException(404)
    _journal(request, "arret", "OK" if result.done else "REFUSE", f"exécution n° {run_id}", result.message)
    if not result.done:
        raise HTTPException(409, result.message)
    return 202, {"execution": run_id, "message": result.message}


# -- files ---------------------------------------------------------------------------------------------

FILE_KEYS = (
    "id",
    "fichier",
    "compte",
    "siret",
    "esat",
    "caf",
    "type",
    "date_reception",
    "etat",
    "statut",
    "code",
    "enregistrements_recus",
    "enregistrements_acceptes",
    "enregistrements_rejetes",
    "date_traitement",
    "doublon_de",
    "rejeux",
    "execution",
    "taille",
    "erreur",
)


def _file_body(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in FILE_KEYS}


@endpoint()
def files_list(request: Request) -> Answer:
    _known(
        request,
        {
            "nom",
            "esat",
            "caf",
            "code",
            "statut",
            "etat",
            "compte",
            "siret",
            "execution",
            "du",
            "au",
            "page",
            "par_page",
        },
    )
    q = file_reads.FileQuery(**file_filters(request, _query, _choice, _int, _day))  # the console's filters
    page, size = _paging(request)
    perimeter = request.state.perimeter
    with engine_of(request).connect() as conn:
        rows = file_reads.list_files(conn, q, perimeter=perimeter, limit=size, offset=(page - 1) * size)
        total = file_reads.count_files(conn, q, perimeter=perimeter)
    return {"total": total, "page": page, "par_page": size, "fichiers": [_file_body(r) for r in rows]}


@endpoint()
def file_detail(request: Request) -> Answer:
    _known(request, set())
    file_id = _path_id(request, "file_id")
    row = file_in_perimeter(request, file_id)
    with engine_of(request).connect() as conn:
        counts = file_reads.file_anomaly_counts(conn, file_id, perimeter=request.state.perimeter)
    _journal(request, "consultation_fichier", "OK", f"fichier n° {file_id}", "consultation", file_id=file_id)
    return {**_file_body({**file_reads.file_view(row), "esat": None, "caf": None}), "anomalies_par_code": counts}


@endpoint(GESTIONNAIRE)
def file_replay(request: Request) -> Answer:
    from exchange.app.replay import drop_area_refusal, replay_check, replay_file

    _known(request, set())
    file_id = _path_id(request, "file_id")
    row = file_in_perimeter(request, file_id)  # outside: the same 404 as an unknown file
    # refused at once, with no run, while the drop area does not answer (the console's last view of it)
    refusal = replay_check(engine_of(request), file_id)[1] or drop_area_refusal(request.app.state.depot.state())
    if refusal is not None:
        message = f"Rejeu impossible : {refusal}."
        _journal(request, "rejeu", "REFUSE", f"fichier n° {file_id}", message, siret=row["siret"], file_id=file_id)
        raise HTTPException(409, message)
    result = replay_file(request.app.state.config, engine_of(request), file_id)
    outcome = "OK" if result.done else "ECHEC"
    _journal(request, "rejeu", outcome, f"fichier n° {file_id}", result.message, siret=row["siret"], file_id=file_id)
    with engine_of(request).connect() as conn:
        after = file_reads.get_file(conn, file_id, perimeter=request.state.perimeter)
    assert after is not None  # read above in the perimeter; a replay keeps the file
    run = getattr(result.outcome, "run_id", None)
    return {
        "fait": result.done,
        "message": result.message,
        "execution": run,
        "fichier": _file_body({**file_reads.file_view(after), "esat": None, "caf": None}),
    }


@endpoint(GESTIONNAIRE)
def bulk_replay(request: Request) -> Answer:
    """Replay in one background run every file rejected for a habilitation code that may be replayed now (of one
    Esat with `siret`), within the token's perimeter: 202 and the run to follow."""
    from exchange.app.replay import drop_area_refusal, replayable_after_import
    from exchange.app.replay_run import start_bulk_replay

    _known(request, {"siret"})
    siret = _query(request, "siret", 14)
    if siret is not None and not (len(siret) == 14 and siret.isascii() and siret.isdigit()):
        raise HTTPException(400, f"SIRET invalide : {siret!r}.")
    files = replayable_after_import(engine_of(request), siret, perimeter=request.state.perimeter)
    target = f"Esat {siret}" if siret else "tous les Esats"
    down = drop_area_refusal(request.app.state.depot.state())
    if down is not None:  # refused at once, with no run, while the drop area does not answer
        message = f"Rejeu impossible : {down}."
        _journal(request, "rejeu_groupe", "REFUSE", target, message)
        raise HTTPException(409, message)
    if not files:
        message = "Aucun fichier à rejouer : aucun fichier rejeté pour une habilitation n'attend un rejeu."
        _journal(request, "rejeu_groupe", "REFUSE", target, message)
        raise HTTPException(409, message)
    who = request.state.operator["login"]
    engine, address, token = engine_of(request), client_address(request), request.state.operator["jeton"]

    def journal(file_id: int, done: bool, message: str) -> None:  # one line per file, as the console's
        in_transaction(
            engine,
            operators.record_audit,
            who,
            "rejeu",
            "OK" if done else "ECHEC",
            f"fichier n° {file_id}",
            f"{message} (API, jeton n° {token})",
            address,
            file_id=file_id,
        )

    launch = start_bulk_replay(request.app.state.config, engine, [f["id"] for f in files], who, journal)
    _journal(request, "rejeu_groupe", "OK" if launch.started else "REFUSE", target, launch.message)
    if not launch.started:
        raise HTTPException(409, launch.message)
    return 202, {"execution": launch.run_id, "fichiers": len(files), "message": launch.message}


# -- anomalies, Esats, campaign -----------------------------------------------------------------------


@endpoint()
def anomaly_counts(request: Request) -> Answer:
    """Files rejected per code since `depuis` (default: the last 30 days), in the perimeter, as the dashboard."""
    from exchange.core.clock import paris_day_start, today_in_paris

    _known(request, {"depuis"})
    since = _day(request, "depuis") or today_in_paris() - timedelta(days=30)
    with engine_of(request).connect() as conn:
        counts = file_reads.rejections_by_code(conn, paris_day_start(since), perimeter=request.state.perimeter)
    return {"depuis": since, "fichiers_rejetes_par_code": counts}


@endpoint()
def esat(request: Request) -> Answer:
    from exchange.store.esats import esat_profile

    _known(request, set())
    siret = request.path_params["siret"]
    if not (len(siret) == 14 and siret.isascii() and siret.isdigit()):
        raise HTTPException(404)
    with engine_of(request).connect() as conn:
        profile = esat_profile(conn, siret, perimeter=request.state.perimeter)
    if profile is None:
        raise HTTPException(404)
    return {**profile, "rg_par_annee": {str(k): v for k, v in profile["rg_par_annee"].items()}}


@endpoint()
def campaign(request: Request) -> Answer:
    """The campaign follow-up (app.campaign.campaign_followup): every open Esat of the perimeter without an accepted
    RG of `annee`, with its situation and who acts."""
    from exchange.app.campaign import campaign_followup
    from exchange.core.campaign import SITUATIONS, WHO_ACTS
    from exchange.core.clock import today_in_paris

    _known(request, {"annee", "caf", "situation"})
    today = today_in_paris()
    year = _int(request, "annee", today.year if today.month >= 7 else today.year - 1, low=2000, high=2100)
    caf = _query(request, "caf", 3)
    wanted = _choice(request, "situation", tuple(SITUATIONS))
    missing = campaign_followup(
        engine_of(request),
        request.app.state.depot.state(),  # its last listing: never the drop area itself
        year,
        today,
        caf.upper() if caf else None,
        perimeter=request.state.perimeter,
        memo=request.app.state.campaign_reads,
    )
    rows = [
        {**m, "qui_agit": WHO_ACTS.get(m["situation"])} for m in missing if wanted is None or m["situation"] == wanted
    ]
    return {"annee": year, "total": len(rows), "esats": rows}


# -- scheduled jobs: their state, pause and resume (national gestionnaires) ----------------------------


@endpoint()
def jobs_list(request: Request) -> Answer:
    from exchange.app.pauses import job_states

    _known(request, set())
    states = job_states(engine_of(request))
    return {"taches": [{k: s[k] for k in ("tache", "libelle", "suspendue", "par", "depuis", "motif")} for s in states]}


def _pause_target(request: Request) -> str:
    from exchange.app.pauses import ALL
    from exchange.core.vocabulary import SCHEDULED_JOBS

    job: str = request.path_params["job"]
    if job not in SCHEDULED_JOBS and job != ALL:
        raise HTTPException(404)
    return job


@endpoint(jobs=True)
def job_pause(request: Request) -> Answer:
    from exchange.app.pauses import pause

    _known(request, {"motif"})
    job = _pause_target(request)
    motif = _query(request, "motif", 500)
    result = pause(engine_of(request), job, request.state.operator["login"], motif, client_address(request))
    if not result.done:
        raise HTTPException(409, result.message)
    return {"tache": job, "message": result.message}


@endpoint(jobs=True)
def job_resume(request: Request) -> Answer:
    from exchange.app.pauses import resume

    _known(request, set())
    job = _pause_target(request)
    result = resume(engine_of(request), job, request.state.operator["login"], client_address(request))
    if not result.done:
        raise HTTPException(409, result.message)
    return {"tache": job, "message": result.message}


async def openapi(request: Request) -> Response:
    """The OpenAPI document of this API (public: it holds no data)."""
    from exchange.web.api_doc import document

    base = request.app.state.config.web.base_path
    return json_answer(document(base + PREFIX), headers={"Cache-Control": "no-cache"})


def routes() -> list[Route]:
    """The API's routes, under /api/v1."""
    return [
        Route("/openapi.json", openapi),
        Route("/executions", runs_list),
        Route("/executions/{run_id}", run_detail),
        Route("/executions/{run_id}/journal", run_journal),
        Route("/executions/{run_id}/arret", run_stop, methods=["POST"]),
        Route("/fichiers", files_list),
        Route("/fichiers/{file_id}", file_detail),
        Route("/fichiers/{file_id}/rejeu", file_replay, methods=["POST"]),
        Route("/rejeux", bulk_replay, methods=["POST"]),
        Route("/anomalies", anomaly_counts),
        Route("/esats/{siret}", esat),
        Route("/campagne", campaign),
        Route("/taches", jobs_list),
        Route("/taches/{job}/suspension", job_pause, methods=["POST"]),
        Route("/taches/{job}/reprise", job_resume, methods=["POST"]),
    ]
