#!/usr/bin/env python3
"""Why one overlay flow retransmits: the sender's and receiver's TCP counters and the
member qdiscs' drops, for one flow over the overlay (bpf) and over MPTCP, same links.

An experiment for #14/#19 (loss or reordering?), not part of the suite:
  python3 bench/experiments/reorder_probe.py --rates 300,300 --burst 3kb --reps 2
"""

from __future__ import annotations

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from workloads import EXTRA_OPTIONS, iperf, log, setup_mptcp, setup_overlay, two_hosts  # noqa: E402

from lab.cluster import Lab  # noqa: E402

SENDER = ("TcpRetransSegs", "TcpExtTCPSACKReorder", "TcpExtTCPTSReorder", "TcpExtTCPDSACKRecv",
          "TcpExtTCPDSACKUndo", "TcpExtTCPLossUndo", "TcpExtTCPFastRetrans", "TcpExtTCPTimeouts",
          "TcpExtTCPLostRetransmit", "TcpExtTCPSpuriousRtxHostQueues")
RECEIVER = ("TcpExtTCPOFOQueue", "TcpExtTCPDSACKOldSent", "TcpExtTCPDSACKOfoSent")


def nstat(h) -> dict:
    out = h.run(["nstat", "-az"]).stdout
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)", out, re.M)}


def drops(h, n) -> int:
    total = 0
    for i in range(n):
        out = h.run(["tc", "-s", "qdisc", "show", "dev", f"eth{i}"]).stdout
        total += sum(int(x) for x in re.findall(r"dropped (\d+)", out))
    return total


def one(lab, a, b, n, dst, prefix, seconds):
    sa, sb, da = nstat(a), nstat(b), drops(a, n)
    data = iperf(lab, b, a, dst, seconds, (), prefix)
    ea, eb = nstat(a), nstat(b)
    rate = data.get("end", {}).get("sum_received", {}).get("bits_per_second", 0) / 1e6
    row = {k: ea.get(k, 0) - sa.get(k, 0) for k in SENDER}
    row.update({k: eb.get(k, 0) - sb.get(k, 0) for k in RECEIVER})
    row["qdisc_drops"] = drops(a, n) - da
    return rate, row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="300,300")
    ap.add_argument("--burst", default="3kb")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--overlay-option", action="append", default=[])
    ap.add_argument("--no-mptcp", action="store_true")
    ap.add_argument("--program", action="append", default=[],
                    help="a spread.bpf.o to compare (repeatable; each rep brings the overlay up with each)")
    ap.add_argument("--rps", default="", help="rps_cpus mask for every member NIC of both hosts")
    args = ap.parse_args()
    rates = [int(x) for x in args.rates.split(",")]
    EXTRA_OPTIONS.extend(args.overlay_option)
    with Lab("rp") as lab:
        a, b = two_hosts(lab, rates, args.burst)
        setup_mptcp(a, b, rates)
        setup_overlay(a, b, rates)
        for h in (a, b):
            for i in range(len(rates) if args.rps else 0):
                h.sh(f"echo {args.rps} > /sys/class/net/eth{i}/queues/rx-0/rps_cpus")
        kinds = [(f"overlay:{os.path.basename(os.path.dirname(p)) or p}", "198.19.255.20", (), p)
                 for p in args.program] or [("overlay", "198.19.255.20", (), None)]
        if not args.no_mptcp:
            kinds.append(("mptcp", "198.18.0.20", ("mptcpize", "run"), None))
        for rep in range(args.reps):
            for name, dst, prefix, program in kinds:
                if program:
                    os.environ["IFUPDOWN_AGG_BPF"] = program
                    for h in (a, b):
                        h.ifdown("tun0", check=False)
                        h.ifup("tun0")
                rate, row = one(lab, a, b, len(rates), dst, prefix, args.seconds)
                log(f"rep {rep + 1} {name:<12} {rate:7.1f} Mbit/s  "
                    + " ".join(f"{k.replace('TcpExt', '')}={v}" for k, v in row.items() if v))
        for h in (a, b):
            h.ifdown("tun0", check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
