"""The `esat-exchange` command line (cli.md): argument parsing and French output; the work is elsewhere."""

# Imports inside the command handlers here and in the other exchange/cli modules are deliberate: every command
# starts a fresh process, and `--help`, `check` or `template` must not pay for polars, SQLAlchemy, paramiko,
# Starlette and the rules that only the commands doing that work need (start-up time). Everywhere else
# (exchange/app, exchange/web, jobs) imports sit at the top of the module.
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from exchange.cli.listing import human_cell, json_default
from exchange.config import Config, ConfigError, load_config
from exchange.core.perimeter import EVERYTHING  # the command line runs as the service account: it sees everything
from exchange.core.vocabulary import (
    ACCEPTE,
    ETATS,
    IGNORE,
    OK,
    RUN_COUNTS,
    RUN_STATUSES,
    STATUTS,
)  # the listings' values
from exchange.core.vocabulary import JOBS as RUN_JOBS

if TYPE_CHECKING:  # names for the annotations only: the modules are imported where a command needs them
    from rich.progress import Progress, TaskID

    from exchange.app.job import RunOutcome
    from exchange.store.engine import Engine

FORMATS = ("text", "csv", "json")


def _as_of(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"date attendue au format AAAA-MM-JJ, pas {value!r}") from None


def _engine(config: Config) -> Engine:
    """The database, refused (SchemaError, exit 1 in main) unless at this program's revision."""
    from exchange.store.engine import open_current

    return open_current(config.database_url)


# -- run / check ------------------------------------------------------------------------------------


def _progress_bar() -> tuple[Progress, Callable[[str, int, int], None]] | tuple[None, None]:
    """A rich progress callback on a terminal; None (quiet) otherwise."""
    if not sys.stderr.isatty():
        return None, None
    from rich.progress import Progress

    bar = Progress(transient=True)
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:  # réception, jugement, comptes rendus, émission
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage.capitalize(), total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, update


SUMMARY_ITEMS = 10  # names listed in a run's summary, so that it stays on one screen


def run_summary(outcome: RunOutcome, config: Config) -> str:
    t = outcome.tally
    if outcome.status == IGNORE:
        return f"Exécution n° {outcome.run_id} ignorée : {outcome.error}.\n"
    lines = [f"Exécution n° {outcome.run_id} : {'terminée' if outcome.status == 'OK' else 'en échec'}."]
    lines.append(
        f"Fichiers traités : {t.files_seen} — " + ", ".join(f"{n} {s}" for s, n in sorted(t.by_statut.items()))
        if t.files_seen
        else "Fichiers traités : 0"
    )
    if t.files_seen:
        from schemas.fields import plural

        lines.append(
            f"Enregistrements : {plural(t.records_in, 'reçu', 'reçus')}, "
            f"{plural(t.records_accepted, 'accepté', 'acceptés')}, "
            f"{plural(t.records_rejected, 'rejeté', 'rejetés')}."
        )
    if t.anomaly_counts:
        lines.append("Anomalies par code : " + ", ".join(f"{c} × {n}" for c, n in sorted(t.anomaly_counts.items())))
    if t.waiting:
        lines.append(f"Fichiers en attente (dépôt en cours ou trop récent) : {t.waiting}")
    for refused in t.refused_names[:SUMMARY_ITEMS]:
        lines.append(f"Nom refusé : {refused}")
    if len(t.refused_names) > SUMMARY_ITEMS:
        lines.append(f"  … et {len(t.refused_names) - SUMMARY_ITEMS} autre(s) nom(s) refusé(s) (voir les journaux)")
    if t.files_seen:
        where = config.drop_root if config.source.kind == "local" else f"{config.source.host}:{config.source.root}"
        lines.append(f"Comptes rendus : dans <compte>/retour/ de la zone de dépôt ({where}).")
    if t.outputs:
        lines.append(f"Fichiers pour les Caf ({config.output_dir}) :")
        lines += [f"  {o}" for o in t.outputs[:SUMMARY_ITEMS]]
        if len(t.outputs) > SUMMARY_ITEMS:
            lines.append(f"  … et {len(t.outputs) - SUMMARY_ITEMS} autre(s) : esat-exchange runs show {outcome.run_id}")
    if outcome.error:
        lines.append(f"Erreur : {outcome.error}")
    from exchange.core.safe_text import safe_text

    return "\n".join(safe_text(line) for line in lines) + "\n"


