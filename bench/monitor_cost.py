#!/usr/bin/env python3
"""CPU cost of the link monitor: one host probing PEERS peers over LINKS links.

Every peer is a namespace with LINKS NICs, one on each of LINKS bridged
segments shared by all hosts, and runs its own overlay and monitor (they must
answer the probes). The cost is the measured host's monitor process CPU time
(utime + stime from /proc/PID/stat) over the sampling window.

    sudo python3 bench/monitor_cost.py [--peers 32] [--links 4] [--seconds 20] [--reflector]

--reflector: the peers run no overlay; one process (bench/hello_reflector.py)
answers for all of them with the monitor's own send/receive code. The measured
monitor sees the same hellos, while the machine runs 2 monitors' worth of work
instead of PEERS + 1 (which on 2 shared cores starves them and fails paths).
"""

import argparse
import collections
import datetime
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lab.cluster import Lab  # noqa: E402


def stanza(me: int, peers: int, links: int, interval: int, key: str, idle: int) -> str:
    tables = " ".join(str(20000 + i) for i in range(links))
    rspec = " ".join(":".join([f"198.19.0.{h}"] + [f"198.18.{100 + i}.{h}" for i in range(links)])
                     for h in range(1, peers + 2))
    return (f"iface tun0 inet static\n    address 198.19.0.{me}\n    fakenet 198.19.0.0/24\n"
            f"    table {tables}\n    rspec {rspec}\n    agg-probe-interval {interval}\n"
            f"    agg-probe-idle-interval {idle or interval}\n"
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


def phases(path: str) -> dict:
    """The monitor's CPU seconds by phase, from its health.json ({} if it has none)."""
    try:
        with open(path) as fh:
            return json.load(fh).get("cpu_s", {})
    except (OSError, ValueError):
        return {}


def print_split(p0: dict, p1: dict, seconds: float, share: float) -> None:
    """The monitor's own split (process_time around its once-per-interval parts,
    written into health.json about once a second, so the window is approximate)."""
    split = {k: (p1.get(k, 0) - p0.get(k, 0)) / seconds for k in p1}
    if split:
        print("  by phase: " + ", ".join(f"{k} {v:.2%}" for k, v in split.items())
              + f", taking hellos and waiting (the rest) {share - sum(split.values()):.2%}")


def print_paces(health: str) -> None:
    """How many peers the measured host probes at which interval (monitor/demand.py)."""
    try:
        with open(health) as fh:
            paces = collections.Counter(json.load(fh).get("hellos_ms", {}).values())
    except (OSError, ValueError):
        return
    print("  peers by hello interval (ms): " + ", ".join(f"{n} at {ms}" for ms, n in sorted(paces.items())))


def report(st: dict, probed: int) -> None:
    """What the measured host's status says at the end: paths down, hellos rejected."""
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


def start(lab: Lab, args):
    """The hosts, every one up with its monitor (or the first, and the reflector)."""
    hosts = [lab.host(f"h{n}") for n in range(1, args.peers + 2)]
    for i in range(args.links):
        lab.segment([(h, f"eth{i}", f"198.18.{100 + i}.{n}") for n, h in enumerate(hosts, 1)])
    for n, h in enumerate(hosts[:1] if args.reflector else hosts, 1):
        h.write_interfaces(stanza(n, args.peers, args.links, args.interval,
                                  write_key(h, not args.unsigned), args.idle_interval))
        h.ifagg("up", "tun0")
    if not args.reflector:
        return hosts, None
    key = write_key(hosts[1], not args.unsigned)
    addrs = lambda n: ",".join(f"198.18.{100 + i}.{n}" for i in range(args.links))  # noqa: E731
    proc = lab.spawn(hosts[0], [sys.executable, os.path.join(os.path.dirname(__file__),
                                                             "hello_reflector.py"),
                                "--interval", str(args.interval), "--target", addrs(1),
                                "--idle-interval", str(args.idle_interval)]
                     + (["--key", key] if key else [])
                     + [f"{h.ns}:198.19.0.{n}:{addrs(n)}" for n, h in enumerate(hosts[1:], 2)])
    return hosts, proc


def busy_pings(lab: Lab, host, args) -> list:
    """A ping every 200 ms over the overlay to each of the first --busy peers, for the
    whole run, so that the measured host probes them fast."""
    return [lab.spawn(host, ["ping", "-q", "-i", "0.2", "-w", str(int(args.seconds + 10)),
                             f"198.19.0.{n}"]) for n in range(2, 2 + args.busy)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", type=int, default=32)
    ap.add_argument("--links", type=int, default=4)
    ap.add_argument("--interval", type=int, default=50, help="probe interval, ms")
    ap.add_argument("--idle-interval", type=int, default=1000,
                    help="agg-probe-idle-interval, ms (0: the same as --interval, every peer fast)")
    ap.add_argument("--busy", type=int, default=0,
                    help="peers the measured host sends to (a ping every 200 ms over the overlay "
                         "each), so that it probes them fast")
    ap.add_argument("--unsigned", action="store_true", help="no key file: unauthenticated hellos")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--reflector", action="store_true",
                    help="the peers are one process answering with the monitor's code")
    args = ap.parse_args()
    with Lab("mc") as lab:
        hosts, reflector = start(lab, args)
        pid = int(open(f"{hosts[0].dir}/run/ifupdown-agg/tun0.monitor.pid").read())
        pings = busy_pings(lab, hosts[0], args)
        time.sleep(2 + (args.idle_interval / 1000 * 2 if args.idle_interval else 0))  # every peer answering, idle ones slow
        st = hosts[0].status("tun0")
        probed = sum(p["probed"] for p in st["peers"])
        health = f"{hosts[0].dir}/run/ifupdown-agg/tun0.health.json"
        t0, c0, p0 = time.monotonic(), cpu_seconds(pid), phases(health)
        time.sleep(args.seconds)
        t1, c1, p1 = time.monotonic(), cpu_seconds(pid), phases(health)
        user, system = ((c1[i] - c0[i]) / (t1 - t0) for i in (0, 1))
        share = user + system
        paths = args.peers * args.links
        for proc in pings:
            proc.terminate()
        line = (f"| {args.peers} | {args.links} | {paths} | {args.interval} | "
                f"{args.idle_interval or args.interval} | {args.busy} | "
                f"{'unsigned' if args.unsigned else 'signed'} | {t1 - t0:.0f} | "
                f"{user:.2%} | {system:.2%} | {share:.2%} | "
                f"{'met' if share < 0.01 else 'MISSED'} (target < 1% of one core) |")
        report(hosts[0].status("tun0"), probed)
        print_paces(health)
        print_split(p0, p1, t1 - t0, share)
        if reflector is not None:
            r = cpu_seconds(reflector.pid)
            print(f"  the reflector (all {args.peers} peers): {sum(r):.1f} CPU s in all")
        print("| peers | links | paths | interval ms | idle interval ms | busy peers | hellos | seconds "
              "| user | system | monitor CPU | target |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        print(line)
        kernel = os.uname().release
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        print(f"\n{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, kernel {kernel}, {os.cpu_count()} cores, "
              f"commit {commit}; command: sudo python3 bench/monitor_cost.py "
              f"--peers {args.peers} --links {args.links} --interval {args.interval} --seconds {args.seconds:g}"
              f" --idle-interval {args.idle_interval} --busy {args.busy}"
              + (" --unsigned" if args.unsigned else "") + (" --reflector" if args.reflector else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
