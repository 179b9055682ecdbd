#!/usr/bin/env python3
"""Benchmarks of the overlay against MPTCP, ECMP and the best single link.

Every case runs in network namespaces joined by tbf-shaped veth links (see
lab/cluster.py); every competitor is measured in the same run, and each
case is repeated (--reps, default 3) and reported as median and range. Results
go to bench/results/<UTC time>/ (results.md, results.png, raw.json) and
bench/results/latest.md, with the machine, the kernel, the commit and the
command. Not a test: nothing here asserts anything; the tables state each
result against its target.

workloads:
  single     one TCP flow, every link set, both shapings
  parallel   four TCP flows, every link set, both shapings
  udp        UDP offered at 90% of the links' sum: delivered rate, loss, reordering
  failover   a 20 s flow; one link dies at 5 s (carrier down, then silently)
  apply      ifup/ifdown of 64 hosts x 4 tables against a fork-per-command script,
             and growth with 8, 32, 64, 256 hosts
  cpu        sender and receiver CPU per Gbit/s, overlay vs plain routing, unshaped
  cross      3x200 serialised; a plain TCP flow, then UDP at half a link's rate, on link 0
             directly while one flow goes over the overlay (and MPTCP): each against its due
  changing   the same, the TCP flow on link 0 switching on/off every 5 s for 60 s; the
             overlay's rate every 100 ms: time to re-adapt after each switch, mean vs ideal

link sets: 4x200, 2x500, 100+224 (a Pi 3B's onboard port plus a USB gigabit
adapter on its shared bus), 100+250+250 (a scaled 1G plus 2x2.5G), in Mbit/s.
shapings: whole (tbf burst 64kb passes a GSO packet whole) and serialised
(burst 4500 bytes cuts bigger GSO packets into frames sent one by one, as a real NIC
does; it holds a 2-segment packet and a frame more, see workloads.SHAPINGS).

examples:
  # python3 bench/run.py                       everything (about 25 minutes)
  # python3 bench/run.py --quick               1 repetition, 3 s flows, 4x200 only
  # python3 bench/run.py -w single -l 100+224 -s serialised
  # nice -n 10 python3 bench/run.py -w cross -w changing --no-latest --spread bpf
                                                  issue #19's workloads, one spreading design
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time

from crosstraffic import run_changing, run_cross
from report import plot, report
from workloads import (EXTRA_OPTIONS, HERE, LINKSETS, REPO, SHAPINGS, WORKLOADS, run_apply, run_cpu,
                       run_failover, run_tcp, run_udp)


def parse_args():
    ap = argparse.ArgumentParser(prog="bench/run.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-w", "--workload", action="append", choices=WORKLOADS,
                    help="run only this workload (repeatable; default: all)")
    ap.add_argument("-l", "--linkset", action="append", choices=list(LINKSETS), dest="linksets")
    ap.add_argument("-s", "--shaping", action="append", choices=list(SHAPINGS), dest="shapings")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per case (default: %(default)s)")
    ap.add_argument("--seconds", type=float, default=5, help="length of a flow (default: %(default)s)")
    ap.add_argument("--failover-seconds", type=int, default=20)
    ap.add_argument("--apply-reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="1 repetition, 3 s flows, 4x200 only")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--overlay-option", action="append", default=[], metavar="'NAME VALUE'",
                    help="extra stanza option for the overlay, e.g. 'agg-gso-max-segs 4' (repeatable)")
    ap.add_argument("--spread", choices=("nft", "bpf", "auto"),
                    help="the overlay's agg-spread (default: the stanza's default)")
    ap.add_argument("--design", help="a label for the cross/changing tables "
                    "(default: agg-spread and the --overlay-option values)")
    ap.add_argument("--changing-seconds", type=int, default=60)
    ap.add_argument("--no-latest", action="store_true",
                    help="leave results/latest.md alone (a partial run)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("needs root (it creates network namespaces)")
    missing = [t for t in ("iperf3", "mptcpize", "ifup", "nft") if not shutil.which(t)]
    if missing:
        ap.error(f"missing {', '.join(missing)}: apt install iperf3 mptcpize ifupdown nftables")
    if args.quick:
        args.reps, args.seconds, args.apply_reps = 1, 3, 3
        args.linksets = args.linksets or ["4x200"]
    args.linksets = args.linksets or list(LINKSETS)
    if args.spread:
        args.overlay_option.append(f"agg-spread {args.spread}")
    args.design = args.design or ", ".join(args.overlay_option) or "agg-spread default"
    args.shapings = args.shapings or list(SHAPINGS)
    return args


def _load() -> str:
    with open("/proc/loadavg") as fh:
        return fh.read().split()[0]


def _meta(args, commit: str, dirty: str, started: float, when) -> dict:
    cpu_model = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                      if ln.startswith("model name")), platform.processor())
    mem = next(ln.split()[1] for ln in open("/proc/meminfo") if ln.startswith("MemTotal"))
    return {"when": when.strftime("%Y-%m-%d %H:%M UTC"), "commit": commit + (" (dirty)" if dirty else ""),
            "command": "python3 bench/run.py " + " ".join(sys.argv[1:]),
            "machine": f"{os.cpu_count()} cores, {cpu_model}, {int(mem) // 1024 // 1024} GiB",
            "kernel": platform.release(), "reps": args.reps, "seconds": args.seconds,
            "load": f"{args.load_start} at the start, {_load()} at the end",
            "duration_s": round(time.monotonic() - started)}


def _write(args, results: dict, meta: dict, when) -> None:
    outdir = os.path.join(args.out, when.strftime("%Y%m%dT%H%M%SZ"))
    os.makedirs(outdir)
    text = report(results, meta)
    with open(os.path.join(outdir, "results.md"), "w") as fh:
        fh.write(text)
    if not args.no_latest:
        with open(os.path.join(args.out, "latest.md"), "w") as fh:
            fh.write(text.replace("](", f"]({os.path.basename(outdir)}/"))
    with open(os.path.join(outdir, "raw.json"), "w") as fh:
        json.dump({"meta": meta, "results": results}, fh, indent=1)
    plot(results, os.path.join(outdir, "results.png"))
    print(text)
    print(f"written to {outdir}")


def main() -> int:
    args = parse_args()
    workloads = args.workload or WORKLOADS
    EXTRA_OPTIONS.extend(args.overlay_option)

    # The code measured is the code at the start (the hooks load it at every ifup).
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    results = {}
    started = time.monotonic()
    args.load_start = _load()
    runners = {"single": lambda: run_tcp(args, 1), "parallel": lambda: run_tcp(args, 4),
               "udp": lambda: run_udp(args), "failover": lambda: run_failover(args),
               "apply": lambda: run_apply(args), "cpu": lambda: run_cpu(args),
               "cross": lambda: run_cross(args), "changing": lambda: run_changing(args)}
    for w in workloads:
        results[w] = runners[w]()
    when = datetime.datetime.utcnow()
    _write(args, results, _meta(args, commit, dirty, started, when), when)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