INTERRUPTED = 130  # the shell's code for a command stopped by SIGINT


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    """One cycle; Ctrl-C (SIGINT) or SIGTERM stops it as the scheduler does: the batch in hand is
    finished and the run closed, then one French line and exit 130. A second Ctrl-C stops at once. A signal
    ignored when the command started (a background job of a script) stays ignored."""
    import signal
    import threading

    from exchange.app.job import open_at_head
    from exchange.app.run import run_job

    engine = open_at_head(config)  # `run` brings the database to head itself, under the cycle lock
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {  # a signal the process was started ignoring stays ignored (`run &` in a script, nohup)
        sig: signal.signal(sig, request_stop)
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        bar, update = _progress_bar()
        if bar:
            with bar:
                outcome = run_job(config, engine, job="run", as_of=args.as_of, progress=update, stop=stop.is_set)
        else:
            outcome = run_job(config, engine, job="run", as_of=args.as_of, stop=stop.is_set)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    sys.stdout.write(run_summary(outcome, config))
    if stop.is_set():
        print(
            f"Arrêt demandé : le lot en cours a été terminé et l'exécution n° {outcome.run_id} close ; "
            "les fichiers restants partiront au prochain cycle.",
            file=sys.stderr,
        )
        return INTERRUPTED
    return outcome.exit_code


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    from exchange.core.clock import today_in_paris
    from exchange.core.compte_rendu.forms import cr_csv, cr_html, cr_json, cr_text
    from exchange.core.judge import judge

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as e:
        print(f"Fichier illisible : {path} ({e.strerror})", file=sys.stderr)
        return 2
    as_of = args.as_of or today_in_paris()
    j = judge(
        data, path.name, as_of, max_file_bytes=config.limits.max_file_bytes, max_records=config.limits.max_records
    )
    if args.format == "csv":
        sys.stdout.write(cr_csv(j, as_of, bom=False).decode("utf-8"))
    elif args.format == "json":
        sys.stdout.write(cr_json(j, as_of) + "\n")
    elif args.format == "html":
        sys.stdout.write(cr_html(j, as_of, guide_url=config.web.guide_url).decode("utf-8"))
    else:
        sys.stdout.write(cr_text(j, as_of))
    return 0 if j.statut == ACCEPTE else 1


# -- files / runs -------------------------------------------------------------------------------------

FILE_COLUMNS = (
    "id",
    "fichier",
    "compte",
    "siret",
    "type",
    "date_reception",
    "etat",
    "statut",
    "code",
    "enregistrements_recus",
    "enregistrements_acceptes",
    "enregistrements_rejetes",
)
FILE_LABELS = {
    "id": "N°",
    "fichier": "Fichier",
    "compte": "Compte",
    "siret": "SIRET",
    "type": "Type",
    "date_reception": "Reçu le",
    "etat": "État",
    "statut": "Statut",
    "code": "Code",
    "enregistrements_recus": "Reçus",
    "enregistrements_acceptes": "Acceptés",
    "enregistrements_rejetes": "Rejetés",
}


TERMINAL_ROWS = 50  # rows a listing shows on a terminal without --limit (a national ledger holds ~14,000 files)


def _capped_on_terminal(args: argparse.Namespace) -> bool:
    """No --limit, text, on a terminal: the listing shows its first TERMINAL_ROWS rows and how many more."""
    return args.limit is None and args.format == "text" and sys.stdout.isatty()


def _add_terminal_limit(parser: argparse.ArgumentParser, what: str) -> None:
    """The --limit of a listing capped on a terminal (_capped_on_terminal); `what` opens its help."""
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help=f"{what} (défaut : {TERMINAL_ROWS} sur un terminal, tous sinon ; 0 : tous)",
    )


def cmd_files_list(args: argparse.Namespace, config: Config) -> int:
    from exchange.store.reads.files import FileQuery, count_files, list_files

    filters = FileQuery(statut=args.status, etat=args.etat, siret=args.siret, compte=args.compte, run_id=args.run)
    on_terminal = _capped_on_terminal(args)
    limit = TERMINAL_ROWS if on_terminal else args.limit
    more = 0
    with _engine(config).connect() as conn:
        rows = list_files(conn, filters, limit=limit or None, perimeter=EVERYTHING)
        if on_terminal and len(rows) == limit:
            more = count_files(conn, filters, perimeter=EVERYTHING) - limit
    sys.stdout.write(render_rows(rows, FILE_COLUMNS, args.format, FILE_LABELS, "Fichiers reçus", "Aucun fichier reçu."))
    if more > 0:
        print(f"… et {more} autre(s) fichier(s), plus ancien(s) : --limit N pour en afficher N, --limit 0 pour tous.")
    return 0


