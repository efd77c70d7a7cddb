"""Logs: one event per line (human or JSON lines), each tied to its run, and never a full NIR."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import threading
import time

import pytest
from apscheduler.triggers.cron import CronTrigger
from lxml import etree

from exchange.config import load_config
from exchange.logs import setup_logging
from exchange.store.engine import open_database
from jobs.scheduler import open_scheduler
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES

HUMAN_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4} (INFO|WARNING|ERROR) +\S.* \[(.* )?run_id=\d+( .*)?\]$"
)


def example_nirs() -> set[str]:
    """Every NIR of the example drop area, read from the files themselves."""
    nirs: set[str] = set()
    for path in (EXAMPLES / "drop").rglob("*.csv"):
        nirs |= {row["nir"] for row in csv.DictReader(io.StringIO(path.read_text("utf-8")), delimiter=";")}
    for path in (EXAMPLES / "drop").rglob("*.xml"):
        nirs |= {el.text for el in etree.parse(str(path)).iter("{*}nir")}
    return nirs


@pytest.fixture
def area(tmp_path):
    seed_examples(tmp_path)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    # one more file whose records are rejected: its NIRs are in anomalies, never in the logs
    src = EXAMPLES / "drop" / "esat-seine" / "depot" / "ESAT_81234567600017_RG_20251210_001.csv"
    bad = src.read_text("utf-8").replace("185057800608491", "185057800608400").replace(";100;862,35;", ";100;;")
    (tmp_path / "drop" / "esat-seine" / "depot" / "ESAT_81234567600017_RG_20251213_002.csv").write_text(bad, "utf-8")
    yield tmp_path
    for name in ("esat_exchange", "apscheduler"):
        logging.getLogger(name).handlers.clear()


def test_nirs_are_read_from_the_examples():
    nirs = example_nirs()
    assert "185057800608491" in nirs and "288076912345670" in nirs and len(nirs) >= 5


@pytest.mark.parametrize("fmt", ["json", "human"])
def test_a_full_cycle_logs_one_event_per_line_without_nir(area, fmt):
    code, out, err = cli(area, "--log-format", fmt, "--log-level", "INFO", "run", "--as-of", "2025-12-15")
    assert code == 0, out + err
    assert "1 PARTIEL" in out or "1 REJETE" in out  # the extra file did carry bad records
    start, *lines = err.splitlines()  # the process's start-up line (version, configuration), then the run's
    assert "démarrage d'esat-exchange" in start
    assert len(lines) >= 4 * 5  # received, archived, judged, acknowledged per file, at least
    events = []
    for line in lines:
        if fmt == "json":
            event = json.loads(line)
            assert isinstance(event, dict) and isinstance(event["run_id"], int), line
            assert event["level"] in ("INFO", "WARNING", "ERROR") and event["message"] and event["ts"]
            events.append(event)
        else:
            assert HUMAN_LINE.match(line), line
    nirs = example_nirs() | {"185057800608400"}
    for line in lines:
        for nir in nirs:
            assert nir not in line, f"full NIR in the logs: {line}"
    if fmt == "json":
        assert {e["run_id"] for e in events} == {events[0]["run_id"]}
        acknowledged = [e for e in events if e.get("state") == "ACQUITTE"]
        assert len(acknowledged) == 5 and all(e["account"] and e["file_id"] for e in acknowledged)
        assert events[0]["message"] == "début de l'exécution" and events[-1]["status"] == "OK"


@pytest.mark.parametrize("fmt", ["json", "human"])
def test_a_nir_in_a_message_or_field_is_masked(fmt):
    stream = io.StringIO()
    setup_logging(fmt, "INFO", stream)
    try:
        logging.getLogger("esat_exchange").warning(
            "enregistrement 185057800608491 refusé", extra={"event": {"run_id": 1, "detail": "nir 185052A12345678"}}
        )
    finally:
        logging.getLogger("esat_exchange").handlers.clear()
    line = stream.getvalue().strip()
    assert "185057800608491" not in line and "185052A12345678" not in line.upper()
    assert "18505********91" in line and "18505********78" in line
    if fmt == "json":
        assert json.loads(line)["run_id"] == 1


def test_scheduler_logs_job_start_and_end_as_events(area):
    stream = io.StringIO()
    setup_logging("json", "INFO", stream)
    toml = area / "esat-exchange.toml"
    toml.write_text(
        toml.read_text("utf-8") + '[schedule]\ncollect = "0 3 1 1 *"\nnightly = "0 4 1 1 *"\ncampaign = []\n', "utf-8"
    )
    config = load_config(toml)
    stop = threading.Event()
    scheduler = open_scheduler(
        config, str(toml), open_database(config.database_url), stop, triggers={"collect": CronTrigger(second="*")}
    )
    scheduler.resume()
    deadline = time.monotonic() + 20
    while "tâche planifiée terminée" not in stream.getvalue():
        assert time.monotonic() < deadline, stream.getvalue()
        time.sleep(0.1)
    stop.set()
    scheduler.shutdown(wait=True)
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    started = next(e for e in events if e["message"] == "tâche planifiée lancée")
    ended = next(e for e in events if e["message"].startswith("tâche planifiée terminée"))
    assert started["job"] == ended["job"] == "collect"
    cycle = [e for e in events if e.get("job") == "collect" and "run_id" in e]
    assert ended["run_id"] == cycle[0]["run_id"] and ended["status"] == "OK"
