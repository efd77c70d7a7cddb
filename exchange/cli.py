"""The `esat-exchange` command line (cli.md): argument parsing and French output; the work is elsewhere."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Callable

from exchange.config import Config, ConfigError, load_config
from exchange.tables import human_cell

FORMATS = ("text", "csv", "json")


def _as_of(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"date attendue au format AAAA-MM-JJ, pas {value!r}") from None


def _engine(config: Config):  # noqa: ANN202
    """The database, refused (SchemaError, exit 1 in main) unless at this program's revision."""
    from exchange.schema import open_current

    return open_current(config.database_url)


# -- run / check ------------------------------------------------------------------------------------

def _progress_bar():  # noqa: ANN202
    """A rich progress callback on a terminal; None (quiet) otherwise."""
    if not sys.stderr.isatty():
        return None, None
    from rich.progress import Progress

    bar = Progress(transient=True)
    tasks: dict[str, int] = {}

    def update(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bar.add_task(f"Traitement des {what}", total=total)
        bar.update(tasks[what], completed=done, total=total)

    return bar, update


def run_summary(outcome, config: Config) -> str:  # noqa: ANN001 - exchange.run.RunOutcome
    t = outcome.tally
    if outcome.status == "IGNORE":
        return f"Exécution n° {outcome.run_id} ignorée : {outcome.error}.\n"
    lines = [f"Exécution n° {outcome.run_id} : {'terminée' if outcome.status == 'OK' else 'en échec'}."]
    lines.append(f"Fichiers traités : {t.files_seen} — " + ", ".join(
        f"{n} {s}" for s, n in sorted(t.by_statut.items())) if t.files_seen else "Fichiers traités : 0")
    if t.files_seen:
        from schemas.fields import plural

        lines.append(f"Enregistrements : {plural(t.records_in, 'reçu', 'reçus')}, "
                     f"{plural(t.records_accepted, 'accepté', 'acceptés')}, "
                     f"{plural(t.records_rejected, 'rejeté', 'rejetés')}.")
    if t.anomaly_counts:
        lines.append("Anomalies par code : " + ", ".join(f"{c} × {n}" for c, n in sorted(t.anomaly_counts.items())))
    if t.waiting:
        lines.append(f"Fichiers en attente (dépôt en cours ou trop récent) : {t.waiting}")
    for refused in t.refused_names:
        lines.append(f"Nom refusé : {refused}")
    if t.files_seen:
        where = config.drop_root if config.source.kind == "local" else f"{config.source.host}:{config.source.root}"
        lines.append(f"Comptes rendus : dans <compte>/retour/ de la zone de dépôt ({where}).")
    if t.outputs:
        lines.append(f"Fichiers pour les Caf ({config.output_dir}) :")
        lines += [f"  {o}" for o in t.outputs]
    if outcome.error:
        lines.append(f"Erreur : {outcome.error}")
    from exchange.safe_text import safe_text

    return "\n".join(safe_text(line) for line in lines) + "\n"


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from exchange.run import run_job
    from exchange.schema import open_upgraded

    engine = open_upgraded(config.database_url)  # `run` brings the database to head itself
    bar, update = _progress_bar()
    if bar:
        with bar:
            outcome = run_job(config, engine, job="run", as_of=args.as_of, progress=update)
    else:
        outcome = run_job(config, engine, job="run", as_of=args.as_of)
    sys.stdout.write(run_summary(outcome, config))
    return outcome.exit_code


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    from exchange.compte_rendu import cr_csv, cr_html, cr_json, cr_text
    from exchange.judge import judge
    from exchange.run import today_in_paris

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as e:
        print(f"Fichier illisible : {path} ({e.strerror})", file=sys.stderr)
        return 2
    as_of = args.as_of or today_in_paris()
    j = judge(data, path.name, as_of, max_file_bytes=config.limits.max_file_bytes,
              max_records=config.limits.max_records)
    if args.format == "csv":
        sys.stdout.write(cr_csv(j, as_of, bom=False).decode("utf-8"))
    elif args.format == "json":
        sys.stdout.write(cr_json(j, as_of) + "\n")
    elif args.format == "html":
        sys.stdout.write(cr_html(j, as_of).decode("utf-8"))
    else:
        sys.stdout.write(cr_text(j, as_of))
    return 0 if j.statut == "ACCEPTE" else 1


# -- files / runs -------------------------------------------------------------------------------------

FILE_COLUMNS = ("id", "fichier", "compte", "siret", "type", "date_reception", "etat", "statut", "code",
                "enregistrements_recus", "enregistrements_acceptes", "enregistrements_rejetes")
FILE_LABELS = {"id": "N°", "fichier": "Fichier", "compte": "Compte", "siret": "SIRET", "type": "Type",
               "date_reception": "Reçu le", "etat": "État", "statut": "Statut", "code": "Code",
               "enregistrements_recus": "Reçus", "enregistrements_acceptes": "Acceptés",
               "enregistrements_rejetes": "Rejetés"}


def _file_view(row: dict) -> dict:
    from exchange.ledger import as_utc

    return {"id": row["id"], "fichier": row["name"], "compte": row["account"], "siret": row["siret"],
            "type": row["kind"], "date_reception": as_utc(row["received_at"]), "etat": row["state"],
            "statut": row["statut"], "code": row["code"], "enregistrements_recus": row["records_in"],
            "enregistrements_acceptes": row["records_accepted"], "enregistrements_rejetes": row["records_rejected"],
            "date_traitement": row["processing_date"], "archive": row["archived_name"],
            "doublon_de": row["duplicate_of"], "rejeux": row["replays"], "erreur": row["error"]}


def cmd_files_list(args: argparse.Namespace, config: Config) -> int:
    from sqlalchemy import select

    from exchange.db import files

    q = select(files).order_by(files.c.id.desc())
    if args.status:
        q = q.where(files.c.statut == args.status.upper())
    if args.siret:
        q = q.where(files.c.siret == args.siret)
    if args.limit:
        q = q.limit(args.limit)
    with _engine(config).connect() as conn:
        rows = [_file_view(dict(r)) for r in conn.execute(q).mappings()]
    sys.stdout.write(render_rows(rows, FILE_COLUMNS, args.format, FILE_LABELS, "Fichiers reçus",
                                 "Aucun fichier reçu."))
    return 0


def cmd_files_show(args: argparse.Namespace, config: Config) -> int:
    from exchange import ledger
    from schemas.anomalies import mask_nir

    with _engine(config).connect() as conn:
        row = ledger.get_file(conn, args.file_id)
        if row is None:
            print(f"Fichier n° {args.file_id} inconnu.", file=sys.stderr)
            return 1
        anomalies = [{"ligne": a["ligne"], "nir_masque": mask_nir(a["nir"]), "code": a["code"],
                      "gravite": a["gravite"], "champ": a["champ"], "message": a["message"]}
                     for a in ledger.file_anomalies(conn, args.file_id)]
    view = _file_view(row)
    if args.format == "json":
        from exchange.safe_text import safe_value

        anomalies = [{k: safe_value(v) for k, v in a.items()} for a in anomalies]
        sys.stdout.write(json.dumps({**{k: safe_value(v) for k, v in view.items()}, "anomalies": anomalies}, ensure_ascii=False, indent=2, default=str) + "\n")
        return 0
    if args.format == "csv":
        sys.stdout.write(render_rows(anomalies, ("ligne", "nir_masque", "code", "gravite", "champ", "message"), "csv"))
        return 0
    out = [f"Fichier n° {view['id']} : {view['fichier']}"]
    for key in ("compte", "siret", "type", "date_reception", "date_traitement", "etat", "statut", "code",
                "enregistrements_recus", "enregistrements_acceptes", "enregistrements_rejetes", "archive",
                "doublon_de", "rejeux", "erreur"):
        if key == "erreur" and not view[key]:
            continue
        label = FILE_LABELS.get(key, key.replace("_", " ").capitalize())
        out.append(f"  {label} : {human_cell(view[key])}")
    out.append("")
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.write(render_rows(anomalies, ("ligne", "nir_masque", "code", "gravite", "champ", "message"), "text",
                                 {"ligne": "Ligne", "nir_masque": "NIR", "code": "Code", "gravite": "Gravité",
                                  "champ": "Champ", "message": "Message"}, "Anomalies", "Aucune anomalie."))
    return 0


def cmd_files_replay(args: argparse.Namespace, config: Config) -> int:
    from exchange import ledger
    from exchange.run import run_job

    engine = _engine(config)
    with engine.connect() as conn:
        row = ledger.get_file(conn, args.file_id)
    if row is None:
        print(f"Fichier n° {args.file_id} inconnu.", file=sys.stderr)
        return 1
    refusal = ledger.replay_refusal(row)
    if refusal is not None:
        print(f"Rejeu impossible : {refusal}.", file=sys.stderr)
        return 1
    try:
        outcome = run_job(config, engine, job="replay", as_of=row["processing_date"], replay_file=args.file_id)
    except ValueError as e:
        print(f"Rejeu impossible : {e}.", file=sys.stderr)
        return 1
    if outcome.status == "IGNORE":
        print(f"Rejeu du fichier n° {args.file_id} non effectué : {outcome.error}. Relancez la commande plus tard.",
              file=sys.stderr)
        return 1
    with engine.connect() as conn:
        after = ledger.get_file(conn, args.file_id)
    print(f"Fichier n° {args.file_id} rejoué (jugé au {row['processing_date'].strftime('%d/%m/%Y')}) : "
          f"{after['statut']}{' (' + after['code'] + ')' if after['code'] else ''}.")
    sys.stdout.write(run_summary(outcome, config))
    return outcome.exit_code


RUN_COLUMNS = ("id", "job", "debut", "fin", "statut", "fichiers", "fichiers_acceptes", "fichiers_partiels",
               "fichiers_rejetes", "fichiers_doublons", "enregistrements_recus", "enregistrements_acceptes",
               "enregistrements_rejetes", "erreur")
RUN_LABELS = {"id": "N°", "job": "Tâche", "debut": "Début", "fin": "Fin", "statut": "Statut",
              "fichiers": "Fichiers", "fichiers_acceptes": "Acceptés", "fichiers_partiels": "Partiels",
              "fichiers_rejetes": "Rejetés", "fichiers_doublons": "Doublons", "enregistrements_recus": "Enr. reçus",
              "enregistrements_acceptes": "Enr. acceptés", "enregistrements_rejetes": "Enr. rejetés",
              "erreur": "Erreur"}


def run_view(row: dict) -> dict:
    from exchange.ledger import as_utc

    return {"id": row["id"], "job": row["job"], "debut": as_utc(row["started_at"]), "fin": as_utc(row["ended_at"]),
            "statut": row["status"], "fichiers": row["files_seen"], "fichiers_acceptes": row["files_accepted"],
            "fichiers_partiels": row["files_partial"], "fichiers_rejetes": row["files_rejected"],
            "fichiers_doublons": row["files_duplicate"], "enregistrements_recus": row["records_in"],
            "enregistrements_acceptes": row["records_accepted"], "enregistrements_rejetes": row["records_rejected"],
            "erreur": row["error"], "date_traitement": row["as_of"],
            "anomalies_par_code": json.loads(row["anomaly_counts"] or "{}"),
            "fichiers_emis": json.loads(row["outputs"] or "[]"), "machine": row["host"], "pid": row["pid"]}


def cmd_runs_list(args: argparse.Namespace, config: Config) -> int:
    from sqlalchemy import select

    from exchange.db import runs

    with _engine(config).connect() as conn:
        rows = [run_view(dict(r)) for r in conn.execute(
            select(runs).order_by(runs.c.id.desc()).limit(args.limit)).mappings()]
    sys.stdout.write(render_rows(rows, RUN_COLUMNS, args.format, RUN_LABELS, "Exécutions", "Aucune exécution."))
    return 0


def cmd_runs_show(args: argparse.Namespace, config: Config) -> int:
    from sqlalchemy import select

    from exchange.db import runs

    with _engine(config).connect() as conn:
        row = conn.execute(select(runs).where(runs.c.id == args.run_id)).mappings().first()
    if row is None:
        print(f"Exécution n° {args.run_id} inconnue.", file=sys.stderr)
        return 1
    view = run_view(dict(row))
    if args.format in ("json", "csv"):
        if args.format == "json":
            sys.stdout.write(json.dumps(view, ensure_ascii=False, indent=2, default=str) + "\n")
        else:
            sys.stdout.write(render_rows([view], RUN_COLUMNS, "csv"))
        return 0
    out = [f"Exécution n° {view['id']} ({view['job']}) : {view['statut']}"]
    for key in RUN_COLUMNS[2:]:
        if key != "statut":
            out.append(f"  {RUN_LABELS[key]} : {human_cell(view[key])}")
    out.append(f"  Date de traitement : {human_cell(view['date_traitement'])}")
    out.append("  Anomalies par code : " + (", ".join(f"{c} × {n}" for c, n in view["anomalies_par_code"].items())
                                            or "aucune"))
    out.append("  Fichiers émis pour les Caf : " + (", ".join(view["fichiers_emis"]) or "aucun"))
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def render_rows(rows, columns, fmt, labels=None, title=None, empty="Aucune ligne.") -> str:  # noqa: ANN001
    from exchange.tables import render

    return render(rows, columns, fmt, labels=labels, title=title if fmt == "text" else None, empty=empty)


# -- campaign ---------------------------------------------------------------------------------------

def cmd_campaign_close(args: argparse.Namespace, config: Config) -> int:
    from exchange.emission import campaign_close

    written = campaign_close(config, _engine(config), args.year)
    if written:
        print(f"Fichiers de campagne {args.year} écrits ({config.output_dir}) :")
        for w in written:
            print(f"  {w}")
    else:
        print(f"Aucun enregistrement RG accepté pour {args.year} : aucun fichier de campagne écrit.")
    return 0


def cmd_campaign_status(args: argparse.Namespace, config: Config) -> int:
    from exchange.campaign import campaign_status
    from exchange.run import today_in_paris

    rows = campaign_status(_engine(config), args.year, today_in_paris())
    sys.stdout.write(render_rows(
        rows, ("siret", "raison_sociale", "caf_gestionnaire", "jours_restants"), args.format,
        {"siret": "SIRET", "raison_sociale": "Raison sociale", "caf_gestionnaire": "Caf gestionnaire",
         "jours_restants": "Jours avant le 15 janvier"},
        f"Esats sans déclaration RG acceptée pour {args.year}", "Tous les Esats ouverts ont déclaré."))
    return 0


# -- parser -----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="esat-exchange", description="Échanges de fichiers du service Esat de la Caf.")
    p.add_argument("--config", type=Path, help="fichier de configuration TOML (défaut : ./esat-exchange.toml)")
    p.add_argument("--log-format", choices=("human", "json"), default="human", help="format des journaux")
    p.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMANDE")

    run = sub.add_parser("run", help="un cycle complet : collecte, validation, rapprochement, comptes rendus, émission")
    run.add_argument("--as-of", type=_as_of, help="date de traitement AAAA-MM-JJ (défaut : aujourd'hui, Europe/Paris)")
    run.set_defaults(handler=cmd_run)

    check = sub.add_parser("check", help="valider un fichier comme le ferait run, sans habilitations ni effet")
    check.add_argument("file", metavar="FICHIER")
    check.add_argument("--as-of", type=_as_of)
    check.add_argument("--format", choices=(*FORMATS, "html"), default="text",
                       help="text (défaut), csv, json, ou html (le compte rendu lisible, à ouvrir dans un navigateur)")
    check.set_defaults(handler=cmd_check)

    files = sub.add_parser("files", help="fichiers reçus").add_subparsers(dest="files_command", required=True)
    fl = files.add_parser("list", help="lister les fichiers reçus")
    fl.add_argument("--status", help="ACCEPTE, PARTIEL, REJETE ou DOUBLON")
    fl.add_argument("--siret")
    fl.add_argument("--limit", type=int, default=0)
    fl.add_argument("--format", choices=FORMATS, default="text")
    fl.set_defaults(handler=cmd_files_list)
    fs = files.add_parser("show", help="un fichier et ses anomalies (NIR masqués)")
    fs.add_argument("file_id", type=int, metavar="ID")
    fs.add_argument("--format", choices=FORMATS, default="text")
    fs.set_defaults(handler=cmd_files_show)
    fr = files.add_parser("replay", help="retraiter un fichier reçu (après correction des habilitations)")
    fr.add_argument("file_id", type=int, metavar="ID")
    fr.set_defaults(handler=cmd_files_replay)

    runs = sub.add_parser("runs", help="exécutions des tâches").add_subparsers(dest="runs_command", required=True)
    rl = runs.add_parser("list", help="lister les exécutions")
    rl.add_argument("--limit", type=int, default=20)
    rl.add_argument("--format", choices=FORMATS, default="text")
    rl.set_defaults(handler=cmd_runs_list)
    rs = runs.add_parser("show", help="une exécution")
    rs.add_argument("run_id", type=int, metavar="ID")
    rs.add_argument("--format", choices=FORMATS, default="text")
    rs.set_defaults(handler=cmd_runs_show)

    camp = sub.add_parser("campaign", help="campagne annuelle RG").add_subparsers(dest="campaign_command", required=True)
    cc = camp.add_parser("close", help="écrire les fichiers de campagne de l'année N pour chaque Caf")
    cc.add_argument("--year", type=int, required=True)
    cc.set_defaults(handler=cmd_campaign_close)
    cs = camp.add_parser("status", help="Esats ouverts sans RG accepté pour l'année N")
    cs.add_argument("--year", type=int, required=True)
    cs.add_argument("--format", choices=FORMATS, default="text")
    cs.set_defaults(handler=cmd_campaign_status)

    for module in ("exchange.habilitations.commands", "exchange.template_commands", "jobs.commands",
                   "exchange.db_commands"):
        _add_module_commands(sub, module)
    return p


def _add_module_commands(sub: argparse._SubParsersAction, module: str) -> None:
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name):
            return
        raise
    add: Callable[[argparse._SubParsersAction], None] = mod.add_commands
    add(sub)