def cmd_files_show(args: argparse.Namespace, config: Config) -> int:
    from exchange.store import ledger
    from exchange.store.reads.files import file_anomalies, file_view

    with _engine(config).connect() as conn:
        row = ledger.get_file(conn, args.file_id)
        if row is None:
            print(f"Fichier n° {args.file_id} inconnu.", file=sys.stderr)
            return 1
        anomalies = file_anomalies(conn, args.file_id, perimeter=EVERYTHING)
    view = file_view(row)
    if args.format == "json":
        from exchange.core.safe_text import safe_value

        anomalies = [{k: safe_value(v) for k, v in a.items()} for a in anomalies]
        sys.stdout.write(
            json.dumps(
                {**{k: safe_value(v) for k, v in view.items()}, "anomalies": anomalies},
                ensure_ascii=False,
                indent=2,
                default=json_default,
            )
            + "\n"
        )
        return 0
    if args.format == "csv":
        sys.stdout.write(render_rows(anomalies, ("ligne", "nir_masque", "code", "gravite", "champ", "message"), "csv"))
        return 0
    out = [f"Fichier n° {view['id']} : {view['fichier']}"]
    for key in (
        "compte",
        "siret",
        "type",
        "date_reception",
        "date_traitement",
        "etat",
        "statut",
        "code",
        "enregistrements_recus",
        "enregistrements_acceptes",
        "enregistrements_rejetes",
        "archive",
        "doublon_de",
        "rejeux",
        "erreur",
    ):
        if key == "erreur" and not view[key]:
            continue
        label = FILE_LABELS.get(key, key.replace("_", " ").capitalize())
        out.append(f"  {label} : {human_cell(view[key])}")
    out.append("")
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.write(
        render_rows(
            anomalies,
            ("ligne", "nir_masque", "code", "gravite", "champ", "message"),
            "text",
            {
                "ligne": "Ligne",
                "nir_masque": "NIR",
                "code": "Code",
                "gravite": "Gravité",
                "champ": "Champ",
                "message": "Message",
            },
            "Anomalies",
            "Aucune anomalie.",
        )
    )
    return 0


def cmd_files_replay(args: argparse.Namespace, config: Config) -> int:
    from exchange.app.replay import replay_file
    from exchange.cli.journal import cli_actor

    if args.habilitation or args.siret or args.dry_run or len(args.file_ids) != 1:
        return cmd_files_replay_many(args, config)
    args.file_id = args.file_ids[0]  # the journal's target
    result = replay_file(config, _engine(config), args.file_id, cli_actor(args))
    if result.outcome is None or result.outcome.status == IGNORE:
        print(result.message, file=sys.stderr)
        return 1
    print(result.message)
    sys.stdout.write(run_summary(result.outcome, config))
    return result.outcome.exit_code


def _bulk_targets(args: argparse.Namespace, config: Config) -> list[dict[str, Any]] | None:
    """The files a bulk replay takes: the ids given, or every file rejected for a habilitation code that a newer
    extract allows to replay (of one Esat with --siret); None after a usage error (printed)."""
    from exchange.app.replay import replayable_after_import
    from exchange.store import ledger

    if args.siret and not args.habilitation:
        print("esat-exchange files replay : --siret ne s'emploie qu'avec --habilitation.", file=sys.stderr)
        return None
    if args.habilitation == bool(args.file_ids):
        print(
            "esat-exchange files replay : donnez des numéros de fichier, ou --habilitation (pas les deux).",
            file=sys.stderr,
        )
        return None
    if args.siret and not (len(args.siret) == 14 and args.siret.isdigit()):
        print(f"esat-exchange files replay : SIRET invalide {args.siret!r} (14 chiffres attendus).", file=sys.stderr)
        return None
    engine = _engine(config)
    if args.habilitation:
        ids = [f["id"] for f in replayable_after_import(engine, args.siret, perimeter=EVERYTHING)]
    else:
        ids = sorted(set(args.file_ids))
    with engine.connect() as conn:
        return [ledger.get_file(conn, file_id) or {"id": file_id} for file_id in ids]


