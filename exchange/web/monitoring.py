"""What the monitoring system reads, without a login and without personal data: `GET /sante/vivant` (liveness),
`GET /sante` (the verdict, its reasons as codes and counts; 200, or 503 on ALERTE) and `GET /metrics` (Prometheus
text format); all from figures prepared in the background (exchange.app.figures, exchange.app.depot_watch)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


async def vivant(request: Request) -> Response:
    """Liveness: 200 while the process answers; reads neither the database nor the drop area."""
    return JSONResponse({"etat": "VIVANT"}, headers={"cache-control": "no-store"})


def _readiness(request: Request) -> dict[str, Any]:
    from exchange.app.figures import readiness
    from exchange.core.clock import utcnow

    state = request.app.state
    figures = state.figures.current()
    return readiness(figures, state.depot.state(), utcnow(), state.figures.failing)


async def sante(request: Request) -> Response:
    """Readiness: the verdict as codes and counts (prepared figures, the drop area's last state); 200 for OK and
    À TRAITER (the service works), 503 for ALERTE."""
    body = await run_in_threadpool(_readiness, request)
    return JSONResponse(
        body, status_code=503 if body["etat"] == "ALERTE" else 200, headers={"cache-control": "no-store"}
    )


def _exposition(request: Request) -> bytes:

    from exchange.app.figures import Figures, caf_files
    from exchange.core.clock import utcnow
    from exchange.core.health import Health
    from exchange.core.vocabulary import SCHEDULED_JOBS

    keeper = request.app.state.figures
    figures = keeper.current()  # prepared in the background: no database work here
    if figures is None:  # the database never answered: no count, an alert
        empty: dict[str, dict[str, Any]] = {
            k: {} for k in ("runs", "files", "records", "anomalies", "last_run_seconds", "last_success")
        }
        figures = Figures(Health(checked_at=utcnow()), empty, frozenset(), utcnow())
    depot = request.app.state.depot.state()
    counts, paused, health = figures.counts, figures.paused, figures.health
    healthy = health.healthy and depot.unreachable_since is None and not keeper.failing

    class Snapshot:
        def collect(self) -> Iterator[Metric]:  # a Prometheus collector
            runs = CounterMetricFamily(
                "esat_runs", "Exécutions enregistrées, par tâche et statut", labels=["tache", "statut"]
            )
            for (job, status), n in sorted(counts["runs"].items()):
                runs.add_metric([job, status], n)
            yield runs
            f = GaugeMetricFamily("esat_files", "Fichiers reçus, par état et statut", labels=["etat", "statut"])
            for (state, statut), n in sorted(counts["files"].items()):
                f.add_metric([state, statut], n)
            yield f
            r = GaugeMetricFamily("esat_records", "Enregistrements stockés, par type", labels=["type"])
            for kind, n in sorted(counts["records"].items()):
                r.add_metric([kind], n)
            yield r
            a = GaugeMetricFamily("esat_anomalies", "Anomalies enregistrées, par code", labels=["code"])
            for code, n in sorted(counts["anomalies"].items()):
                a.add_metric([code], n)
            yield a
            d = GaugeMetricFamily(
                "esat_last_run_duration_seconds", "Durée de la dernière exécution terminée", labels=["tache"]
            )
            for job, seconds in sorted(counts["last_run_seconds"].items()):
                d.add_metric([job], seconds)
            yield d
            s = GaugeMetricFamily(
                "esat_last_success_timestamp_seconds",
                "Fin de la dernière exécution OK (secondes depuis 1970)",
                labels=["tache"],
            )
            for job, at in sorted(counts["last_success"].items()):
                s.add_metric([job], at.timestamp())
            yield s
            h = GaugeMetricFamily("esat_health_alert", "1 quand `status` est en ALERTE, 0 sinon")
            h.add_metric([], 0 if healthy else 1)
            yield h
            t = GaugeMetricFamily(
                "esat_health_caf_items",
                "Fichiers « À TRAITER » par la Caf (rejetés pour une habilitation, sans fichier accepté depuis)",
            )
            t.add_metric([], caf_files(figures))
            yield t
            up = GaugeMetricFamily(
                "esat_source_up", "1 quand la zone de dépôt a répondu à son dernier relevé, 0 sinon (ou pas encore)"
            )
            up.add_metric([], 1 if depot.up else 0)
            yield up
            if depot.seconds_since_listing is not None:
                age = GaugeMetricFamily(
                    "esat_source_seconds_since_last_listing",
                    "Secondes depuis le dernier relevé réussi de la zone de dépôt",
                )
                age.add_metric([], depot.seconds_since_listing)
                yield age
            down = GaugeMetricFamily(
                "esat_source_unreachable_since_timestamp_seconds",
                "Depuis quand la zone de dépôt ne répond pas (secondes depuis 1970 ; 0 quand elle répond)",
            )
            down.add_metric([], depot.unreachable_since.timestamp() if depot.unreachable_since else 0)
            yield down
            made = GaugeMetricFamily(
                "esat_figures_timestamp_seconds", "Quand ces chiffres ont été lus dans la base (secondes depuis 1970)"
            )
            made.add_metric([], figures.made_at.timestamp())
            yield made
            p = GaugeMetricFamily(
                "esat_job_paused",
                "1 quand la tâche planifiée est suspendue (ses créneaux sont sautés), 0 sinon",
                labels=["tache"],
            )
            for job in SCHEDULED_JOBS:
                p.add_metric([job], 1 if job in paused else 0)
            yield p

    registry = CollectorRegistry()
    registry.register(Snapshot())
    return generate_latest(registry)


async def metrics(request: Request) -> Response:
    return Response(
        await run_in_threadpool(_exposition, request),
        media_type=CONTENT_TYPE_LATEST,
        headers={"cache-control": "no-store"},
    )
