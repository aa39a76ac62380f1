"""min_max_outlier before and after contract v3, on the sample generator's history.

    source .halfsky/env.sh && .venv/bin/python bench/outliers.py [--prefectures 19] [--months 18] [--rows 40]

Writes a landing tree with ``python -m halfsky_dev.sample <tree> --prefectures N --months M --prior-year``,
ingests it into a throw-away warehouse of its own (process_prefecture, as the night does) and prints:

- the time the history warnings took (halfsky's "history" stage) and the outlier check within it, per drop;
- how many warnings the pipeline stored for min_max_outlier;
- over every value the accepted monthly drops sent, recomputed here from the warehouse: the warnings of the old
  rule as it ran (mean ± 3 SD over the key's earlier rows, at least 6, beneficiaries, events and volunteers), of
  mean ± 3 SD over the contract's series (12 months before the period, 0 where a drop lacks the key, at least 6),
  and of the contract's modified z-score over the same series; how many of each fell on zero-heavy series (at
  least half of the months 0) and, for the new rule, how many on a zero MAD. --steady-keys asks what the figures
  would be if the generator drew each unit's activity keys once instead of every month.

The old rule is reimplemented here only for the comparison. Run it with PYTHONPATH=<export of another
checkout>/plugins to time that code instead (e.g. ``git archive main plugins | tar -x -C /tmp/main``); the
comparison does not depend on which code ingested. Asserts nothing; prints figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import psycopg

WINDOW, MIN_MONTHS = 12, 6
CONSISTENCY, THRESHOLD, MAD_ZERO_FLOOR = Decimal("0.6745"), Decimal("3.5"), 10


def median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    n = len(ordered)
    return (ordered[(n + 1) // 2 - 1] + ordered[(n + 2) // 2 - 1]) / 2


def new_rule(value: Decimal, series: list[Decimal]) -> tuple[bool, bool]:
    """(outlier, judged on a zero MAD) by the contract's modified z-score."""
    centre = median(series)
    mad = median([abs(v - centre) for v in series])
    if mad > 0:
        return CONSISTENCY * abs(value - centre) > THRESHOLD * mad, False
    return abs(value - centre) > centre / 2 and abs(value - centre) >= MAD_ZERO_FLOOR, True


def mean_sd_rule(value: Decimal, series: list[Decimal]) -> bool:
    """The v1/v2 rule: outside mean ± 3 sample standard deviations; a series without spread flags nothing."""
    sd = statistics.stdev(float(v) for v in series)
    return sd > 0 and abs(float(value) - statistics.fmean(float(v) for v in series)) > 3 * sd


def months_before(period: str, months: int) -> str:
    index = int(period[:4]) * 12 + int(period[5:7]) - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def ingest(dsn: str, root: Path, quarantine: Path, as_of) -> dict:
    """Every drop of the tree, batch by batch as the night runs them, with the history stage's time summed
    and the outlier check within it timed apart."""
    from halfsky.ingest.judging import history_warnings
    from halfsky.ingest import stage_clock
    from halfsky.ingest.runner import pending_work, process_prefecture

    name = "outlier_findings" if hasattr(history_warnings, "outlier_findings") else "_outliers"
    check, outlier_seconds = getattr(history_warnings, name), [0.0]

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return check(*args, **kwargs)
        finally:
            outlier_seconds[0] += time.perf_counter() - started

    setattr(history_warnings, name, timed)
    started, history, load = time.perf_counter(), 0.0, 0.0
    work, _ = pending_work(dsn, str(root), as_of)
    for batch in work:
        process_prefecture(dsn, str(root), str(quarantine), batch["paths"], as_of=as_of)
        history += stage_clock.totals().get("history", 0.0)
        load += stage_clock.totals().get("load", 0.0)
    return {"seconds": time.perf_counter() - started, "history": history, "load": load, "outliers": outlier_seconds[0]}


def read_history(dsn: str) -> tuple[dict, dict, dict]:
    """Per unit: its accepted months; per (unit, period): {(key, measure): value} of what the drop sent."""
    from halfsky.contract.forms import ACTIVITY
    from halfsky.contract.reference.divisions import allowed_region_codes

    measures = [m for m in ("events", "beneficiaries", "volunteers", "persons_ytd") if m in ACTIVITY.field_names]
    sent: dict = defaultdict(dict)
    with psycopg.connect(dsn) as conn:
        accepted = conn.execute("""select prefecture_code, period from ingest.submissions
                                   where status = 'accepted' and period ~ '^[0-9]{4}-[0-9]{2}$'""").fetchall()
        for row in conn.execute(f"""select s.prefecture_code, s.period, a.region_code, a.program_code,
                                           a.beneficiary_group_code, {', '.join('a.' + m for m in measures)}
                                    from raw.activity as a join ingest.submissions as s using (submission_id)
                                    where s.status = 'accepted'""").fetchall():
            unit, period, *key = row[:5]
            for measure, value in zip(measures, row[5:]):
                sent[(unit, period)][(tuple(key), measure)] = None if value is None else Decimal(value)
        units = sorted({unit for unit, _ in accepted})
        own = {unit: sorted(allowed_region_codes(unit)) for unit in units}
        for unit in units:
            for period, region, program, spent in conn.execute(
                    """select s.period, f.region_code, f.program_code, sum(f.amount_yuan)
                       from raw.funds as f join ingest.submissions as s using (submission_id)
                       where s.status = 'accepted' and s.prefecture_code = %s and not coalesce(f.in_kind, false)
                         and (f.flow_type = 'EXPENDITURE' or (f.flow_type = 'DISBURSEMENT'
                              and (f.recipient_region_code is null or f.recipient_region_code <> all(%s))))
                       group by 1, 2, 3""", (unit, own[unit])).fetchall():
                sent[(unit, period)][((region, program), "cash_spent")] = spent
        stored = dict(conn.execute("""select f.field, count(*) from ingest.drop_findings as f
                                      join ingest.submissions as s using (submission_id)
                                      where f.rule = 'min_max_outlier' and s.status = 'accepted' group by 1""").fetchall())
    months: dict = defaultdict(list)
    for unit, period in sorted(accepted):
        months[unit].append(period)
    return months, sent, stored