def cmd_files_replay_many(args: argparse.Namespace, config: Config) -> int:
    """Several files replayed in one run (each checked again just before), as the console's bulk replay: the ids
    given, or with --habilitation every file rejected for a habilitation code that the imported extract now allows
    to replay."""
    from exchange.app.replay_run import replay_many
    from exchange.cli.journal import cli_actor
    from schemas.fields import plural

    targets = _bulk_targets(args, config)
    if targets is None:
        return 2
    scope = (
        f"de l'Esat {args.siret}"
        if args.siret
        else ("rejetés pour une habilitation" if args.habilitation else "demandés")
    )
    if not targets:
        if not args.dry_run:  # journaled: nothing to replay
            replay_many(config, _engine(config), [], cli_actor(args), siret=args.siret)
        print(
            "Aucun fichier à rejouer : aucun fichier rejeté pour une habilitation n'attend un rejeu"
            + (f" pour l'Esat {args.siret}." if args.siret else ".")
        )
        return 0
    if args.dry_run:
        print(
            f"Rejeu groupé des fichiers {scope} (simulation) : {plural(len(targets), 'fichier serait rejoué', 'fichiers seraient rejoués')}."
        )
        for row in targets:
            name = row.get("name") or "fichier inconnu"
            code = f" {row['code']}" if row.get("code") else ""
            print(f"  n° {row['id']} {name} : {row.get('statut') or ''}{code}".rstrip())
        return 0
    results, outcome = replay_many(
        config, _engine(config), [row["id"] for row in targets], cli_actor(args), siret=args.siret
    )
    for _file_id, result in results:
        print(result.message, file=sys.stdout if result.done else sys.stderr)
    done = sum(1 for _, r in results if r.done)
    ran = f" (exécution n° {outcome.run_id})" if outcome is not None and outcome.run_id is not None else ""
    print(
        f"Rejeu groupé des fichiers {scope}{ran} : "
        f"{plural(done, 'fichier rejoué', 'fichiers rejoués')} sur {len(results)}."
    )
    return 0 if done == len(results) else 1


RUN_COLUMNS = (
    "id",
    "job",
    "debut",
    "fin",
    "statut",
    *RUN_COUNTS,
    "erreur",
)
RUN_LABELS = {
    "id": "N°",
    "job": "Tâche",
    "debut": "Début",
    "fin": "Fin",
    "statut": "Statut",
    "fichiers": "Fichiers",
    "fichiers_acceptes": "Acceptés",
    "fichiers_partiels": "Partiels",
    "fichiers_rejetes": "Rejetés",
    "fichiers_doublons": "Doublons",
    "enregistrements_recus": "Enr. reçus",
    "enregistrements_acceptes": "Enr. acceptés",
    "enregistrements_rejetes": "Enr. rejetés",
    "erreur": "Erreur",
}


def cmd_runs_list(args: argparse.Namespace, config: Config) -> int:
    from exchange.store.reads.runs import RunQuery, list_runs

    filters = RunQuery(job=args.job, statut=args.status)
    with _engine(config).connect() as conn:
        rows = list_runs(conn, filters, limit=args.limit, perimeter=EVERYTHING)
    sys.stdout.write(render_rows(rows, RUN_COLUMNS, args.format, RUN_LABELS, "Exécutions", "Aucune exécution."))
    return 0


def cmd_runs_show(args: argparse.Namespace, config: Config) -> int:
    from exchange.store.reads.runs import get_run

    with _engine(config).connect() as conn:
        view = get_run(conn, args.run_id, perimeter=EVERYTHING)
    if view is None:
        print(f"Exécution n° {args.run_id} inconnue.", file=sys.stderr)
        return 1
    if args.format in ("json", "csv"):
        if args.format == "json":
            sys.stdout.write(json.dumps(view, ensure_ascii=False, indent=2, default=json_default) + "\n")
        else:
            sys.stdout.write(render_rows([view], RUN_COLUMNS, "csv"))
        return 0
    out = [f"Exécution n° {view['id']} ({view['job']}) : {view['statut']}"]
    for key in RUN_COLUMNS[2:]:
        if key != "statut":
            out.append(f"  {RUN_LABELS[key]} : {human_cell(view[key])}")
    out.append(f"  Date de traitement : {human_cell(view['date_traitement'])}")
    out.append(
        "  Anomalies par code : " + (", ".join(f"{c} × {n}" for c, n in view["anomalies_par_code"].items()) or "aucune")
    )
    out.append("  Fichiers émis pour les Caf : " + (", ".join(view["fichiers_emis"]) or "aucun"))
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def render_rows(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    fmt: str,
    labels: dict[str, str] | None = None,
    title: str | None = None,
    empty: str = "Aucune ligne.",
) -> str:
    from exchange.cli.listing import render

    return render(rows, columns, fmt, labels=labels, title=title if fmt == "text" else None, empty=empty)


