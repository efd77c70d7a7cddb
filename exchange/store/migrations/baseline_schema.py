"""The schema at revision 0001_baseline: a frozen copy of exchange/store/tables.py's tables on the day Alembic came in.

Never edit this file: a later change of exchange/store/tables.py is a new migration. The baseline migration creates
exactly these tables; exchange.store.revision compares a pre-Alembic database with them before stamping it.
"""

from __future__ import annotations

from sqlalchemy import (
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
)


def baseline_metadata() -> MetaData:
    """A fresh MetaData holding every table, column, index, unique and foreign key of the baseline."""
    metadata = MetaData()
    # -- intake ledger ------------------------------------------------------------------------------
    # state: RECU (local copy fsync'd, hash committed) → ARCHIVE (source moved to archive/)
    #        → TRAITE (records and anomalies stored, statut decided) → ACQUITTE (comptes rendus written)
    Table(
        "files",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("account", String(200), nullable=False),
        Column("name", String(500), nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("size", Integer, nullable=False),
        Column("stored_path", Text, nullable=False),
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
        Index("ix_files_account_sha", "account", "sha256"),
        Index("ix_files_state", "state"),
        Index("ix_files_account_name", "account", "name"),
    )

    Table(
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
        Index("ix_anomalies_file", "file_id"),
    )

    # Accepted records only; rejected ones live in `anomalies`.
    Table(
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
        Column("nature", String(15)),  # INITIALE / RECTIFICATIVE, fixed when assigned to an emission
        Index("ix_records_rg_key", "siret_esat", "nir", "annee_reference"),
        Index("ix_records_ca_key", "siret_esat", "nir", "type_changement", "date_effet"),
        Index("ix_records_pending", "emission_id", "kind", "code_caf"),  # each emission group, without a scan
        Index("ix_records_file", "file_id"),
    )

    # -- Caf outputs ----------------------------------------------------------------------------------
    # state: EN_COURS (records assigned, committed before any byte is written) → TERMINE (files on disk)
    Table(
        "emissions",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("flux", String(12), nullable=False),  # RG / CA / RG-CAMPAGNE
        Column("code_caf", String(3), nullable=False),
        Column("annee", Integer),
        Column("name", String(200), nullable=False, unique=True),  # base name, without extension
        Column("state", String(10), nullable=False),
        Column("rows", Integer),
        Column("run_id", Integer),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("completed_at", DateTime(timezone=True)),
    )

    # -- job runs -------------------------------------------------------------------------------------
    # status: EN_COURS → OK / ECHEC; IGNORE when another process held the job's lock
    Table(
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

    Table(
        "job_locks",
        metadata,
        Column("job", String(20), primary_key=True),
        Column("holder", String(200)),
        Column("acquired_at", DateTime(timezone=True)),
    )

    # -- habilitations (Habpps extract in force) ----------------------------------------------------
    Table(
        "hab_imports",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("imported_at", DateTime(timezone=True), nullable=False),
        Column("source", Text, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("imported_by", String(200)),
        Column("counts", Text, nullable=False),  # JSON object table → rows
    )
    Table(
        "hab_partenaires",
        metadata,
        Column("siret", String(14), primary_key=True),
        Column("raison_sociale", String(300), nullable=False),
        Column("code_caf", String(3), nullable=False),
        Column("departement", String(3), nullable=False),
        Column("portee", String(25), nullable=False),
    )
    Table(
        "hab_conventions",
        metadata,
        Column("id_convention", String(100), primary_key=True),
        Column("siret", String(14), nullable=False),
        Column("statut", String(10), nullable=False),
        Column("date_debut", Date, nullable=False),
        Column("date_fin", Date),
        Column("mode_gestion", String(12), nullable=False),
        Column("date_contrat_service", Date),
    )
    Table(
        "hab_bulletins",
        metadata,
        Column("id_bulletin", String(100), primary_key=True),
        Column("id_convention", String(100), nullable=False),
        Column("service", String(40), nullable=False),
        Column("siret", String(14), nullable=False),
        Column("date_signature", Date),
        Column("statut", String(12), nullable=False),
    )
    Table(
        "hab_groupes",
        metadata,
        Column("id_groupe", String(100), primary_key=True),
        Column("id_convention", String(100), nullable=False),
        Column("service", String(40), nullable=False),
        Column("role", String(12), nullable=False),
    )
    Table(
        "hab_utilisateurs",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("login", String(200), nullable=False),
        Column("siret", String(14), nullable=False),
        Column("id_groupe", String(100), nullable=False),
        Column("actif", String(1), nullable=False),
        UniqueConstraint("login", "id_groupe"),
    )
    return metadata
