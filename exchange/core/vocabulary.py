"""The project's fixed values, each defined once: states, statuts, jobs, the CNA's Caf, stored cents (no dependency).

The state machines (every change goes through a named verb of exchange.store):
- a received file (`files.state`): RECLAME → RECU → ARCHIVE → TRAITE → ACQUITTE, or QUARANTAINE;
- a job run (`runs.status`): EN_COURS → OK / ECHEC, or IGNORE (written ended: another process held the job);
- a Caf emission (`emissions.state`): OUVERTE → EN_COURS → TERMINE.
"""

from __future__ import annotations

from typing import Literal

from exchange.core.jobs import REGISTRY

FileState = Literal["RECLAME", "RECU", "ARCHIVE", "TRAITE", "ACQUITTE", "QUARANTAINE"]
RECLAME: FileState = "RECLAME"
RECU: FileState = "RECU"
ARCHIVE: FileState = "ARCHIVE"
TRAITE: FileState = "TRAITE"
ACQUITTE: FileState = "ACQUITTE"
QUARANTAINE: FileState = "QUARANTAINE"
UNFINISHED_STATES: tuple[FileState, ...] = (RECLAME, RECU, ARCHIVE, TRAITE)
ETATS: tuple[FileState, ...] = (RECU, ARCHIVE, TRAITE, ACQUITTE, QUARANTAINE)  # what listings filter on

Statut = Literal["ACCEPTE", "PARTIEL", "REJETE", "DOUBLON"]
ACCEPTE: Statut = "ACCEPTE"
PARTIEL: Statut = "PARTIEL"
REJETE: Statut = "REJETE"
DOUBLON: Statut = "DOUBLON"
STATUTS: tuple[Statut, ...] = (ACCEPTE, PARTIEL, REJETE, DOUBLON)
ACCEPTED_STATUTS: tuple[Statut, ...] = (ACCEPTE, PARTIEL)  # a reception with at least one record accepted

RunStatus = Literal["EN_COURS", "OK", "ECHEC", "IGNORE"]
EN_COURS: RunStatus = "EN_COURS"
OK: RunStatus = "OK"
ECHEC: RunStatus = "ECHEC"
IGNORE: RunStatus = "IGNORE"
RUN_STATUSES: tuple[RunStatus, ...] = (EN_COURS, OK, ECHEC, IGNORE)
# A run's counts (every listing of runs shows them; outside a national perimeter, those of the perimeter's files)
RUN_COUNTS = (
    "fichiers",
    "fichiers_acceptes",
    "fichiers_partiels",
    "fichiers_rejetes",
    "fichiers_doublons",
    "enregistrements_recus",
    "enregistrements_acceptes",
    "enregistrements_rejetes",
)
FINISHED_RUN_STATUSES: tuple[RunStatus, ...] = (OK, ECHEC)  # runs that really ran and ended

EmissionState = Literal["OUVERTE", "EN_COURS", "TERMINE"]
EMISSION_OUVERTE: EmissionState = "OUVERTE"  # collecting the records stored for it: no name, no file yet
EMISSION_EN_COURS: EmissionState = "EN_COURS"
TERMINE: EmissionState = "TERMINE"

NodeRole = Literal["MENEUR", "ATTENTE"]
LEADER: NodeRole = "MENEUR"  # the scheduler node that runs the jobs
STANDBY: NodeRole = "ATTENTE"  # a hot standby

# the jobs, read from their one declaration (exchange.core.jobs.REGISTRY)
JOBS = tuple(j.id for j in REGISTRY if j.recorded)  # the jobs a run records
CYCLE_JOBS = tuple(j.id for j in REGISTRY if j.cycle)  # jobs that run a cycle (each resumes unfinished files first)
SCHEDULED_JOBS = tuple(j.id for j in REGISTRY if j.scheduled)  # the jobs of [schedule]: each may be paused
JOB_LABELS = {j.id: j.label for j in REGISTRY if j.recorded}  # a job's name in French

CNA_CODE_CAF = "78"  # the Caf des Yvelines runs the CNA, which manages multi-departmental partners
ESAT_SERVICE = "ESAT"

# typed amount or rate column (Decimal, 2 places) → the stored integer hundredths column
CENT_COLUMNS = {
    "taux_activite_esat": "taux_activite_esat_c",
    "remuneration_garantie_nette": "remuneration_garantie_nette_c",
    "part_financee_esat_nette": "part_financee_esat_nette_c",
    "aide_au_poste_nette": "aide_au_poste_nette_c",
    "heures_hebdo_mo": "heures_hebdo_mo_c",
    "salaire_net_mo": "salaire_net_mo_c",
    "taux_activite_avant": "taux_activite_avant_c",
    "taux_activite_apres": "taux_activite_apres_c",
}
