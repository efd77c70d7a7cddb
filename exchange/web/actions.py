"""The console's forms: log in and out, replay a file, import a Habpps extract, close a campaign, migration report.

Every action checks the CSRF token and the role, calls the same application function as the command line,
and writes one audit line (who, when, what, outcome).
"""

from __future__ import annotations

import math
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from exchange.app.accounts import log_in
from exchange.app.campaign import close_campaign, close_message
from exchange.app.habilitations import import_habilitations
from exchange.app.journal import Actor
from exchange.app.replay import replay_check
from exchange.core.clock import PARIS, utcnow
from exchange.core.vocabulary import OK
from exchange.edges.habtiers import (
    REPORT_COLUMNS,
    MigrationError,
    report_rows,
    write_migration_csv,
)
from exchange.edges.habtiers import (
    migration_report as build_report,
)
from exchange.edges.transport.base import is_safe_name
from exchange.store import operators
from exchange.store.engine import in_transaction
from exchange.store.reads import campaign as campaign_reads
from exchange.store.reads import files as file_reads
from exchange.web.kit import (
    GESTIONNAIRE,
    disposition,
    engine_of,
    file_in_perimeter,
    flash,
    page,
    redirect,
    render,
    resolve_operator,
    safe_next,
)
from exchange.web.oidc import logout_target
from exchange.web.security import checked_form, client_address
from exchange.web.sessions import NEW
from schemas.fields import plural


def _audit(
    request: Request,
    action: str,
    outcome: str,
    target: str | None = None,
    detail: str | None = None,
    login: str | None = None,
    siret: str | None = None,
    file_id: int | None = None,
) -> None:
    who = login or request.state.operator["login"]
    in_transaction(
        engine_of(request),
        operators.record_audit,
        who,
        action,
        outcome,
        target,
        detail,
        client_address(request),
        siret=siret,
        file_id=file_id,
    )


def actor_of(request: Request) -> Actor:
    """The logged-in operator and its client address, as a use case journals them."""
    return Actor(request.state.operator["login"], client_address(request))


# -- log in / out ---------------------------------------------------------------------------------


async def login_form(request: Request) -> Response:
    if await run_in_threadpool(resolve_operator, request):
        return redirect(request, safe_next(request, request.query_params.get("suite")))
    return render(request, "login.html", suite=request.query_params.get("suite", ""), error=None)


async def login(request: Request) -> Response:
    form = await checked_form(request)
    login_name = str(form.get("login", "")).strip()[:200]
    password = str(form.get("password", ""))
    suite = str(form.get("suite", ""))
    now = utcnow()
    outcome = await run_in_threadpool(
        log_in, engine_of(request), request.app.state.config.web, login_name, password, client_address(request), now
    )
    if outcome.too_early:
        wait = max(1, math.ceil((outcome.allowed_at - now).total_seconds()))
        page = render(
            request,
            "login.html",
            status_code=429,
            suite=suite,
            error=f"{outcome.failures} tentatives de connexion échouées pour ce compte depuis votre poste : "
            f"réessayez dans {wait} seconde{'s' if wait > 1 else ''} "
            f"(à partir de {outcome.allowed_at.astimezone(PARIS).strftime('%H:%M:%S')}).",
        )
        page.headers["retry-after"] = str(wait)
        return page
    if outcome.operator is None:
        delay = outcome.wait_seconds
        later = f" Prochain essai possible dans {delay:g} seconde{'s' if delay > 1 else ''}." if delay else ""
        return render(
            request, "login.html", status_code=401, suite=suite, error="Identifiant ou mot de passe incorrect." + later
        )
    request.session.clear()  # a fresh session (new token, new CSRF token) after logging in
    request.session["login"] = outcome.operator["login"]
    request.session[NEW] = True
    return redirect(request, safe_next(request, suite))


@page()
async def logout(request: Request) -> Response:
    """End the session (on every node: it lives in the database); after a single sign-on, the provider's too."""
    await checked_form(request)
    sso = request.session.get("sso")
    request.session.clear()
    await run_in_threadpool(_audit, request, "deconnexion", "OK")
    target = await run_in_threadpool(logout_target, request) if sso else None
    return RedirectResponse(target, status_code=303) if target else redirect(request, "/connexion")


# -- replay ---------------------------------------------------------------------------------------


def _replayable(request: Request) -> dict[str, Any]:
    row = file_in_perimeter(request, request.path_params["file_id"])  # outside: the same 404 as an unknown file
    from exchange.app.replay import drop_area_refusal

    refusal = replay_check(engine_of(request), row["id"])[1] or drop_area_refusal(request.app.state.depot.state())
    if refusal:
        raise HTTPException(400, f"Rejeu impossible : {refusal}.")
    return row


@page(role=GESTIONNAIRE)
def replay_confirm(request: Request) -> Response:
    row = _replayable(request)
    return render(request, "replay.html", nav="files", file=file_reads.file_view(row))


