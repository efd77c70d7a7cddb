"""« Jetons d'API » (/jetons): every operator lists, creates and revokes their own API tokens (exchange.app.tokens);
a new token's secret is shown once, on the page that answers its creation."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from exchange.app.tokens import create_token, revoke_token, tokens_of
from exchange.store.operators import OperatorError
from exchange.web.kit import engine_of, flash, page, redirect, render
from exchange.web.security import checked_form, client_address


def _page(request: Request, status_code: int = 200, **more: object) -> Response:
    rows = tokens_of(engine_of(request), request.state.operator["login"])
    return render(request, "tokens.html", status_code=status_code, nav="tokens", tokens=rows, **more)


@page()
def tokens_page(request: Request) -> Response:
    return _page(request)


@page()
async def create(request: Request) -> Response:
    form = await checked_form(request)
    login = request.state.operator["login"]
    name = str(form.get("nom", ""))
    try:
        new = await run_in_threadpool(
            create_token, engine_of(request), login, name, by=login, address=client_address(request)
        )
    except OperatorError as e:
        return await run_in_threadpool(_page, request, 400, error=f"Jeton refusé : {e}.", nom=name[:100])
    return await run_in_threadpool(_page, request, 201, new=new)


@page()
async def revoke(request: Request) -> Response:
    form = await checked_form(request)
    number = str(form.get("jeton", ""))
    if not (number.isascii() and number.isdigit() and len(number) <= 9):
        raise HTTPException(400, "Aucun jeton désigné.")
    login = request.state.operator["login"]
    done = await run_in_threadpool(
        revoke_token, engine_of(request), login, int(number), by=login, address=client_address(request)
    )
    if done:
        flash(request, "success", f"Jeton n° {number} révoqué : il est refusé dès maintenant.")
    else:
        flash(request, "error", f"Aucun jeton actif n° {number} dans votre compte.")
    return redirect(request, "/jetons")