# -- campaign ---------------------------------------------------------------------------------------


def cmd_campaign_close(args: argparse.Namespace, config: Config) -> int:
    from exchange.app.campaign import close_campaign
    from exchange.cli.journal import cli_actor

    outcome = close_campaign(config, _engine(config), args.year, actor=cli_actor(args))
    if outcome.status == IGNORE:
        print(
            f"Clôture de campagne {args.year} non effectuée (exécution n° {outcome.run_id}) : {outcome.error}. "
            "Relancez la commande plus tard.",
            file=sys.stderr,
        )
        return 1
    if outcome.status != OK:
        print(
            f"Clôture de campagne {args.year} en échec (exécution n° {outcome.run_id}) : {outcome.error}",
            file=sys.stderr,
        )
        return 1
    written = outcome.tally.outputs
    if written:
        print(f"Fichiers de campagne {args.year} écrits ({config.output_dir}) :")
        for w in written:
            print(f"  {w}")
    else:
        print(f"Aucun enregistrement RG accepté pour {args.year} : aucun fichier de campagne écrit.")
    return 0


def cmd_campaign_status(args: argparse.Namespace, config: Config) -> int:
    from exchange.app.campaign import campaign_status
    from exchange.core.clock import today_in_paris

    rows = campaign_status(_engine(config), args.year, today_in_paris(), caf=args.caf, perimeter=EVERYTHING)
    limit = TERMINAL_ROWS if _capped_on_terminal(args) else args.limit
    shown = rows[:limit] if limit else rows
    sys.stdout.write(
        render_rows(
            shown,
            ("siret", "raison_sociale", "caf_gestionnaire", "jours_restants"),
            args.format,
            {
                "siret": "SIRET",
                "raison_sociale": "Raison sociale",
                "caf_gestionnaire": "Caf gestionnaire",
                "jours_restants": "Jours avant le 15 janvier",
            },
            f"Esats sans déclaration RG acceptée pour {args.year}",
            "Tous les Esats ouverts ont déclaré.",
        )
    )
    if len(rows) > len(shown) and args.format == "text":
        print(
            f"… et {len(rows) - len(shown)} autre(s) Esat(s) : --limit N pour en afficher N, --limit 0 pour tous "
            "(ou --caf CODE, --format csv)."
        )
    return 0


