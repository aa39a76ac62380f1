"""One pipeline step in a process of its own, for tests/test_crash_safety.py to kill or starve.

    python tests/crash_child.py ingest <dsn> <landing> <quarantine> <as_of> <drop path>...
    python tests/crash_child.py marts <dsn> <as_of>

``ingest`` runs halfsky.ingest.runner.process_prefecture and prints its counts as JSON (exit 3 with the message on
stderr when drops stay pending); ``marts`` runs halfsky.orchestration.pipeline.build_marts. The log goes to stderr.
CRASH_RECONNECT_DELAYS ("0.2,0.5") shortens ingest's wait for a lost warehouse, so a test of a server that
stays down does not wait the production schedule out.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    command, *args = argv
    if command == "ingest":
        from halfsky.ingest import runner
        if os.environ.get("CRASH_RECONNECT_DELAYS"):
            assert hasattr(runner, "RECONNECT_DELAYS"), "halfsky.ingest.runner no longer has RECONNECT_DELAYS"
            runner.RECONNECT_DELAYS = tuple(float(d) for d in os.environ["CRASH_RECONNECT_DELAYS"].split(","))
        dsn, landing, quarantine, as_of, *paths = args
        try:
            counts = runner.process_prefecture(dsn, landing, quarantine, paths, as_of=datetime.fromisoformat(as_of))
        except runner.DropsLeftPending as exc:
            print(f"DropsLeftPending: {exc}", file=sys.stderr)
            return 3
        print(json.dumps(counts))
        return 0
    if command == "marts":
        from halfsky.orchestration import pipeline
        dsn, as_of = args
        pipeline.build_marts(datetime.fromisoformat(as_of), dsn)
        print(json.dumps({"built": True}))
        return 0
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
