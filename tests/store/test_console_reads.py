"""The console's store reads on both backends (SQLite and PostgreSQL): lists filtered and sorted, a run's
summary, files waiting for a corrected extract, an Esat's profile, trends and monitoring counts."""

from __future__ import annotations

from datetime import date, timedelta

from exchange.core.clock import utcnow
from exchange.core.perimeter import EVERYTHING, Perimeter
from exchange.store.engine import open_database
from exchange.store.esats import esat_profile
from exchange.store.followup import habilitation_rejections_by_code, latest_rg_files
from exchange.store.metrics import service_counts
from exchange.store.reads import audit as audit_reads
from exchange.store.reads import files as file_reads
from exchange.store.reads import runs as run_reads
from exchange.store.trends import first_declarations, runs_per_day
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES

SEINE, HORIZON = "81234567600017", "44306184100021"


def test_console_reads_agree_on_both_backends(tmp_path, db_url):
    cfg = seed_examples(tmp_path, db_url)
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0  # no extract: four files H05
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    engine = open_database(cfg.database_url)
    with engine.connect() as conn:
        everything = file_reads.FileQuery()
        assert file_reads.count_files(conn, everything, perimeter=EVERYTHING) == 4
        by_esat = file_reads.list_files(
            conn, file_reads.FileQuery(tri="esat", ordre="asc"), perimeter=EVERYTHING, limit=10
        )
        assert [r["esat"] for r in by_esat][:2] == ["Association Horizon Travail (ESAT multi-sites)"] * 2
        assert {r["caf"] for r in by_esat} == {"78", "75"}
        found = file_reads.list_files(
            conn, file_reads.FileQuery(nom="_rg_", esat="SEINE", code="h", caf="75"), perimeter=EVERYTHING, limit=10
        )
        assert [r["fichier"] for r in found] == ["ESAT_81234567600017_RG_20251210_001.csv"]
        assert file_reads.count_files(conn, everything, perimeter=Perimeter(cafs=frozenset({"75"}))) == 2
        assert file_reads.count_files(conn, everything, perimeter=Perimeter(cna=True)) == 2
        assert len(list(file_reads.every_file(conn, everything, perimeter=EVERYTHING))) == 4
        assert run_reads.run_summary(conn, 1, perimeter=EVERYTHING) == {
            "par_statut_code": [{"statut": "REJETE", "code": "H05", "fichiers": 4}],
            "par_caf": {"75": {"REJETE": 2}, "78": {"REJETE": 2}},
        }
        assert [
            r["job"]
            for r in run_reads.list_runs(
                conn, run_reads.RunQuery(tri="tache", ordre="asc"), perimeter=EVERYTHING, limit=None
            )
        ] == ["run"]
        assert habilitation_rejections_by_code(conn, perimeter=EVERYTHING) == {"H05": 4}
        latest = latest_rg_files(
            conn, [SEINE, HORIZON, "00000000000000"], date(2025, 7, 1), date(2026, 6, 30), perimeter=EVERYTHING
        )
        assert {s: (f["statut"], f["code"]) for s, f in latest.items()} == {
            SEINE: ("REJETE", "H05"),
            HORIZON: ("REJETE", "H05"),
        }
        assert latest_rg_files(conn, [SEINE], date(2026, 7, 1), date(2027, 6, 30), perimeter=EVERYTHING) == {}
        profile = esat_profile(conn, HORIZON, perimeter=EVERYTHING)
        assert profile["partenaire"]["caf_gestionnaire"] == "78" and profile["fichiers"] == 2
        assert [u["login"] for u in profile["utilisateurs"]] == ["horizon-direction", "horizon-paie"]
        assert esat_profile(conn, HORIZON, perimeter=Perimeter(cafs=frozenset({"75"}))) is None
        assert sum(c["OK"] for c in runs_per_day(conn, utcnow() - timedelta(days=1)).values()) == 1
        counts = service_counts(conn, perimeter=EVERYTHING)
        assert counts["files"] == {("ACQUITTE", "REJETE"): 4} and counts["anomalies"] == {"H05": 4}
    assert cli(tmp_path, "files", "replay", "2")[0] == 0  # Seine's RG, accepted now
    with engine.connect() as conn:
        assert habilitation_rejections_by_code(conn, perimeter=EVERYTHING) == {"H05": 3}
        assert sum(first_declarations(conn, 2025, perimeter=EVERYTHING).values()) == 1
        assert (
            audit_reads.count_audit(conn, audit_reads.AuditQuery(action="rejeu"), perimeter=EVERYTHING) == 1
        )  # the command line journals its replay (as cli:<user>)
    engine.dispose()
