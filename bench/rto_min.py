#!/usr/bin/python3
"""Failover recovery against agg-rto-min, interleaved in one run.

Each repetition runs a silent failure (and a carrier loss) of one of 4x200 whole
links for every value given, in turn, with bench/workloads.py's failover case
(overlay only; bench/run.py -w failover has MPTCP beside it). Prints one JSON
line per run and a summary: recovery to 95% of (N-1)/N and the seconds lost.

    python3 bench/rto_min.py --reps 4 none 50 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import workloads as w


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("values", nargs="+", help="agg-rto-min values to compare (ms or none)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--failures", default="silent,carrier")
    args = ap.parse_args()
    args.failover_seconds = 12
    runs = []
    for rep in range(args.reps):
        for how in args.failures.split(","):
            for value in args.values:
                w.EXTRA_OPTIONS[:] = [f"agg-rto-min {value}"]
                row = w._one_failover(args, how, "overlay", rep)
                row["rto_min"] = value
                print(json.dumps(row), flush=True)
                runs.append(row)
    for how in args.failures.split(","):
        for value in args.values:
            got = [r for r in runs if r["failure"] == how and r["rto_min"] == value]
            rec = sorted(r["recovery95_s"] for r in got if r["recovery95_s"] is not None)
            lost = sorted(r["lost_s"] for r in got if r["lost_s"] is not None)
            print(f"{how:8} agg-rto-min {value:>5}: recovery {statistics.median(rec) if rec else None} s "
                  f"({rec}), lost {statistics.median(lost) if lost else None} s ({lost})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