# -- parser -----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from exchange.cli.parser import FrenchParser

    p = FrenchParser(
        prog="esat-exchange",
        description="Échanges de fichiers du service Esat de la Caf.",
        epilog="exemple : esat-exchange --config /etc/esat-exchange/esat-exchange.toml status",
    )
    p.add_argument("--version", action=_VersionAction, help="afficher la version et quitter")
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
    check.add_argument(
        "--format",
        choices=(*FORMATS, "html"),
        default="text",
        help="text (défaut), csv, json, ou html (le compte rendu lisible, à ouvrir dans un navigateur)",
    )
    check.set_defaults(handler=cmd_check)

    files = sub.add_parser("files", help="fichiers reçus").add_subparsers(dest="files_command", required=True)
    fl = files.add_parser(
        "list",
        help="lister les fichiers reçus",
        description="Liste les fichiers reçus, les plus récents d'abord.",
        epilog="exemple : esat-exchange files list --etat QUARANTAINE",
    )
    fl.add_argument(
        "--status", type=str.upper, choices=STATUTS, metavar="STATUT", help="ACCEPTE, PARTIEL, REJETE ou DOUBLON"
    )
    fl.add_argument(
        "--etat", type=str.upper, choices=ETATS, metavar="ETAT", help="RECU, ARCHIVE, TRAITE, ACQUITTE ou QUARANTAINE"
    )
    fl.add_argument("--siret")
    fl.add_argument("--compte", help="compte de dépôt (login SFTP)")
    fl.add_argument("--run", type=int, metavar="ID", help="fichiers reçus par l'exécution ID")
    _add_terminal_limit(fl, "nombre de fichiers, les plus récents")
    fl.add_argument("--format", choices=FORMATS, default="text")
    fl.set_defaults(handler=cmd_files_list)
    fs = files.add_parser("show", help="un fichier et ses anomalies (NIR masqués)")
    fs.add_argument("file_id", type=int, metavar="ID")
    fs.add_argument("--format", choices=FORMATS, default="text")
    fs.set_defaults(handler=cmd_files_show)
    fr = files.add_parser("replay", help="retraiter un fichier reçu, ou plusieurs (après correction des habilitations)")
    fr.add_argument("file_ids", type=int, nargs="*", metavar="ID", help="numéro(s) de fichier")
    fr.add_argument(
        "--habilitation",
        action="store_true",
        help="tous les fichiers rejetés pour une habilitation (H0x) que l'extrait importé permet de rejouer",
    )
    fr.add_argument("--siret", metavar="SIRET", help="avec --habilitation : les fichiers de cet Esat seulement")
    fr.add_argument(
        "--dry-run", action="store_true", help="lister les fichiers qui seraient rejoués, sans rien rejouer"
    )
    fr.set_defaults(handler=cmd_files_replay)

    runs = sub.add_parser("runs", help="exécutions des tâches").add_subparsers(dest="runs_command", required=True)
    rl = runs.add_parser(
        "list", help="lister les exécutions", epilog="exemple : esat-exchange runs list --status ECHEC"
    )
    rl.add_argument("--job", choices=RUN_JOBS, metavar="TACHE", help="run, collect, nightly, campaign, replay ou purge")
    rl.add_argument(
        "--status", type=str.upper, choices=RUN_STATUSES, metavar="STATUT", help="EN_COURS, OK, ECHEC ou IGNORE"
    )
    rl.add_argument("--limit", type=int, default=20)
    rl.add_argument("--format", choices=FORMATS, default="text")
    rl.set_defaults(handler=cmd_runs_list)
    rs = runs.add_parser("show", help="une exécution")
    rs.add_argument("run_id", type=int, metavar="ID")
    rs.add_argument("--format", choices=FORMATS, default="text")
    rs.set_defaults(handler=cmd_runs_show)

    camp = sub.add_parser("campaign", help="campagne annuelle RG").add_subparsers(
        dest="campaign_command", required=True
    )
    cc = camp.add_parser("close", help="écrire les fichiers de campagne de l'année N pour chaque Caf")
    cc.add_argument("--year", type=int, required=True)
    cc.set_defaults(handler=cmd_campaign_close)
    cs = camp.add_parser("status", help="Esats ouverts sans RG accepté pour l'année N")
    cs.add_argument("--year", type=int, required=True)
    cs.add_argument("--caf", metavar="CODE", help="seulement les Esats de cette Caf gestionnaire (ex. 75)")
    _add_terminal_limit(cs, "nombre d'Esats")
    cs.add_argument("--format", choices=FORMATS, default="text")
    cs.set_defaults(handler=cmd_campaign_status)

    for module in (
        "exchange.cli.habilitations",
        "exchange.cli.template",
        "exchange.cli.scheduler",
        "exchange.cli.db",
        "exchange.cli.web",
        "exchange.cli.purge",
        "exchange.cli.personne",
        "exchange.cli.config_init",
        "exchange.cli.backup",
    ):
        _add_module_commands(sub, module)
    from exchange.cli.parser import add_examples

    add_examples(p, EXAMPLES)
    return p


