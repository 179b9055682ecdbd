#!/usr/bin/python3
"""Failover recovery against agg-rto-min, interleaved in one run.

Each repetition runs a silent failure (and a carrier loss) of one of 4x200 whole
links for every value given, in turn, with bench/workloads.py's failover case
(overlay only; bench/run.py -w failover has MPTCP beside it). Prints one JSON
line per run and a summary: recovery to 95% of (N-1)/N and the seconds lost.

    python3 bench/rto_min.py --reps 4 none 50 20
    python3 bench/rto_min.py --reps 4 --load 2 none 100

--load N runs N busy loops beside it (each ends by itself within the run's
bound), for a machine whose CPU is contended, where ACKs come late. The
summary adds the sender's TCP timeouts and spurious RTOs per run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

import workloads as w


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("values", nargs="+", help="agg-rto-min values to compare (ms or none)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--failures", default="silent,carrier")
    ap.add_argument("--load", type=int, default=0, help="busy loops beside the runs (default 0)")
    args = ap.parse_args()
    args.failover_seconds = 12
    bound_s = 60 * args.reps * len(args.values) * len(args.failures.split(","))
    spin = "import time\nend = time.time() + %d\nwhile time.time() < end: pass\n" % bound_s
    loads = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(args.load)]
    try:
        runs = measure(args)
    finally:
        for proc in loads:
            proc.kill()
    summarise(args, runs)
    return 0


def measure(args) -> list:
    runs = []
    for rep in range(args.reps):
        for how in args.failures.split(","):
            for value in args.values:
                w.EXTRA_OPTIONS[:] = [f"agg-rto-min {value}"]
                row = w._one_failover(args, how, "overlay", rep)
                row["rto_min"] = value
                row["load"] = args.load
                print(json.dumps(row), flush=True)
                runs.append(row)
    return runs


def summarise(args, runs: list) -> None:
    for how in args.failures.split(","):
        for value in args.values:
            got = [r for r in runs if r["failure"] == how and r["rto_min"] == value]
            rec = sorted(r["recovery95_s"] for r in got if r["recovery95_s"] is not None)
            lost = sorted(r["lost_s"] for r in got if r["lost_s"] is not None)
            timeouts = [r.get("sender_tcp", {}).get("TcpExtTCPTimeouts") for r in got]
            spurious = [r.get("sender_tcp", {}).get("TcpExtTCPSpuriousRTOs") for r in got]
            print(f"{how:8} agg-rto-min {value:>5}: recovery {statistics.median(rec) if rec else None} s "
                  f"({rec}), lost {statistics.median(lost) if lost else None} s ({lost}), "
                  f"timeouts {timeouts}, spurious RTOs {spurious}")


if __name__ == "__main__":
    sys.exit(main())
