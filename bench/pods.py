#!/usr/bin/env python3
"""Pod-to-pod traffic through a VXLAN tunnel over the overlay (issue #18), against a flow
on the overlay itself: same links, same run, interleaved.

On each of two hosts a pod namespace sits behind a bridge, routed through a VXLAN
device (VNI 1, UDP 8472) between the hosts' overlay addresses, as flannel sets it
up (lab/flannel.py). The overlay comes up by real ifup with its defaults. In each
repetition, in turn: one TCP flow on the overlay itself (its own route's
congestion control), and one pod-to-pod flow with the kernel's default congestion
control and with cubic, each once as shipped ("shipped": through the segmenting
hop on slow members, whole on fast ones, overlay/spread.py whole_gso), and, where
the hop is there, once through it ("hop", segmenting) and once with its entry
letting GSO packets pass whole ("whole": a tunnel's 64 KB burst leaves on one
link, through the hop's veth pass), and once with the VXLAN device's GSO capped
at 1 segment and nothing segmented below it ("vxcap", the alternative:
segmenting before encapsulation). Reports
Mbit/s, retransmits, whole-machine CPU s/Gbit, and conntrack INVALID packets
counted in both hosts' forward and input hooks. Not a test: nothing asserts.

  # python3 bench/pods.py                       3x200/serialised and 2x500/serialised
  # python3 bench/pods.py --cell 3x200/serialised --reps 1 --seconds 3
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
from typing import Optional

from workloads import GRO, HERE, SERIALISED as SER, iperf, log, two_hosts  # also puts the repo on sys.path
from datapath import busy_seconds, commit_label, stats, stanza, write_result

from lab import flannel  # noqa: E402
from lab.cluster import Lab  # noqa: E402
from ifupdown_agg.kernel.hop import names as hop_names  # noqa: E402

CELLS = {"3x200/serialised": ([200, 200, 200], SER), "3x100/serialised": ([100, 100, 100], SER),
         "2x500/serialised": ([500, 500], SER), "1000+100/serialised": ([1000, 100], SER)}
KINDS = ["overlay"] + [f"pod-{cc}-{mode}" for cc in ("default", "cubic")
                       for mode in ("shipped", "hop", "whole", "vxcap")]


def hop_mode(hosts, mode: str) -> bool:
    """Set the data path `mode` (the module's docstring) on both hosts; False when it
    needs a segmenting hop and the overlay made none (fast members)."""
    entry = hop_names("tun0")[0]
    for h in hosts:
        hop = entry in h.run(["ls", "/sys/class/net"]).stdout.split()
        if not hop and mode in ("hop", "whole"):
            return False
        if hop:
            h.run(["ip", "link", "set", entry, "gso_max_segs",
                   "1" if mode in ("shipped", "hop") else "65535"])
        h.run(["ip", "link", "set", "flannel.1", "gso_max_segs", "1" if mode == "vxcap" else "65535"])
    return True


def core_ticks() -> list:
    """(busy, total) clock ticks of every core, from /proc/stat."""
    with open("/proc/stat") as fh:
        rows = [line.split() for line in fh if line.startswith("cpu") and line[3].isdigit()]
    return [(sum(map(int, r[1:9])) - int(r[4]) - int(r[5]), sum(map(int, r[1:9]))) for r in rows]


def busiest_core(before: list, after: list) -> Optional[float]:
    """The busiest core's busy share between two core_ticks() (softirq counts: on veth
    the receive path runs on the sending core, so one flow's whole path can be bound
    by one core while the machine's total looks half idle)."""
    shares = [(b1 - b0) / (t1 - t0) for (b0, t0), (b1, t1) in zip(before, after) if t1 > t0]
    return max(shares) if shares else None


def measure(lab, hosts, pods, kind: str, seconds: float) -> Optional[dict]:
    """One flow of `kind`; None when this cell has no such data path."""
    a, b = hosts
    if kind == "overlay":
        client, server, dst, extra = a, b, "198.19.255.20", ()
    else:
        if not hop_mode(hosts, kind.rsplit("-", 1)[1]):
            return None
        client, server, dst = pods[0], pods[1], flannel.pod_ip(1)
        extra = ("-C", "cubic") if "-cubic-" in kind else ()
    before, inval = busy_seconds(), sum(flannel.invalid(h) for h in hosts)
    cores = core_ticks()
    try:
        data = iperf(lab, server, client, dst, seconds, extra)
    except subprocess.TimeoutExpired as err:      # a starved machine: count it as failed
        data = {"error": str(err)}
    busy, core = busy_seconds() - before, busiest_core(cores, core_ticks())
    inval = sum(flannel.invalid(h) for h in hosts) - inval
    if "end" not in data:
        log(f"    {kind}: failed: {data.get('error', data)}")
        return {"mbit": 0.0, "retr": None, "cpu": None, "core": None, "invalid": inval}
    mbit = data["end"]["sum_received"]["bits_per_second"] / 1e6
    gbit = mbit * seconds / 1e3
    return {"mbit": mbit, "retr": data["end"]["sum_sent"].get("retransmits"),
            "cpu": busy / gbit if gbit else None, "invalid": inval, "core": core,
            "cc": data["end"].get("sender_tcp_congestion")}


def run_cell(name: str, reps: int, seconds: float) -> dict:
    rates, burst = CELLS[name]
    log(f"== {name}")
    rows = {k: [] for k in KINDS}
    with Lab("pods") as lab:
        a, b = two_hosts(lab, rates, burst)
        for h, me in ((a, 10), (b, 20)):
            h.write_interfaces(stanza(me, len(rates), "auto"))
            h.ifup("tun0")
        pods = flannel.setup(lab, (a, b), ("198.19.255.10", "198.19.255.20"))
        for rep in range(reps):
            for kind in KINDS:
                r = measure(lab, (a, b), pods, kind, seconds)
                if r is None:
                    continue
                rows[kind].append(r)
                log(f"  rep {rep + 1} {kind:<18} {r['mbit']:7.1f} Mbit/s  retr {r['retr']}  "
                    f"cpu {r['cpu'] or 0:.2f} s/Gbit  core {r['core'] or 0:.0%}  invalid {r['invalid']}  {r.get('cc', '')}")
        hop_mode((a, b), "shipped")
        flannel.teardown((a, b))
        for h in (a, b):
            h.ifdown("tun0", check=False)
    return {"cell": name, "rates": rates, "burst": burst,
            "results": [{"kind": k, **{f: stats([r[f] for r in runs]) for f in ("mbit", "retr", "cpu", "core")},
                         "invalid": sum(r["invalid"] for r in runs) if runs else None,
                         "cc": sorted({r.get("cc") or "" for r in runs})} for k, runs in rows.items()]}


def _fmt(s, digits=0) -> str:
    if not s:
        return "-"
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def _pct(s) -> str:
    return f"{s['median']:.0%} ({s['min']:.0%}-{s['max']:.0%})" if s else "-"


def render(cells, meta) -> str:
    out = [f"# Pod-to-pod through VXLAN over the overlay (issue #18, {meta['when']})", "",
           f"Command: `{meta['command']}`  ", f"Commit: {meta['commit']}  ",
           f"Machine: {meta['machine']}, kernel {meta['kernel']}  ",
           f"Receive offload (GRO) on the member NICs: {'on' if meta.get('gro') else 'off (veth default)'}  ",
           f"{meta['reps']} repetitions of {meta['seconds']} s per flow, interleaved; median "
           "(min-max). `shipped` = the defaults (the segmenting hop on slow members, GSO "
           "packets whole on fast ones), `hop` = through the hop, `whole` = its entry lets GSO "
           "packets through whole, `vxcap` = the VXLAN device's GSO capped at 1 segment instead "
           "(the alternative); `-` = no hop here. % = of the overlay's own flow in the "
           "same run. CPU = busy CPU-seconds of the whole machine per Gbit delivered. "
           "busiest core = the busier core's busy share over the flow (softirq included). "
           "INVALID = conntrack INVALID packets counted on both hosts (forward + input).", ""]
    for cell in cells:
        by = {r["kind"]: r for r in cell["results"]}
        base = by["overlay"]["mbit"]["median"] if by["overlay"]["mbit"] else None
        out += [f"## {cell['cell']} (Mbit/s), target >= 85% of the overlay's flow", "",
                "| flow | congestion control | Mbit/s | % | retransmits | CPU s/Gbit | busiest core | INVALID |",
                "|---|---|---|---|---|---|---|---|"]
        for k in KINDS:
            r = by[k]
            pct = f"{r['mbit']['median'] / base:.0%}" if base and r["mbit"] else "-"
            out.append(f"| {k} | {', '.join(c for c in r['cc'] if c) or '-'} | {_fmt(r['mbit'])} | "
                       f"{pct} | {_fmt(r['retr'])} | {_fmt(r['cpu'], 2)} | {_pct(r.get('core'))} | "
                       f"{'-' if r['invalid'] is None else r['invalid']} |")
        out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench/pods.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cell", action="append", choices=list(CELLS),
                    help="repeatable; default 3x200/serialised and 2x500/serialised")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--gro", action="store_true",
                    help="receive offload on every member NIC, as real NAPI drivers have it")
    args = ap.parse_args()
    GRO["on"] = args.gro
    if os.geteuid() != 0:
        ap.error("needs root (it creates network namespaces)")
    commit = commit_label()
    when = datetime.datetime.utcnow()
    cells = [run_cell(c, args.reps, args.seconds)
             for c in (args.cell or ["3x200/serialised", "2x500/serialised"])]
    meta = {"when": when.strftime("%Y-%m-%d %H:%M UTC"), "commit": commit,
            "command": "python3 bench/pods.py " + " ".join(sys.argv[1:]),
            "machine": f"{os.cpu_count()} cores", "kernel": os.uname().release,
            "reps": args.reps, "seconds": args.seconds, "gro": args.gro}
    text = render(cells, meta)
    write_result(args.out, when, "pods", text, meta, cells)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
