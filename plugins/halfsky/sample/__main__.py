"""python -m halfsky.sample: write a landing tree of sample drops and its truth file."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import datetime, time as dtime
from pathlib import Path

from halfsky.periods import SHANGHAI, is_period, next_period
from halfsky.reference.code_lists import reference_data
from halfsky.sample.generator import INVALID_KINDS, PREFECTURE_ORDER, Generator, periods_from


def _default_as_of(last_period: str) -> datetime:
    """The 21st of the month after the last period: every on-time and late drop has arrived."""
    nxt = next_period(last_period)
    return datetime.combine(datetime.strptime(nxt + "-21", "%Y-%m-%d").date(), dtime(0, 0), SHANGHAI)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m halfsky.sample",
        description="Write sample drops <out>/<prefecture>/<YYYY-MM>/<drop> in all three formats, "
        "with programs, amounts and groups from the seed documents, and a truth file of what they hold.",
    )
    p.add_argument("out", type=Path, help="landing root to write (created; must be empty unless --force)")
    p.add_argument("--prefectures", type=int, default=6, help="how many reporting units (default 6)")
    p.add_argument("--months", type=int, default=3, help="how many consecutive periods (default 3)")
    p.add_argument("--first-period", default="2026-07", help="first period, YYYY-MM (default 2026-07)")
    p.add_argument("--rows", type=int, default=40, help="rows per form per drop (activity is capped by its unique key)")
    p.add_argument("--dirty", action="store_true",
                   help="use the messy but valid cell forms: GB18030, Chinese headers, 万 units, full-width digits, Chinese dates")
    p.add_argument("--invalid", default="",
                   help=f"comma-separated invalid drops to add, or 'all': {', '.join(INVALID_KINDS)}")
    p.add_argument("--resubmissions", type=int, default=0, help="prefecture-periods that also get a corrected second drop")
    p.add_argument("--duplicates", type=int, default=0, help="drops re-sent with identical bytes under a new name")
    p.add_argument("--with-warnings", action="store_true", help="add a drop that pays one woman the same relief twice")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--as-of", help="ISO date-time the run will judge 'future' against (default: 21st after the last period)")
    p.add_argument("--truth", type=Path, help="where to write the truth JSON (default: <out>.truth.json)")
    p.add_argument("--force", action="store_true", help="delete <out> first")
    args = p.parse_args(argv)
    if not is_period(args.first_period):
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
    units = reference_data().units
    ordered = [c for c in PREFECTURE_ORDER if c in units] + sorted(set(units) - set(PREFECTURE_ORDER))
    prefectures = [c for c in ordered if all(units[c].expected_in(p) for p in periods)][: args.prefectures]
    as_of = datetime.fromisoformat(args.as_of).replace(tzinfo=SHANGHAI) if args.as_of else _default_as_of(periods[-1])
    gen = Generator(args.out, prefectures=prefectures, periods=periods, rows=args.rows, dirty=args.dirty,
                    seed=args.seed, as_of=as_of)
    gen.valid_drops(args.resubmissions, args.duplicates, args.with_warnings)
    gen.invalid_drops(args.invalid_kinds)
    parameters = {k: v for k, v in vars(args).items() if k not in ("out", "truth", "invalid", "force", "invalid_kinds")}
    parameters.update(prefecture_codes=prefectures, periods=periods, as_of=as_of.isoformat(), invalid=args.invalid_kinds)
    truth = gen.truth(parameters)
    truth_path = args.truth or args.out.with_name(args.out.name + ".truth.json")
    truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    statuses: dict[str, int] = {}
    for d in truth["drops"]:
        statuses[d["expected_status"]] = statuses.get(d["expected_status"], 0) + 1
    print(f"wrote {len(truth['drops'])} drops for {len(prefectures)} prefectures x {len(periods)} months "
          f"to {args.out} in {time.perf_counter() - started:.1f}s; expected {statuses}; truth in {truth_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
