"""Fixed values (statuts, états, run statuses, jobs, the CNA's Caf), free of any dependency: the parser needs them."""
from __future__ import annotations

STATUTS = ("ACCEPTE", "PARTIEL", "REJETE", "DOUBLON")
ETATS = ("RECU", "ARCHIVE", "TRAITE", "ACQUITTE", "QUARANTAINE")
RUN_STATUSES = ("EN_COURS", "OK", "ECHEC", "IGNORE")
JOBS = ("run", "collect", "nightly", "campaign", "replay", "purge")
CNA_CODE_CAF = "78"  # the Caf des Yvelines runs the CNA, which manages multi-departmental partners
ESAT_SERVICE = "ESAT"
