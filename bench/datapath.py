#!/usr/bin/env python3
"""The overlay's data path (issue #14): throughput and CPU per bit of the BPF spreader,
the nft marking, MPTCP and the best single link, one flow and both directions at once.

Every cell (link set x shaping) runs in its own pair of namespaces; in each repetition
every competitor runs once, interleaved, so they share the machine's noise. The overlay
is brought up by real ifup with the defaults (agg-weights and agg-gso-max-segs auto);
its two spreaders are switched in place (`agg-spread bpf|nft`, `ifagg up`). CPU is the
busy time of the whole machine (/proc/stat: everything but idle and iowait) per Gbit
delivered, both directions summed for --bidir. Not a test: nothing here asserts.

  # python3 bench/datapath.py                    every cell (~20 minutes)
  # python3 bench/datapath.py --cell 2x300/serialised --reps 1
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading

from workloads import GRO, HERE, REPO, SERIALISED as SER, WHOLE, iperf, log, setup_mptcp, two_hosts  # also puts REPO on sys.path

import verdicts

from lab.cluster import Lab  # noqa: E402

# (rates in Mbit/s; 0 = unshaped veth), shaping -> tbf burst
CELLS = {"2x300/whole": ([300, 300], WHOLE), "2x300/serialised": ([300, 300], SER),
         "2x500/serialised": ([500, 500], SER),
         "2x1000/whole": ([1000, 1000], WHOLE), "2x1000/serialised": ([1000, 1000], SER),
         "1000+100/whole": ([1000, 100], WHOLE), "1000+100/serialised": ([1000, 100], SER),
         "3x100/serialised": ([100, 100, 100], SER), "2x200/serialised": ([200, 200], SER),
         "4x100/serialised": ([100, 100, 100, 100], SER), "2xveth/unshaped": ([0, 0], WHOLE)}
COMPETITORS = ["overlay-bpf", "overlay-bpf-unpaced", "overlay-bpf-nometer", "overlay-nft", "mptcp",
               "single-link"]
# The overlay competitors' stanza lines: the defaults (bpf paces where it can), the bpf
# spreader straight from the overlay device (as before agg-pace), without its queue meters
# (as before agg-queue-meter), and the nft marking.
SPREAD_LINES = {"overlay-bpf": ["agg-spread bpf"],
                "overlay-bpf-unpaced": ["agg-spread bpf", "agg-pace off"],
                "overlay-bpf-nometer": ["agg-spread bpf", "agg-queue-meter off"],
                "overlay-nft": ["agg-spread nft"],
                "auto": []}     # every default as shipped (bench/pods.py)
EXTRA: list = []        # --overlay-option: extra stanza lines, for experiments
SYSCTLS: list = []      # --sysctl: KEY=VALUE set in both hosts' namespaces, for experiments
BURST: list = []        # --burst: one tbf burst for every shaped cell, for experiments
OVERLAY_DST = "198.19.255.20"


def busy_seconds() -> float:
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def stanza(me: int, n: int, kind: str) -> str:
    tables = " ".join(str(10000 + i) for i in range(n))
    rspec = " ".join(f"198.19.255.{h}:" + ":".join(f"198.18.{i}.{h}" for i in range(n))
                     for h in (10, 20))
    return (f"auto tun0\niface tun0 inet static\n    address 198.19.255.{me}\n"
            f"    netmask 255.255.255.255\n    fakenet 198.19.255.0/24\n"
            f"    table {tables}\n    rspec {rspec}\n"
            + "".join(f"    {o}\n" for o in SPREAD_LINES[kind] + EXTRA))


def use_spread(hosts, n: int, kind: str, first: bool) -> None:
    for h, me in zip(hosts, (10, 20)):
        h.write_interfaces(stanza(me, n, kind))
        if first:
            h.ifup("tun0")
        else:
            h.ifagg("up", "tun0")


def target(kind: str, rates):
    best = max(range(len(rates)), key=lambda i: rates[i] or 1)
    return {"mptcp": ("198.18.0.20", ("mptcpize", "run")),
            "single-link": (f"198.18.{best}.20", ())}.get(kind, (OVERLAY_DST, ()))


def measure(lab, a, b, kind, rates, seconds, bidir) -> dict:
    dst, prefix = target(kind, rates)
    return measure_to(lab, a, b, kind, dst, prefix, seconds, bidir)


def measure_to(lab, a, b, kind, dst, prefix, seconds, bidir=False) -> dict:
    """One iperf3 run a -> b (both ways with bidir) to dst, under prefix (mptcpize run):
    Mbit/s each way, retransmits, and the whole machine's busy CPU-s per Gbit delivered."""
    before = busy_seconds()
    data = iperf(lab, b, a, dst, seconds, ["--bidir"] if bidir else (), prefix)
    busy = busy_seconds() - before
    if "end" not in data:
        log(f"    {kind}: failed: {data.get('error', data)}")
        return {"fwd": 0.0, "rev": 0.0, "cpu_s_per_gbit": None, "retr": None}
    end = data["end"]
    fwd = end["sum_received"]["bits_per_second"] / 1e6
    rev = end.get("sum_received_bidir_reverse", {}).get("bits_per_second", 0) / 1e6
    gbit = (fwd + rev) * seconds / 1e3
    return {"fwd": fwd, "rev": rev, "retr": end["sum_sent"].get("retransmits"),
            "cpu_s_per_gbit": busy / gbit if gbit else None}