EXAMPLES = {
    "run": "esat-exchange run --as-of 2025-12-15",
    "check": "esat-exchange check ESAT_81234567600017_RG_20251210_001.csv --format html > compte-rendu.html",
    "template": "esat-exchange template rg --format xlsx --out ESAT_81234567600017_RG_20261210_001.xlsx",
    "files": "esat-exchange files list --status REJETE",
    "files list": "esat-exchange files list --etat QUARANTAINE --siret 81234567600017",
    "files show": "esat-exchange files show 4711 --format json",
    "files replay": "esat-exchange files replay 4711 ; après un extrait corrigé : esat-exchange files replay --habilitation",
    "runs": "esat-exchange runs list --status ECHEC",
    "runs list": "esat-exchange runs list --job nightly --limit 7",
    "runs show": "esat-exchange runs show 812",
    "campaign": "esat-exchange campaign status --year 2025",
    "campaign close": "esat-exchange campaign close --year 2025",
    "campaign status": "esat-exchange campaign status --year 2025 --caf 75 --format csv",
    "habilitations": "esat-exchange habilitations import extrait-habpps.xlsx",
    "habilitations import": "esat-exchange habilitations import /srv/habpps/2025-12-01/",
    "migration": "esat-exchange migration report habtiers.xlsx --out rapport.csv",
    "migration report": "esat-exchange migration report habtiers.xlsx --out rapport.csv",
    "scheduler": "esat-exchange --log-format json --log-level INFO scheduler",
    "scheduler pause": 'esat-exchange scheduler pause nightly --motif "import Habpps en cours"',
    "scheduler resume": "esat-exchange scheduler resume --toutes",
    "scheduler list": "esat-exchange scheduler list",
    "status": "esat-exchange status --format json",
    "db": "esat-exchange db upgrade",
    "db upgrade": "esat-exchange --config /etc/esat-exchange/esat-exchange.toml db upgrade",
    "db status": "esat-exchange db status",
    "web": "esat-exchange --config /etc/esat-exchange/esat-exchange.toml web",
    "operators": "esat-exchange operators add mdupont --role lecteur",
    "operators add": "esat-exchange operators add mdupont --role gestionnaire",
    "purge": "esat-exchange purge --dry-run",
    "backup": "esat-exchange --config /etc/esat-exchange/esat-exchange.toml backup /var/backups/esat/2026-12-07",
    "config": "esat-exchange config init /etc/esat-exchange/esat-exchange.toml",
    "config init": "esat-exchange config init /etc/esat-exchange/esat-exchange.toml --data-dir /var/lib/esat-exchange",
    "personne": "esat-exchange personne 185057512345678 --format html > personne.html",
}


class _VersionAction(argparse._VersionAction):  # noqa: SLF001 - argparse's own action, its text asked only when used
    """`--version`: the installed version, read (importlib.metadata) only when the option is given."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        self.version = f"esat-exchange {_version()}"
        super().__call__(parser, namespace, values, option_string)


def _version() -> str:
    from exchange.cli.version import installed_version

    return installed_version()


def _add_module_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], module: str) -> None:
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name):
            return
        raise
    add: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = mod.add_commands
    add(sub)


def main(argv: list[str] | None = None) -> int:
    from exchange.logs import setup_logging

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = argv  # the command as typed, for the journal (exchange.cli.journal)
    setup_logging(args.log_format, args.log_level)
    if getattr(args, "without_config", False):  # config init: writes the file the others read
        return int(args.handler(args, None) or 0)
    from exchange.cli.config_notice import missing_config_notice, started

    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"Erreur de configuration : {e}{missing_config_notice(args.config, e)}", file=sys.stderr)
        return 2
    started(args, config)
    from exchange.store.revision import SchemaError

    try:
        code = int(args.handler(args, config) or 0)
    except SchemaError as e:  # the database is not at this program's revision: one French line
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrompu (Ctrl-C) : ce qui était enregistré le reste ; relancez la commande.", file=sys.stderr)
        return INTERRUPTED
    except Exception as e:  # noqa: BLE001 - only an unreachable database is answered here; anything else propagates
        line = database_unreachable(e, config.database_url, args.command)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 1
    from exchange.cli.journal import record

    record(args, argv, code, config)  # the journal: who (the system user), when, what
    return code


def database_unreachable(error: Exception, url: str, command: str) -> str | None:
    """The one French line for a database that cannot be reached or opened (URL without its password), else None."""
    import logging

    from exchange.store.errors import is_unreachable, reason_of, shown_url

    if not is_unreachable(error, url):
        return None
    where = shown_url(url)
    reason = reason_of(error)
    recorded = " ; l'exécution n'a pas pu être enregistrée" if command == "run" else ""
    logging.getLogger("esat_exchange").info(
        f"base de données injoignable{recorded} : {reason}", extra={"event": {"command": command, "base": where}}
    )
    if url.startswith("sqlite"):  # a file, not a server: the usual cause is its folder's owner (operations.md §0.2)
        import getpass

        return (
            f"Base de données injoignable ({where}){recorded} : le fichier SQLite ne peut être ni ouvert ni créé ; "
            f"son dossier doit exister et l'utilisateur qui lance la commande ({getpass.getuser()}) doit pouvoir y écrire."
        )
    return f"Base de données injoignable ({where}){recorded} : vérifiez qu'elle est démarrée et que [database] url est juste."


if __name__ == "__main__":
    raise SystemExit(main())
