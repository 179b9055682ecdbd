#!/usr/bin/env python3
"""CPU cost of the link monitor: one host probing PEERS peers over LINKS links.

Every peer is a namespace with LINKS NICs, one on each of LINKS bridged
segments shared by all hosts, and runs its own overlay and monitor (they must
answer the probes). The cost is the measured host's monitor process CPU time
(utime + stime from /proc/PID/stat) over the sampling window.

    sudo python3 bench/monitor_cost.py [--peers 32] [--links 4] [--seconds 20]
"""

import argparse
import collections
import datetime
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lab.cluster import Lab  # noqa: E402


def stanza(me: int, peers: int, links: int, interval: int, key: str) -> str:
    tables = " ".join(str(20000 + i) for i in range(links))
    rspec = " ".join(":".join([f"198.19.0.{h}"] + [f"198.18.{100 + i}.{h}" for i in range(links)])
                     for h in range(1, peers + 2))
    return (f"iface tun0 inet static\n    address 198.19.0.{me}\n    fakenet 198.19.0.0/24\n"
            f"    table {tables}\n    rspec {rspec}\n    agg-probe-interval {interval}\n"
            + (f"    agg-probe-key-file {key}\n" if key else ""))


def write_key(host, signed: bool) -> str:
    """A key file in the host's directory (the same key everywhere), or "" for none."""
    if not signed:
        return ""
    path = os.path.join(host.dir, "probe.key")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fh:
        fh.write("1 " + "a5" * 32 + "\n")
    return path


def cpu_seconds(pid: int):
    """(user, system) CPU seconds of a process."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", type=int, default=32)
    ap.add_argument("--links", type=int, default=4)
    ap.add_argument("--interval", type=int, default=50, help="probe interval, ms")
    ap.add_argument("--unsigned", action="store_true", help="no key file: unauthenticated hellos")
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    with Lab("mc") as lab:
        hosts = [lab.host(f"h{n}") for n in range(1, args.peers + 2)]
        for i in range(args.links):
            lab.segment([(h, f"eth{i}", f"198.18.{100 + i}.{n}") for n, h in enumerate(hosts, 1)])
        for n, h in enumerate(hosts, 1):
            h.write_interfaces(stanza(n, args.peers, args.links, args.interval,
                                      write_key(h, not args.unsigned)))
            h.ifagg("up", "tun0")
        pid = int(open(f"{hosts[0].dir}/run/ifupdown-agg/tun0.monitor.pid").read())
        time.sleep(2)       # every peer answering
        st = hosts[0].status("tun0")
        probed = sum(p["probed"] for p in st["peers"])
        t0, c0 = time.monotonic(), cpu_seconds(pid)
        time.sleep(args.seconds)
        t1, c1 = time.monotonic(), cpu_seconds(pid)
        user, system = ((c1[i] - c0[i]) / (t1 - t0) for i in (0, 1))
        share = user + system
        paths = args.peers * args.links
        line = (f"| {args.peers} | {args.links} | {paths} | {args.interval} | "
                f"{'unsigned' if args.unsigned else 'signed'} | {t1 - t0:.0f} | "
                f"{user:.2%} | {system:.2%} | {share:.2%} | "
                f"{'met' if share < 0.01 else 'MISSED'} (target < 1% of one core) |")
        st = hosts[0].status("tun0")
        rows = [r for p in st["peers"] for r in p["paths"]]
        print(f"{probed} peers probed; at the end {sum(r['health'] == 'down' for r in rows)} of "
              f"{len(rows)} paths down, {sum(sum(r['rejected'].values()) for r in rows)} hellos "
              f"rejected, authenticated: {st['monitor']['authenticated']}")
        why = collections.Counter()
        for r in rows:
            why.update(r["rejected"])
        if why:
            print(f"  rejected: {dict(why)}")
        reasons = collections.Counter(r["reason"].split(" for ")[0] for r in rows if r["health"] == "down")
        for reason, n in reasons.most_common(3):
            print(f"  {n} down: {reason}")
        print("| peers | links | paths | interval ms | hellos | seconds | user | system | monitor CPU | target |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        print(line)
        kernel = os.uname().release
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        print(f"\n{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, kernel {kernel}, {os.cpu_count()} cores, "
              f"commit {commit}; command: sudo python3 bench/monitor_cost.py "
              f"--peers {args.peers} --links {args.links} --interval {args.interval} --seconds {args.seconds:g}"
              + (" --unsigned" if args.unsigned else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
