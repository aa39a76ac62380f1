"""One peer's run over one landing tree, in its own process (so its peak RSS is its own).

    python bench/peers.py PEER JOB.json RESULT.json

PEER is floor, fast, naive, halfsky, prepare (the floor's CSV, untimed) or dbt. JOB.json holds the
tree (root, drops), the admin DSN and where the floor's CSV files are. RESULT.json gets
``seconds`` (wall time of the peer's work, without creating its scratch database), ``stages``
(seconds per stage), ``rows_loaded`` and what the peer made of the drops. Each peer loads into a
throwaway database of its own (halfsky_dev.local_postgres), dropped at the end.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

FORMS_ORDER = ("activity", "funds", "beneficiaries")


class Clock:
    def __init__(self) -> None:
        self.stages: Counter = Counter()

    @contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] += time.perf_counter() - t0


@contextmanager
def scratch_database(admin_dsn: str, peer: str):
    from halfsky_dev.local_postgres import drop_database, ensure_database
    from halfsky.warehouse.schema import ensure_schema

    name = f"halfsky_bench_{peer}_{uuid.uuid4().hex[:6]}"
    dsn = ensure_database(admin_dsn, name)
    try:
        ensure_schema(dsn)
        yield dsn
    finally:
        drop_database(admin_dsn, name)


def _drop_path(job: dict, drop: dict) -> Path:
    return Path(job["root"]) / drop["rel"]


def _register(conn, drop: dict, fmt: str) -> int:
    """A submission row for a peer that is not halfsky (raw rows reference ingest.submissions)."""
    return conn.execute(
        """insert into ingest.submissions (prefecture_code, period, drop_name, drop_path, format, size_bytes,
                                           received_at, first_seen_at, status)
           values (%s, %s, %s, %s, %s, 0, now(), now(), 'accepted') returning submission_id""",
        (drop["prefecture"], drop["period"], drop["rel"].rsplit("/", 1)[-1], drop["rel"], fmt)).fetchone()[0]


def _errors(failed: dict) -> bool:
    """Whether any failing rule is an error (a warning, e.g. duplicate_cash_benefit, still loads the drop)."""
    from halfsky.contract.rules import ERROR, RULES

    return any(RULES[rule].severity == ERROR for rule in failed if rule in RULES) or any(r not in RULES for r in failed)


def _count_raw(dsn: str, schema: str = "raw", prefix: str = "") -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return sum(conn.execute(f"select count(*) from {schema}.{prefix}{f}").fetchone()[0] for f in FORMS_ORDER)


# --- prepare: the floor's rows, typed once, as CSV ------------------------------------------------


def prepare(job: dict) -> dict:
    import fast_path
    from halfsky.contract.forms import FORMS

    out = Path(job["floor_dir"])
    out.mkdir(parents=True, exist_ok=True)
    handles = {f: (out / f"{f}.csv").open("wb") for f in FORMS_ORDER}
    rows = 0
    try:
        for i, drop in enumerate(job["drops"], start=1):
            typed, _ = fast_path.typed_forms(_drop_path(job, drop))
            for name, frame in typed.items():
                handles[name].write(fast_path.copy_csv(FORMS[name], frame, i, drop["period"]))
                rows += len(frame)
    finally:
        for h in handles.values():
            h.close()
    return {"rows": rows}


# --- floor: COPY of the typed rows into UNLOGGED tables of raw's shape -----------------------------


def floor(job: dict) -> dict:
    import psycopg

    clock = Clock()
    floor_dir = Path(job["floor_dir"])
    with scratch_database(job["admin_dsn"], "floor") as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        for f in FORMS_ORDER:  # the raw table's columns and types; no index, no foreign key, no WAL
            conn.execute(f"create unlogged table raw.floor_{f} (like raw.{f})")
        t0 = time.perf_counter()
        with clock.stage("load"):
            for f in FORMS_ORDER:
                path = floor_dir / f"{f}.csv"
                with conn.cursor().copy(f"copy raw.floor_{f} from stdin with (format csv)") as copy, path.open("rb") as fh:
                    while chunk := fh.read(1 << 20):
                        copy.write(chunk)
        seconds = time.perf_counter() - t0
        rows = _count_raw(dsn, prefix="floor_")
    return {"seconds": seconds, "stages": dict(clock.stages), "rows_loaded": rows}


# --- fast: Polars read, the suites as expressions, COPY --------------------------------------------


def fast(job: dict) -> dict:
    import polars  # noqa: F401  imported before the clock starts, like every peer's libraries
    import psycopg

    import fast_path
    from halfsky.contract.forms import FORMS

    clock = Clock()
    suites = fast_path.load_suites()
    outcome: Counter = Counter()
    findings: Counter = Counter()
    with scratch_database(job["admin_dsn"], "fast") as dsn, psycopg.connect(dsn) as conn:
        t0 = time.perf_counter()
        for drop in job["drops"]:
            with clock.stage("read"):
                cells = fast_path.read_drop(_drop_path(job, drop))
            with clock.stage("type"):
                typed, bad = {}, 0
                for name, frame in cells.frames.items():
                    typed[name], n = fast_path.type_form(FORMS[name], frame, cells.first_row)
                    bad += n
            with clock.stage("validate"):
                parameters = fast_path.expectation_parameters(drop["prefecture"], drop["period"])
                failed = fast_path.check(typed, parameters, suites)
            if bad:
                failed["type"] = bad
            findings.update(failed)
            if _errors(failed):
                outcome["rejected"] += 1
                continue
            with clock.stage("load"), conn.transaction():
                sid = _register(conn, drop, cells.format)
                for name, frame in typed.items():
                    form = FORMS[name]
                    with conn.cursor().copy(f"copy raw.{name} ({fast_path.copy_columns(form)}) from stdin with (format csv)") as copy:
                        copy.write(fast_path.copy_csv(form, frame, sid, drop["period"]))
            outcome["accepted"] += 1
        seconds = time.perf_counter() - t0
        rows = _count_raw(dsn)
    return {"seconds": seconds, "stages": dict(clock.stages), "rows_loaded": rows, "outcome": dict(outcome),
            "findings": dict(findings)}


# --- naive: pandas read, GX over the whole DataFrame, to_sql --------------------------------------


def _naive_context():
    """A plain ephemeral GX context: a pandas source and, per form, a suite from expectations/*.json."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    import halfsky.ingest.judging.gx_id_number  # noqa: F401  registers expect_column_values_to_be_valid_cn_id_number

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("naive")
    definitions = {}
    for path in sorted((Path(__file__).resolve().parents[1] / "expectations").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        suite = gx.ExpectationSuite(name=doc["name"])
        for e in doc["expectations"]:
            suite.add_expectation_configuration(ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], meta=e["meta"]))
        suite = context.suites.add(suite)
        batch = source.add_dataframe_asset(path.stem).add_batch_definition_whole_dataframe("whole")
        definitions[path.stem] = context.validation_definitions.add(gx.ValidationDefinition(name=path.stem, data=batch, suite=suite))
    return definitions


def _naive_read(path: Path):
    """form -> DataFrame, as a pandas user reads a drop: codes and text as str, the rest inferred."""
    import pandas as pd

    from halfsky.contract.forms import CODE, FORMS, ID_NUMBER, REGION, TEXT

    def str_columns(form):
        return {f.name: str for f in form.fields if f.kind in (REGION, CODE, ID_NUMBER, TEXT)}

    frames = {}
    if path.is_dir():
        for csv_path in sorted(path.glob("*.csv")):
            if csv_path.stem in FORMS:
                frames[csv_path.stem] = pd.read_csv(csv_path, dtype=str_columns(FORMS[csv_path.stem]))
    elif path.suffix == ".xlsx":
        dtypes = {k: v for form in FORMS.values() for k, v in str_columns(form).items()}  # one mapping for every sheet
        for name, frame in pd.read_excel(path, sheet_name=None, engine="calamine", dtype=dtypes).items():
            if name in FORMS:
                frames[name] = frame
    else:
        doc = json.loads(path.read_bytes())
        for name, records in doc["forms"].items():
            if name in FORMS:
                frames[name] = pd.DataFrame(records, dtype=object)  # ints stay ints, not floats beside a blank
    return frames, (1 if path.suffix == ".json" else 2)


def _naive_type(name: str, frame):
    """Dates to datetime64, counts and money to numbers, blanks to missing (NaN/NaT)."""
    import pandas as pd

    from halfsky.contract.forms import COUNT, DATE, FLAG, FORMS, MONEY

    out = pd.DataFrame(index=frame.index)
    for f in FORMS[name].fields:
        column = frame[f.name] if f.name in frame else pd.Series(None, index=frame.index, dtype="object")
        if f.kind == DATE:
            out[f.name] = pd.to_datetime(column, format="%Y-%m-%d", errors="coerce")
        elif f.kind in (COUNT, MONEY):
            out[f.name] = pd.to_numeric(column, errors="coerce")
            if f.default is not None:
                out[f.name] = out[f.name].fillna(f.default)
        elif f.kind == FLAG:
            out[f.name] = column.map(lambda v: str(v).strip().lower() in ("true", "1", "是")).astype(bool)
        else:
            text = column.astype("object").where(column.notna(), None)
            out[f.name] = text.map(lambda v: None if v is None or str(v).strip() in ("", "nan") else str(v).strip())
    return out


def naive(job: dict) -> dict:
    import great_expectations  # noqa: F401  imported before the clock starts
    import pandas as pd
    import psycopg
    import sqlalchemy

    import fast_path

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    clock = Clock()
    outcome: Counter = Counter()
    findings: Counter = Counter()
    with scratch_database(job["admin_dsn"], "naive") as dsn:
        engine = sqlalchemy.create_engine(dsn.replace("postgresql://", "postgresql+psycopg://", 1))
        t0 = time.perf_counter()
        with clock.stage("validate"):
            definitions = _naive_context()
        for drop in job["drops"]:
            with clock.stage("read"):
                frames, first_row = _naive_read(_drop_path(job, drop))
            with clock.stage("type"):
                typed = {name: _naive_type(name, frame) for name, frame in frames.items()}
            with clock.stage("validate"):
                parameters = fast_path.expectation_parameters(drop["prefecture"], drop["period"])
                parameters["period_start"] = pd.Timestamp(parameters["period_start"])
                parameters["period_end"] = pd.Timestamp(parameters["period_end"])
                parameters["year_start"] = pd.Timestamp(parameters["year_start"])
                failed: Counter = Counter()
                for name, frame in typed.items():
                    result = definitions[name].run(batch_parameters={"dataframe": frame}, expectation_parameters=parameters,
                                                   result_format={"result_format": "COMPLETE"})
                    for r in result.results:
                        if r.exception_info and r.exception_info.get("raised_exception"):
                            raise RuntimeError(f"{r.expectation_config.type} on {name}: {r.exception_info.get('exception_message')}")
                        if not r.success:
                            failed[r.expectation_config.meta["rule"]] += int(r.result.get("unexpected_count") or 1)
            findings.update(failed)
            if _errors(failed):
                outcome["rejected"] += 1
                continue
            with clock.stage("load"):
                with psycopg.connect(dsn) as conn:
                    sid = _register(conn, drop, drop["fmt"])
                with engine.begin() as connection:
                    for name, frame in typed.items():
                        frame.insert(0, "period", drop["period"])
                        frame.insert(0, "row_number", range(first_row, first_row + len(frame)))
                        frame.insert(0, "submission_id", sid)
                        frame.to_sql(name, connection, schema="raw", if_exists="append", index=False)
            outcome["accepted"] += 1
        seconds = time.perf_counter() - t0
        engine.dispose()
        rows = _count_raw(dsn)
    return {"seconds": seconds, "stages": dict(clock.stages), "rows_loaded": rows, "outcome": dict(outcome),
            "findings": dict(findings)}


# --- halfsky: the real path ----------------------------------------------------------------------


def halfsky(job: dict) -> dict:
    import tempfile
    from datetime import datetime

    import halfsky.ingest.judging.gx_validation  # noqa: F401  imported before the clock starts (GX itself loads on the first drop)
    from halfsky.ingest import stage_clock
    from halfsky.ingest.runner import pending_work, process_prefecture

    as_of = datetime.fromisoformat(job["as_of"])
    stages: Counter = Counter()
    outcome: Counter = Counter()
    profiler = None
    with scratch_database(job["admin_dsn"], "halfsky") as dsn, tempfile.TemporaryDirectory(prefix="bench-q-") as quarantine:
        if job.get("profile"):
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.005)
            profiler.start()
        t0 = time.perf_counter()
        t = time.perf_counter()
        work, skipped = pending_work(dsn, job["root"], as_of)
        stages["discover"] += time.perf_counter() - t
        for batch in work:
            t = time.perf_counter()
            result = process_prefecture(dsn, job["root"], quarantine, batch["paths"], as_of=as_of)
            batch_seconds = time.perf_counter() - t
            outcome.update(result)
            clocked = stage_clock.totals()  # process_prefecture resets the clock per batch
            stages.update(clocked)
            stages["other"] += batch_seconds - sum(clocked.values())
        seconds = time.perf_counter() - t0
        if profiler:
            profiler.stop()
            base = Path(job["profile"])
            base.with_suffix(".html").write_text(profiler.output_html(), encoding="utf-8")
            base.with_suffix(".txt").write_text(profiler.output_text(unicode=True, show_all=False), encoding="utf-8")
        rows = _count_raw(dsn)
    return {"seconds": seconds, "stages": dict(stages), "rows_loaded": rows, "outcome": dict(outcome),
            "skipped": skipped, "batches": len(work), "halfsky_from": str(Path(stage_clock.__file__).parent)}


# --- dbt nights (bench/dbt_nights.py, written separately) -----------------------------------------


def dbt(job: dict) -> dict:
    from dbt_nights import measure_nights

    t0 = time.perf_counter()
    nights = measure_nights(job["admin_dsn"], job["history_rows"], new_rows=job.get("new_rows", 200_000))
    return {"seconds": time.perf_counter() - t0, "nights": nights}


def peak_rss_mb() -> float:
    """This process's high-water resident set (VmHWM): unlike ru_maxrss, it does not inherit the
    parent's RSS at fork, so it is this peer's own."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


PEERS = {"prepare": prepare, "floor": floor, "fast": fast, "naive": naive, "halfsky": halfsky, "dbt": dbt}


def main(argv: list[str]) -> int:
    peer, job_path, result_path = argv
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    job = json.loads(Path(job_path).read_text())
    result = PEERS[peer](job)
    result["peak_rss_mb"] = peak_rss_mb()
    Path(result_path).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
