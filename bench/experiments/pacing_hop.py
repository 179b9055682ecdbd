#!/usr/bin/env python3
"""Experiment (#14/#19): one queue before the spreader, in a veth hop of ours.

Variants, brought up in turn on the sending host (a) of one lab, interleaved per rep:
  direct        the shipped spreader on the tun device's egress
  hop           tun egress -> veth (segments GSO in software) -> spreader at its peer's ingress
  hop-tbf       the same with a tbf at FRACTION x the links' sum on the veth: the one queue
  hop-eft-tbf   the same with the earliest-finish-time choice
  ...-gsoN      the tun device's GSO limit raised to N segments (TCP builds bigger packets)
  python3 bench/experiments/pacing_hop.py --rates 300,100 --reps 3
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from workloads import iperf, log, nstat, setup_overlay, two_hosts  # noqa: E402

from ifupdown_agg.kernel import bpf  # noqa: E402
from lab.cluster import Lab  # noqa: E402

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hop.bpf.c")
SENDER = ("TcpRetransSegs", "TcpExtTCPSACKReorder", "TcpExtTCPDSACKRecv")


def build(ifindex: int, eft: bool) -> str:
    out = f"/tmp/ifagg-hop-{ifindex}-{int(eft)}.o"
    subprocess.run(["clang", "-O2", "-g", "-Wall", "-target", "bpfel", "-I/usr/include/x86_64-linux-gnu",
                    f"-DHOP_IFINDEX={ifindex}"] + (["-DEFT"] if eft else []) + ["-c", SRC, "-o", out],
                   check=True)
    return out


def ifindex(h, dev: str) -> int:
    return int(h.run(["cat", f"/sys/class/net/{dev}/ifindex"]).stdout)


def tc_prog(h, dev: str, where: str) -> int:
    out = h.run(["tc", "filter", "show", "dev", dev, where]).stdout
    return int(re.search(r" id (\d+)", out).group(1))


def use(h, variant: str, total_mbit: int, fraction: float) -> None:
    gso = re.search(r"-gso(\d+)", variant)
    if gso:
        h.run(["ip", "link", "set", "tun0", "gso_max_segs", gso.group(1)])
    if not variant.startswith("hop"):
        return
    old = bpf.Maps(tc_prog(h, "tun0", "egress"))
    for _ in range(100):        # the monitor puts the paths in once it hears the peer
        entries = [(k, old.peer(k)) for k in old.peer_keys()]
        if entries and all(all(p[2] for p in bpf.unpack_peer(v)[1]) for _, v in entries):
            break
        time.sleep(0.1)
    old.close()
    h.run(["ip", "link", "add", "aggx", "type", "veth", "peer", "name", "aggy"])
    for d in ("aggx", "aggy"):
        h.run(["ip", "link", "set", d, "up"])
    h.run(["ethtool", "-K", "aggx", "tso", "off", "gso", "off"])
    if "tbf" in variant:
        h.run(["tc", "qdisc", "replace", "dev", "aggx", "root", "tbf", "rate",
               f"{int(total_mbit * fraction)}mbit", "burst", "3kb", "latency", "20ms"])
    obj = build(ifindex(h, "aggx"), "eft" in variant)
    h.run(["tc", "qdisc", "add", "dev", "aggy", "clsact"])
    h.run(["tc", "filter", "add", "dev", "aggy", "ingress", "prio", "1", "bpf", "da", "obj", obj,
           "sec", "tc/spread"])
    new = bpf.Maps(tc_prog(h, "aggy", "ingress"))
    for k, v in entries:
        new.put_peer(k, v)
    new.close()
    h.run(["tc", "filter", "replace", "dev", "tun0", "egress", "prio", "173", "handle", "1", "bpf",
           "da", "obj", obj, "sec", "tc/hop"])


def reset(a, b) -> None:
    for h in (a, b):
        h.run(["ip", "link", "del", "aggx"], check=False)
    for h in (a, b):
        h.ifdown("tun0", check=False)
        h.ifup("tun0")


def busy() -> float:
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="300,100")
    ap.add_argument("--burst", default="3kb")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--fraction", type=float, default=0.97)
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--bidir", action="store_true")
    args = ap.parse_args()
    rates = [int(x) for x in args.rates.split(",")]
    variants = args.variant or ["direct", "hop", "hop-tbf", "hop-eft-tbf"]
    with Lab("ph") as lab:
        a, b = two_hosts(lab, rates, args.burst)
        setup_overlay(a, b, rates)
        for rep in range(args.reps):
            for v in variants:
                reset(a, b)
                use(a, v, sum(rates), args.fraction)
                if args.bidir:
                    use(b, v, sum(rates), args.fraction)
                s, t0 = nstat(a), busy()
                try:
                    data = iperf(lab, b, a, "198.19.255.20", args.seconds, ["--bidir"] if args.bidir else ())
                except subprocess.TimeoutExpired:
                    data = {}
                e, cpu = nstat(a), busy() - t0
                end = data.get("end", {})
                fwd = end.get("sum_received", {}).get("bits_per_second", 0) / 1e6
                rev = end.get("sum_received_bidir_reverse", {}).get("bits_per_second", 0) / 1e6
                gbit = (fwd + rev) * args.seconds / 1e3
                log(f"rep {rep + 1} {v:<16} {fwd:7.1f}/{rev:6.1f} Mbit/s cpu {cpu / gbit if gbit else 0:5.2f} s/Gbit "
                    + " ".join(f"{k.replace('TcpExt', '')}={e.get(k, 0) - s.get(k, 0)}" for k in SENDER))
        for h in (a, b):
            h.run(["ip", "link", "del", "aggx"], check=False)
            h.ifdown("tun0", check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
