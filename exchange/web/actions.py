"""The console's forms: log in and out, replay a file, import a Habpps extract, close a campaign, migration report.

Every action checks the CSRF token and the role, calls the same application function as the command line,
and writes one audit line (who, when, what, outcome).
"""

from __future__ import annotations

import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from exchange.core.clock import PARIS, utcnow
from exchange.core.throttle import delay_seconds, retry_at
from exchange.core.vocabulary import IGNORE, OK
from exchange.edges.transport.base import is_safe_name
from exchange.store import operators, throttle
from exchange.store.engine import in_transaction
from exchange.store.reads import campaign as campaign_reads
from exchange.store.reads import files as file_reads
from exchange.web.kit import (
    GESTIONNAIRE,
    engine_of,
    flash,
    national_only,
    page,
    redirect,
    render,
    resolve_operator,
    safe_next,
)
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
    web = request.app.state.config.web
    address = client_address(request)
    engine = engine_of(request)
    now = utcnow()
    forgotten = now - timedelta(seconds=web.login_window_seconds)
    failures, last = await run_in_threadpool(in_transaction, engine, throttle.failures, login_name, address, forgotten)
    allowed = retry_at(failures, last, web.login_attempts, web.login_max_delay_seconds) if last else now
    if allowed > now:
        wait = max(1, math.ceil((allowed - now).total_seconds()))
        await run_in_threadpool(
            in_transaction,
            engine,
            operators.record_audit,
            login_name or "?",
            "connexion",
            "REFUSE",
            None,
            f"trop tôt après {failures} échecs",
            address,
        )
        page = render(
            request,
            "login.html",
            status_code=429,
            suite=suite,
            error=f"{failures} tentatives de connexion échouées pour ce compte depuis votre poste : "
            f"réessayez dans {wait} seconde{'s' if wait > 1 else ''} "
            f"(à partir de {allowed.astimezone(PARIS).strftime('%H:%M:%S')}).",
        )
        page.headers["retry-after"] = str(wait)
        return page
    found = (
        await run_in_threadpool(in_transaction, engine, operators.check_password, login_name, password)
        if login_name
        else None
    )
    if found is None:
        failures = await run_in_threadpool(
            in_transaction, engine, throttle.record_failure, login_name, address, now, forgotten
        )
        await run_in_threadpool(
            in_transaction,
            engine,
            operators.record_audit,
            login_name or "?",
            "connexion",
            "REFUSE",
            None,
            "identifiant ou mot de passe incorrect",
            address,
        )
        wait = delay_seconds(failures, web.login_attempts, web.login_max_delay_seconds)
        later = f" Prochain essai possible dans {wait:g} seconde{'s' if wait > 1 else ''}." if wait else ""
        return render(
            request, "login.html", status_code=401, suite=suite, error="Identifiant ou mot de passe incorrect." + later
        )
    await run_in_threadpool(in_transaction, engine, throttle.clear, login_name, address)
    request.session.clear()  # a fresh session (new token, new CSRF token) after logging in
    request.session["login"] = found["login"]
    request.session[NEW] = True
    await run_in_threadpool(
        in_transaction,
        engine,
        operators.record_audit,
        found["login"],
        "connexion",
        "OK",
        None,
        f"rôle {found['role']}",
        address,
    )
    return redirect(request, safe_next(request, suite))


@page()
async def logout(request: Request) -> Response:
    """End the session (on every node: it lives in the database); after a single sign-on, the provider's too."""
    from starlette.responses import RedirectResponse

    from exchange.web.oidc import logout_target

    await checked_form(request)
    sso = request.session.get("sso")
    request.session.clear()
    await run_in_threadpool(_audit, request, "deconnexion", "OK")
    target = await run_in_threadpool(logout_target, request) if sso else None
    return RedirectResponse(target, status_code=303) if target else redirect(request, "/connexion")


# -- replay ---------------------------------------------------------------------------------------


def _in_perimeter(request: Request, file_id: int) -> dict:
    """The file's row; 404 when unknown or outside the operator's perimeter (the same answer)."""
    with engine_of(request).connect() as conn:
        row = file_reads.get_file(conn, file_id, perimeter=request.state.perimeter)
    if row is None:
        raise HTTPException(404)
    return row


def _replayable(request: Request) -> dict:
    from exchange.app.replay import replay_check

    row = _in_perimeter(request, request.path_params["file_id"])  # outside: the same 404 as an unknown file
    refusal = replay_check(engine_of(request), row["id"])[1]
    if refusal:
        raise HTTPException(400, f"Rejeu impossible : {refusal}.")
    return row


@page(role=GESTIONNAIRE)
def replay_confirm(request: Request) -> Response:
    row = _replayable(request)
    return render(request, "replay.html", nav="files", file=file_reads.file_view(row))