def back_target(kind: str, rates):
    """b's way to a, for the two-process mode: a's address on the same path."""
    dst, prefix = target(kind, rates)
    return dst.rsplit(".", 1)[0] + ".10", prefix


def back_subflows(b, rates) -> None:
    """b's own MPTCP subflow endpoints, for the two-process mode's client on b
    (workloads.setup_mptcp gives them to a only)."""
    for i in range(1, len(rates)):
        b.run(["ip", "mptcp", "endpoint", "add", f"198.18.{i}.20", "dev", f"eth{i}", "subflow"])


def measure_two(lab, a, b, kind, rates, seconds) -> dict:
    """Both ways at once by two iperf3 processes (a client on each host), started
    together: iperf3 3.12 runs a process's streams in one thread, so `--bidir` has one
    thread per host send one way and receive the other, which binds a path that costs
    the stack a pass per segment before the path does (results/20261207T1828Z-two-way.md)."""
    ways = {"fwd": (b, a) + target(kind, rates) + (5201,),
            "rev": (a, b) + back_target(kind, rates) + (5202,)}
    out: dict = {}

    def one(way):
        server, client, dst, prefix, port = ways[way]
        out[way] = iperf(lab, server, client, dst, seconds, (), prefix, port=port)

    before = busy_seconds()
    runs = [threading.Thread(target=one, args=(way,)) for way in ways]
    for t in runs:
        t.start()
    for t in runs:
        t.join(seconds + 60)
    busy = busy_seconds() - before
    ends = {w: out.get(w, {}).get("end") for w in ways}
    for w, end in ends.items():
        if end is None:
            log(f"    {kind}: {w} failed: {out.get(w, {}).get('error', out.get(w))}")
    rate = {w: end["sum_received"]["bits_per_second"] / 1e6 if end else 0.0 for w, end in ends.items()}
    gbit = (rate["fwd"] + rate["rev"]) * seconds / 1e3
    retr = [end["sum_sent"].get("retransmits") for end in ends.values() if end]
    return {"fwd": rate["fwd"], "rev": rate["rev"],
            "retr": sum(retr) if len(retr) == 2 and None not in retr else None,
            "cpu_s_per_gbit": busy / gbit if gbit else None}


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


# The modes: (both ways at once, iperf3 processes). "two" only with --two-way.
MODES = {"one": (False, 1), "bidir": (True, 1), "two": (True, 2)}
RUN_MODES = ["one", "bidir"]


