"""The live log of a run (run_log): the capture keeps only its thread's lines, batches them, masks NIRs, survives a
write failure; a run leaves its French lines in order, a replay has its own; an operator sees only the lines of
their perimeter; the lines go with their run at purge."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from exchange.app.run_log import RunLogHandler, capture, line_of
from exchange.core.clock import utcnow
from exchange.core.perimeter import EVERYTHING, Perimeter
from exchange.store import run_log as store
from exchange.store.engine import open_database
from tests.areas import cli, seed_examples
from tests.conftest import EXAMPLES

log = logging.getLogger("esat_exchange")
NIR = "185057800608491"  # a valid-looking NIR with its key
SEINE, HORIZON = "81234567600017", "44306184100021"


class Sink:
    """An append that records its batches (or fails, when told)."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[dict]] = []
        self.fail = fail
        self.calls = 0

    def __call__(self, engine, run_id, lines):  # noqa: ANN001
        self.calls += 1
        if self.fail:
            raise ConnectionError("serveur injoignable")
        self.batches.append(list(lines))
        return len(lines)


def test_the_capture_keeps_only_its_threads_lines_and_writes_them_in_batches():
    sink = Sink()
    with capture(None, 7, append=sink, flush_seconds=60, flush_lines=3) as handler:  # type: ignore[arg-type]
        other = threading.Thread(target=lambda: log.info("ligne d'un autre fil"))
        other.start()
        other.join()
        for i in range(7):
            log.info(f"ligne {i}", extra={"event": {"run_id": 7, "job": "run", "account": "seine", "n": i}})
        deadline = time.monotonic() + 5
        while sum(map(len, sink.batches)) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert 1 <= len(sink.batches) <= 2 and sum(map(len, sink.batches)) >= 3  # batched at 3, before the end
    assert handler not in log.handlers  # detached at the end
    lines = [line for batch in sink.batches for line in batch]
    assert [line["message"] for line in lines] == [f"ligne {i}" for i in range(7)]  # every line, in order, once
    assert lines[0]["fields"] == {"account": "seine", "n": 0} and lines[0]["account"] == "seine"  # run_id/job implied
    assert lines[0]["level"] == "INFO" and lines[0]["at"].tzinfo is not None


def test_the_capture_masks_nirs_and_unsafe_characters_like_the_log_formatters():
    record = log.makeRecord(
        "esat_exchange",
        logging.ERROR,
        __file__,
        1,
        f"NIR {NIR} refusé\u202e\nfaux",
        None,
        None,
        extra={"event": {"nir": NIR, "n": int(NIR), "liste": [NIR]}},
    )
    line = line_of(record)
    text = repr(line)
    assert NIR not in text and NIR[:13] not in text
    assert "\n" not in line["message"] and "\u202e" not in line["message"]
    assert line["message"].startswith("NIR 18505********91 refusé")


def test_a_failure_to_write_drops_the_log_with_one_warning_and_never_fails_the_run(caplog, monkeypatch):
    monkeypatch.setattr(log, "propagate", True)  # to pytest's capture, whatever an earlier in-process CLI set
    sink = Sink(fail=True)
    caplog.set_level(logging.INFO, logger="esat_exchange")
    started = time.monotonic()
    with capture(None, 8, append=sink, flush_seconds=0.05, flush_lines=2) as handler:  # type: ignore[arg-type]
        for i in range(50):
            log.info(f"ligne {i}")
            time.sleep(0.002)
    assert time.monotonic() - started < 3
    assert handler.dropped and sink.calls == 1  # one try, then the log of this run is dropped
    warnings = list(
        {id(r): r for r in caplog.records if "journal de l'exécution n° 8 abandonné" in r.getMessage()}.values()
    )
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_no_run_no_capture():
    with capture(None, None) as handler:  # type: ignore[arg-type]
        assert handler is None


