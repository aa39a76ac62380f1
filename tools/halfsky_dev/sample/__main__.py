"""python -m halfsky_dev.sample: write a landing tree of sample drops and its truth file.

Monthly drops for every prefecture and month (and, with --prior-year, the same
months a year earlier), annual drops for every year the months touch (the plan
in January; the year-end resend with sites and grassroots coverage once the year is over), optionally
resubmissions, duplicates, one drop per warning the pipeline computes, and one
rejected drop per error rule. The truth file says what the pipeline and the
marts must make of them (see halfsky_dev.sample.generator).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import datetime, time as dtime
from pathlib import Path

from halfsky.contract.periods import SHANGHAI, is_month, next_period
from halfsky.contract.reference.code_lists import reference_data
from halfsky_dev.sample.content import INJECTIONS
from halfsky_dev.sample.generator import INVALID_KINDS, PREFECTURE_ORDER, Generator, periods_from, year_earlier


def _default_as_of(last_period: str) -> datetime:
    """The 21st of the month after the last period: every on-time and late drop has arrived."""
    nxt = next_period(last_period)
    return datetime.combine(datetime.strptime(nxt + "-21", "%Y-%m-%d").date(), dtime(0, 0), SHANGHAI)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m halfsky_dev.sample",
        description="Write sample drops <out>/<prefecture>/<YYYY-MM>/<drop> (monthly: activity, funds, beneficiaries) and "
        "<out>/<prefecture>/<YYYY>/<drop> (annual: targets and population in the January plan; targets, population, "
        "sites and grassroots in the year-end resend, for years over before --as-of) in all three formats, with programs, "
        "amounts, groups, site counts and township and village coverage from the seed documents, and a truth file of what they hold. Valid drops draw no "
        "warning unless --with-warnings asks for one.",
    )
    p.add_argument("out", type=Path, help="landing root to write (created; must be empty unless --force)")
    p.add_argument("--prefectures", type=int, default=6, help="how many reporting units (default 6)")
    p.add_argument("--months", type=int, default=3, help="how many consecutive periods (default 3)")
    p.add_argument("--prior-year", action="store_true",
                   help="also write the same months one year earlier (with their annual drops), for year-over-year figures")
    p.add_argument("--no-annual", action="store_true", help="write no annual drops (targets, population, sites, grassroots)")
    p.add_argument("--first-period", default="2026-07", help="first period, YYYY-MM (default 2026-07)")
    p.add_argument("--rows", type=int, default=40, help="rows per form per monthly drop (default 40; activity is capped by its unique key, funds "
                        "may take a few more to balance every program's money; annual forms have rows per county)")
    p.add_argument("--dirty", action="store_true",
                   help="use the messy but valid cell forms: GB18030, Chinese headers and sheet names, 万 and each field's own "
                        "unit (120人次, 3场, 50个, 2.76万人次, 12.3万元), full-width digits, Chinese dates, 是/否 flags")
    p.add_argument("--invalid", default="",
                   help=f"comma-separated invalid drops to add, or 'all': {', '.join(INVALID_KINDS)}")
    p.add_argument("--resubmissions", type=int, default=0, help="prefecture-periods that also get a corrected second drop")
    p.add_argument("--duplicates", type=int, default=0, help="drops re-sent with identical bytes under a new name")
    p.add_argument("--with-warnings", action="store_true",
                   help="make valid drops draw one warning each, in slots with no resubmission or duplicate (as many as "
                        f"fit, in this order): {', '.join(INJECTIONS)}")
    p.add_argument("--seed", type=int, default=2026, help="everything written follows from it (default 2026)")
    p.add_argument("--as-of", help="ISO date-time the run will judge 'future' against (default: 21st after the last period)")
    p.add_argument("--truth", type=Path, help="where to write the truth JSON (default: <out>.truth.json)")
    p.add_argument("--force", action="store_true", help="delete <out> first")
    args = p.parse_args(argv)
    if not is_month(args.first_period):
        p.error("--first-period must be YYYY-MM")
    kinds = list(INVALID_KINDS) if args.invalid == "all" else [k for k in args.invalid.split(",") if k]
    unknown = set(kinds) - set(INVALID_KINDS)
    if unknown:
        p.error(f"unknown invalid kinds: {', '.join(sorted(unknown))}")
    args.invalid_kinds = kinds
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    if args.out.exists() and any(args.out.iterdir()):
        if not args.force:
            print(f"{args.out} is not empty; pass --force to replace it", file=sys.stderr)
            return 2
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    periods = periods_from(args.first_period, args.months)
    if args.prior_year:
        periods = sorted(set(periods) | {year_earlier(p) for p in periods})
    units = reference_data().units
    ordered = [c for c in PREFECTURE_ORDER if c in units] + sorted(set(units) - set(PREFECTURE_ORDER))
    prefectures = [c for c in ordered if all(units[c].expected_in(p) for p in periods)][: args.prefectures]
    as_of = datetime.fromisoformat(args.as_of).replace(tzinfo=SHANGHAI) if args.as_of else _default_as_of(periods[-1])
    gen = Generator(args.out, prefectures=prefectures, periods=periods, rows=args.rows, dirty=args.dirty,
                    seed=args.seed, as_of=as_of)
    gen.valid_drops(args.resubmissions, args.duplicates, args.with_warnings)
    if not args.no_annual:
        gen.annual_drops()
    gen.invalid_drops(args.invalid_kinds)
    parameters = {k: v for k, v in vars(args).items() if k not in ("out", "truth", "invalid", "force", "invalid_kinds")}
    parameters.update(prefecture_codes=prefectures, periods=periods, as_of=as_of.isoformat(), invalid=args.invalid_kinds)
    truth = gen.truth(parameters)
    truth_path = args.truth or args.out.with_name(args.out.name + ".truth.json")
    truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    statuses: dict[str, int] = {}
    for d in truth["drops"]:
        statuses[d["expected_status"]] = statuses.get(d["expected_status"], 0) + 1
    print(f"wrote {len(truth['drops'])} drops for {len(prefectures)} prefectures x {len(periods)} months (and their years) "
          f"to {args.out} in {time.perf_counter() - started:.1f}s; expected {statuses}; truth in {truth_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