def run_cell(name: str, reps: int, seconds: float) -> dict:
    rates, burst = CELLS[name]
    burst = BURST[0] if BURST and any(rates) else burst
    log(f"== {name}")
    rows = {(k, m): [] for k in COMPETITORS for m in RUN_MODES}
    with Lab("dp") as lab:
        a, b = two_hosts(lab, rates, burst)
        for h in (a, b):
            for kv in SYSCTLS:
                h.run(["sysctl", "-qw", kv])
        setup_mptcp(a, b, rates)
        if "two" in RUN_MODES:
            back_subflows(b, rates)
        current = None
        for rep in range(reps):
            for kind in COMPETITORS:
                if kind.startswith("overlay-") and kind != current:
                    use_spread((a, b), len(rates), kind, current is None)
                    current = kind
                for m in RUN_MODES:
                    r = (measure_two(lab, a, b, kind, rates, seconds) if m == "two"
                         else measure(lab, a, b, kind, rates, seconds, MODES[m][0]))
                    rows[(kind, m)].append(r)
                    log(f"  rep {rep + 1} {kind:<19} {m:<5} "
                        f"{r['fwd']:8.1f}/{r['rev']:7.1f} Mbit/s  "
                        f"cpu {r['cpu_s_per_gbit'] or 0:.2f} s/Gbit  retr {r['retr']}")
        for h in (a, b):
            h.ifdown("tun0", check=False)
    return {"cell": name, "rates": rates, "burst": burst,
            "results": [{"competitor": k, "bidir": MODES[m][0], "processes": MODES[m][1],
                         **{f: stats([r[f] for r in runs]) for f in ("fwd", "rev", "cpu_s_per_gbit", "retr")}}
                        for (k, m), runs in rows.items()]}


def _fmt(s, pct_of=None) -> str:
    if not s:
        return "-"
    text = f"{s['median']:.0f} ({s['min']:.0f}-{s['max']:.0f})"
    return text + (f" {s['median'] / pct_of:.0%}" if pct_of else "")


def _cpu(row) -> str:
    return f"{row['cpu_s_per_gbit']['median']:.2f}" if row["cpu_s_per_gbit"] else "0.00"


def render(cells, meta) -> str:
    out = [f"# Data path: BPF spreader, nft marking, MPTCP, single link ({meta['when']})", "",
           f"Command: `{meta['command']}`  ", f"Commit: {meta['commit']}  ",
           f"Machine: {meta['machine']}, kernel {meta['kernel']}  ",
           f"Receive offload (GRO) on the member NICs: {'on' if meta.get('gro') else 'off (veth default)'}  ",
           *([f"sysctl in both hosts: {' '.join(meta['sysctl'])}  "] if meta.get("sysctl") else []),
           *([f"tbf burst of every shaped link: {meta['burst']} (not the cell's)  "] if meta.get("burst") else []),
           *([f"Rendered again from its .json by `{meta['rendered']}`  "] if meta.get("rendered") else []),
           f"{meta['reps']} repetitions of {meta['seconds']} s per competitor and mode, "
           "interleaved; median (min-max); % of the links' sum; CPU = busy CPU-seconds of the "
           "whole machine per Gbit delivered (both directions summed for bidir). bidir is one "
           "iperf3 process per host (`--bidir`); two processes, where present, is a client on each "
           "host (`--two-way`).", ""]
    for cell in cells:
        total = sum(cell["rates"]) or None
        by = {(r["competitor"], verdicts.mode_of(r)): r for r in cell["results"]}
        two = any(m == "two" for _, m in by)
        out += [f"## {cell['cell']} (Mbit/s)", "",
                "| competitor | one flow | CPU s/Gbit | bidir forward | bidir reverse | CPU s/Gbit (bidir) |"
                + (" two processes forward | reverse | CPU s/Gbit (two) |" if two else ""),
                "|---|---|---|---|---|---|" + ("---|---|---|" if two else "")]
        for k in COMPETITORS:
            one, bd = by.get((k, "one")), by.get((k, "bidir"))
            if not (one and bd):
                continue
            row = f"| {k} | {_fmt(one['fwd'], total)} | {_cpu(one)} | {_fmt(bd['fwd'], total)} " \
                  f"| {_fmt(bd['rev'], total)} | {_cpu(bd)} |"
            tw = by.get((k, "two"))
            if two:
                row += (f" {_fmt(tw['fwd'], total)} | {_fmt(tw['rev'], total)} | {_cpu(tw)} |" if tw
                        else " - | - | - |")
            out.append(row)
        out.append("")
    return "\n".join(out + verdicts.render(cells))