@page(role=GESTIONNAIRE)
async def replay(request: Request) -> Response:
    from exchange.app.replay import replay_file

    await checked_form(request)
    file_id = request.path_params["file_id"]
    row = await run_in_threadpool(_in_perimeter, request, file_id)  # outside: the same 404 as an unknown file
    result = await run_in_threadpool(replay_file, request.app.state.config, engine_of(request), file_id)
    await run_in_threadpool(
        _audit,
        request,
        "rejeu",
        "OK" if result.done else "ECHEC",
        f"fichier n° {file_id}",
        result.message,
        siret=row["siret"],
        file_id=file_id,
    )
    flash(request, "success" if result.done else "error", result.message)
    return redirect(request, f"/fichiers/{file_id}")


# -- campaign ---------------------------------------------------------------------------------------


@page(role=GESTIONNAIRE)
async def campaign_close(request: Request) -> Response:
    from exchange.app.campaign import close_campaign

    form = await checked_form(request)
    national_only(request)
    year_text = str(form.get("annee", ""))
    if not year_text.isdigit() or not 2000 <= int(year_text) <= 2100:
        raise HTTPException(400, f"Année invalide : {year_text!r}.")
    year = int(year_text)
    if form.get("confirmation") != "oui":
        flash(request, "error", "Cochez la case de confirmation pour écrire les fichiers de campagne.")
        return redirect(request, f"/campagne?annee={year}")
    outcome = await run_in_threadpool(close_campaign, request.app.state.config, engine_of(request), year)
    done = outcome.status == OK
    if done:
        written = len(outcome.tally.outputs)
        message = f"Fichiers de campagne {year} écrits : {plural(written, 'fichier', 'fichiers')} Caf (exécution n° {outcome.run_id})."
    elif outcome.status == IGNORE:
        message = f"Clôture de la campagne {year} non effectuée : {outcome.error}. Relancez plus tard."
    else:
        message = f"Clôture de la campagne {year} en échec : {outcome.error}."
    await run_in_threadpool(_audit, request, "cloture_campagne", "OK" if done else "ECHEC", f"campagne {year}", message)
    flash(request, "success" if done else "error", message)
    if outcome.run_id is None:
        return redirect(request, f"/campagne?annee={year}")
    return redirect(request, f"/executions/{outcome.run_id}")


# -- uploads -----------------------------------------------------------------------------------------


def _uploads(form, field: str) -> list[UploadFile]:  # noqa: ANN001 - FormData
    files = [f for f in form.getlist(field) if isinstance(f, UploadFile) and f.filename]
    if not files:
        raise HTTPException(400, "Aucun fichier envoyé : choisissez un fichier avant de valider.")
    for f in files:
        if not is_safe_name(Path(f.filename).name):
            raise HTTPException(400, f"Nom de fichier refusé : {f.filename!r}.")
    return files


async def _save(files: list[UploadFile], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for f in files:
        target = folder / Path(f.filename).name
        target.write_bytes(await f.read())
        saved.append(target)
    return saved


@page(role=GESTIONNAIRE)
async def habilitations_import(request: Request) -> Response:
    """Keep the uploaded extract under [storage] dir/habilitations/<time>/, then import it all-or-nothing."""
    from exchange.app.habilitations import import_habilitations

    form = await checked_form(request)
    national_only(request)
    files = _uploads(form, "extrait")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    saved = await _save(files, request.app.state.config.storage_dir / "habilitations" / stamp)
    source = saved[0] if len(saved) == 1 and saved[0].suffix.lower() == ".xlsx" else saved[0].parent
    login = request.state.operator["login"]
    result = await run_in_threadpool(import_habilitations, request.app.state.config, engine_of(request), source, login)
    names = ", ".join(p.name for p in saved)
    if result.busy is not None:
        detail = f"import non effectué : {result.busy}"
    elif result.accepted:
        detail = f"import n° {result.import_id} : " + ", ".join(f"{t} {n}" for t, n in result.counts.items())
    else:
        detail = f"{plural(len(result.problems), 'problème', 'problèmes')} : " + "; ".join(
            str(p) for p in result.problems[:20]
        )
    await run_in_threadpool(
        _audit, request, "import_habilitations", "OK" if result.accepted else "REFUSE", names, detail
    )
    with engine_of(request).connect() as conn:
        in_force = campaign_reads.habilitations_in_force(conn)
    return render(
        request,
        "habilitations.html",
        status_code=200 if result.accepted else 422,
        nav="habilitations",
        in_force=in_force,
        result=result,
        sent=names,
    )


@page()
async def migration_report(request: Request) -> Response:
    from exchange.edges.habtiers import (
        REPORT_COLUMNS,
        MigrationError,
        report_rows,
        write_migration_csv,
    )
    from exchange.edges.habtiers import (
        migration_report as build_report,
    )

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
        name = f"rapport-migration-{Path(upload.filename).stem}.csv"
        return Response(
            data,
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )
    counts = {c: n for c, n in report.group_by("cas").len().sort("cas").iter_rows()}
    return render(
        request,
        "migration.html",
        nav="migration",
        report=report_rows(report),
        columns=REPORT_COLUMNS,
        counts=counts,
        sent=upload.filename,
    )