def compare(months: dict, sent: dict) -> dict:
    counts: Counter = Counter()
    for unit, periods in months.items():
        for period in periods:
            first = months_before(period, WINDOW)
            window = [p for p in periods if first <= p < period]
            earlier = [p for p in periods if p < period]
            for (key, measure), value in sent[(unit, period)].items():
                if value is None:
                    continue
                counts[("values sent", measure)] += 1
                if measure in ("beneficiaries", "events", "volunteers"):
                    # As it ran: the key's earlier rows only (no zeros for months without the key), all history.
                    rows = [sent[(unit, p)][(key, measure)] for p in earlier if (key, measure) in sent[(unit, p)]]
                    if len(rows) >= MIN_MONTHS and mean_sd_rule(value, rows):
                        counts[("old rule as it ran", measure)] += 1
                if measure == "volunteers":
                    continue  # the contract's rule judges events, person-times, persons_ytd and cash spent
                series = [sent[(unit, p)].get((key, measure), Decimal(0)) for p in window]
                series = [v for v in series if v is not None]
                if len(series) < MIN_MONTHS:
                    continue
                zero_heavy = 2 * sum(v == 0 for v in series) >= len(series)
                old = mean_sd_rule(value, series)
                new, mad_zero = new_rule(value, series)
                for label, hit in (("judged (at least 6 months)", True), ("mean ± 3 SD over the series", old),
                                   ("modified z-score (contract v3)", new), ("flagged by both", old and new),
                                   ("old only: gone", old and not new), ("new only", new and not old)):
                    if hit:
                        counts[(label, "all")] += 1
                        counts[(label, measure)] += 1
                        counts[(label, "on zero-heavy series")] += zero_heavy
                counts[("modified z-score (contract v3)", "judged on a zero MAD")] += new and mad_zero
    return counts


def steady_keys() -> None:
    """What if: each unit's activity keys and funds ledger are drawn once, not once a month, so a key recurs
    every month as a federation's monthly statistics do (the activity values still vary month by month)."""
    from halfsky_dev.sample import content

    monthly = content.ReportContent._rng

    def _rng(self, form: str):
        return content.rng_for(self.seed, self.prefecture, self.version, form) if form == "plan" else monthly(self, form)

    content.ReportContent._rng = _rng


def main(argv: list[str] | None = None) -> int:
    from halfsky.orchestration import pipeline
    from halfsky_dev.local_postgres import drop_database, ensure_database
    from halfsky_dev.sample.__main__ import _default_as_of, main as generate
    from halfsky_dev.sample.generator import periods_from

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prefectures", type=int, default=19)
    p.add_argument("--months", type=int, default=18)
    p.add_argument("--rows", type=int, default=40)
    p.add_argument("--first-period", default="2026-07")
    p.add_argument("--work", type=Path, help="where the tree goes (default: a temporary directory)")
    p.add_argument("--steady-keys", action="store_true", help="what if the generator drew each unit's keys once, not every month")
    args = p.parse_args(argv)
    if args.steady_keys:
        steady_keys()
    work = args.work or Path(tempfile.mkdtemp(prefix="halfsky-outliers-"))
    root = work / "landing"
    assert generate([str(root), "--force", "--prefectures", str(args.prefectures), "--months", str(args.months),
                     "--rows", str(args.rows), "--first-period", args.first_period, "--prior-year",
                     "--truth", str(work / "truth.json")]) == 0
    as_of = _default_as_of(periods_from(args.first_period, args.months)[-1])
    admin = os.environ["HALFSKY_ADMIN_DSN"]
    name = f"halfsky_bench_outliers_{uuid.uuid4().hex[:8]}"
    dsn = ensure_database(admin, name)
    try:
        pipeline.prepare_warehouse(dsn)
        timing = ingest(dsn, root, work / "quarantine", as_of)
        months, sent, stored = read_history(dsn)
    finally:
        drop_database(admin, name)
    drops = sum(len(p) for p in months.values())
    print(f"{args.prefectures} units, {drops} accepted monthly drops ({args.rows} rows a form) ingested in "
          f"{timing['seconds']:.1f} s; history warnings {timing['history']:.1f} s "
          f"({timing['history'] / drops:.3f} s a drop), of which the outlier check {timing['outliers']:.1f} s "
          f"({timing['outliers'] / drops:.3f} s a drop); load {timing['load']:.1f} s")
    print(f"min_max_outlier stored by the pipeline, by field: {dict(sorted(stored.items())) or 'none'}")
    counts = compare(months, sent)
    parts = ("all", "on zero-heavy series", "judged on a zero MAD", "events", "beneficiaries", "volunteers",
             "persons_ytd", "cash_spent")
    for label in ("values sent", "old rule as it ran", "judged (at least 6 months)", "mean ± 3 SD over the series",
                  "modified z-score (contract v3)", "flagged by both", "old only: gone", "new only"):
        print(f"  {label}: " + ", ".join(f"{part} {counts[(label, part)]}" for part in parts if (label, part) in counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