def test_a_run_and_a_replay_leave_their_french_log_seen_within_the_perimeter(tmp_path, db_url):
    cfg = seed_examples(tmp_path, db_url)
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0  # no extract: four files H05
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0
    assert cli(tmp_path, "files", "replay", "2")[0] == 0  # Seine's RG, accepted now
    engine = open_database(cfg.database_url)
    with engine.connect() as conn:
        first = store.read_lines(conn, 1, perimeter=EVERYTHING, limit=1000)
        messages = [line["message"] for line in first]
        assert messages[0] == "début de l'exécution" and messages[-1] == "fin de l'exécution : OK"
        assert [line["id"] for line in first] == sorted(line["id"] for line in first)
        assert any(m.startswith("relevé des dépôts : 4 fichiers prêts") for m in messages)
        judged = [m for m in messages if m.startswith("fichier traité : ")]
        assert len(judged) == 4 and all("REJETE (H05)" in m for m in judged), judged
        assert "fichier traité : ESAT_81234567600017_RG_20251210_001.csv — REJETE (H05)" in " ".join(judged)
        assert any(m.startswith("émission vers les Caf") for m in messages)
        replays = [r for (r,) in conn.exec_driver_sql("SELECT DISTINCT run_id FROM run_log WHERE run_id <> 1")]
        assert len(replays) == 1  # the replay has its own log
        replayed = [line["message"] for line in store.read_lines(conn, replays[0], perimeter=EVERYTHING)]
        assert replayed[0] == "début de l'exécution" and replayed[-1] == "fin de l'exécution : OK"
        assert any(m.startswith("fichier traité : ESAT_81234567600017_RG_20251210_001.csv — ACCEPTE") for m in replayed)
        # the perimeter: Caf 75 sees Seine's lines and the run's own, never Horizon's (the CNA's)
        paris = store.read_lines(conn, 1, perimeter=Perimeter(cafs=frozenset({"75"})), limit=1000)
        accounts = {line["account"] for line in paris}
        assert None in accounts and accounts - {None} and not any("44306184100021" in line["message"] for line in paris)
        assert store.count_lines(conn, 1, perimeter=Perimeter(cafs=frozenset({"75"}))) == len(paris) < len(first)
        # an empty perimeter reads the run's start and end alone: no count of the drop area, no Caf's file
        nothing = store.read_lines(conn, 1, perimeter=Perimeter(), limit=1000)
        assert [x["message"] for x in nothing] == ["début de l'exécution", "fin de l'exécution : OK"]
        assert not any(
            x["message"].startswith(("relevé des dépôts", "émission vers", "fichier Caf écrit")) for x in paris
        )

        assert [x["id"] for x in store.last_lines(conn, 1, perimeter=EVERYTHING, limit=3)] == [
            x["id"] for x in first[-3:]
        ]
        assert store.read_lines(conn, 1, perimeter=EVERYTHING, after_id=first[-2]["id"]) == first[-1:]
    # the lines go with their run
    from exchange.store import purge

    with engine.begin() as conn:
        purge.delete_runs(conn, utcnow() + timedelta(days=1))
    with engine.connect() as conn:
        assert store.count_lines(conn, 1, perimeter=EVERYTHING) == 0
    engine.dispose()


def test_a_database_that_refuses_the_log_never_fails_the_run(tmp_path, monkeypatch):
    cfg = seed_examples(tmp_path)

    def refuse(engine, run_id, lines):  # noqa: ANN001
        raise ConnectionError("base injoignable")

    monkeypatch.setattr(store, "append_lines", refuse)
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    engine = open_database(cfg.database_url)
    with engine.connect() as conn:
        assert store.count_lines(conn, 1, perimeter=EVERYTHING) == 0
        assert conn.exec_driver_sql("SELECT status FROM runs WHERE id = 1").scalar() == "OK"
    engine.dispose()
    assert RunLogHandler  # the handler is the capture's


def test_no_full_nir_in_the_log_of_a_run_that_rejects_records(tmp_path):
    from tests.app.test_logs import example_nirs

    cfg = seed_examples(tmp_path)
    src = tmp_path / "drop" / "esat-seine" / "depot" / "ESAT_81234567600017_RG_20251210_001.csv"
    bad = src.read_text("utf-8").replace("185057800608491", "185057800608400").replace(";100;862,35;", ";100;;")
    (src.parent / "ESAT_81234567600017_RG_20251213_002.csv").write_text(bad, "utf-8")
    (src.parent / f"ESAT_{NIR}_RG_20251213_003.csv").write_text(bad, "utf-8")  # a NIR in a file name, too
    assert cli(tmp_path, "run", "--as-of", "2025-12-15")[0] == 0
    engine = open_database(cfg.database_url)
    with engine.connect() as conn:
        stored = " ".join(
            f"{m} {f} {a}" for m, f, a in conn.exec_driver_sql("SELECT message, fields, account FROM run_log")
        )
    engine.dispose()
    assert "fichier traité" in stored
    nirs = example_nirs() | {NIR, "185057800608400"}
    assert not [n for n in nirs if n in stored or n[:13] in stored]


def test_a_writer_stuck_on_the_database_never_lets_the_lines_pile_up(monkeypatch, caplog):
    import exchange.app.run_log as capture_module

    release = threading.Event()

    def stuck(engine, run_id, lines):  # noqa: ANN001
        release.wait(10)
        return len(lines)

    monkeypatch.setattr(capture_module, "MAX_PENDING", 50)
    monkeypatch.setattr(log, "propagate", True)
    caplog.set_level(logging.INFO, logger="esat_exchange")
    with capture(None, 9, append=stuck, flush_seconds=0.01, flush_lines=1000) as handler:  # type: ignore[arg-type]
        log.info("première ligne")
        time.sleep(0.2)  # the writer took it and is stuck
        for i in range(200):
            log.info(f"ligne {i}")
        assert handler.dropped and not handler._pending
        release.set()
    assert len({id(r) for r in caplog.records if "journal de l'exécution n° 9 abandonné" in r.getMessage()}) == 1
