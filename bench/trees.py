"""Landing trees for the bench, written by halfsky's sample generator (halfsky_dev.sample).

The generator's CLI writes every prefecture's drops with the same number of rows per form and rotates
the format by slot; the bench needs a given format and a real drop's mix (mostly beneficiaries, a
smaller funds ledger), so it drives the generator's own pieces: ``ReportContent`` for the rows (with
the funds ledger sized on its own, the cash rows still matching the line list), ``WRITERS`` for the
files and ``set_received`` for an on-time arrival. Trees are cached under $HALFSKY_HOME/bench/trees,
keyed by their spec and the generator's source, since the same seed writes the same bytes.

The contract has 19 reporting units; a national month-end needs ~330. ``bench_reference_dir``
copies dbt_project/seeds and extends reporting_units.csv with the real prefecture-level divisions
(halfsky.contract.reference.divisions) that report for themselves; HALFSKY_REFERENCE_DIR points every
process of the bench at it (halfsky.contract.reference.code_lists.seed_dir).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PERIOD = "2026-09"
# On time: monthly drops are due by the 10th of the next month.
RECEIVED = "2026-10-05T10:00:00+08:00"
AS_OF = "2026-10-21T00:00:00+08:00"
SEED = 2026
# The contract's units first (the generator's own order), then the rest of the country.
FIRST_UNITS = ("150100", "654000", "150200", "371500", "152500", "330800", "150600", "440500", "360900", "420200", "130900")


@dataclass(frozen=True)
class DropSpec:
    prefecture: str
    fmt: str  # csv | xlsx | json
    beneficiaries: int  # line-list rows
    funds: int  # ledger rows (a few more may be written to balance the money)
    period: str = PERIOD

    @property
    def rel(self) -> str:
        ext = {"csv": "", "xlsx": ".xlsx", "json": ".json"}[self.fmt]
        return f"{self.prefecture}/{self.period}/{self.prefecture}_{self.period}_v1{ext}"


def bench_reference_dir(base: Path) -> Path:
    """dbt_project/seeds with every prefecture-level division that reports for itself as a reporting unit."""
    from halfsky.contract.reference.divisions import all_divisions

    target = base / "reference"
    if (target / "reporting_units.csv").exists():
        return target
    tmp = base / "reference.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(REPO / "dbt_project" / "seeds", tmp)
    path = tmp / "reporting_units.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    known = {r["prefecture_code"] for r in rows}
    for d in sorted(all_divisions().values(), key=lambda d: d.code):
        if d.level == "prefecture" and d.reporting_unit_code == d.code and d.code not in known:
            rows.append({"prefecture_code": d.code, "name_zh": d.name_zh, "province_code": d.province_code,
                         "active_from": "2022-01", "active_to": ""})
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tmp.rename(target)
    return target


def units() -> list[str]:
    """Reporting units of the (bench) reference data, the contract's first."""
    from halfsky.contract.reference.code_lists import reference_data

    all_units = reference_data().units
    return [c for c in FIRST_UNITS if c in all_units] + sorted(set(all_units) - set(FIRST_UNITS))


def _content_class():
    from halfsky_dev.sample.content import ReportContent

    class BenchContent(ReportContent):
        """A report whose funds ledger has its own size; the line list (and the cash it pays) is ``rows``."""

        def __init__(self, seed: int, prefecture: str, period: str, rows: int, funds_rows: int):
            super().__init__(seed, prefecture, period, rows)
            self.funds_rows = funds_rows

        def _ledgers(self, plan, rng):
            rows, self.rows = self.rows, self.funds_rows
            try:
                return super()._ledgers(plan, rng)
            finally:
                self.rows = rows

    return BenchContent


def write_drop(root: str, spec: dict) -> dict[str, int]:
    """Write one drop; returns rows per form as written."""
    from halfsky.contract.forms import MONTHLY_FORMS
    from halfsky_dev.sample.generator import set_received
    from halfsky_dev.sample.writers import WRITERS, Style

    s = DropSpec(**spec)
    content = _content_class()(SEED, s.prefecture, s.period, s.beneficiaries, s.funds)
    target = Path(root) / s.rel
    target.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}

    def on_row(form: str, row: dict) -> None:
        counts[form] = counts.get(form, 0) + 1

    WRITERS[s.fmt](target, content, MONTHLY_FORMS, Style(), on_row, random.Random(f"{SEED}/{s.rel}"))
    set_received(target, datetime.fromisoformat(RECEIVED))
    return counts


def _generator_hash() -> str:
    import halfsky_dev.sample as sample

    h = hashlib.sha256()
    for p in sorted(Path(sample.__file__).parent.glob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def build_tree(cache: Path, name: str, drops: list[DropSpec], workers: int = 2) -> tuple[Path, dict]:
    """The landing tree of these drops (from the cache when it holds it); returns (root, manifest)."""
    key = hashlib.sha256(json.dumps([asdict(d) for d in drops]).encode() + _generator_hash().encode()).hexdigest()[:12]
    home = cache / f"{name}-{key}"
    manifest_path = home / "manifest.json"
    if manifest_path.exists():
        return home / "landing", json.loads(manifest_path.read_text())
    shutil.rmtree(home, ignore_errors=True)
    root = home / "landing"
    root.mkdir(parents=True)
    specs = [asdict(d) for d in drops]
    if workers > 1 and len(drops) > 1:
        # The largest drops first, so two workers finish together.
        order = sorted(range(len(specs)), key=lambda i: -(specs[i]["beneficiaries"] + specs[i]["funds"]))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = dict(zip(order, pool.map(write_drop, [str(root)] * len(order), [specs[i] for i in order])))
        counts = [results[i] for i in range(len(specs))]
    else:
        counts = [write_drop(str(root), s) for s in specs]
    manifest = {
        "name": name,
        "drops": [{**asdict(d), "rel": d.rel, "rows": c, "bytes": _size(root / d.rel)} for d, c in zip(drops, counts)],
    }
    manifest["rows"] = sum(sum(d["rows"].values()) for d in manifest["drops"])
    manifest["rows_by_form"] = {f: sum(d["rows"].get(f, 0) for d in manifest["drops"]) for f in ("activity", "funds", "beneficiaries")}
    manifest["bytes"] = sum(d["bytes"] for d in manifest["drops"])
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return root, manifest


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def split(rows: int, beneficiary_share: float = 0.8) -> tuple[int, int]:
    """(line-list rows, ledger rows) for a drop of about ``rows`` rows; activity adds a few hundred."""
    b = int(rows * beneficiary_share)
    return b, max(rows - b, 10)


def cache_dir() -> Path:
    home = Path(os.environ.get("HALFSKY_HOME", REPO / ".halfsky"))
    return home / "bench"
