#!/usr/bin/env python3
"""Where the CPU goes: one iperf3 flow per competitor on one bench/datapath.py cell, with
`perf record -a` sampling the whole machine (cpu-clock) in the middle of the flow, then
one second of the timer:hrtimer_start tracepoint.

#14 asks why the overlay costs more CPU per bit than a plain TCP flow at the same rate.
This prints, per competitor, the hrtimers started per second by timer function, the
shares of a few groups of kernel functions (TCP, IP and routing, qdisc, veth, BPF, ...),
the functions with the most samples (self time) and, with --callers SYMBOL, the
commonest call chains into SYMBOL, so the competitors can be read side by side.

    python3 bench/experiments/profile_path.py --cell 2x300/serialised --seconds 12
    python3 bench/experiments/profile_path.py --competitor overlay-bpf \
        --overlay-option 'agg-gso-max-segs 2' --callers _raw_spin_unlock_irqrestore

Reading it: cpu-clock is a software timer, so a sample due while interrupts are off
lands where they come back on (_raw_spin_unlock_irqrestore): that symbol's callers say
which irq-off sections the time went to. perf itself costs CPU, so the CPU-s/Gbit
printed here is above bench/datapath.py's. Needs `perf` (Debian: linux-perf); it samples
the whole machine from the root namespace and changes nothing there. Not a test: it
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import datapath  # noqa: E402
from workloads import log, setup_mptcp, two_hosts  # noqa: E402

from lab.cluster import Lab  # noqa: E402

# Each group: substrings of kernel symbol names. A symbol counts in the first group it matches.
GROUPS = [("bpf", ("bpf", "cls_bpf", "tcx")),
          ("netfilter", ("nf_", "nft_", "ipt_", "conntrack")),
          ("qdisc", ("tbf", "qdisc", "pfifo", "fq_codel", "__dev_queue_xmit", "dev_hard_start")),
          ("gso/segment", ("gso", "segment", "skb_segment")),
          ("veth", ("veth",)),
          ("tun", ("tun_",)),
          ("tcp", ("tcp_", "__tcp")),
          ("ip/route/neigh", ("ip_", "fib", "neigh", "rt_", "dst_", "ip6_")),
          ("copy/csum", ("copy", "csum", "memcpy", "memmove")),
          ("skb alloc/free", ("kmem_cache", "kfree", "alloc_skb", "skb_release", "__slab", "slab",
                              "page_frag", "consume_skb")),
          ("locks", ("spin_lock", "spin_unlock", "_raw_")),
          ("idle", ("default_idle", "cpuidle", "acpi_idle", "poll_idle", "do_idle", "pv_native_safe_halt",
                    "native_safe_halt", "mwait"))]


def top_symbols(data: str) -> list:
    """[(percent of all samples, symbol)] by self time, from `perf report`."""
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "sym",
                          "-g", "none", "--percent-limit", "0.05"],
                         capture_output=True, text=True, check=False).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].endswith("%") and parts[1].startswith("["):
            rows.append((float(parts[0].rstrip("%")), " ".join(parts[2:])))
    return rows


def group_shares(rows) -> dict:
    shares = {name: 0.0 for name, _ in GROUPS}
    shares["other"] = 0.0
    for pct, sym in rows:
        for name, keys in GROUPS:
            if any(k in sym for k in keys):
                shares[name] += pct
                break
        else:
            shares["other"] += pct
    return shares


def callers(data: str, symbol: str, depth: int = 6, limit: int = 12) -> str:
    """The commonest call chains into symbol, its nearest depth callers each, with
    their share of all samples (from perf report's folded call graphs)."""
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "-S", symbol,
                          "-g", "folded,0,callee,function,percent", "--percent-limit", "0"],
                         capture_output=True, text=True, check=False).stdout
    chains: dict = {}
    for line in out.splitlines():
        parts = line.strip().split(" ", 1)
        if len(parts) == 2 and parts[0].endswith("%") and ";" in parts[1]:
            near = ";".join(parts[1].split(";")[:depth])
            chains[near] = chains.get(near, 0.0) + float(parts[0].rstrip("%"))
    rows = sorted(chains.items(), key=lambda kv: -kv[1])[:limit]
    return "\n".join(f"    {pct:5.2f}%  {chain}" for chain, pct in rows)