@page(role=GESTIONNAIRE)
async def replay(request: Request) -> Response:
    from exchange.app.replay import replay_soon

    await checked_form(request)
    file_id = request.path_params["file_id"]
    await run_in_threadpool(file_in_perimeter, request, file_id)  # outside: the same 404 as an unknown file
    depot = request.app.state.depot.state()  # refused at once while the drop area does not answer
    result = await run_in_threadpool(
        replay_soon, request.app.state.config, engine_of(request), file_id, depot, actor_of(request)
    )
    await run_in_threadpool(request.app.state.figures.nudge)
    request.app.state.depot.nudge()  # its comptes rendus written: list the drop area again
    flash(request, "success" if result.done else "error", result.message)
    return redirect(request, f"/fichiers/{file_id}")


# -- campaign ---------------------------------------------------------------------------------------


@page(role=GESTIONNAIRE, every_caf=True)
async def campaign_close(request: Request) -> Response:
    form = await checked_form(request)
    year_text = str(form.get("annee", ""))
    if not year_text.isdigit() or not 2000 <= int(year_text) <= 2100:
        raise HTTPException(400, f"Année invalide : {year_text!r}.")
    year = int(year_text)
    if form.get("confirmation") != "oui":
        flash(request, "error", "Cochez la case de confirmation pour écrire les fichiers de campagne.")
        return redirect(request, f"/campagne?annee={year}")
    outcome = await run_in_threadpool(
        close_campaign, request.app.state.config, engine_of(request), year, actor=actor_of(request)
    )
    flash(request, "success" if outcome.status == OK else "error", close_message(outcome, year))
    if outcome.run_id is None:
        return redirect(request, f"/campagne?annee={year}")
    return redirect(request, f"/executions/{outcome.run_id}")


# -- uploads -----------------------------------------------------------------------------------------


def _upload_name(f: UploadFile) -> str:
    """The sent file's own name (_uploads keeps only the files sent with one)."""
    return Path(f.filename or "").name


def _uploads(form: FormData, field: str) -> list[UploadFile]:
    files = [f for f in form.getlist(field) if isinstance(f, UploadFile) and f.filename]
    if not files:
        raise HTTPException(400, "Aucun fichier envoyé : choisissez un fichier avant de valider.")
    for f in files:
        if not is_safe_name(_upload_name(f)):
            raise HTTPException(400, f"Nom de fichier refusé : {f.filename!r}.")
    return files


async def _save(files: list[UploadFile], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for f in files:
        target = folder / _upload_name(f)
        target.write_bytes(await f.read())
        saved.append(target)
    return saved


@page(role=GESTIONNAIRE, every_caf=True)
async def habilitations_import(request: Request) -> Response:
    """Keep the uploaded extract under [storage] dir/habilitations/<time>/, then import it all-or-nothing."""
    form = await checked_form(request)
    files = _uploads(form, "extrait")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    saved = await _save(files, request.app.state.config.storage_dir / "habilitations" / stamp)
    source = saved[0] if len(saved) == 1 and saved[0].suffix.lower() == ".xlsx" else saved[0].parent
    names = ", ".join(p.name for p in saved)
    result = await run_in_threadpool(
        import_habilitations,
        request.app.state.config,
        engine_of(request),
        source,
        request.state.operator["login"],
        journal=actor_of(request),
        shown=names,
    )
    with engine_of(request).connect() as conn:
        in_force = campaign_reads.habilitations_in_force(conn)
    replayable = 0
    if result.accepted:
        from exchange.app.replay import replayable_after_import

        replayable = len(
            await run_in_threadpool(replayable_after_import, engine_of(request), perimeter=request.state.perimeter)
        )
        await run_in_threadpool(request.app.state.figures.nudge)
    return render(
        request,
        "habilitations.html",
        status_code=200 if result.accepted else 422,
        nav="habilitations",
        in_force=in_force,
        result=result,
        sent=names,
        replayable=replayable,
        contact=request.app.state.config.web.national_contact,
    )


@page()
async def migration_report(request: Request) -> Response:
    form = await checked_form(request)
    (upload,) = _uploads(form, "classeur")[:1]
    with tempfile.TemporaryDirectory(prefix="esat-migration-") as tmp:
        (path,) = await _save([upload], Path(tmp))
        try:
            report = await run_in_threadpool(build_report, path)
        except MigrationError as e:
            await run_in_threadpool(_audit, request, "rapport_migration", "REFUSE", upload.filename, str(e))
            return render(request, "migration.html", status_code=422, nav="migration", report=None, error=str(e))
        out = Path(tmp) / "rapport.csv"
        write_migration_csv(report, out)
        data = out.read_bytes()
    await run_in_threadpool(
        _audit, request, "rapport_migration", "OK", upload.filename, plural(report.height, "partenaire", "partenaires")
    )
    if form.get("action") == "csv":
        name = f"rapport-migration-{Path(_upload_name(upload)).stem}.csv"
        return Response(
            data,
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": disposition(name)},
        )
    counts = dict(report.group_by("cas").len().sort("cas").iter_rows())
    return render(
        request,
        "migration.html",
        nav="migration",
        report=report_rows(report),
        columns=REPORT_COLUMNS,
        counts=counts,
        sent=upload.filename,
    )