def main(argv: list[str] | None = None) -> int:
    from exchange.logs import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(args.log_format, args.log_level)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"Erreur de configuration : {e}", file=sys.stderr)
        return 2
    from exchange.schema import SchemaError

    try:
        return int(args.handler(args, config) or 0)
    except SchemaError as e:  # the database is not at this program's revision: one French line
        print(e, file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - only an unreachable database is answered here; anything else propagates
        line = database_unreachable(e, config.database_url, args.command)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 1


def database_unreachable(error: Exception, url: str, command: str) -> str | None:
    """The one French line for a database that cannot be reached or opened (URL without its password), else None."""
    import logging

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import InterfaceError, OperationalError

    if not isinstance(error, (OperationalError, InterfaceError, OSError)):
        return None
    if isinstance(error, OSError) and not url.startswith("sqlite"):
        return None
    try:
        where = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as configured, minus anything after '@'
        where = url.split("@")[-1]
    reason = str(getattr(error, "orig", None) or error).splitlines()[0] if str(error) else error.__class__.__name__
    recorded = " ; l'exécution n'a pas pu être enregistrée" if command == "run" else ""
    logging.getLogger("esat_exchange").info(
        f"base de données injoignable{recorded} : {reason}", extra={"event": {"command": command, "base": where}})
    return f"Base de données injoignable ({where}){recorded} : vérifiez qu'elle est démarrée et que [database] url est juste."


if __name__ == "__main__":
    raise SystemExit(main())
