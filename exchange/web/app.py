"""The console's ASGI application: routes, templates, who is logged in, error pages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from exchange.app.depot_watch import DepotWatch
from exchange.app.figures import FigureKeeper
from exchange.app.memo import VersionedMemo
from exchange.config import Config
from exchange.edges.transport.factory import open_transport
from exchange.store.engine import Engine
from exchange.store.reads.campaign import campaign_data_version
from exchange.web import accounts, actions, api, esats, formats, legal, lists, monitoring, oidc, pages, tokens, verify
from exchange.web.kit import http_error
from exchange.web.security import ProxyAndHeaders


def campaign_version(engine: Engine) -> tuple[Any, ...] | None:
    """store.reads.campaign.campaign_data_version, on a connection of its own."""
    with engine.connect() as conn:
        return campaign_data_version(conn)


HERE = Path(__file__).resolve().parent
# The DSFR's built assets: the copy an installed package carries (setup.py), else a checkout's `npm ci`.
PACKAGED_DSFR, CHECKOUT_DSFR = HERE / "dsfr", HERE / "node_modules" / "@gouvfr" / "dsfr" / "dist"
DSFR_DIST = PACKAGED_DSFR if (PACKAGED_DSFR / "dsfr.min.css").is_file() else CHECKOUT_DSFR


def templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(HERE / "templates"))
    t.env.filters.update(
        paris=formats.paris,
        heure=formats.hour,
        duree=formats.duration,
        nombre=formats.number,
        badge=formats.badge,
        tache=formats.job,
        pluriel=formats.plural_of,
    )
    t.env.trim_blocks = t.env.lstrip_blocks = True
    return t


def create_app(config: Config, engine: Engine) -> ProxyAndHeaders:
    """The console for this configuration and database."""
    routes = [
        Route("/", pages.dashboard, name="dashboard"),
        Route("/executions", lists.runs_list),
        Route("/executions.csv", lists.runs_csv),
        Route("/executions/{run_id:int}", lists.run_detail),
        Route("/executions/{run_id:int}/arreter", esats.stop_run, methods=["POST"]),
        Route("/executions/{run_id:int}/journal", lists.run_journal),
        Route("/executions/{run_id:int}/journal.txt", lists.run_journal_txt),
        Route("/executions/{run_id:int}/journal.json", lists.run_journal_json),
        Route("/fichiers", lists.files_list),
        Route("/fichiers.csv", lists.files_csv),
        Route("/fichiers/{file_id:int}", pages.file_detail),
        Route("/fichiers/{file_id:int}/cr/{name}", pages.compte_rendu),
        Route("/fichiers/{file_id:int}/rejouer", actions.replay_confirm, methods=["GET"]),
        Route("/fichiers/{file_id:int}/rejouer", actions.replay, methods=["POST"]),
        Route("/esats/{siret}", esats.esat),
        Route("/rejeux", esats.bulk_replay_confirm, methods=["GET"]),
        Route("/rejeux", esats.bulk_replay, methods=["POST"]),
        Route("/taches/{job}/lancer", esats.launch_confirm, methods=["GET"]),
        Route("/taches/{job}/lancer", esats.launch, methods=["POST"]),
        Route("/taches/{job}/suspendre", esats.pause_confirm, methods=["GET"]),
        Route("/taches/{job}/suspendre", esats.pause_job, methods=["POST"]),
        Route("/taches/{job}/reprendre", esats.resume_confirm, methods=["GET"]),
        Route("/taches/{job}/reprendre", esats.resume_job, methods=["POST"]),
        Route("/campagne", pages.campaign),
        Route("/campagne.csv", pages.campaign_csv),
        Route("/campagne/cloture", actions.campaign_close, methods=["POST"]),
        Route("/habilitations", pages.habilitations, methods=["GET"]),
        Route("/habilitations", actions.habilitations_import, methods=["POST"]),
        Route("/migration", pages.migration, methods=["GET"]),
        Route("/migration", actions.migration_report, methods=["POST"]),
        Route("/journal", pages.audit),
        Route("/operateurs", accounts.operators_list),
        Route("/operateurs/nouveau", accounts.new_form, methods=["GET"]),
        Route("/operateurs/nouveau", accounts.create, methods=["POST"]),
        Route("/operateurs/compte", accounts.account),
        Route("/operateurs/acces", accounts.change_access, methods=["POST"]),
        Route("/operateurs/mot-de-passe", accounts.change_password, methods=["POST"]),
        Route("/operateurs/etat", accounts.change_state, methods=["POST"]),
        Route("/operateurs/suppression", accounts.remove_confirm, methods=["GET"]),
        Route("/operateurs/suppression", accounts.remove, methods=["POST"]),
        Route("/journal.csv", lists.audit_csv),
        Route("/jetons", tokens.tokens_page, methods=["GET"]),
        Route("/jetons", tokens.create, methods=["POST"]),
        Route("/jetons/revocation", tokens.revoke, methods=["POST"]),
        Route("/accessibilite", legal.accessibility),
        Route("/mentions-legales", legal.legal_notice),
        Route("/donnees-personnelles", legal.personal_data),
        Route("/sante", monitoring.sante),
        Route("/sante/vivant", monitoring.vivant),
        Route("/metrics", monitoring.metrics),
        Route("/connexion", actions.login_form, methods=["GET"]),
        Route("/connexion", actions.login, methods=["POST"]),
        Route("/deconnexion", actions.logout, methods=["POST"]),
        *verify.routes(config),  # « Vérifier mon fichier », public
        Route("/connexion/oidc", oidc.start, methods=["GET"]),
        Mount(api.PREFIX, routes=api.routes()),  # the JSON API, by operator token
        Route(oidc.CALLBACK, oidc.callback, methods=["GET"]),
        Mount("/static/dsfr", app=StaticFiles(directory=str(DSFR_DIST), check_dir=False), name="dsfr"),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    if config.web.base_path:
        routes = [Mount(config.web.base_path, routes=routes)]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:  # the background readers: drop area, figures, campaign
        app.state.depot.start()
        app.state.figures.start()
        from exchange.web.warm import CampaignWarmer

        warmer = CampaignWarmer(engine, app.state.campaign_reads)  # the national campaign read before it is asked
        app.state.campaign_warmer = warmer
        warmer.start()
        yield
        warmer.stop()
        app.state.depot.stop()
        app.state.figures.stop()

    # Starlette types a handler as taking any Exception, though it calls it only with the class it is registered for
    handlers = {HTTPException: http_error}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)  # type: ignore[arg-type]
    app.state.config = config
    app.state.engine = engine
    app.state.templates = templates()
    # the drop area listed in the background every [web] depot_cache_seconds: no page view ever lists it
    app.state.depot = DepotWatch(
        lambda: open_transport(config), max(1, config.web.depot_cache_seconds), config.web.depot_patience_seconds
    )
    # the figures of /sante and /metrics, read in the background when the data moved
    app.state.figures = FigureKeeper(engine)
    # the campaign's heavy reads (a national year of records), read again only once a run or an import changed them
    app.state.campaign_reads = VersionedMemo(lambda: campaign_version(engine))
    return ProxyAndHeaders(app, config, engine)


def dsfr_installed() -> bool:
    return (DSFR_DIST / "dsfr.min.css").is_file()
