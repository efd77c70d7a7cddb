"""The pages every public-service site links from its footer, readable without logging in: the accessibility
statement (RGAA), the legal notice, personal data."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from exchange.web.kit import render


async def accessibility(request: Request) -> Response:
    return render(request, "accessibilite.html", nav=None)


async def legal_notice(request: Request) -> Response:
    return render(request, "mentions_legales.html", nav=None)


async def personal_data(request: Request) -> Response:
    return render(request, "donnees_personnelles.html", nav=None)
