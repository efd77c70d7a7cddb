"""The Esat page and the « relancer » actions: start a job now, pause or resume a scheduled job, replay at once
every file rejected for a habilitation code (of one Esat, or all of them after a corrected extract). Each action
has its confirmation page, calls the same use case as the command line and is journaled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from exchange.app.launch import LAUNCHABLE, start_job
from exchange.app.pauses import ALL, job_states, pause, resume
from exchange.app.replay import drop_area_refusal, replayable_after_import
from exchange.core.vocabulary import JOB_LABELS, SCHEDULED_JOBS
from exchange.store.esats import esat_profile
from exchange.store.pauses import paused_jobs
from exchange.store.reads import files as file_reads
from exchange.store.reads.runs import next_scheduled_runs
from exchange.web.actions import _audit
from exchange.web.kit import GESTIONNAIRE, drives_jobs, engine_of, flash, page, redirect, render
from exchange.web.pages import _int, _pages, _query_without_page
from exchange.web.security import checked_form, client_address
from schemas.fields import plural

ESAT_FILES = 20


def _siret(request: Request) -> str:
    siret: str = request.path_params["siret"]
    if not (len(siret) == 14 and siret.isdigit()):
        raise HTTPException(404)
    return siret


@page()
def esat(request: Request) -> Response:
    siret = _siret(request)
    perimeter = request.state.perimeter
    current = _int(request, "page", 1) or 1
    q = file_reads.FileQuery(siret=siret)
    with engine_of(request).connect() as conn:
        profile = esat_profile(conn, siret, perimeter=perimeter)
        if profile is None:
            raise HTTPException(404)
        rows = file_reads.list_files(conn, q, perimeter=perimeter, limit=ESAT_FILES, offset=(current - 1) * ESAT_FILES)
    replayable = replayable_after_import(engine_of(request), siret, perimeter=perimeter)
    return render(
        request,
        "esat.html",
        nav="files",
        esat=profile,
        files=rows,
        pages=_pages(profile["fichiers"], current, ESAT_FILES),
        query=_query_without_page(request),
        replayable=replayable,
        headers=None,
    )


# -- pause or resume a scheduled job (national gestionnaires: the scheduler serves every Caf) -------------

PAUSE_ACTIONS = {"suspendre": "Suspendre", "reprendre": "Reprendre"}


def _pause_target(request: Request) -> str:
    """A scheduled job's name, or « toutes »; 404 otherwise."""
    job: str = request.path_params["job"]
    if job not in SCHEDULED_JOBS and job != ALL:
        raise HTTPException(404)
    return job


def _pause_page(request: Request, action: str) -> Response:
    drives_jobs(request)
    job = _pause_target(request)
    engine = engine_of(request)
    states = [s for s in job_states(engine) if job == ALL or s["tache"] == job]
    with engine.connect() as conn:
        next_runs = [
            n
            for n in next_scheduled_runs(conn)
            if any(n["tache"] == s["tache"] or n["tache"].startswith(s["tache"] + "-") for s in states)
        ]
    wanted = [s for s in states if s["suspendue"] == (action == "reprendre")]  # what the action would change
    return render(
        request,
        "pause.html",
        nav="dashboard",
        job=job,
        action=action,
        label=PAUSE_ACTIONS[action],
        states=states,
        wanted=wanted,
        next_runs=next_runs,
        every=job == ALL,
    )


async def _pause_post(request: Request, action: str) -> Response:
    form = await checked_form(request)
    drives_jobs(request)
    job = _pause_target(request)
    who = request.state.operator["login"]
    address = client_address(request)
    if action == "suspendre":
        motif = form.get("motif")
        result = await run_in_threadpool(
            pause, engine_of(request), job, who, motif if isinstance(motif, str) else None, address
        )
    else:
        result = await run_in_threadpool(resume, engine_of(request), job, who, address)
    await run_in_threadpool(request.app.state.figures.nudge)  # /sante and /metrics say it at once
    flash(request, "success" if result.done else "error", result.message)  # journaled by the use case
    return redirect(request, "/")


@page(role=GESTIONNAIRE, every_caf=True)
def pause_confirm(request: Request) -> Response:
    return _pause_page(request, "suspendre")


@page(role=GESTIONNAIRE, every_caf=True)
async def pause_job(request: Request) -> Response:
    return await _pause_post(request, "suspendre")


@page(role=GESTIONNAIRE, every_caf=True)
def resume_confirm(request: Request) -> Response:
    return _pause_page(request, "reprendre")


@page(role=GESTIONNAIRE, every_caf=True)
async def resume_job(request: Request) -> Response:
    return await _pause_post(request, "reprendre")


# -- bulk replay --------------------------------------------------------------------------------------


def _bulk_target(request: Request) -> tuple[str | None, list[dict[str, Any]]]:
    siret = request.query_params.get("siret", "").strip() or None
    if siret is not None and not (len(siret) == 14 and siret.isdigit()):
        raise HTTPException(400, f"SIRET invalide : {siret!r}.")
    return siret, replayable_after_import(engine_of(request), siret, perimeter=request.state.perimeter)