def commit_label() -> str:
    """The checkout's short commit, "(dirty)" after it when tracked files differ."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True,
                              text=True).stdout.strip()
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + (" (dirty)" if dirty else "")


def write_result(out: str, when, name: str, text: str, meta: dict, cells: list) -> str:
    """results/<UTC stamp>-<name>.md and .json (the meta and the cells); prints the text."""
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, when.strftime("%Y%m%dT%H%M%SZ") + f"-{name}")
    with open(stem + ".md", "w") as fh:
        fh.write(text + "\n")
    with open(stem + ".json", "w") as fh:
        json.dump({"meta": meta, "cells": cells}, fh, indent=1)
    print(text)
    print(f"written to {stem}.md")
    return stem


def rerender(path: str) -> int:
    """An earlier run's .md from its .json, by today's renderer (its verdicts included)."""
    try:
        with open(path) as fh:
            data = json.load(fh)
        present = {r["competitor"] for c in data["cells"] for r in c["results"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"bench/datapath.py: {path}: not a datapath result ({e})", file=sys.stderr)
        return 2
    COMPETITORS[:] = [k for k in COMPETITORS if k in present]
    meta = {**data["meta"], "rendered": f"bench/datapath.py --render {os.path.basename(path)}"
                                        f" at {commit_label()}"}
    print(render(data["cells"], meta))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench/datapath.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cell", action="append", choices=list(CELLS), help="repeatable; default all")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--overlay-option", action="append", default=[], metavar="'NAME VALUE'",
                    help="an extra stanza option for the overlay (repeatable)")
    ap.add_argument("--competitor", action="append", choices=COMPETITORS,
                    help="run only these (repeatable; default all)")
    ap.add_argument("--gro", action="store_true",
                    help="receive offload on every member NIC, as real NAPI drivers have it")
    ap.add_argument("--sysctl", action="append", default=[], metavar="KEY=VALUE",
                    help="set in both hosts' namespaces before any competitor runs (repeatable), "
                         "e.g. net.ipv4.tcp_recovery=0")
    ap.add_argument("--burst", metavar="SIZE",
                    help=f"the tbf burst of every shaped link instead of its cell's ({WHOLE} whole, "
                         f"{SER} serialised), e.g. 3kb as before 2026-12-08: a 3 KB bucket barely "
                         "holds a 2-segment GSO packet, so each late shaper timer costs it rate")
    ap.add_argument("--two-way", action="store_true",
                    help="also both ways by two iperf3 processes, a client on each host (iperf3 3.12 "
                         "runs --bidir in one thread)")
    ap.add_argument("--render", metavar="RESULT.json",
                    help="print an earlier run's table again, with the verdicts, and exit")
    args = ap.parse_args()
    if args.render:
        return rerender(args.render)
    GRO["on"] = args.gro
    SYSCTLS.extend(args.sysctl)
    BURST.extend([args.burst] if args.burst else [])
    if args.two_way:
        RUN_MODES.append("two")
    EXTRA.extend(args.overlay_option)
    if args.competitor:
        COMPETITORS[:] = args.competitor
    if os.geteuid() != 0:
        ap.error("needs root (it creates network namespaces)")
    missing = [t for t in ("iperf3", "mptcpize", "ifup", "nft", "ethtool") if not shutil.which(t)]
    if missing:      # without mptcpize every MPTCP row would read 0 Mbit/s
        ap.error(f"missing {', '.join(missing)}: tools/deps bench (apt install iperf3 mptcpize "
                 "ifupdown nftables ethtool)")
    commit = commit_label()
    when = datetime.datetime.utcnow()
    cells = [run_cell(c, args.reps, args.seconds) for c in (args.cell or list(CELLS))]
    meta = {"when": when.strftime("%Y-%m-%d %H:%M UTC"), "commit": commit,
            "command": "python3 bench/datapath.py " + " ".join(sys.argv[1:]),
            "machine": f"{os.cpu_count()} cores", "kernel": os.uname().release,
            "reps": args.reps, "seconds": args.seconds, "gro": args.gro,
            "sysctl": args.sysctl, "two_way": args.two_way, "burst": args.burst}
    text = render(cells, meta)
    write_result(args.out, when, "datapath", text, meta, cells)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
