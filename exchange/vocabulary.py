"""The ledger's fixed values (statuts, états, run statuses, jobs), free of any dependency: the parser needs them."""
from __future__ import annotations

STATUTS = ("ACCEPTE", "PARTIEL", "REJETE", "DOUBLON")
ETATS = ("RECU", "ARCHIVE", "TRAITE", "ACQUITTE", "QUARANTAINE")
RUN_STATUSES = ("EN_COURS", "OK", "ECHEC", "IGNORE")
JOBS = ("run", "collect", "nightly", "campaign", "replay")
