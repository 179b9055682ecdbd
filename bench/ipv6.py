#!/usr/bin/env python3
"""IPv6 over the overlay (issue #16): one TCP flow on 4x200 Mbit/s to the peer's inet6
virtual address, against the IPv4 overlay on the same tun0, MPTCP over IPv6 (and over
IPv4) and the best single link over IPv6.

Each cell (a shaping of 4x200) runs in its own pair of namespaces. The overlay is a
dual-stack tun0 brought up by real ifup: an inet stanza with the defaults (agg-spread
bpf; agg-pace auto does not pace at 4x200, a sum above 600 Mbit/s, so agg-gso-max-segs
auto caps tun0's GSO at one segment) and an inet6 stanza beside it. The IPv6 flow is
marked by the ip6 nft table and each GSO packet leaves whole on one link, so the inet
stanza's GSO cap bounds how finely IPv6 is spread (README): the `-paced` competitors
write `agg-pace 800` in the inet stanza (switched in place by `ifagg up tun0`), which
raises the cap to 64 behind the pacing hop, where IPv4 is segmented again and IPv6 is
not. MPTCP has one subflow endpoint per extra link in each family. In each repetition
every competitor runs once, interleaved. CPU is the whole machine's busy time per Gbit
delivered (datapath.py). Addresses: 198.18.0.0/15, ULA fd18::/16 and fd19::/16 only.
Not a test: nothing asserts.

  # python3 bench/ipv6.py                              both cells, 3 x 10 s (~10 minutes)
  # python3 bench/ipv6.py --cell 4x200/serialised --reps 1 --seconds 3
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys

from datapath import EXTRA, commit_label, measure_to, stanza, stats, write_result
from workloads import HERE, SERIALISED, WHOLE, log, setup_mptcp, two_hosts  # also puts the repo on sys.path

from lab.cluster import Lab  # noqa: E402

CELLS = {"4x200/serialised": ([200] * 4, SERIALISED), "4x200/whole": ([200] * 4, WHOLE)}
COMPETITORS = ["overlay6", "overlay4", "overlay6-paced", "overlay4-paced", "mptcp6", "mptcp4",
               "single-link6"]
# The inet stanza each overlay competitor runs under: its lines beyond datapath's
# overlay-bpf (agg-spread bpf, the other options at their defaults).
PACED = "agg-pace 800"          # the links' sum: what auto would pace at if it paced here
INET_LINES = {"overlay6": (), "overlay4": (), "overlay6-paced": (PACED,), "overlay4-paced": (PACED,)}
TARGET_RATIO = 1.5      # issue #16: the IPv6 overlay >= 1.5x the best single link
HOSTS = (10, 20)


def hop6(link: int, host: int) -> str:
    return f"fd18:{link}::{host}"


def virt6(host: int) -> str:
    return f"fd19:ff::{host}"


def stanza6(me: int, n: int) -> str:
    """The inet6 stanza of tun0 beside the inet one: same tables, hops on the same NICs."""
    tables = " ".join(str(10000 + i) for i in range(n))
    rspec = " ".join(f"[{virt6(h)}]:" + ":".join(f"[{hop6(i, h)}]" for i in range(n)) for h in HOSTS)
    return (f"\niface tun0 inet6 static\n    address {virt6(me)}\n    netmask 128\n"
            f"    fakenet fd19:ff::/64\n    table {tables}\n    rspec {rspec}\n")


def target(kind: str, rates):
    """(destination, command prefix) of a competitor's flow from a (10) to b (20)."""
    best = max(range(len(rates)), key=lambda i: rates[i])
    return {"overlay6": (virt6(20), ()), "overlay6-paced": (virt6(20), ()),
            "overlay4": ("198.19.255.20", ()), "overlay4-paced": ("198.19.255.20", ()),
            "mptcp6": (hop6(0, 20), ("mptcpize", "run")),
            "mptcp4": ("198.18.0.20", ("mptcpize", "run")),
            "single-link6": (hop6(best, 20), ())}[kind]


