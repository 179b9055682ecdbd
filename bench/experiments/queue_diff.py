#!/usr/bin/env python3
"""How far apart the member NICs' real queues drift under one overlay flow (#14).

Two hosts over 2 x RATE serialised links (tbf burst 3kb), the overlay by real ifup
with its defaults. While one iperf3 flow runs, a sampler inside the sender's
namespace reads both root qdiscs' backlogs about every millisecond (one netlink
dump each, kernel/qdisc_dump.py) and reports the difference between the two as time
at the link's rate: the extra delay one path has over the other, which the
receiver sees as reordering. --anchor-ms N also sets each queue meter's virtual
queue (the BPF spreader's `meters` map) to the real backlog every N ms, to see
whether meters that follow the real queues cut the reordering.

    # python3 bench/experiments/queue_diff.py --rate 500
    # python3 bench/experiments/queue_diff.py --rate 500 --anchor-ms 1

Not a test: nothing here asserts. Everything runs in namespaces it removes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))          # bench/: workloads, datapath
from workloads import iperf, two_hosts  # noqa: E402  (also puts the repo on sys.path)
from datapath import use_spread  # noqa: E402

from lab.cluster import Lab  # noqa: E402

NICS = ("eth0", "eth1")
BPF_F_LOCK = 4
MAX_SAMPLES = 20000


def sample(seconds: float, out: str) -> None:
    """In the sender's namespace: (time, backlog of each NIC) about every ms."""
    from ifupdown_agg.kernel.qdisc_dump import QdiscDump
    idx = [socket.if_nametoindex(n) for n in NICS]
    dump, rows, end = QdiscDump(), [], time.monotonic() + seconds
    while time.monotonic() < end and len(rows) < MAX_SAMPLES:
        stats = dump.root_stats(idx)
        rows.append([stats[i].backlog if stats.get(i) else None for i in idx])
        time.sleep(0.001)
    with open(out, "w") as fh:
        json.dump(rows, fh)


def anchor(period_ms: float, seconds: float) -> None:
    """In the sender's namespace: each meter's queue set to the qdisc's real backlog."""
    from ifupdown_agg.kernel import bpf as kbpf
    from ifupdown_agg.kernel.bpf_maps import Maps
    from ifupdown_agg.kernel.meters import _METER as METER    # struct meter's layout
    from ifupdown_agg.kernel.qdisc_dump import QdiscDump
    maps, dump = Maps(kbpf.prog_id("tun0")), QdiscDump()
    idx = [socket.if_nametoindex(n) for n in NICS]
    end = time.monotonic() + seconds
    for _ in range(int(seconds * 1000 / period_ms) + 1):
        if time.monotonic() >= end:
            break
        stats, now = dump.root_stats(idx), time.monotonic_ns()
        for i in idx:
            value = maps.meter(i)
            if value is None or not stats.get(i) or stats[i].backlog is None:
                continue
            _, ps_per_byte, _, slack, _ = METER.unpack_from(value)
            new = METER.pack(0, ps_per_byte, now + stats[i].backlog * ps_per_byte // 1000, slack, 0)
            maps.put_meter(i, new, BPF_F_LOCK)
        time.sleep(period_ms / 1000)


def summary(rows, rate: int) -> str:
    pairs = [r for r in rows if None not in r]
    if not pairs:
        return "no samples"
    diffs = sorted(abs(x - y) for x, y in pairs)
    us = [d * 8 / rate for d in diffs]      # bytes at rate Mbit/s -> us
    return (f"samples {len(pairs)}, both queues median {statistics.median(sum(p) for p in pairs):.0f} B, "
            f"difference median {statistics.median(us):.0f} us, p90 {us[int(0.9 * len(us))]:.0f}, "
            f"max {us[-1]:.0f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=500, help="Mbit/s of each of the two links")
    ap.add_argument("--anchor-ms", type=float, help="set the meters to the real backlogs this often")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--sample", nargs=2, metavar=("SECONDS", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--anchor", nargs=2, type=float, metavar=("MS", "SECONDS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.sample:
        return sample(float(args.sample[0]), args.sample[1]) or 0
    if args.anchor:
        return anchor(*args.anchor) or 0
    if os.geteuid() != 0:
        ap.error("needs root (it creates network namespaces)")
    me = [sys.executable, os.path.abspath(__file__)]
    with Lab("qd") as lab:
        a, b = two_hosts(lab, [args.rate, args.rate], "3kb")
        use_spread((a, b), 2, "overlay-bpf", True)
        for rep in range(args.reps):
            out = os.path.join(a.dir, f"samples{rep}.json")
            helpers = [lab.spawn(a, me + ["--sample", str(args.seconds - 1), out])]
            if args.anchor_ms:
                helpers.append(lab.spawn(a, me + ["--anchor", str(args.anchor_ms), str(args.seconds)]))
            a.run(["nstat", "-n"])
            data = iperf(lab, b, a, "198.19.255.20", args.seconds)
            for h in helpers:
                h.wait(timeout=args.seconds + 30)
            counters = a.run(["nstat", "-z", "TcpExtTCPSACKReorder", "TcpExtTCPDSACKRecv"]).stdout.split()
            with open(out) as fh:
                rows = json.load(fh)
            end = data.get("end", {})
            print(f"rep {rep + 1}: {end.get('sum_received', {}).get('bits_per_second', 0) / 1e6:.0f} Mbit/s, "
                  f"retransmits {end.get('sum_sent', {}).get('retransmits')}, "
                  f"SACK reorder {counters[counters.index('TcpExtTCPSACKReorder') + 1]}, "
                  f"D-SACKs {counters[counters.index('TcpExtTCPDSACKRecv') + 1]}; {summary(rows, args.rate)}",
                  flush=True)
        for h in (a, b):
            h.ifdown("tun0", check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