def timer_starts(data: str, sample: float, limit: int = 8) -> str:
    """hrtimer starts per second by timer function, from a timer:hrtimer_start recording."""
    out = subprocess.run(["perf", "script", "-i", data, "-F", "event,trace"],
                         capture_output=True, text=True, check=False).stdout
    count: dict = {}
    for line in out.splitlines():
        fn = next((t.split("=", 1)[1] for t in line.split() if t.startswith("function=")), None)
        if fn:
            count[fn] = count.get(fn, 0) + 1
    rows = sorted(count.items(), key=lambda kv: -kv[1])[:limit]
    return "hrtimer starts/s: " + ", ".join(f"{fn} {n / sample:.0f}" for fn, n in rows)


def profile(lab, a, b, kind, rates, seconds, sample, tmp, graph=False) -> tuple:
    data = os.path.join(tmp, f"{kind}.data")
    result: dict = {}

    def flow():
        result.update(datapath.measure(lab, a, b, kind, rates, seconds, False))

    t = threading.Thread(target=flow)
    t.start()
    t.join(min(3.0, seconds / 4))           # past slow start
    rec = subprocess.run(["perf", "record", "-a", "-q", "-o", data] + (["-g"] if graph else [])
                         + ["--", "sleep", str(sample)], capture_output=True, text=True, check=False,
                         timeout=sample + 30)
    if rec.returncode:
        log(f"  perf record failed: {rec.stderr.strip()[-200:]}")
    timers = data + ".timers"
    subprocess.run(["perf", "record", "-a", "-q", "-o", timers, "-e", "timer:hrtimer_start", "--",
                    "sleep", "1"], capture_output=True, check=False, timeout=30)
    t.join(seconds + 60)
    result["timers"] = timer_starts(timers, 1.0)
    return result, top_symbols(data), data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cell", default="2x300/serialised", choices=list(datapath.CELLS))
    ap.add_argument("--seconds", type=float, default=12)
    ap.add_argument("--sample", type=float, default=6, help="seconds of perf sampling per flow")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--competitor", action="append",
                    choices=["overlay-bpf", "overlay-bpf-unpaced", "overlay-nft", "mptcp", "single-link"])
    ap.add_argument("--callers", metavar="SYMBOL", help="record call graphs and print SYMBOL's callers")
    ap.add_argument("--overlay-option", action="append", default=[], metavar="'NAME VALUE'")
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("perf"):
        ap.error("needs root and perf (apt-get install linux-perf)")
    kinds = args.competitor or ["overlay-bpf", "mptcp", "single-link"]
    datapath.EXTRA.extend(args.overlay_option)
    rates, burst = datapath.CELLS[args.cell]
    log(f"== {args.cell}, {args.seconds:g} s flows, {args.sample:g} s sampled")
    with Lab("pp") as lab, tempfile.TemporaryDirectory() as tmp:
        a, b = two_hosts(lab, rates, burst)
        setup_mptcp(a, b, rates)
        current = None
        for kind in kinds:
            if kind.startswith("overlay-") and kind != current:
                datapath.use_spread((a, b), len(rates), kind, current is None)
                current = kind
            res, rows, data = profile(lab, a, b, kind, rates, args.seconds, args.sample, tmp,
                                      bool(args.callers))
            log(f"\n### {kind}: {res.get('fwd', 0):.0f} Mbit/s, {res.get('cpu_s_per_gbit') or 0:.2f} CPU-s/Gbit,"
                f" retr {res.get('retr')}")
            shares = group_shares(rows)
            log(res["timers"])
            log("groups: " + ", ".join(f"{k} {v:.1f}%" for k, v in shares.items()))
            for pct, sym in rows[:args.top]:
                log(f"  {pct:5.2f}%  {sym}")
            if args.callers:
                log(callers(data, args.callers))
        if current:
            for h in (a, b):
                h.ifdown("tun0", check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
