"""The project's database: every table (ledger, records, runs, emissions, habilitations, console).

Every change here is also a migration (exchange/store/migrations/, docs/migrations.md): a test fails otherwise.
Portable SQLAlchemy Core only: the same code runs on SQLite (default) and PostgreSQL.
Amounts, rates and hours are stored as integer hundredths (`*_c` columns): exact on every backend.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.sql.elements import ColumnElement

metadata = MetaData()

# The scheduler's job store (exchange.store.jobstore): APScheduler creates and owns it, outside the migrations.
JOBSTORE_TABLE = "apscheduler_jobs"

# -- intake ledger ------------------------------------------------------------------------------
# state: RECLAME (reserved; depot/<name> moved to archive/<claim>) → RECU (local copy fsync'd, hash
#        committed) → ARCHIVE (claim renamed to its archive name) → TRAITE (records and anomalies stored,
#        statut decided) → ACQUITTE (comptes rendus written); QUARANTAINE (set aside, kept for replay)
files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(200), nullable=False),
    Column("name", String(500), nullable=False),
    Column("sha256", String(64)),  # null while RECLAME, and for a file refused unread for its size (F07)
    Column("size", BigInteger, nullable=False),  # a 3 GiB upload must be recorded to be refused (F07)
    Column("stored_path", Text),  # the local copy; null when none was kept (RECLAME, F07 from the size)
    Column("kind", String(2)),  # RG / CA when the name says so
    Column("siret", String(14)),  # from the name
    Column("state", String(20), nullable=False),
    Column("state_changed_at", DateTime(timezone=True), nullable=False),
    Column("statut", String(10)),  # ACCEPTE / PARTIEL / REJETE / DOUBLON once TRAITE
    Column("code", String(3)),  # the file-level blocking code, if any
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("processing_date", Date, nullable=False),  # the --as-of of the receiving run, or that day
    Column("processed_at", DateTime(timezone=True)),
    Column("records_in", Integer),
    Column("records_accepted", Integer),
    Column("records_rejected", Integer),
    Column("duplicate_of", Integer),
    Column("archived_name", String(600)),
    Column("run_id", Integer),
    Column("replays", Integer, nullable=False, default=0),
    Column("error", Text),  # why the file is in QUARANTAINE
    Column("answers", Integer, nullable=False, default=0),  # compte rendu pairs written (1 + replays answered)
    # retention (exchange/store/purge.py): set when the purge of that kind began; purge_pending while files remain
    Column("copies_purged_at", DateTime(timezone=True)),  # local copy and archive/ copy
    Column("answers_purged_at", DateTime(timezone=True)),  # comptes rendus in retour/
    Column("identity_purged_at", DateTime(timezone=True)),  # records and anomalies without the worker's identity
    Column("purge_pending", Boolean),
    # identity erased from the database's bytes too (SQLite VACUUM and WAL emptied, PostgreSQL VACUUM and
    # REINDEX): until then a purged identity is « effacement non terminé » (status, /sante)
    Column("identity_erased_at", DateTime(timezone=True)),
    Index("ix_files_account_sha", "account", "sha256"),
    Index("ix_files_state", "state"),
    Index("ix_files_account_name", "account", "name"),
    Index("ix_files_run", "run_id"),  # a run's files (run page; its counts narrowed to a perimeter)
)

anomalies = Table(
    "anomalies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False),
    Column("ligne", Integer),
    Column("nir", String(40)),
    Column("code", String(3), nullable=False),
    Column("gravite", String(15), nullable=False),
    Column("champ", String(60)),
    Column("message", Text, nullable=False),
    Column("nom", Text),  # the worker's nom and prénoms as declared (record-level anomalies)
    Column("prenoms", Text),
    Index("ix_anomalies_file", "file_id"),
)

# Accepted records only; rejected ones live in `anomalies`.
records = Table(
    "records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False),
    Column("kind", String(2), nullable=False),
    Column("ligne", Integer, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("siret_esat", String(14), nullable=False),
    Column("finess_esat", String(9)),
    Column("annee_reference", Integer),
    Column("nir", String(15), nullable=False),
    Column("nom", String(80), nullable=False),
    Column("prenoms", String(80), nullable=False),
    Column("date_naissance", Date),
    Column("numero_allocataire", String(7)),
    Column("code_caf", String(3), nullable=False),
    Column("caf_gestionnaire", String(3)),
    Column("date_entree_esat", Date),
    Column("taux_activite_esat_c", Integer),
    Column("remuneration_garantie_nette_c", Integer),
    Column("part_financee_esat_nette_c", Integer),
    Column("aide_au_poste_nette_c", Integer),
    Column("cumul_milieu_ordinaire", Boolean),
    Column("siret_employeur_mo", String(14)),
    Column("type_contrat_mo", String(10)),
    Column("date_debut_mo", Date),
    Column("heures_hebdo_mo_c", Integer),
    Column("salaire_net_mo_c", Integer),
    Column("type_changement", String(20)),
    Column("date_effet", Date),
    Column("taux_activite_avant_c", Integer),
    Column("taux_activite_apres_c", Integer),
    Column("motif_depart", String(40)),
    # history: an RG record replaced by a newer one is superseded; a CA repeat is never stored
    Column("replaces_id", Integer),
    Column("superseded", Boolean, nullable=False, default=False),
    Column("emission_id", Integer, ForeignKey("emissions.id")),
    Column("nature", String(15)),  # INITIALE / RECTIFICATIVE, fixed when assigned to an emission (when stored)
    Index("ix_records_rg_key", "siret_esat", "nir", "annee_reference"),
    Index("ix_records_pending", "emission_id", "file_id", "ligne"),  # an emission's records, in order, from the index
    Index("ix_records_file", "file_id"),
    # the campaign page: accepted RG per Caf and Esats that declared, read from the index alone
    Index("ix_records_campaign", "kind", "annee_reference", "siret_esat", "code_caf", "superseded"),
    # the campaign chart: accepted RG in force per Caf, counted in index order (no sort of a million rows)
    Index("ix_records_rg_caf", "kind", "annee_reference", "superseded", "code_caf"),
)


def in_force_seeking_esats() -> ColumnElement[bool]:
    """`records.superseded` is false, written out of an index's reach: a query that names a few Esats (a perimeter,
    a batch's SIRETs) must make SQLite seek them in ix_records_campaign (kind, year, siret), not walk every record of
    the year in ix_records_rg_caf (kind, year, superseded). Without statistics, SQLite's planner takes the index
    with the most equality terms, and `superseded = 0` gave ix_records_rg_caf a third one (0.7 s a query, against
    0.09, on 10× the nation's records)."""
    return func.coalesce(records.c.superseded, False) == False  # noqa: E712 - NOT NULL; coalesce only hides it


# What remains of a file's records and record-level anomalies once the identity period is over (the rows are
# deleted: exchange.store.purge.anonymise): counts only, per what the dashboard, the campaign and the history
# group by; never a line, an amount, a date or a name (docs/donnees-personnelles.md).
record_tallies = Table(
    "record_tallies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False),
    Column("siret_esat", String(14), nullable=False),
    Column("kind", String(2), nullable=False),
    Column("code_caf", String(3), nullable=False),
    Column("annee_reference", Integer),
    Column("superseded", Boolean, nullable=False),
    Column("n", Integer, nullable=False),
    Index("ix_record_tallies_file", "file_id"),
    Index("ix_record_tallies_year", "kind", "annee_reference", "siret_esat"),
)
anomaly_tallies = Table(
    "anomaly_tallies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False),
    Column("code", String(3), nullable=False),
    Column("gravite", String(15), nullable=False),
    Column("n", Integer, nullable=False),
    Index("ix_anomaly_tallies_file", "file_id"),
)

# -- Caf outputs ----------------------------------------------------------------------------------
# state: OUVERTE (records put in it as they are stored; a provisional name, one per flux and Caf, no file) →
# EN_COURS (named, its records fixed, committed before any byte is written) → TERMINE (files on disk)
emissions = Table(
    "emissions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flux", String(12), nullable=False),  # RG / CA / RG-CAMPAGNE
    Column("code_caf", String(3), nullable=False),
    Column("annee", Integer),
    Column("name", String(200), nullable=False, unique=True),  # base name, without extension (OUVERTE: provisional)
    Column("state", String(10), nullable=False),
    Column("rows", Integer),
    Column("run_id", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    Column("files_purged_at", DateTime(timezone=True)),  # retention: the output files removed (or being removed)
    Column("purge_pending", Boolean),
)

# -- retention: what each purge removed, per kind and declaration year (no identity) ------------------
purges = Table(
    "purges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(20), nullable=False),  # exchange.core.retention.KINDS
    Column("annee", Integer),
    Column("removed", Integer, nullable=False),  # files, emissions, journal lines or runs
    Column("records", Integer, nullable=False),  # identity: records made anonymous
    Column("anomalies", Integer, nullable=False),  # identity: anomalies made anonymous
)

# files on disk the ledger does not know (a restored older database), as last counted: never removed
unknown_files = Table(
    "unknown_files",
    metadata,
    Column("kind", String(20), primary_key=True),  # copies (storage folder), outputs (output folder)
    Column("n", Integer, nullable=False),
    Column("checked_at", DateTime(timezone=True), nullable=False),
)

# -- job runs -------------------------------------------------------------------------------------
# status: EN_COURS → OK / ECHEC; IGNORE when another process held the job's lock
runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(20), nullable=False),  # run / collect / nightly / campaign / replay
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("status", String(10), nullable=False),
    Column("as_of", Date),
    Column("files_seen", Integer, nullable=False, default=0),
    Column("files_accepted", Integer, nullable=False, default=0),
    Column("files_partial", Integer, nullable=False, default=0),
    Column("files_rejected", Integer, nullable=False, default=0),
    Column("files_duplicate", Integer, nullable=False, default=0),
    Column("records_in", Integer, nullable=False, default=0),
    Column("records_accepted", Integer, nullable=False, default=0),
    Column("records_rejected", Integer, nullable=False, default=0),
    Column("anomaly_counts", Text),  # JSON object code → count
    Column("outputs", Text),  # JSON list of emitted file names
    Column("error", Text),
    Column("host", String(200)),
    Column("pid", Integer),
)

