"""The OpenAPI 3.1 document of the JSON API (exchange.web.api), served at /api/v1/openapi.json; tests validate it
and check every answer against its schemas."""

from __future__ import annotations

from typing import Any

from exchange.core.vocabulary import ETATS, JOBS, RUN_STATUSES, SCHEDULED_JOBS, STATUTS


def _s(kind: str | list[str], description: str | None = None, **more: object) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, **more}
    if description:
        out["description"] = description
    return out


INT, STR, NUM, BOOL = "integer", "string", "number", "boolean"
TEXT_OR_NULL = _s([STR, "null"])
INT_OR_NULL = _s([INT, "null"])
DAY = _s(STR, format="date")
STAMP = _s(STR, "UTC, ISO 8601", format="date-time")
COUNTS = _s("object", "code → nombre", additionalProperties=_s(INT))


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(props: dict[str, Any], required: list[str] | None = None, extra: bool = False) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": extra,
    }


SCHEMAS = {
    "Erreur": _object({"statut": _s(INT), "erreur": _s(STR, "le motif, en français")}),
    "Execution": _object(
        {
            "id": _s(INT),
            "job": _s(STR, enum=list(JOBS)),
            "debut": STAMP,
            "fin": {**STAMP, "type": [STR, "null"]},
            "duree": _s([NUM, "null"], "secondes ; null tant qu'elle tourne"),
            "statut": _s(STR, enum=list(RUN_STATUSES)),
            "fichiers": _s(INT),
            "fichiers_acceptes": _s(INT),
            "fichiers_partiels": _s(INT),
            "fichiers_rejetes": _s(INT),
            "fichiers_doublons": _s(INT),
            "enregistrements_recus": _s(INT),
            "enregistrements_acceptes": _s(INT),
            "enregistrements_rejetes": _s(INT),
            "erreur": TEXT_OR_NULL,
            "date_traitement": {**DAY, "type": [STR, "null"]},
            "anomalies_par_code": COUNTS,
            "fichiers_emis": _s("array", items=_s(STR)),
            "arret_demande": _s(BOOL),
        }
    ),
    "Fichier": _object(
        {
            "id": _s(INT),
            "fichier": _s(STR),
            "compte": _s(STR),
            "siret": TEXT_OR_NULL,
            "esat": TEXT_OR_NULL,
            "caf": TEXT_OR_NULL,
            "type": _s([STR, "null"], enum=["RG", "CA", None]),
            "date_reception": STAMP,
            "etat": _s(STR, enum=list(ETATS)),
            "statut": _s([STR, "null"], enum=[*STATUTS, None]),
            "code": TEXT_OR_NULL,
            "enregistrements_recus": INT_OR_NULL,
            "enregistrements_acceptes": INT_OR_NULL,
            "enregistrements_rejetes": INT_OR_NULL,
            "date_traitement": DAY,
            "doublon_de": INT_OR_NULL,
            "rejeux": _s(INT),
            "execution": INT_OR_NULL,
            "taille": _s(INT),
            "erreur": TEXT_OR_NULL,
        }
    ),
    "Page": _object({"total": _s(INT), "page": _s(INT), "par_page": _s(INT)}, extra=True),
    "Lancement": _object(
        {"execution": INT_OR_NULL, "fichiers": _s(INT), "message": _s(STR)}, required=["execution", "message"]
    ),
    "Message": _object({"message": _s(STR)}, extra=True),
}
SCHEMAS["FichierDetail"] = {
    **SCHEMAS["Fichier"],
    "properties": {**SCHEMAS["Fichier"]["properties"], "anomalies_par_code": COUNTS},
    "required": [*SCHEMAS["Fichier"]["required"], "anomalies_par_code"],
}
SCHEMAS["ListeExecutions"] = {
    "allOf": [_ref("Page"), _object({"executions": _s("array", items=_ref("Execution"))}, extra=True)]
}
SCHEMAS["ListeFichiers"] = {
    "allOf": [_ref("Page"), _object({"fichiers": _s("array", items=_ref("Fichier"))}, extra=True)]
}
SCHEMAS["Rejeu"] = _object({"fait": _s(BOOL), "message": _s(STR), "execution": INT_OR_NULL, "fichier": _ref("Fichier")})
SCHEMAS["Journal"] = _object(
    {
        "execution": _s(INT),
        "statut": _s(STR, enum=list(RUN_STATUSES)),
        "lignes": _s(
            "array",
            items=_object(
                {
                    "id": _s(INT),
                    "date": STAMP,
                    "niveau": _s(STR),
                    "message": _s(STR),
                    "fichier": INT_OR_NULL,
                    "compte": TEXT_OR_NULL,
                }
            ),
        ),
        "dernier": _s(INT, "l'identifiant de la dernière ligne : le prochain « apres »"),
        "suite": _s(BOOL, "d'autres lignes suivent déjà"),
    }
)
SCHEMAS["Anomalies"] = _object({"depuis": DAY, "fichiers_rejetes_par_code": COUNTS})
SCHEMAS["Esat"] = _object(
    {
        "siret": _s(STR, pattern="^[0-9]{14}$"),
        "partenaire": _s(["object", "null"], "la ligne de l'extrait Habpps en vigueur"),
        "conventions": _s("array", items=_s("object")),
        "bulletins": _s("array", items=_s("object")),
        "utilisateurs": _s("array", items=_s("object")),
        "fichiers": _s(INT, "fichiers reçus de l'Esat"),
        "rg_par_annee": _s("object", "année → RG en vigueur", additionalProperties=_s(INT)),
    }
)
SCHEMAS["Campagne"] = _object(
    {
        "annee": _s(INT),
        "total": _s(INT),
        "esats": _s(
            "array",
            items=_object(
                {
                    "siret": _s(STR),
                    "situation": _s(STR),
                    "qui_agit": TEXT_OR_NULL,
                    "fichier": INT_OR_NULL,
                },
                extra=True,
            ),
        ),
    }
)
SCHEMAS["Taches"] = _object(
    {
        "taches": _s(
            "array",
            items=_object(
                {
                    "tache": _s(STR, enum=list(SCHEDULED_JOBS)),
                    "libelle": _s(STR),
                    "suspendue": _s(BOOL),
                    "par": TEXT_OR_NULL,
                    "depuis": {**STAMP, "type": [STR, "null"]},
                    "motif": TEXT_OR_NULL,
                }
            ),
        )
    }
)


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _path(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def _answer(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


ERRORS = {
    "400": _answer("paramètre invalide", "Erreur"),
    "401": _answer("jeton absent, inconnu ou révoqué", "Erreur"),
    "429": _answer("trop de jetons refusés depuis cette adresse (en-tête Retry-After)", "Erreur"),
}
NOT_FOUND = {"404": _answer("inconnu, ou hors du périmètre du jeton", "Erreur")}
FORBIDDEN = {"403": _answer("rôle ou périmètre insuffisant", "Erreur")}
REFUSED = {"409": _answer("refusé dans l'état présent (motif en français)", "Erreur")}
PAGING = [
    _query("page", "page, à partir de 1", _s(INT, minimum=1)),
    _query("par_page", "lignes par page (50 par défaut)", _s(INT, minimum=1, maximum=200)),
]
RUN_ID = _path("run_id", "numéro de l'exécution", _s(INT, minimum=0))
FILE_ID = _path("file_id", "numéro du fichier reçu", _s(INT, minimum=0))
JOB = _path("job", "tâche planifiée, ou « toutes »", _s(STR, enum=[*SCHEDULED_JOBS, "toutes"]))


def _op(
    summary: str,
    ok: dict[str, Any],
    params: list[dict[str, Any]] | None = None,
    *more: dict[str, Any],
    status: str = "200",
) -> dict[str, Any]:
    responses = {status: ok, **ERRORS}
    for m in more:
        responses.update(m)
    return {"summary": summary, "parameters": params or [], "responses": responses}


def document(server: str) -> dict[str, Any]:
    """The OpenAPI document, its server the API's path on this console (`server`, e.g. « /api/v1 »)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "esat-exchange",
            "version": "1",
            "description": "L'API de la console : chaque jeton agit comme l'opérateur qui l'a créé (son rôle, son "
            "périmètre), et chaque action est journalisée comme dans la console.",
        },
        "servers": [{"url": server}],
        "security": [{"jeton": []}],
        "components": {
            "securitySchemes": {
                "jeton": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "jeton créé dans la console ou par « esat-exchange operators token create »",
                }
            },
            "schemas": SCHEMAS,
        },
        "paths": {
            "/executions": {
                "get": _op(
                    "Exécutions, les plus récentes d'abord",
                    _answer("une page d'exécutions", "ListeExecutions"),
                    [
                        _query("job", "tâche", _s(STR, enum=list(JOBS))),
                        _query("statut", "statut", _s(STR, enum=list(RUN_STATUSES))),
                        _query("du", "débutées ce jour ou après (heure de Paris)", DAY),
                        _query("au", "débutées ce jour ou avant", DAY),
                        *PAGING,
                    ],
                )
            },
            "/executions/{run_id}": {
                "get": _op("Une exécution", _answer("l'exécution", "Execution"), [RUN_ID], NOT_FOUND)
            },
            "/executions/{run_id}/journal": {
                "get": _op(
                    "Le journal d'une exécution, ligne après ligne (celles du périmètre du jeton)",
                    _answer("des lignes", "Journal"),
                    [
                        RUN_ID,
                        _query("niveau", "ce niveau et les suivants", _s(STR, enum=["INFO", "WARNING", "ERROR"])),
                        _query("apres", "les lignes après celle-ci", _s(INT, minimum=0)),
                        _query("par_page", "lignes au plus (200 par défaut)", _s(INT, minimum=1, maximum=200)),
                    ],
                    NOT_FOUND,
                )
            },
            "/executions/{run_id}/arret": {
                "post": _op(
                    "Demander l'arrêt d'une exécution en cours entre deux fichiers (gestionnaire national)",
                    _answer("arrêt demandé", "Message"),
                    [RUN_ID],
                    FORBIDDEN,
                    NOT_FOUND,
                    REFUSED,
                    status="202",
                )
            },
            "/fichiers": {
                "get": _op(
                    "Fichiers reçus, du périmètre du jeton",
                    _answer("une page de fichiers", "ListeFichiers"),
                    [
                        _query("nom", "partie du nom du fichier", _s(STR, maxLength=200)),
                        _query("esat", "partie du nom de l'Esat", _s(STR, maxLength=200)),
                        _query("caf", "code de la Caf gestionnaire", _s(STR, maxLength=3)),
                        _query("code", "code bloquant, ou son début (« H »)", _s(STR, maxLength=3)),
                        _query("statut", "statut", _s(STR, enum=list(STATUTS))),
                        _query("etat", "état", _s(STR, enum=list(ETATS))),
                        _query("compte", "compte de dépôt", _s(STR, maxLength=200)),
                        _query("siret", "SIRET de l'Esat", _s(STR, maxLength=14)),
                        _query("execution", "numéro de l'exécution", _s(INT, minimum=1)),
                        _query("du", "reçus ce jour ou après", DAY),
                        _query("au", "reçus ce jour ou avant", DAY),
                        *PAGING,
                    ],
                )
            },
            "/fichiers/{file_id}": {
                "get": _op(
                    "Un fichier reçu et ses anomalies par code (consultation journalisée)",
                    _answer("le fichier", "FichierDetail"),
                    [FILE_ID],
                    NOT_FOUND,
                )
            },
            "/fichiers/{file_id}/rejeu": {
                "post": _op(
                    "Rejouer un fichier (gestionnaire ; la règle de rejeu de la spécification)",
                    _answer("le rejeu et le fichier après", "Rejeu"),
                    [FILE_ID],
                    FORBIDDEN,
                    NOT_FOUND,
                    REFUSED,
                )
            },
            "/rejeux": {
                "post": _op(
                    "Rejouer en tâche de fond les fichiers rejetés pour une habilitation qui peuvent l'être "
                    "(gestionnaire) ; suivre l'exécution rendue",
                    _answer("rejeu groupé lancé", "Lancement"),
                    [_query("siret", "seulement cet Esat", _s(STR, pattern="^[0-9]{14}$"))],
                    FORBIDDEN,
                    REFUSED,
                    status="202",
                )
            },
            "/anomalies": {
                "get": _op(
                    "Fichiers rejetés par code depuis une date (30 derniers jours par défaut)",
                    _answer("les nombres par code", "Anomalies"),
                    [_query("depuis", "premier jour compté", DAY)],
                )
            },
            "/esats/{siret}": {
                "get": _op(
                    "Un Esat : habilitations, fichiers reçus, RG en vigueur par année",
                    _answer("l'Esat", "Esat"),
                    [_path("siret", "SIRET", _s(STR, pattern="^[0-9]{14}$"))],
                    NOT_FOUND,
                )
            },
            "/campagne": {
                "get": _op(
                    "Suivi de campagne : les Esats ouverts sans RG accepté de l'année, leur situation et qui agit",
                    _answer("le suivi", "Campagne"),
                    [
                        _query("annee", "année de référence", _s(INT, minimum=2000, maximum=2100)),
                        _query("caf", "code de la Caf gestionnaire", _s(STR, maxLength=3)),
                        _query("situation", "une situation seulement", _s(STR)),
                    ],
                )
            },
            "/taches": {"get": _op("Tâches planifiées et leurs suspensions", _answer("les tâches", "Taches"))},
            "/taches/{job}/suspension": {
                "post": _op(
                    "Suspendre une tâche planifiée (gestionnaire national)",
                    _answer("suspendue", "Message"),
                    [JOB, _query("motif", "motif, journalisé", _s(STR, maxLength=500))],
                    FORBIDDEN,
                    NOT_FOUND,
                    REFUSED,
                )
            },
            "/taches/{job}/reprise": {
                "post": _op(
                    "Reprendre une tâche planifiée (gestionnaire national)",
                    _answer("reprise", "Message"),
                    [JOB],
                    FORBIDDEN,
                    NOT_FOUND,
                    REFUSED,
                )
            },
        },
    }