@page(role=GESTIONNAIRE)
def bulk_replay_confirm(request: Request) -> Response:
    from exchange.app.replay import drop_area_refusal

    siret, files = _bulk_target(request)
    return render(
        request,
        "bulk_replay.html",
        nav="files",
        siret=siret,
        files=files,
        refusal=drop_area_refusal(request.app.state.depot.state()),
        contact=request.app.state.config.web.national_contact,
    )


def file_journal(request: Request) -> Callable[[int, bool, str], None]:
    """One journal line per file of a bulk replay, as the operator's single replay writes it (from the background
    run: the operator and their address are kept here)."""
    from exchange.store.engine import in_transaction
    from exchange.store.operators import record_audit

    engine, who, address = engine_of(request), request.state.operator["login"], client_address(request)

    def write(file_id: int, done: bool, message: str) -> None:
        in_transaction(
            engine,
            record_audit,
            who,
            "rejeu",
            "OK" if done else "ECHEC",
            f"fichier n° {file_id}",
            message,
            address,
            file_id=file_id,
        )

    return write


@page(role=GESTIONNAIRE)
async def bulk_replay(request: Request) -> Response:
    """The files replayed in one run in the background (app.replay_run): the run page shows its progress, file by
    file, and a national gestionnaire may stop it there."""
    from exchange.app.replay_run import start_bulk_replay

    await checked_form(request)
    siret, files = await run_in_threadpool(_bulk_target, request)
    back = f"/esats/{siret}" if siret else "/fichiers?statut=REJETE&code=H"
    if not files:
        flash(
            request, "info", "Aucun fichier à rejouer : aucun fichier rejeté pour une habilitation n'attend un rejeu."
        )
        return redirect(request, back)
    refusal = drop_area_refusal(request.app.state.depot.state())  # refused at once, no run, while it is down
    if refusal is not None:
        target = f"de l'Esat {siret}" if siret else "rejetés pour une habilitation"
        flash(request, "error", f"Rejeu groupé des fichiers {target} : aucun rejeu lancé, {refusal}.")
        return redirect(request, back)
    launch = await run_in_threadpool(
        start_bulk_replay,
        request.app.state.config,
        engine_of(request),
        [f["id"] for f in files],
        request.state.operator["login"],
        file_journal(request),
    )
    target = f"Esat {siret}" if siret else "tous les Esats"
    what = f"de l'Esat {siret}" if siret else "rejetés pour une habilitation"
    message = f"{launch.message} Rejeu des {plural(len(files), 'fichier', 'fichiers')} {what} : suivez-le ci-dessous."
    await run_in_threadpool(
        _audit, request, "rejeu_groupe", "OK" if launch.started else "REFUSE", target, launch.message
    )
    flash(request, "success" if launch.started else "error", message if launch.run_id else launch.message)
    return redirect(request, f"/executions/{launch.run_id}" if launch.run_id is not None else back)


# -- start a job now ----------------------------------------------------------------------------------


def _job(request: Request) -> str:
    job: str = request.path_params["job"]
    if job not in LAUNCHABLE:
        raise HTTPException(404)
    return job


@page(role=GESTIONNAIRE, every_caf=True)
def launch_confirm(request: Request) -> Response:
    drives_jobs(request)
    job = _job(request)
    with engine_of(request).connect() as conn:
        paused = paused_jobs(conn).get(job)
    return render(request, "launch.html", nav="runs", job=job, what=LAUNCHABLE[job], paused=paused)


@page(role=GESTIONNAIRE, every_caf=True)
async def launch(request: Request) -> Response:
    await checked_form(request)
    drives_jobs(request)
    job = _job(request)
    who = request.state.operator["login"]
    result = await run_in_threadpool(start_job, request.app.state.config, engine_of(request), job, who)
    await run_in_threadpool(
        _audit,
        request,
        "lancement",
        "OK" if result.started else "REFUSE",
        f"tâche « {JOB_LABELS.get(job, job)} »",
        result.message,
    )
    flash(request, "success" if result.started else "error", result.message)
    if result.run_id is not None:
        return redirect(request, f"/executions/{result.run_id}")
    return redirect(request, "/executions" if result.started else "/")


# -- stop a running job (its run page) ------------------------------------------------------------------


@page(role=GESTIONNAIRE, every_caf=True)
async def stop_run(request: Request) -> Response:
    """Ask the run's job to stop between two files (app.stop), as the command line's Ctrl-C; journaled."""
    from exchange.app.stop import ask_stop

    await checked_form(request)
    drives_jobs(request)
    run_id = request.path_params["run_id"]
    result = await run_in_threadpool(ask_stop, engine_of(request), run_id, request.state.operator["login"])
    if result.unknown:
        raise HTTPException(404)
    await run_in_threadpool(
        _audit, request, "arret", "OK" if result.done else "REFUSE", f"exécution n° {run_id}", result.message
    )
    flash(request, "success" if result.done else "error", result.message)
    return redirect(request, f"/executions/{run_id}")
