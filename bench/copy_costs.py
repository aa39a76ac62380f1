"""What a COPY into raw costs beyond the floor's: the write-ahead log, then each index raw keeps, then raw itself.

    source .halfsky/env.sh && .venv/bin/python bench/copy_costs.py [--size csv_1m]

The same typed rows (the floor's CSV of a bench size, written by bench/peers.py's ``prepare``) are copied, each
into a fresh table of raw's shape in one scratch database, the rows of each form one after another:

- unlogged, no index (the floor);
- logged, no index;
- logged, with raw's submission_id index;
- logged, with raw's indexes (submission_id, and the hash over cash payments' id numbers);
- raw itself (its period partition, indexes and audit trigger), in one transaction as ``accept`` writes it.

Why halfsky's csv load cannot come within 2x of the floor by overlapping judging with loading (issue 26): the
durable, indexed COPY alone is that far from it. Prints seconds per variant and the ratio to the floor; asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402
import trees  # noqa: E402
from run import size_specs  # noqa: E402

FORMS = peers.FORMS_ORDER


def _copy(conn, table: str, path: Path) -> None:
    with conn.cursor().copy(f"copy {table} from stdin with (format csv)") as copy, path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            copy.write(chunk)


def _variant(conn, floor_dir: Path, label: str, create: str | None, indexes: tuple[str, ...] = ()) -> float:
    """Seconds to copy every form's CSV into tables made by ``create`` (a format string of the form's name)."""
    tables = {}
    for form in FORMS:
        if create is None:
            tables[form] = f"raw.{form}"
            continue
        tables[form] = f"raw.bench_{label}_{form}"
        conn.execute(f"drop table if exists {tables[form]}")
        conn.execute(create.format(table=tables[form], form=form))
        for index in indexes:
            if index == "cash_id_number" and form != "beneficiaries":
                continue
            conn.execute({"submission_id": f"create index on {tables[form]} (submission_id)",
                          "submission_id_brin": f"create index on {tables[form]} using brin (submission_id)",
                          "cash_id_number": f"create index on {tables[form]} using hash (id_number) "
                                            "where benefit_type = 'CASH'"}[index])
    conn.commit()
    started = time.perf_counter()
    with conn.transaction():
        for form in FORMS:
            _copy(conn, tables[form], floor_dir / f"{form}.csv")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    import psycopg

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="csv_1m")
    args = p.parse_args(argv)
    admin = os.environ["HALFSKY_ADMIN_DSN"]
    os.environ["HALFSKY_REFERENCE_DIR"] = str(trees.bench_reference_dir(trees.cache_dir()))
    spec = size_specs(1.0)[args.size]
    root, manifest = trees.build_tree(trees.cache_dir() / "trees", args.size, spec["drops"])
    with tempfile.TemporaryDirectory(prefix="halfsky-copy-costs-") as tmp:
        floor_dir = Path(tmp) / "floor"
        drops = [{"rel": d["rel"], "prefecture": d["prefecture"], "period": d["period"], "fmt": d["fmt"]}
                 for d in manifest["drops"]]
        peers.prepare({"root": str(root), "floor_dir": str(floor_dir), "drops": drops})
        from halfsky.warehouse.partitions import ensure_raw_partitions

        with peers.scratch_database(admin, "copy") as dsn, psycopg.connect(dsn) as conn:
            ensure_raw_partitions(conn, FORMS, manifest["drops"][0]["period"])
            conn.commit()
            like = "create {kind} table {{table}} (like raw.{{form}})"
            figures = {
                "unlogged, no index (the floor)": _variant(conn, floor_dir, "unlogged", like.format(kind="unlogged")),
                "logged, no index": _variant(conn, floor_dir, "logged", like.format(kind="")),
                "logged, submission_id index": _variant(conn, floor_dir, "sid", like.format(kind=""), ("submission_id",)),
                "logged, raw's two indexes": _variant(conn, floor_dir, "both", like.format(kind=""),
                                                      ("submission_id", "cash_id_number")),
                "logged, BRIN submission_id + hash": _variant(conn, floor_dir, "brin", like.format(kind=""),
                                                              ("submission_id_brin", "cash_id_number")),
                "raw itself (partition, indexes)": _variant(conn, floor_dir, "raw", None),
            }
    floor = figures["unlogged, no index (the floor)"]
    print(f"{args.size}: {manifest['rows']:,} rows, the same typed CSV into each (load {os.getloadavg()[0]:.2f} now)")
    for label, seconds in figures.items():
        print(f"  {label:34s} {seconds:6.2f} s  {seconds / floor:4.1f}x the floor")
    print(json.dumps({k: round(v, 2) for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
