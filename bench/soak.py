"""Soak: many nightly loads in a row over a growing, partly hostile landing tree, with random SIGKILLs and one
Postgres restart, ending with marts equal to the generator's truth. Not in CI (`make soak`).

What it does, in a work folder of its own (``--work``; kept when something is lost, doubled or stuck):

- halfsky's code copied from the working tree at the start (or ``--code REV``; ``--live`` for none), so edits
  made during an hour's soak do not change it between nights;
- a Postgres cluster of its own (initdb/pg_ctl as halfsky_dev.local_postgres finds them), so it can restart the
  server without touching the machine's;
- a landing tree written night by night from a staging tree that the sample generator writes first
  (halfsky_dev.sample: ``--dirty`` cells, resubmissions that supersede, byte-identical duplicates, the units'
  annual plans and year-end resends; the slots that get a resubmission or a duplicate are spread at random).
  Night ``i`` runs as of 02:00 on the 10th or the 21st of a month (two nights a month), and a drop is put in
  the landing tree on the night its arrival time has passed: on-time drops on the 10th, late ones and most
  resubmissions on the 21st, so 50 nights cover 25 periods. Every night also gets a few hostile drops
  (the generator's invalid set, and tests/hostile_drops.py's poison: entity expansion, XXE, a zip whose
  headers lie, 100,000-deep JSON, NUL bytes, links to /etc/passwd and /dev/zero, a FIFO, a name that is
  not UTF-8, folders of no reporting unit, another unit's drop, a late resend of the same bytes);
- each night is a child process doing what nightly_load and build_marts do, with the same functions
  (halfsky.orchestration.pipeline: prepare_warehouse, discover_drops, ingest_prefecture per batch, summarize_night,
  purge_personal_data with a 12-month retention so that it purges within the soak, build_marts with dbt;
  build_dimensions until it has succeeded once). About ``--kill-rate`` of the nights get a SIGKILL of the
  child's whole process group (dbt with it) at a random moment inside a stage: ingest, the dbt build, or
  anywhere (aimed by how long that stage took on earlier nights); a rerun may be killed again (at half the
  rate, two kills a night at most). The night is rerun until an attempt finishes; an attempt that fails on its
  own is rerun too (as a cleared task would be), ``--max-attempts`` times at most. One random night on a 10th
  (the most drops) gets a Postgres restart while it runs, in ingest or in dbt: ``pg_ctl stop -m immediate``
  (a crash), down 0.5-3 s, then start;
- after every night: each drop put in the landing tree has exactly one ingest.submissions row, decided
  (none pending) with the status the generator expects (newest valid drop of a prefecture-period accepted,
  older ones superseded, identical bytes duplicate, hostile ones rejected), and a drop decided on an earlier
  night keeps its submission and decision time (judged once, never again); raw holds exactly the rows each
  accepted or superseded drop was written with and none of any other; and the facts (fct_fund_flows,
  fct_program_activity, fct_benefits) equal the truth of the drops put so far, row counts and sums per
  prefecture, period and program. After the last night also dim_beneficiary's persons, rpt_target_completion
  and rpt_coverage against the truth.

Prints nights run, runs survived (attempts, kills by stage, the restart), drops judged once, rows lost and
rows doubled (both must be 0) and the time; writes bench/results/soak-<time>-<host>.json and, but for
--quick, bench/results/soak.json. Exits 1 if a row is lost or doubled, a drop is not judged once, a figure is off or
a night never finishes.

    python bench/soak.py                 # 50 nights (about an hour on 2 busy cores; dbt is most of it)
    python bench/soak.py --quick         # 5 nights, a smoke run
    python bench/soak.py --nights 20 --seed 3 --kill-rate 0.5
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
PERSON_KEY = "soak-person-key-" + "s" * 32
DATABASE = "halfsky_soak"
FIRST_PERIOD = "2024-01"
NIGHT_DAYS = (10, 21)  # two nights a month, 02:00 Asia/Shanghai
QUICK = {"nights": 5, "prefectures": 4, "rows": 20}
# Stages a kill or the restart aims at; "any" is a random moment of the whole attempt.
KILL_STAGES = {"ingest": 0.45, "marts": 0.35, "any": 0.2}  # stage: chance a kill aims at it
RESTART_STAGES = ("ingest", "marts")

log = logging.getLogger("soak")


# --------------------------------------------------------------------------------------------------------------
# The night, in a child process of its own


def night_child(job_path: str) -> int:
    """One attempt at a night: what nightly_load then build_marts do, with the same functions.
    Writes '<unix time> <stage>' lines to the job's stage file as it goes. Exit 0: the night is done;
    3: a batch left drops pending (the marts were still built, as all_done tasks would); 4: the marts failed;
    5: preparing the warehouse or discovering drops failed."""
    job = json.loads(Path(job_path).read_text())
    stages = open(job["stage_file"], "a", buffering=1)

    def stage(name: str) -> None:
        stages.write(f"{time.time():.3f} {name}\n")

    stage("start")
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from halfsky.orchestration import pipeline
    dsn, as_of = job["dsn"], datetime.fromisoformat(job["as_of"])
    try:
        stage("prepare")
        pipeline.prepare_warehouse(dsn)
        marker = Path(job["dimensions_marker"])
        if not marker.exists():
            stage("dimensions")
            pipeline.build_dimensions(dsn)
            marker.write_text(job["as_of"])
        stage("discover")
        batches = pipeline.discover_drops(as_of, dsn=dsn, landing=job["landing"])
    except Exception:
        traceback.print_exc()
        stage("failed prepare")
        return 5
    failed = []
    outcomes = []
    for i, batch in enumerate(batches):
        stage(f"ingest {i + 1}/{len(batches)}")
        try:
            outcomes.append(pipeline.ingest_prefecture(batch, as_of, run_id=job["run_id"], dsn=dsn, landing=job["landing"],
                                                       quarantine=job["quarantine"]))
        except Exception as exc:  # the task fails; the others go on (the DAG's mapped tasks)
            traceback.print_exc()
            failed.append(f"{batch['label']}: {type(exc).__name__}: {exc}")
    try:
        stage("summarize")
        pipeline.summarize_night(outcomes, job["run_id"], dsn=dsn)
        if hasattr(pipeline, "purge_personal_data"):  # nightly_load's purge task, after the summary
            stage("purge")
            pipeline.purge_personal_data(as_of, run_id=job["run_id"], dsn=dsn)
        stage("marts")
        pipeline.build_marts(as_of, dsn=dsn)
    except Exception:
        traceback.print_exc()
        stage("failed marts")
        return 4
    if failed:
        print("SOAK: batches failed: " + " | ".join(failed), flush=True)
        stage("failed ingest")
        return 3
    stage("done")
    return 0


# --------------------------------------------------------------------------------------------------------------
# The server


class Cluster:
    """A Postgres cluster in the work folder, started with halfsky_dev.local_postgres; restartable."""

    def __init__(self, data_dir: Path):
        from halfsky_dev.local_postgres import find_pg_bin_dir

        self.data_dir = data_dir
        self.bin_dir = find_pg_bin_dir() or self._pgserver_bin()
        if self.bin_dir is None:
            raise SystemExit("no initdb/pg_ctl found (apt-get install postgresql, or pip install pgserver): "
                             "the soak needs a cluster of its own to restart")
        self.admin_dsn = ""

    @staticmethod
    def _pgserver_bin() -> Path | None:
        """The binaries inside the pgserver wheel (halfsky's embedded fallback), when it is installed."""
        try:
            spec = importlib.util.find_spec("pgserver")
        except ImportError:
            return None
        if spec is None or not spec.origin:
            return None
        for candidate in Path(spec.origin).parent.rglob("pg_ctl"):
            if (candidate.parent / "initdb").exists():
                return candidate.parent
        return None

    def start(self) -> str:
        from halfsky_dev.local_postgres import start_local_cluster

        self.admin_dsn = start_local_cluster(self.data_dir, self.bin_dir)
        return self.admin_dsn

    def stop(self, mode: str = "fast") -> None:
        from halfsky_dev.local_postgres import _run_as, _unprivileged_user

        _run_as(_unprivileged_user(), [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"])

    def restart(self, mode: str, down_s: float) -> float:
        """Stop (``immediate``: a crash, recovered on start), stay down ``down_s``, start; returns seconds taken."""
        t0 = time.perf_counter()
        self.stop(mode)
        time.sleep(down_s)
        self.start()
        return time.perf_counter() - t0

    def version(self) -> str:
        import psycopg

        with psycopg.connect(self.admin_dsn) as conn:
            return conn.execute("select version()").fetchone()[0]


# --------------------------------------------------------------------------------------------------------------
# The drops: a staging tree by the generator, put in the landing tree night by night


@contextmanager
def counting_tallies():
    """The generator's tallies, counting every row the writers hand them per form (tally.rows)."""
    from halfsky_dev.sample import generator

    saved = generator.SlotTally, generator.AnnualTally

    def counting(cls):
        class Counting(cls):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.rows: Counter = Counter()

            def __call__(self, form: str, row: dict) -> None:
                self.rows[form] += 1
                super().__call__(form, row)

        Counting.__name__ = cls.__name__
        return Counting

    generator.SlotTally, generator.AnnualTally = counting(saved[0]), counting(saved[1])
    try:
        yield
    finally:
        generator.SlotTally, generator.AnnualTally = saved


def soak_generator_class():
    from halfsky_dev.sample.generator import Generator

    class SoakGenerator(Generator):
        """Slots in a seeded random order, so resubmissions, duplicates, formats and late drops are spread over
        units and months (the generator gives them to the first slots). No --with-warnings: its placement
        needs the slots in calendar order."""

        def slots(self) -> list[tuple[str, str]]:
            slots = super().slots()
            random.Random(f"{self.seed}/slots").shuffle(slots)
            return slots

    return SoakGenerator


def night_times(nights: int, first_period: str) -> list[datetime]:
    from halfsky.contract.periods import SHANGHAI, next_period

    out, month = [], next_period(first_period)
    for i in range(nights):
        out.append(datetime(int(month[:4]), int(month[5:7]), NIGHT_DAYS[i % 2], 2, 0, tzinfo=SHANGHAI))
        if i % 2 == 1:
            month = next_period(month)
    return out


def soak_units(count: int, periods: list[str]) -> list[str]:
    from halfsky.contract.reference.code_lists import reference_data
    from halfsky_dev.sample.generator import PREFECTURE_ORDER

    units = reference_data().units
    ordered = [c for c in PREFECTURE_ORDER if c in units] + sorted(set(units) - set(PREFECTURE_ORDER))
    return [c for c in ordered if all(units[c].expected_in(p) for p in periods)][:count]


@dataclass
class Expected:
    """What must become of one drop put in the landing tree."""

    path: str
    status: str  # accepted | superseded (worked out from what is in the tree) | duplicate | rejected | absent
    what: str  # valid | duplicate | a hostile kind
    night: int
    record: object | None = None  # the generator's DropRecord, for valid drops


@dataclass
class Tree:
    staging: Path
    landing: Path
    scratch: Path
    gen: object
    units: list[str]
    periods: list[str]
    put: dict[str, Expected] = field(default_factory=dict)  # path -> what must become of it
    decided: dict[str, tuple] = field(default_factory=dict)  # path -> (submission_id, status, decided_at) first seen decided
    seen: dict[tuple, set] = field(default_factory=dict)  # (unit, period) -> fingerprints of the drops put there
    staged: list = field(default_factory=list)  # the generator's records not yet put

    def statuses(self) -> dict[str, str]:
        """Expected status per path, now: the newest valid drop of each prefecture-period put so far is accepted."""
        newest: dict[tuple[str, str], Expected] = {}
        for e in self.put.values():
            if e.what == "valid":
                r = e.record
                key = (r.prefecture_code, r.period)
                if key not in newest or (r.received_at, r.path) > (newest[key].record.received_at, newest[key].record.path):
                    newest[key] = e
        winners = {e.path for e in newest.values()}
        return {p: ("accepted" if p in winners else "superseded") if e.what == "valid" else e.status
                for p, e in self.put.items()}

    def truth(self) -> dict:
        """The generator's truth over the drops put so far."""
        put = {e.path for e in self.put.values() if e.what in ("valid", "duplicate")}
        saved = self.gen.records
        self.gen.records = [r for r in saved if r.path in put]
        try:
            return self.gen.truth({})
        finally:
            self.gen.records = saved


def stage_tree(work: Path, seed: int, units_n: int, rows: int, nights: list[datetime], resubmissions: float,
               duplicates: float) -> Tree:
    from halfsky_dev.sample.generator import periods_from

    last = nights[-1]
    months = (last.year - int(FIRST_PERIOD[:4])) * 12 + last.month - int(FIRST_PERIOD[5:7])  # periods due by the last night
    periods = periods_from(FIRST_PERIOD, max(months, 1))
    units = soak_units(units_n, periods)
    staging = work / "staging"
    with counting_tallies():
        gen = soak_generator_class()(staging, prefectures=units, periods=periods, rows=rows, dirty=True, seed=seed,
                                     as_of=last)
        slots = len(units) * len(periods)
        gen.valid_drops(round(slots * resubmissions), round(slots * duplicates), with_warnings=False)
        gen.annual_drops()
    tree = Tree(staging, work / "landing", work / "scratch", gen, units, periods)
    tree.landing.mkdir(parents=True, exist_ok=True)
    tree.scratch.mkdir(parents=True, exist_ok=True)
    tree.staged = sorted(gen.records, key=lambda r: (r.received_at, r.path))
    return tree


def _place(src: Path, target: Path, when: datetime, scratch: Path) -> None:
    """Copy a drop (file or folder) in beside the landing tree, give it its arrival time, then rename it in."""
    from halfsky_dev.sample.generator import set_received

    tmp = scratch / f"incoming-{os.getpid()}-{time.monotonic_ns()}"
    if src.is_dir():
        shutil.copytree(src, tmp)
    else:
        shutil.copyfile(src, tmp)
    set_received(tmp, when)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(tmp, target)


def fingerprint(path: bytes) -> str | None:
    """What makes two drops the same bytes (a file's, or a folder's files by name); None for a drop that is never
    read: a link, a device or pipe, or a folder holding one."""
    import hashlib
    import stat

    def of_file(p: bytes) -> str:
        with open(p, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()

    mode = os.lstat(path).st_mode
    if stat.S_ISREG(mode):
        return of_file(path)
    if not stat.S_ISDIR(mode):
        return None
    parts = []
    for folder, dirs, files in os.walk(path):
        for name in sorted(dirs + files):
            full = os.path.join(folder, name)
            m = os.lstat(full).st_mode
            if not (stat.S_ISREG(m) or stat.S_ISDIR(m)):
                return None
            if stat.S_ISREG(m):
                parts.append(os.path.relpath(full, path) + b"\0" + of_file(full).encode())
    return hashlib.sha256(b"\n".join(sorted(parts))).hexdigest()


def put_staged(tree: Tree, night: int, as_of: datetime) -> list[Expected]:
    """The generator's drops that have arrived by ``as_of``."""
    arrived = [r for r in tree.staged if r.received_at <= as_of]
    tree.staged = [r for r in tree.staged if r.received_at > as_of]
    out = []
    for r in arrived:
        _place(tree.staging / r.path, tree.landing / r.path, r.received_at, tree.scratch)
        what = "valid" if r.expected_status in ("accepted", "superseded") else r.expected_status
        e = Expected(r.path, r.expected_status if what != "valid" else "accepted", what, night, r)
        tree.put[r.path] = e
        out.append(e)
    return out


def _hostile_module():
    spec = importlib.util.spec_from_file_location("soak_hostile_drops", REPO / "tests" / "hostile_drops.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOSTILE_KINDS = ("generator_invalid", "billion_laughs", "xxe", "zip_size_lies", "json_too_deep", "lone_surrogate",
                 "nul_byte", "amount_20_digits", "link_to_passwd", "link_to_dev_zero", "fifo", "name_not_utf8",
                 "empty_file", "unknown_units", "other_units_drop", "late_resend", "stray_files")


def put_hostile(tree: Tree, night: int, as_of: datetime, rng: random.Random, used: set[str]) -> list[Expected]:
    """One to three hostile (or merely unlucky) drops, arrived in the hours before ``as_of``."""
    from halfsky.contract.periods import SHANGHAI, next_period
    from halfsky_dev.sample.generator import INVALID_KINDS

    hd = _hostile_module()
    month = f"{as_of.astimezone(SHANGHAI):%Y-%m}"
    period = next(p for p in reversed(tree.periods + [month]) if p < month)  # the month whose drops come in now
    out: list[Expected] = []
    arrived = as_of - timedelta(hours=rng.uniform(1, 60))

    def expect(path: str, status: str, what: str, disk: bytes | None = None) -> None:
        # The contract: the same bytes again in the same prefecture and period are a duplicate of the first,
        # whatever became of it (rejected too). Drops that are never read (links, a FIFO) have no bytes to match.
        if status != "absent":
            print_ = fingerprint(disk or os.fsencode(tree.landing / path))
            if print_ is not None:
                seen = tree.seen.setdefault(tuple(path.split("/")[:2]), set())
                status = "duplicate" if print_ in seen else status
                seen.add(print_)
        e = Expected(path, status, what, night)
        tree.put[path] = e
        out.append(e)

    def when(path: Path) -> Path:
        return hd.arrived(path, arrived)

    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(HOSTILE_KINDS)
        unit = rng.choice(tree.units)
        folder = tree.landing / unit / period
        tag = f"n{night:02d}_{len(out):02d}"  # in the order they are put, as names sort
        doc = hd.valid_doc(unit, period)
        if kind == "generator_invalid":
            choices = [k for k in INVALID_KINDS if k not in used or k not in ("expands_too_large", "inactive_prefecture")]
            invalid = rng.choice(choices)
            used.add(invalid)
            mini = soak_generator_class()(tree.scratch / f"invalid-{tag}", prefectures=[unit], periods=[period], rows=8,
                                          dirty=False, seed=night * 1000 + len(out), as_of=as_of)
            mini.invalid_drops([invalid])
            for r in mini.records:
                if (tree.landing / r.path).exists() or os.path.lexists(tree.landing / r.path):
                    continue  # the same invalid drop again (a fixed path): it is decided already
                _place(mini.root / r.path, tree.landing / r.path, arrived, tree.scratch)
                expect(r.path, "rejected", f"generator_invalid:{invalid}")
            shutil.rmtree(mini.root, ignore_errors=True)
        elif kind == "billion_laughs":
            p = hd.write_xlsx(tree.landing, unit, period, f"{tag}_laughs.xlsx", hd.billion_laughs_xlsx(doc))
            expect(f"{unit}/{period}/{when(p).name}", "rejected", kind)
        elif kind == "xxe":
            p = hd.write_xlsx(tree.landing, unit, period, f"{tag}_xxe.xlsx", hd.xxe_xlsx(doc))
            expect(f"{unit}/{period}/{when(p).name}", "rejected", kind)
        elif kind == "zip_size_lies":
            p = hd.write_xlsx(tree.landing, unit, period, f"{tag}_lies.xlsx", hd.lying_size_xlsx(doc))
            expect(f"{unit}/{period}/{when(p).name}", "rejected", kind)
        elif kind == "json_too_deep":
            p = hd.write_json(tree.landing, unit, period, f"{tag}_deep.json", hd.nested_json(unit, period))
            expect(f"{unit}/{period}/{when(p).name}", "rejected", kind)
        elif kind in ("lone_surrogate", "nul_byte", "amount_20_digits"):
            form, column, value = {"lone_surrogate": ("beneficiaries", "name", "\ud800"),
                                   "nul_byte": ("activity", "remarks", "a\x00b"),
                                   "amount_20_digits": ("funds", "amount_yuan", "1" * 20)}[kind]
            doc["forms"][form][0][column] = value
            p = hd.write_json(tree.landing, unit, period, f"{tag}_{kind}.json", json.dumps(doc, ensure_ascii=True))
            expect(f"{unit}/{period}/{when(p).name}", "rejected", kind)
        elif kind in ("link_to_passwd", "link_to_dev_zero", "fifo"):
            folder.mkdir(parents=True, exist_ok=True)
            p = folder / f"{tag}_{kind}.json"
            if kind == "fifo":
                os.mkfifo(p)
            else:
                p.symlink_to("/etc/passwd" if kind == "link_to_passwd" else "/dev/zero")
            expect(f"{unit}/{period}/{when(p).name}", "rejected", kind)
        elif kind == "name_not_utf8":
            folder.mkdir(parents=True, exist_ok=True)
            raw = os.fsencode(folder) + f"/{tag}_\xff".encode("latin-1") + b".json"
            with open(raw, "wb") as fh:
                fh.write(json.dumps(doc).encode())
            os.utime(raw, (arrived.timestamp(),) * 2)
            expect(f"{unit}/{period}/{tag}_\\xff.json", "rejected", kind, disk=raw)
        elif kind == "empty_file":
            p = hd.write_json(tree.landing, unit, period, f"{tag}_empty.json", b"")
            expect(f"{unit}/{period}/{when(p).name}", "rejected", kind)
        elif kind == "unknown_units":
            for i in range(rng.randint(3, 30)):
                code = f"8{night:02d}{i:03d}"
                p = hd.write_json(tree.landing, code, period, "x.json", b"{}")
                expect(f"{code}/{period}/{when(p).name}", "rejected", kind)
        elif kind in ("other_units_drop", "late_resend"):
            valid = [e for e in tree.put.values() if e.what == "valid" and len(e.record.period) == 7]
            if not valid:
                continue
            src = rng.choice(valid).record
            if kind == "late_resend":  # the same bytes again under a new name, months later: a duplicate
                rel = f"{src.prefecture_code}/{src.period}/zz_{tag}_resend_{Path(src.path).name}"
                _place(tree.staging / src.path, tree.landing / rel, arrived, tree.scratch)
                expect(rel, "duplicate", kind)
            else:  # another unit's report in this unit's folder: its regions are not this unit's
                other = rng.choice([u for u in tree.units if u != src.prefecture_code])
                rel = f"{other}/{src.period}/{tag}_from_{src.prefecture_code}_{Path(src.path).name}"
                _place(tree.staging / src.path, tree.landing / rel, arrived, tree.scratch)
                expect(rel, "rejected", kind)
        elif kind == "stray_files":  # not at a drop's depth: ignored, never registered
            (tree.landing / unit).mkdir(parents=True, exist_ok=True)
            for p in (tree.landing / f"{tag}_README.txt", tree.landing / unit / f"{tag}_notes.txt"):
                p.write_text("不是报表 not a report")
                expect(str(p.relative_to(tree.landing)), "absent", kind)
    return out


# --------------------------------------------------------------------------------------------------------------
# Running the nights: attempts, kills, the restart


@dataclass
class Plan:
    """What the parent does to one attempt: kill it, restart the server under it, or leave it be."""

    action: str | None = None  # kill | restart | None
    stage: str | None = None  # ingest | marts | any
    delay: float = 0.0  # seconds after the stage begins (after the start for "any")


class Stopwatch:
    """Seconds each stage of a clean attempt took, to aim the next kills."""

    DEFAULTS = {"ingest": 3.0, "marts": 30.0, "any": 45.0}

    def __init__(self):
        self.seen: dict[str, list[float]] = defaultdict(list)

    def add(self, stages: list[tuple[float, str]]) -> None:
        if not stages:
            return
        start, end = stages[0][0], stages[-1][0]
        self.seen["any"].append(end - start)
        ingest = [t for t, s in stages if s.startswith("ingest")]
        summarize = next((t for t, s in stages if s == "summarize"), None)
        if ingest and summarize:
            self.seen["ingest"].append(summarize - ingest[0])
        marts = next((t for t, s in stages if s == "marts"), None)
        if marts is not None:
            self.seen["marts"].append(end - marts)

    def typical(self, stage: str) -> float:
        values = self.seen.get(stage)
        return statistics.median(values[-10:]) if values else self.DEFAULTS[stage]


def read_stages(path: Path) -> list[tuple[float, str]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        t, _, name = line.partition(" ")
        try:
            out.append((float(t), name))
        except ValueError:
            continue
    return out


def stage_at(stages: list[tuple[float, str]], moment: float) -> str:
    now = [s for t, s in stages if t <= moment]
    return (now[-1].split(" ")[0] if now else "start")


def run_attempt(job: dict, log_path: Path, plan: Plan, cluster: Cluster, timeout: float, restart_mode: str,
                rng: random.Random) -> dict:
    """Start the child, carry out the plan, wait for it; what happened."""
    stage_file = Path(job["stage_file"])
    stage_file.write_text("")
    job_path = log_path.with_suffix(".job.json")
    job_path.write_text(json.dumps(job))
    env = {**os.environ, "WAREHOUSE_DSN": job["dsn"], "AIRFLOW_CONN_WAREHOUSE_DB": job["dsn"],
           "AIRFLOW_VAR_LANDING_URL": job["landing"], "AIRFLOW_VAR_QUARANTINE_URL": job["quarantine"],
           "HALFSKY_PERSON_HMAC_KEY": PERSON_KEY, "HALFSKY_HOME": job["home"], "GX_ANALYTICS_ENABLED": "False",
           "AIRFLOW_VAR_PERSONAL_DATA_RETENTION_MONTHS": str(job["retention_months"]),
           "PYTHONUNBUFFERED": "1"}
    started = time.time()
    with log_path.open("w") as out:
        child = subprocess.Popen([sys.executable, job["script"], "--night-child", str(job_path)],
                                 stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True)
        fire_at: float | None = started + plan.delay if plan.action and plan.stage == "any" else None
        fired: dict = {}
        while child.poll() is None:
            now = time.time()
            if now - started > timeout:
                os.killpg(child.pid, signal.SIGKILL)
                fired = {"timed_out": True, "at_stage": stage_at(read_stages(stage_file), now)}
                break
            if plan.action and not fired:
                if fire_at is None:
                    begun = [t for t, s in read_stages(stage_file) if s.split(" ")[0] == plan.stage]
                    if begun:
                        fire_at = begun[0] + plan.delay
                if fire_at is not None and now >= fire_at:
                    at = stage_at(read_stages(stage_file), now)
                    if plan.action == "kill":
                        os.killpg(child.pid, signal.SIGKILL)
                        fired = {"killed": True, "at_stage": at, "after_s": round(now - started, 1)}
                    else:
                        down = rng.uniform(0.5, 3.0)
                        took = cluster.restart(restart_mode, down)
                        fired = {"restarted": True, "at_stage": at, "after_s": round(now - started, 1),
                                 "restart_s": round(took, 1), "mode": restart_mode}
            time.sleep(0.02)
        code = child.wait()
    try:  # whatever the child left behind in its group (dbt), gone too
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    stages = read_stages(stage_file)
    result = {"exit": code, "seconds": round(time.time() - started, 1), "log": str(log_path),
              "stages": [[s, round(t - started, 2)] for t, s in stages], **fired}
    if plan.action and not fired:
        result["missed"] = plan.action  # the attempt ended before the moment came
    if code != 0 and not fired.get("killed") and not fired.get("timed_out"):
        result["failure"] = _failure_tail(log_path)
    result["clean"] = code == 0 and not fired.get("killed") and not fired.get("timed_out")  # a restart may be survived
    result["_stages"] = stages
    return result


def _failure_tail(log_path: Path) -> str:
    lines = log_path.read_text(errors="replace").splitlines()
    picked = [li for li in lines if "Error" in li or "SOAK:" in li or "failed" in li.lower()]
    return "\n".join((picked or lines)[-8:])[-2000:]


# --------------------------------------------------------------------------------------------------------------
# Checks


def _rows(dsn: str, query: str, *params):
    import psycopg

    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def check_drops(dsn: str, tree: Tree) -> dict:
    """Every drop put has one submission row, decided, with the expected status; nothing else is registered.
    A drop once decided keeps its submission and its decision time on every later night (only an accepted drop
    may become superseded): a later night that decided it again would have judged it twice."""
    rows = _rows(dsn, "select drop_path, status, submission_id, decided_at from ingest.submissions")
    by_path: dict[str, list] = defaultdict(list)
    for path, status, sid, decided_at in rows:
        by_path[path].append((status, sid, decided_at))
    expected = tree.statuses()
    out = {"drops": 0, "judged_once": 0, "pending": [], "missing": [], "twice": [], "wrong_status": [], "unexpected": []}
    for path, status in expected.items():
        if status == "absent":
            if path in by_path:
                out["unexpected"].append(path)
            continue
        out["drops"] += 1
        got = by_path.get(path, [])
        if not got:
            out["missing"].append(path)
        elif len(got) > 1:
            out["twice"].append(path)
        elif got[0][0] == "pending":
            out["pending"].append(path)
        elif not _same_decision(tree.decided.setdefault(path, (got[0][1], got[0][0], got[0][2])), got[0]):
            first = tree.decided[path]
            out["twice"].append(f"{path}: submission {first[0]} {first[1]} at {first[2]}, now submission {got[0][1]} "
                                f"{got[0][0]} at {got[0][2]}")
        elif got[0][0] != status:
            out["wrong_status"].append(f"{path}: {got[0][0]}, expected {status}")
        else:
            out["judged_once"] += 1
    out["unexpected"] += sorted(set(by_path) - set(expected))
    out["purged"] = _rows(dsn, "select count(*) from ingest.submissions where personal_data_purged_at is not null")[0][0] \
        if _has_column(dsn, "ingest", "submissions", "personal_data_purged_at") else None  # halfsky.warehouse.retention
    return out


def _has_column(dsn: str, schema: str, table: str, column: str) -> bool:
    return bool(_rows(dsn, "select 1 from information_schema.columns where table_schema = %s and table_name = %s "
                           "and column_name = %s", schema, table, column))


def _same_decision(first: tuple, now: tuple) -> bool:
    sid, status, decided_at = first
    return (now[1], now[2]) == (sid, decided_at) and (now[0] == status or (status, now[0]) == ("accepted", "superseded"))


def check_raw(dsn: str, tree: Tree) -> dict:
    """Raw rows per submission against the rows each drop was written with."""
    from halfsky.contract.forms import FORMS

    sids = dict(_rows(dsn, "select drop_path, submission_id from ingest.submissions"))
    raw: dict[int, Counter] = defaultdict(Counter)
    for form in FORMS:
        for sid, n in _rows(dsn, f"select submission_id, count(*) from raw.{form} group by 1"):
            raw[sid][form] = n
    expected = tree.statuses()
    lost = doubled = 0
    details = []
    known = set()
    for path, status in expected.items():
        sid = sids.get(path)
        if sid is not None:
            known.add(sid)
        e = tree.put[path]
        want = Counter(e.record.tally.rows) if e.what == "valid" else Counter()
        got = raw.get(sid, Counter()) if sid is not None else Counter()
        for form in set(want) | set(got):
            if got[form] < want[form]:
                lost += want[form] - got[form]
                details.append(f"{path} {form}: {got[form]} rows in raw, written {want[form]}")
            elif got[form] > want[form]:
                doubled += got[form] - want[form]
                details.append(f"{path} {form}: {got[form]} rows in raw, written {want[form]}")
    for sid in set(raw) - known:
        doubled += sum(raw[sid].values())
        details.append(f"submission {sid}: {sum(raw[sid].values())} raw rows of no drop the soak put")
    return {"lost": lost, "doubled": doubled, "details": details[:30]}


def check_marts(dsn: str, truth: dict, final: bool) -> dict:
    """The facts against the truth: rows and sums per key; after the last night also persons and the reports."""
    lost = doubled = 0
    off: list[str] = []
    keys = 0

    def compare(name: str, got: dict, want: dict) -> None:
        nonlocal lost, doubled, keys
        for key in set(got) | set(want):
            keys += 1
            g, w = got.get(key), want.get(key)
            g_rows, w_rows = (g[-1] if g else 0), (w[-1] if w else 0)
            if g_rows < w_rows:
                lost += w_rows - g_rows
            elif g_rows > w_rows:
                doubled += g_rows - w_rows
            if g != w:
                off.append(f"{name} {key}: marts {g}, truth {w}")

    funds = _rows(dsn, """select f.prefecture_code, f.period, p.program_code, f.flow_type, sum(f.amount_yuan), count(*)
                          from marts.fct_fund_flows f join marts.dim_program p using (program_key) group by 1, 2, 3, 4""")
    compare("fct_fund_flows", {r[:4]: (r[4], r[5]) for r in funds},
            {(t["prefecture_code"], t["period"], t["program_code"], t["flow_type"]): (Decimal(t["amount_yuan"]), t["rows"])
             for t in truth["totals"]["funds"]})
    activity = _rows(dsn, """select a.prefecture_code, a.period, p.program_code, sum(a.events), sum(a.beneficiaries),
                                    sum(a.volunteers), count(*)
                             from marts.fct_program_activity a join marts.dim_program p using (program_key) group by 1, 2, 3""")
    compare("fct_program_activity", {r[:3]: tuple(r[3:]) for r in activity},
            {(t["prefecture_code"], t["period"], t["program_code"]): (t["events"], t["beneficiaries"], t["volunteers"], t["rows"])
             for t in truth["totals"]["activity"]})
    benefits = _rows(dsn, """select b.prefecture_code, b.period, p.program_code, coalesce(sum(b.amount_yuan), 0), count(*)
                             from marts.fct_benefits b join marts.dim_program p using (program_key) group by 1, 2, 3""")
    compare("fct_benefits", {r[:3]: (r[3], r[4]) for r in benefits},
            {(t["prefecture_code"], t["period"], t["program_code"]): (Decimal(t["amount_yuan"]), t["rows"])
             for t in truth["totals"]["benefits"]})
    out = {"keys": keys, "lost": lost, "doubled": doubled}
    if final:
        (persons,), = _rows(dsn, "select count(*) from marts.dim_beneficiary where beneficiary_key <> '-1'")
        out["persons"] = persons
        if persons != truth["distinct_persons"]:
            off.append(f"dim_beneficiary: {persons} persons, truth {truth['distinct_persons']}")
        completion = {r[:4]: r[4:] for r in _rows(dsn, """
            select year, region_code, program_code, indicator_code, target_value, actual_value, completion_rate
            from marts.rpt_target_completion where region_level = 'reporting_unit'""")}
        for t in truth["target_completion"]:
            key = (t["year"], t["reporting_unit_code"], t["program_code"], t["indicator_code"])
            got = completion.get(key)
            want = (Decimal(str(t["target_value"])), Decimal(str(t["actual_value"])), t["completion_rate"])
            if got is None or got[:2] != want[:2] or not _same_rate(got[2], want[2]):
                off.append(f"rpt_target_completion {key}: marts {got}, truth {want}")
        coverage = {r[:3]: r[3:] for r in _rows(dsn, """
            select year, region_code, program_code, persons_reached, population, coverage_rate
            from marts.rpt_coverage where region_level = 'reporting_unit'""")}
        for c in truth["coverage"]:
            key = (c["year"], c["reporting_unit_code"], c["program_code"])
            got = coverage.get(key)
            want = (c["persons_reached"], c["population"], c["coverage_rate"])
            if got is None or tuple(got[:2]) != want[:2] or not _same_rate(got[2], want[2]):
                off.append(f"rpt_coverage {key}: marts {got}, truth {want}")
        out["reports_checked"] = len(truth["target_completion"]) + len(truth["coverage"])
    out["off"] = off
    return out


def _same_rate(got, want) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return abs(float(got) - float(want)) <= 1e-4


# --------------------------------------------------------------------------------------------------------------
# The soak


CODE_DIRS = ("plugins", "expectations", "dbt_project")


def snapshot_code(work: Path, rev: str | None) -> tuple[Path, str]:
    """halfsky's code as it is now (or as committed at ``rev``), copied into the work folder and put first on the
    path of this process and of every night: a working tree that others edit during a long soak would otherwise
    change between nights. Returns the folder and a fingerprint of what is in it."""
    import hashlib

    target = work / "code"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    if rev:
        archive = subprocess.run(["git", "archive", rev, *CODE_DIRS], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    else:
        for name in CODE_DIRS:
            shutil.copytree(REPO / name, target / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "target", "logs", "*.egg-info"))
    digest = hashlib.sha256()
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(target)).encode() + b"\0" + path.read_bytes())
    sys.path.insert(0, str(target / "plugins"))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(target / "plugins"), *filter(None, [os.environ.get("PYTHONPATH")])])
    return target, digest.hexdigest()[:12]


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                               text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "), prog="python bench/soak.py")
    p.add_argument("--nights", type=int, default=50, help="nightly runs in a row (default 50)")
    p.add_argument("--seed", type=int, default=2026, help="the tree, the hostile drops, the kills and the restart follow from it")
    p.add_argument("--kill-rate", type=float, default=1 / 3, help="share of nights whose first attempt is SIGKILLed (default 1/3)")
    p.add_argument("--quick", action="store_true",
                   help=f"a smoke run: {QUICK['nights']} nights, {QUICK['prefectures']} units, {QUICK['rows']} rows a form")
    p.add_argument("--prefectures", type=int, default=6, help="reporting units sending drops (default 6)")
    p.add_argument("--rows", type=int, default=100, help="rows per form per monthly drop (default 100)")
    p.add_argument("--resubmissions", type=float, default=0.12, help="share of prefecture-periods resubmitted (default 0.12)")
    p.add_argument("--duplicates", type=float, default=0.06, help="share of drops sent twice with identical bytes (default 0.06)")
    p.add_argument("--retention-months", type=int, default=12,
                   help="personal_data_retention_months for the nights' purge (default 12, so the purge runs in a 50-night "
                        "soak; halfsky's own default is 36)")
    p.add_argument("--no-restart", action="store_true", help="no Postgres restart")
    p.add_argument("--restart-mode", choices=("immediate", "fast"), default="immediate",
                   help="pg_ctl stop mode of the restart (default immediate: a crash, recovered at start)")
    p.add_argument("--max-attempts", type=int, default=6, help="attempts at a night before the soak gives up on it (default 6)")
    p.add_argument("--attempt-timeout", type=float, default=900, help="seconds before an attempt counts as hung (default 900)")
    p.add_argument("--work", type=Path, help="work folder (default: a new one under $TMPDIR); kept when the soak fails")
    p.add_argument("--keep", action="store_true", help="keep the work folder (cluster stopped) even when the soak passes")
    p.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes (default bench/results)")
    p.add_argument("--code", metavar="REV",
                   help="soak halfsky as committed at REV (git archive); default: a copy of the working tree taken at the start")
    p.add_argument("--live", action="store_true",
                   help="run the working tree itself, not a copy (edits made during the soak reach the later nights)")
    p.add_argument("--night-child", metavar="JOB", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.nights, args.prefectures, args.rows = QUICK["nights"], QUICK["prefectures"], QUICK["rows"]
    if args.nights < 1:
        p.error("--nights must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.night_child:
        return night_child(args.night_child)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    t_start = time.perf_counter()
    started_at = datetime.now(timezone.utc)
    rng = random.Random(f"soak/{args.seed}")
    work = args.work or Path(tempfile.mkdtemp(prefix="halfsky-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(exist_ok=True)
    host = socket.gethostname()
    commit = git_commit()
    if args.code:
        code = f"git archive of {args.code}, tree {snapshot_code(work, args.code)[1]}"
        commit = subprocess.run(["git", "rev-parse", "--short", args.code], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.strip()
    elif args.live:
        code = "the working tree, live"
    else:
        code = f"a copy of the working tree, tree {snapshot_code(work, None)[1]}"
    print(f"soak: {args.nights} nights, seed {args.seed}, kill rate {args.kill_rate:.2f}, at {commit} ({code}) on {host} "
          f"({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}); work in {work}", flush=True)

    from halfsky_dev.local_postgres import ensure_database

    script = str(work / "soak.py")  # the nights run this copy: an edit of bench/soak.py meanwhile cannot reach them
    shutil.copyfile(Path(__file__).resolve(), script)
    cluster = Cluster(work / "pgdata")
    admin = cluster.start()
    dsn = ensure_database(admin, DATABASE)
    report: dict = {"started_at": started_at.isoformat(), "argv": sys.argv[1:] if argv is None else argv,
                    "commit": commit, "code": code, "host": host, "cores": os.cpu_count(), "python": platform.python_version(),
                    "postgres": cluster.version(), "load_average_at_start": list(os.getloadavg()),
                    "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                                   if k != "night_child"},
                    "nights": []}
    failed_night = None
    try:
        nights = night_times(args.nights, FIRST_PERIOD)
        t0 = time.perf_counter()
        tree = stage_tree(work, args.seed, args.prefectures, args.rows, nights, args.resubmissions, args.duplicates)
        staging_s = time.perf_counter() - t0
        print(f"staged {len(tree.staged)} drops for {len(tree.units)} units x {len(tree.periods)} periods "
              f"({tree.periods[0]}..{tree.periods[-1]}) in {staging_s:.0f}s; nights {nights[0]:%Y-%m-%d} .. {nights[-1]:%Y-%m-%d}",
              flush=True)
        # A night on the 10th (most of the month's drops come in) other than the first, when there is one.
        candidates = list(range(2, args.nights, 2)) or list(range(1, args.nights))
        restart_night = None if args.no_restart or not candidates else rng.choice(candidates)
        watch = Stopwatch()
        used_invalid: set[str] = set()
        for night, as_of in enumerate(nights):
            t_night = time.perf_counter()
            put = put_staged(tree, night, as_of)
            hostile = put_hostile(tree, night, as_of, rng, used_invalid)
            job = {"dsn": dsn, "as_of": as_of.isoformat(), "landing": str(tree.landing),
                   "quarantine": str(work / "quarantine"), "run_id": f"soak__night_{night:02d}__{as_of:%Y-%m-%d}",
                   "home": str(work / "home"), "stage_file": str(work / "logs" / "stages.txt"),
                   "dimensions_marker": str(work / "dimensions_built"), "script": script,
                   "retention_months": args.retention_months}
            attempts = []
            while True:
                n = len(attempts)
                plan = Plan()
                kills = sum(1 for a in attempts if a.get("killed"))
                if night == restart_night and n == 0:
                    stage = rng.choice(RESTART_STAGES)
                    plan = Plan("restart", stage, rng.uniform(0, 0.9 * watch.typical(stage)))
                elif kills < 2 and rng.random() < (args.kill_rate if n == 0 else args.kill_rate / 2):
                    stage = rng.choices(list(KILL_STAGES), weights=list(KILL_STAGES.values()))[0]
                    plan = Plan("kill", stage, rng.uniform(0, 0.9 * watch.typical(stage)))  # aimed inside the stage
                result = run_attempt(job, work / "logs" / f"night-{night:02d}-attempt-{n + 1}.log", plan, cluster,
                                     args.attempt_timeout, args.restart_mode, rng)
                result["plan"] = plan.__dict__ if plan.action else None
                stages = result.pop("_stages")
                attempts.append(result)
                if result["clean"]:
                    watch.add(stages)
                    break
                if len(attempts) >= args.max_attempts:
                    break
                time.sleep(1.0)
            done = attempts[-1]["clean"]
            drops = check_drops(dsn, tree)
            raw = check_raw(dsn, tree)
            marts = check_marts(dsn, tree.truth(), final=night == len(nights) - 1) if done else None
            entry = {"night": night + 1, "as_of": as_of.isoformat(), "put": len(put), "hostile": [e.what for e in hostile],
                     "attempts": attempts, "finished": done, "seconds": round(time.perf_counter() - t_night, 1),
                     "drops": drops, "raw": raw, "marts": marts}
            report["nights"].append(entry)
            print(night_line(entry), flush=True)
            if not done:
                failed_night = night + 1
                break
    except BaseException:
        report["crash"] = traceback.format_exc()
        raise
    finally:
        report["seconds"] = round(time.perf_counter() - t_start, 1)
        summary = summarize(report, args.nights, failed_night)
        report["summary"] = summary
        try:
            cluster.stop("fast")
        except Exception as exc:  # noqa: BLE001 - report, do not mask the soak's own outcome
            print(f"stopping the soak's cluster failed: {exc}", file=sys.stderr)
        passed = summary.get("passed", False)
        keep = args.keep or not passed
        report["work"] = str(work) if keep else None
        args.results.mkdir(parents=True, exist_ok=True)
        text = json.dumps(report, indent=1, ensure_ascii=False, default=str)
        path = args.results / f"soak-{started_at:%Y%m%dT%H%M%SZ}-{host}.json"
        path.write_text(text)
        if not args.quick:
            (args.results / "soak.json").write_text(text)
        print(summary_text(summary, report))
        print(f"written {path}" + (f"; work folder kept: {work}" if keep else ""))
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if summary["passed"] else 1


def night_line(e: dict) -> str:
    tries = []
    for a in e["attempts"]:
        if a.get("killed"):
            tries.append(f"killed in {a['at_stage']} at {a['after_s']}s")
        elif a.get("restarted"):
            tries.append(f"Postgres restarted in {a['at_stage']} at {a['after_s']}s ({a['restart_s']}s down+up), "
                         + ("attempt still finished" if a["exit"] == 0 else f"attempt exit {a['exit']}"))
        elif a.get("timed_out"):
            tries.append(f"HUNG in {a['at_stage']}")
        elif a["exit"] != 0:
            tries.append(f"failed (exit {a['exit']})")
        else:
            tries.append(f"ok {a['seconds']}s")
    d, r, m = e["drops"], e["raw"], e["marts"]
    bad = len(d["pending"]) + len(d["missing"]) + len(d["twice"]) + len(d["wrong_status"]) + len(d["unexpected"])
    marts = "not built" if m is None else f"marts lost {m['lost']} doubled {m['doubled']} off {len(m['off'])}"
    hostile = ", ".join(f"{k}x{n}" if n > 1 else k for k, n in Counter(e["hostile"]).items())
    return (f"night {e['night']:>2} {e['as_of'][:10]}: +{e['put']} drops, hostile {hostile}; "
            f"{' -> '.join(tries)}; judged once {d['judged_once']}/{d['drops']}"
            + (f" ({bad} NOT)" if bad else "") + (f", {d['purged']} purged" if d.get("purged") else "")
            + f"; raw lost {r['lost']} doubled {r['doubled']}; {marts}; {e['seconds']}s")


def summarize(report: dict, nights_asked: int, failed_night: int | None) -> dict:
    nights = report["nights"]
    attempts = [a for n in nights for a in n["attempts"]]
    last = nights[-1] if nights else None
    kills = Counter(a["at_stage"] for a in attempts if a.get("killed"))
    restart = next((dict(a, night=n["night"]) for n in nights for a in n["attempts"] if a.get("restarted")), None)
    failures = [{"night": n["night"], "exit": a["exit"], "tail": a.get("failure", "")}
                for n in nights for a in n["attempts"] if a.get("failure") and not a.get("restarted")]
    hung = [n["night"] for n in nights for a in n["attempts"] if a.get("timed_out")]
    s = {"nights_asked": nights_asked, "nights_run": len(nights), "nights_finished": sum(n["finished"] for n in nights),
         "attempts": len(attempts), "kills": sum(kills.values()), "kills_by_stage": dict(kills),
         "kills_missed": sum(1 for a in attempts if a.get("missed") == "kill"),
         "restart": None if restart is None else {k: restart[k] for k in ("night", "at_stage", "after_s", "restart_s", "mode", "exit")},
         "failed_attempts": failures, "hung_attempts": hung, "failed_night": failed_night,
         "drops_purged": last["drops"].get("purged") if last else None,
         "seconds": report.get("seconds")}
    if last:
        d, r, m = last["drops"], last["raw"], last["marts"] or {"lost": 0, "doubled": 0, "off": [], "keys": 0}
        s.update(drops=d["drops"], judged_once=d["judged_once"], pending=d["pending"], missing=d["missing"],
                 judged_twice=d["twice"], wrong_status=d["wrong_status"], unexpected=d["unexpected"],
                 rows_lost=r["lost"] + m["lost"], rows_doubled=r["doubled"] + m["doubled"],
                 raw_lost=r["lost"], raw_doubled=r["doubled"], marts_lost=m["lost"], marts_doubled=m["doubled"],
                 raw_details=r["details"], figures_off=m["off"][:30], figures_off_count=len(m["off"]),
                 marts_keys=m.get("keys"), persons=m.get("persons"), reports_checked=m.get("reports_checked"),
                 marts_checked=last["marts"] is not None)
        # Any night's findings count, not only the last one's (a doubled row could be put right later).
        s["nights_with_findings"] = [n["night"] for n in nights if _night_findings(n)]
    s["passed"] = bool(last) and failed_night is None and len(nights) == nights_asked and not hung \
        and s.get("rows_lost") == 0 and s.get("rows_doubled") == 0 and s.get("judged_once") == s.get("drops") \
        and not s.get("unexpected") and not s.get("figures_off_count") and s.get("marts_checked") \
        and not s.get("nights_with_findings") and "crash" not in report
    return s


def _night_findings(n: dict) -> bool:
    d, r, m = n["drops"], n["raw"], n["marts"]
    return bool(d["pending"] or d["missing"] or d["twice"] or d["wrong_status"] or d["unexpected"] or r["lost"]
                or r["doubled"] or (m and (m["lost"] or m["doubled"] or m["off"])))


def summary_text(s: dict, report: dict) -> str:
    minutes, seconds = divmod(int(s["seconds"] or 0), 60)
    kills = ", ".join(f"{n} in {stage}" for stage, n in sorted(s["kills_by_stage"].items())) or "none"
    r = s["restart"]
    restart = "none" if r is None else (f"night {r['night']}, {r['mode']} stop in {r['at_stage']} {r['after_s']}s in, "
                                         f"{r['restart_s']}s down and up; that attempt "
                                         + ("finished" if r["exit"] == 0 else f"exited {r['exit']} and the night was rerun"))
    lines = [
        "",
        f"nights run:        {s['nights_finished']} of {s['nights_asked']} finished"
        + (f" (night {s['failed_night']} NEVER FINISHED)" if s["failed_night"] else ""),
        f"runs survived:     {s['attempts']} attempts; {s['kills']} SIGKILLs ({kills}; {s['kills_missed']} more "
        f"planned came after the attempt ended); Postgres restart: {restart}; "
        f"{len(s['failed_attempts'])} other failed attempts" + (f"; HUNG: nights {s['hung_attempts']}" if s["hung_attempts"] else ""),
    ]
    if "drops" in s:
        not_once = len(s["pending"]) + len(s["missing"]) + len(s["judged_twice"]) + len(s["wrong_status"])
        lines += [
            f"drops judged once: {s['judged_once']} of {s['drops']}"
            + (f" (pending {len(s['pending'])}, missing {len(s['missing'])}, twice {len(s['judged_twice'])}, "
               f"wrong status {len(s['wrong_status'])})" if not_once else "")
            + (f"; {len(s['unexpected'])} submission rows of nothing the soak put" if s["unexpected"] else ""),
            f"rows lost:         {s['rows_lost']} (raw {s['raw_lost']}, marts {s['marts_lost']})"
            + (f"; {s['drops_purged']} drops purged of id numbers and names on the way" if s.get("drops_purged") else ""),
            f"rows doubled:      {s['rows_doubled']} (raw {s['raw_doubled']}, marts {s['marts_doubled']})",
            f"marts vs truth:    {s['marts_keys']} fact keys (rows and sums), {s['persons']} persons, "
            f"{s['reports_checked']} target/coverage rows: {s['figures_off_count']} off"
            + (f"; nights with findings: {s['nights_with_findings']}" if s["nights_with_findings"] else ""),
        ]
        for item in (s["pending"] + s["missing"] + s["judged_twice"] + s["wrong_status"] + s["unexpected"])[:10]:
            lines.append(f"  drop: {item}")
        for item in s["raw_details"][:10] + s["figures_off"][:10]:
            lines.append(f"  {item}")
    for f in s["failed_attempts"][:5]:
        lines.append(f"  failed attempt, night {f['night']} (exit {f['exit']}): {f['tail'][-400:]}")
    lines.append(f"time:              {minutes} min {seconds} s" + ("" if "crash" not in report else "; the soak itself CRASHED"))
    lines.append("PASSED" if s["passed"] else "FAILED")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