# -- locks and nodes ----------------------------------------------------------------------------
# One row per lock name: `token` is bumped by every new holder before it writes; every fenced transaction
# reads it FOR SHARE and stops unless it is still its own (exchange/store/fences.py).
lock_fences = Table(
    "lock_fences",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("token", Integer, nullable=False),
    Column("holder", String(200)),  # host:pid of the current (or last) holder
    Column("host", String(200)),
    Column("acquired_at", DateTime(timezone=True)),
)

# One row per `scheduler` process (host, pid): its role (MENEUR / ATTENTE) and last heartbeat, for `status`;
# removed on a clean stop, kept a day after the last heartbeat otherwise (a dead node shows its last sign).
nodes = Table(
    "nodes",
    metadata,
    Column("host", String(200), primary_key=True),
    Column("pid", Integer, primary_key=True, autoincrement=False),
    Column("role", String(10), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("role_since", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)

# -- habilitations (Habpps extract in force) ----------------------------------------------------
hab_imports = Table(
    "hab_imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Column("source", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("imported_by", String(200)),
    Column("counts", Text, nullable=False),  # JSON object table → rows
)
hab_partenaires = Table(
    "hab_partenaires",
    metadata,
    Column("siret", String(14), primary_key=True),
    Column("raison_sociale", String(300), nullable=False),
    Column("code_caf", String(3), nullable=False),
    Column("departement", String(3), nullable=False),
    Column("portee", String(25), nullable=False),
)
hab_conventions = Table(
    "hab_conventions",
    metadata,
    Column("id_convention", String(100), primary_key=True),
    Column("siret", String(14), nullable=False),
    Column("statut", String(10), nullable=False),
    Column("date_debut", Date, nullable=False),
    Column("date_fin", Date),
    Column("mode_gestion", String(12), nullable=False),
    Column("date_contrat_service", Date),
    Index("ix_hab_conventions_siret", "siret"),  # campaign status: a partner's conventions
)
hab_bulletins = Table(
    "hab_bulletins",
    metadata,
    Column("id_bulletin", String(100), primary_key=True),
    Column("id_convention", String(100), nullable=False),
    Column("service", String(40), nullable=False),
    Column("siret", String(14), nullable=False),
    Column("date_signature", Date),
    Column("statut", String(12), nullable=False),
    Index("ix_hab_bulletins_convention", "id_convention"),  # campaign status: a convention's bulletins
)
hab_groupes = Table(
    "hab_groupes",
    metadata,
    Column("id_groupe", String(100), primary_key=True),
    Column("id_convention", String(100), nullable=False),
    Column("service", String(40), nullable=False),
    Column("role", String(12), nullable=False),
)
hab_utilisateurs = Table(
    "hab_utilisateurs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("login", String(200), nullable=False),
    Column("siret", String(14), nullable=False),
    Column("id_groupe", String(100), nullable=False),
    Column("actif", String(1), nullable=False),
    UniqueConstraint("login", "id_groupe"),
    Index("ix_hab_utilisateurs_siret", "siret"),  # perimeters: the drop-area accounts of the partners in one
)


# -- console: operator accounts and the audit log -----------------------------------------------
# role: lecteur (reads) / gestionnaire (may also replay, import, close a campaign)
operators = Table(
    "operators",
    metadata,
    Column("login", String(200), primary_key=True),
    Column("password_hash", Text),  # argon2id; NULL for an account that only logs in through the proxy
    Column("role", String(12), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True)),  # `operators disable`: no login, no session, until enabled
    # single sign-on binds the account to the provider's issuer and `sub` (never to a name a provider may reuse)
    Column("oidc_issuer", String(500)),
    Column("oidc_subject", String(255)),
    Index("ix_operators_oidc", "oidc_issuer", "oidc_subject", unique=True),
)

# What each operator may see (spec cli.md « Who sees what »): national, cna, or a Caf code; several add up.
operator_perimeters = Table(
    "operator_perimeters",
    metadata,
    Column("login", String(200), primary_key=True),
    Column("perimetre", String(10), primary_key=True),
)

# Console sessions kept on the server (every node reads them); the cookie holds only a random token, the row
# its SHA-256. Ended by logout, a role or perimeter change, disable, remove, or `[web] session_idle_minutes`.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("login", String(200)),  # NULL before logging in (a CSRF token for the login form)
    Column("data", Text, nullable=False),  # JSON object: CSRF token, flash messages
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Index("ix_web_sessions_login", "login"),
    Index("ix_web_sessions_seen", "seen_at"),
)

