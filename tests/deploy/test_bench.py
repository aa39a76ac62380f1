"""bench/run.py end to end on a tiny landing tree: every peer runs and reports figures (no timing asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEERS = ("floor", "fast", "naive", "halfsky")


def test_bench_small_reports_every_peer_and_stage(tmp_path, admin_dsn):
    results = tmp_path / "results"
    env = {**os.environ, "HALFSKY_ADMIN_DSN": admin_dsn}
    run = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--sizes", "small", "--scale", "0.2",
                          "--results", str(results), "--quiet"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    latest = json.loads((results / "latest.json").read_text())
    dated = [p for p in results.glob("*.json") if p.name != "latest.json"]
    assert len(dated) == 1 and json.loads(dated[0].read_text()) == latest

    machine = latest["machine"]
    for key in ("cores", "ram_gb", "cpu", "python", "postgres", "commit"):
        assert machine[key], key
    small = latest["sizes"]["small"]
    assert small["rows"] > 0 and small["formats"] == ["csv", "json", "xlsx"]
    assert set(small["peers"]) == set(PEERS)
    for peer, r in small["peers"].items():
        assert "error" not in r, (peer, r.get("log_tail"))
        assert r["seconds"] > 0 and r["rows_per_s"] > 0 and r["peak_rss_mb"] > 0 and r["x_floor"] > 0, peer
        assert r["rows_loaded"] == small["rows"], peer  # every peer loads every row of the valid drops
        assert r["stages"] and all(v >= 0 for v in r["stages"].values()), peer
        assert sum(r["stages"].values()) > 0, peer
    for peer in ("fast", "naive", "halfsky"):
        assert small["peers"][peer]["outcome"] == {"accepted": 3}, peer
        for stage in ("read", "validate", "load"):
            assert small["peers"][peer]["stages"][stage] > 0, (peer, stage)
    assert small["peers"]["floor"]["stages"]["load"] > 0
    # The table names every peer.
    for peer in PEERS:
        assert f" {peer} " in run.stdout