def add_ipv6(a, b, n: int) -> None:
    """IPv6 hops on every link and MPTCP subflow endpoints for them (a opens the subflows)."""
    for h, me in ((a, 10), (b, 20)):
        h.sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0")
        for i in range(n):
            # nodad: usable at once, as after a settled DAD.
            h.run(["ip", "-6", "addr", "add", f"{hop6(i, me)}/64", "dev", f"eth{i}", "nodad"])
    for i in range(1, n):
        a.run(["ip", "mptcp", "endpoint", "add", hop6(i, 10), "dev", f"eth{i}", "subflow"])
        # A subflow bound to eth<i> goes to b's address on link 0. IPv4 finds no route
        # there, assumes the address on-link and ARPs for it on eth<i> (b answers: weak
        # host); IPv6 has no such fallback and no neighbour answers, so each subflow's
        # source gets a table that sends it to b through its own link.
        a.run(["ip", "-6", "rule", "add", "from", hop6(i, 10), "lookup", str(100 + i),
               "pref", str(1000 + i)])
        a.run(["ip", "-6", "route", "add", "fd18::/16", "via", hop6(i, 20), "dev", f"eth{i}",
               "table", str(100 + i)])


def use_overlay(hosts, n: int, lines, first: bool) -> int:
    """Both stanzas with `lines` in the inet one; tun0's GSO cap (gso_max_segs) after."""
    for h, me in zip(hosts, HOSTS):
        h.write_interfaces(stanza(me, n, "overlay-bpf") + "".join(f"    {o}\n" for o in lines)
                           + stanza6(me, n))
        if first:
            h.ifup("tun0")              # both stanzas, by real ifup
        else:
            h.ifagg("up", "tun0")       # the inet stanza only; the inet6 one is unchanged
    link = hosts[0].run(["ip", "-d", "-j", "link", "show", "tun0"]).stdout
    return json.loads(link)[0].get("gso_max_segs")


def run_cell(name: str, reps: int, seconds: float) -> dict:
    rates, burst = CELLS[name]
    n = len(rates)
    log(f"== {name}")
    runs, gso = {k: [] for k in COMPETITORS}, {}
    load = {"start": loadavg()}
    with Lab("v6") as lab:
        try:
            a, b = two_hosts(lab, rates, burst)
            add_ipv6(a, b, n)
            setup_mptcp(a, b, rates)
            current = None
            for rep in range(reps):
                for kind in COMPETITORS:
                    want = INET_LINES.get(kind)
                    if want is not None and want != current:
                        gso[" ".join(want) or "defaults"] = use_overlay((a, b), n, want,
                                                                         current is None)
                        current = want
                    dst, prefix = target(kind, rates)
                    before = tx_bytes(a, n)
                    r = measure_to(lab, a, b, kind, dst, prefix, seconds)
                    r["links"] = shares(before, tx_bytes(a, n))
                    runs[kind].append(r)
                    log(f"  rep {rep + 1} {kind:<17} {r['fwd']:7.1f} Mbit/s  "
                        f"cpu {r['cpu_s_per_gbit'] or 0:.2f} s/Gbit  retr {r['retr']}  "
                        f"links {'/'.join(map(str, r['links']))} %")
        finally:
            for h in lab.hosts.values():
                h.ifdown("tun0", check=False)
    load["end"] = loadavg()
    return {"cell": name, "rates": rates, "burst": burst, "load": load, "tun0_gso_max_segs": gso,
            "results": {k: {**{f: stats([r[f] for r in rs]) for f in ("fwd", "cpu_s_per_gbit", "retr")},
                            "links": [r["links"] for r in rs]}
                        for k, rs in runs.items()}}


def tx_bytes(host, n: int) -> list:
    out = host.sh(" ".join(f"cat /sys/class/net/eth{i}/statistics/tx_bytes;" for i in range(n)))
    return [int(x) for x in out.stdout.split()]


def shares(before, after) -> list:
    """Each link's share (%) of what the sender sent in a run: where the flow went."""
    sent = [b - a for a, b in zip(before, after)]
    return [round(100 * s / sum(sent)) if sum(sent) else 0 for s in sent]


def loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


# ---- the report (pure) ------------------------------------------------------------------

def span(s, digits: int = 0) -> str:
    """'median [min-max]', or '-' for a competitor that never delivered."""
    if not s:
        return "-"
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}-{s['max']:.{digits}f}]"


def median_run(r: dict) -> str:
    """The link shares of the run whose rate was the median one."""
    if not r["fwd"] or not r.get("links"):
        return "-"
    i = r["fwd"]["runs"].index(r["fwd"]["median"]) if r["fwd"]["median"] in r["fwd"]["runs"] else 0
    return "/".join(map(str, r["links"][i]))


def ratio(cell: dict, kind: str, base: str = "single-link6"):
    got, ref = (cell["results"].get(k, {}).get("fwd") for k in (kind, base))
    if not (got and ref and got["median"] and ref["median"]):
        return None             # not run, or delivered nothing: no ratio
    return got["median"] / ref["median"]


