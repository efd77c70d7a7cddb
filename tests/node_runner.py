"""Test helper: `esat-exchange ARGS` as a node runs it, each received file slowed by ESAT_TEST_SLOW_FILE seconds
(so that a test can strike mid-run); `scheduler` gets a nightly every ESAT_TEST_NIGHTLY_EVERY seconds."""

from __future__ import annotations

import os
import sys
import time

import exchange.app.cycle


def main(argv: list[str]) -> int:
    slow = float(os.environ.get("ESAT_TEST_SLOW_FILE", "0"))
    take = exchange.app.cycle._take

    def slow_take(ctx, entries):  # noqa: ANN001, ANN202 - each file takes a while to come in
        time.sleep(slow * len(entries))
        return take(ctx, entries)

    exchange.app.cycle._take = slow_take
    exchange.app.cycle.BATCH_FILES = 2  # small batches: a kill lands between acknowledged files
    if "scheduler" not in argv:
        from exchange.cli.main import main as cli

        return cli(argv)
    from apscheduler.triggers.cron import CronTrigger

    from exchange.config import load_config
    from exchange.logs import setup_logging
    from exchange.store.engine import open_upgraded
    from jobs.scheduler import serve

    config_path = argv[argv.index("--config") + 1]
    setup_logging("json", "INFO")
    config = load_config(config_path)
    every = int(os.environ.get("ESAT_TEST_NIGHTLY_EVERY", "2"))
    return serve(
        config, config_path, open_upgraded(config.database_url), triggers={"nightly": CronTrigger(second=f"*/{every}")}
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
