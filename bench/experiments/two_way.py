#!/usr/bin/env python3
"""Both directions at once, by one iperf3 process (`--bidir`) or by two (one client on
each host): is bench/datapath.py's bidir figure the data path's, or iperf3's?

iperf3 3.12 (Debian 12) runs every stream of a process in one thread, so with --bidir one
thread on each host sends one direction and receives the other. Where each segment costs
the stack a pass (the overlay's GSO cap of 1 below 500 Mbit/s), that thread may be what
binds. NFS reads and writes, or two pods, do not share one thread. Here each competitor
runs both ways, interleaved: `bidir` (one process) then `two` (two processes, started
together), on one cell of bench/datapath.py.

    python3 bench/experiments/two_way.py --cell 2x300/serialised --reps 2

Not a test: it asserts nothing, and it prints its rows as it goes. Its two-process run
is bench/datapath.py's (`measure_two`); `datapath.py --two-way` adds it to every cell.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import datapath  # noqa: E402
from workloads import log, setup_mptcp, two_hosts  # noqa: E402

from lab.cluster import Lab  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cell", default="2x300/serialised", choices=list(datapath.CELLS))
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--competitor", action="append", choices=["overlay-bpf", "mptcp", "single-link"])
    args = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("needs root (it creates network namespaces)")
    kinds = args.competitor or ["overlay-bpf", "mptcp", "single-link"]
    rates, burst = datapath.CELLS[args.cell]
    log(f"== {args.cell}")
    with Lab("tw") as lab:
        a, b = two_hosts(lab, rates, burst)
        setup_mptcp(a, b, rates)
        datapath.back_subflows(b, rates)
        datapath.use_spread((a, b), len(rates), "overlay-bpf", True)
        for rep in range(args.reps):
            for kind in kinds:
                one = datapath.measure(lab, a, b, kind, rates, args.seconds, True)
                log(f"  rep {rep + 1} {kind:<12} bidir {one['fwd']:7.1f}/{one['rev']:7.1f} Mbit/s"
                    f"  cpu {one['cpu_s_per_gbit'] or 0:.2f} s/Gbit")
                two = datapath.measure_two(lab, a, b, kind, rates, args.seconds)
                log(f"  rep {rep + 1} {kind:<12} two   {two['fwd']:7.1f}/{two['rev']:7.1f} Mbit/s"
                    f"  cpu {two['cpu_s_per_gbit'] or 0:.2f} s/Gbit")
        for h in (a, b):
            h.ifdown("tun0", check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