def verdicts(cell: dict) -> list:
    """Issue #16's target for each IPv6 overlay competitor, with the measured figures."""
    out = []
    for kind, v4 in (("overlay6", "overlay4"), ("overlay6-paced", "overlay4-paced")):
        if kind not in cell["results"]:
            continue
        x = ratio(cell, kind)
        if x is None:
            out.append(f"- {kind}: no measurement (a flow failed)")
            continue
        verdict = "met" if x >= TARGET_RATIO else "MISSED"
        vs4, vsm = ratio(cell, kind, v4), ratio(cell, kind, "mptcp6")
        out.append(f"- {kind}: {x:.2f}x the best single link over IPv6, target >= "
                   f"{TARGET_RATIO}x: **{verdict}**"
                   + (f"; {vs4:.0%} of the IPv4 overlay ({v4})" if vs4 else "")
                   + (f"; {vsm:.0%} of MPTCP over IPv6" if vsm else ""))
    return out


def render(cells, meta) -> str:
    out = [f"# IPv6 over the overlay, one TCP flow (issue #16, {meta['when']})", "",
           f"Command: `{meta['command']}`  ", f"Commit: {meta['commit']}  ",
           f"Machine: {meta['machine']}, kernel {meta['kernel']}  ",
           f"Load average (1/5/15 min): {meta['load']['start']} before, {meta['load']['end']} "
           "after: a loaded machine (other runs shared its cores), so compare competitors "
           "within this run, not with other runs.  ",
           f"{meta['reps']} repetitions of {meta['seconds']} s per competitor, interleaved; "
           "Mbit/s median [min-max]; x = median over the best single link's over IPv6; "
           "CPU = busy CPU-seconds of the whole machine per Gbit delivered.", ""]
    for cell in cells:
        total = sum(cell["rates"])
        out += [f"## {cell['cell']} (tbf burst {cell['burst']}; load {cell['load']['start']} "
                f"-> {cell['load']['end']})", "",
                "| competitor | Mbit/s | x best link | % of links' sum | CPU s/Gbit | retransmits "
                "| sender's bytes per link, % (median run) |", "|---|---|---|---|---|---|---|"]
        for kind, r in cell["results"].items():
            x = ratio(cell, kind)
            share = f"{r['fwd']['median'] / total:.0%}" if r["fwd"] else "-"
            out.append(f"| {kind} | {span(r['fwd'])} | {f'{x:.2f}' if x else '-'} | {share} | "
                       f"{span(r['cpu_s_per_gbit'], 2)} | {span(r['retr'])} | {median_run(r)} |")
        gso = ", ".join(f"{k} {v}" for k, v in cell.get("tun0_gso_max_segs", {}).items())
        out += ["", f"tun0's GSO cap (gso_max_segs) under the inet stanza: {gso or '-'}.", "",
                "Target:"] + verdicts(cell) + [""]
    return "\n".join(out)


def _meta(args, commit: str, load_start: str, when) -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), "")
    return {"when": when.strftime("%Y-%m-%d %H:%M UTC"), "commit": commit,
            "command": " ".join(["python3 bench/ipv6.py"] + sys.argv[1:]),
            "machine": f"nproc {os.cpu_count()}, {cpu}", "kernel": os.uname().release,
            "reps": args.reps, "seconds": args.seconds,
            "load": {"start": load_start, "end": loadavg()}}


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench/ipv6.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cell", action="append", choices=list(CELLS),
                    help="repeatable; default both, serialised first")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--overlay-option", action="append", default=[], metavar="'NAME VALUE'",
                    help="an extra line for the inet stanza (repeatable)")
    ap.add_argument("--competitor", action="append", choices=COMPETITORS,
                    help="run only these (repeatable; default all; keep single-link6 for the ratio)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("needs root (it creates network namespaces)")
    missing = [t for t in ("iperf3", "mptcpize", "ifup", "nft") if not shutil.which(t)]
    if missing:
        ap.error(f"missing {', '.join(missing)}: tools/deps bench")
    EXTRA.extend(args.overlay_option)
    if args.competitor:
        COMPETITORS[:] = args.competitor
    when, load_start = datetime.datetime.utcnow(), loadavg()
    cells = [run_cell(c, args.reps, args.seconds) for c in (args.cell or list(CELLS))]
    meta = _meta(args, commit_label(), load_start, when)
    text = render(cells, meta)
    write_result(args.out, when, "ipv6", text, meta, cells)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