# Failed console logins per (login, client address): each beyond the allowed ones delays the next try.
login_failures = Table(
    "login_failures",
    metadata,
    Column("login", String(200), primary_key=True),
    Column("address", String(100), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
)

# One row per console action: who, when, what, on what, and how it ended (OK / REFUSE / ECHEC).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("login", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(300)),
    Column("outcome", String(10), nullable=False),
    Column("detail", Text),
    Column("address", String(100)),
    Column("siret", String(14)),  # the Esat concerned, when there is one (the journal's perimeter and filter)
    Column("file_id", Integer),  # the received file concerned, when there is one
    Index("ix_audit_at", "at"),
    Index("ix_audit_siret", "siret"),
)

# -- scheduler pauses and run logs (0010) ----------------------------------------------------------
# A paused job's scheduled slots are skipped (logged, no run) until resumed; a launch from the console or the
# command line still runs. One row per paused job.
job_pauses = Table(
    "job_pauses",
    metadata,
    Column("job", String(20), primary_key=True),  # collect / nightly / campaign / purge
    Column("paused_at", DateTime(timezone=True), nullable=False),
    Column("paused_by", String(200), nullable=False),  # an operator's login, or cli:<user>
    Column("reason", Text),
)

# What a run logged, line by line, while it ran (the console's live log of a run); never a full NIR.
run_log = Table(
    "run_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("level", String(10), nullable=False),
    Column("message", Text, nullable=False),
    Column("fields", Text),  # JSON object of the event's fields (file, siret, code…)
    Column("account", String(200)),  # the drop-area account the line is about (its Esat's perimeter), or NULL
    Column("caf", String(3)),  # the Caf the line is about (a Caf file written), or NULL
    # a line about the run as a whole naming no Esat, file or Caf (start, end): every perimeter reads it; a line
    # about no account, no Caf and not general is read by national operators only
    Column("general", Boolean, nullable=False, server_default=false()),
    Index("ix_run_log_run", "run_id", "id"),
    Index("ix_run_log_level", "run_id", "level", "id"),  # the level filter and « aller aux erreurs » (0013)
)

# -- API tokens and run stops (0013) ------------------------------------------------------------------
# An operator's tokens for the JSON API (/api/v1): the secret is shown once, only its SHA-256 is kept (a random
# 256-bit secret needs no slow hash). A token acts as its operator: same role, perimeter and journal.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("login", String(200), nullable=False),
    Column("name", String(100), nullable=False),  # what the operator called it (« supervision », « ITSM »)
    Column("digest", String(64), nullable=False, unique=True),  # SHA-256 of the secret, hex
    Column("hint", String(12), nullable=False),  # the secret's first characters, to tell tokens apart
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Index("ix_api_tokens_login", "login"),
)

# A stop asked for a running job (console run page, API): the job reads it between files, as the command line's
# Ctrl-C, and ends its run with what it did. One row per run asked to stop.
run_stops = Table(
    "run_stops",
    metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),
    Column("asked_at", DateTime(timezone=True), nullable=False),
    Column("asked_by", String(200), nullable=False),
)

# The console's keys (one row each, made at first use): `visiteur` signs a visitor's cookie before login
console_keys = Table(
    "console_keys",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
