"""What the monitoring system reads, without a login and without personal data: `GET /sante` (the `status`
verdict and its reasons as JSON; 200, or 503 on ALERTE) and `GET /metrics` (Prometheus text format)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exchange.app.status import check_health
from exchange.core.health import purge_counts
from exchange.core.perimeter import EVERYTHING
from exchange.core.vocabulary import SCHEDULED_JOBS
from exchange.store.metrics import service_counts
from exchange.store.pauses import paused_jobs


def _health(request: Request) -> dict:
    h = check_health(request.app.state.engine, request.app.state.depot, perimeter=EVERYTHING)
    return {
        "etat": h.state,
        "raisons": [r.text for r in h.alerts],
        "a_traiter": [r.text for r in h.todo],
        "avertissements": [r.text for r in h.warnings],
        "verifie_le": h.checked_at.isoformat(),
        "purge": purge_counts(h),
    }


async def sante(request: Request) -> Response:
    """The verdict: 200 for OK and À TRAITER (the service works), 503 for ALERTE."""
    body = await run_in_threadpool(_health, request)
    return JSONResponse(
        body, status_code=503 if body["etat"] == "ALERTE" else 200, headers={"cache-control": "no-store"}
    )


def _exposition(request: Request) -> bytes:
    engine = request.app.state.engine
    with engine.connect() as conn:
        counts = service_counts(conn, perimeter=EVERYTHING)
        paused = paused_jobs(conn)
    health = check_health(engine, None, perimeter=EVERYTHING)  # the drop area is listed by /sante only

    class Snapshot:
        def collect(self):  # noqa: ANN202 - a Prometheus collector
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
            h.add_metric([], 0 if health.healthy else 1)
            yield h
            t = GaugeMetricFamily(
                "esat_health_caf_items",
                "Raisons « À TRAITER » (fichiers rejetés pour une habilitation qui attendent la Caf)",
            )
            t.add_metric([], len(health.todo))
            yield t
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
