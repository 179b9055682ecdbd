#!/usr/bin/env python3
"""How fast the link monitor finds a silent failure at its defaults (issue #15).

Two namespace hosts over LINKS veth links run the overlay with a key. ROUNDS
times, in each of the modes: drop everything arriving on b's eth1 (nft ingress,
carrier stays up), time until each side's monitor logs the path DOWN, then heal
and time until it logs UP again; "out" is when it took the path out of the data
rotation (its first DRAINED or DOWN line). Times are from the moment the drop command
returned (its effect is somewhere before that), read off the monitors' log
stamps (ms). Rounds follow each other within the flap window, so the rejoin
times show the damping. The modes (monitor/demand.py): busy, a ping every 10 ms
over the overlay throughout (both sides probe fast); idle, no traffic (both
probe every agg-probe-idle-interval); wake, the drop while idle and the pings
from half a second later, DOWN counted from the first ping; carrier, b's eth1
set down under the same pings (a sees its veth peer lose carrier), DOWN counted
from the moment the `ip` command started (the change happens inside it; its own
run time, fork included, is the "cmd ms" column: the nft drop's in the other modes),
and healed by setting it up.

    sudo python3 bench/silent_detect.py [--rounds 10] [--links 4] [--modes busy,idle,wake,carrier]
"""

import argparse
import datetime
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lab.cluster import Lab  # noqa: E402

IDLE_MS = 1000         # agg-probe-idle-interval's default
PING = ["ping", "-q", "-i", "0.01", "-w", "30", "198.19.255.20"]    # bounded: 30 s
DROP = ("nft add table netdev sd && nft 'add chain netdev sd c { type filter hook ingress "
        "device eth1 priority 0 ; policy drop ; }'")
HEAL = "nft delete table netdev sd"
# Each mode's failure and its healing, as commands in b.
FAULTS = {"carrier": ("ip link set eth1 down", "ip link set eth1 up")}
MODES = ("busy", "idle", "wake", "carrier")


def stamp(line: str) -> float:
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def logged(path: str, pattern: str, after: float, limit: float = 12.0):
    """When a line matching `pattern` stamped after `after` appears in the log (or None)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:          # bounded
        with open(path) as fh:
            for line in fh:
                if re.search(pattern, line) and stamp(line) >= after - 0.002:
                    return stamp(line)
        time.sleep(0.01)
    return None


def build(lab: Lab, links: int):
    a, b = lab.host("a"), lab.host("b")
    for i in range(links):
        a.run(["ip", "link", "add", f"eth{i}", "type", "veth", "peer", "name", f"eth{i}", "netns", b.ns])
        for h, n in ((a, 10), (b, 20)):
            h.run(["ip", "addr", "add", f"198.18.{i}.{n}/24", "dev", f"eth{i}"])
            h.run(["ip", "link", "set", f"eth{i}", "up"])
    rspec = " ".join(f"198.19.255.{h}:" + ":".join(f"198.18.{i}.{h}" for i in range(links))
                     for h in (10, 20))
    for h, me in ((a, 10), (b, 20)):
        key = os.path.join(h.dir, "probe.key")
        with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fh:
            fh.write("1 " + "33" * 32 + "\n")
        h.write_interfaces(f"auto tun0\niface tun0 inet static\n    address 198.19.255.{me}\n"
                           f"    netmask 255.255.255.255\n    fakenet 198.19.255.0/24\n"
                           f"    table {' '.join(str(10000 + i) for i in range(links))}\n"
                           f"    rspec {rspec}\n    agg-probe-key-file {key}\n")
        h.ifup("tun0")
    return a, b


def hellos_ms(host) -> object:
    """The interval the host's monitor probes its peer at now (health.json), or None."""
    try:
        with open(f"{host.dir}/run/ifupdown-agg/tun0.health.json") as fh:
            return next(iter(json.load(fh).get("hellos_ms", {}).values()), None)
    except (OSError, ValueError, StopIteration):
        return None


def settle(a, b, mode: str) -> None:
    """Before a round: the peers idle (both probing slowly) for idle and wake, bounded."""
    deadline = time.monotonic() + 15
    while mode != "busy" and time.monotonic() < deadline:
        if hellos_ms(a) == hellos_ms(b) == IDLE_MS:
            return
        time.sleep(0.1)


def one_round(a, b, logs, mode: str) -> str:
    """One drop and heal; `mode`: idle (no traffic), busy (a ping every 10 ms throughout),
    wake (the drop while idle, the pings from 0.5 s after it: DOWN counted from them)
    or carrier (b's eth1 down under the pings: counted from the command's start)."""
    settle(a, b, mode)
    fail, heal = FAULTS.get(mode, (DROP, HEAL))
    flow = a.popen(PING) if mode in ("busy", "carrier") else None
    if flow:
        time.sleep(0.5)                     # both sides fast
    t0 = time.time()
    b.sh(fail)
    t1 = time.time()
    took = round((t1 - t0) * 1000)
    if mode == "carrier":
        t1 = t0
    if mode == "wake":
        time.sleep(0.5)
        t1 = time.time()
        flow = a.popen(PING)
    down = {h: logged(p, r"via eth1 .*DOWN", t0) for h, p in logs.items()}
    # Out of the data rotation: the first DRAINED or DOWN (a tree without drains: DOWN).
    out = {h: logged(p, r"via eth1 .*(DRAINED|DOWN)", t0, 1.0) for h, p in logs.items()}
    if flow:
        flow.kill()
        flow.communicate(timeout=10)
    time.sleep(0.5)
    healed = time.time()
    b.sh(heal)
    up = {h: logged(p, r"via eth1 .*UP", healed) for h, p in logs.items()}
    ms = {k: {h: round((v - base) * 1000) if v else "-" for h, v in d.items()}
          for k, d, base in (("down", down, t1), ("out", out, t1), ("up", up, healed))}
    time.sleep(0.5)
    return (f"| {mode} | {took} | {ms['out']['b']} | {ms['down']['b']} | {ms['out']['a']} | "
            f"{ms['down']['a']} | {ms['up']['a']} | {ms['up']['b']} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--links", type=int, default=4)
    ap.add_argument("--modes", default="busy,idle,wake",
                    help="comma separated, interleaved in each round: " + ", ".join(MODES))
    args = ap.parse_args()
    unknown = set(args.modes.split(",")) - set(MODES)
    if unknown:
        ap.error(f"--modes: no mode {', '.join(sorted(unknown))} ({', '.join(MODES)})")
    print("| mode | cmd ms | b out ms | b DOWN ms (silence) | a out ms | a DOWN ms (b's hellos) | "
          "a UP ms | b UP ms |")
    print("|---|---|---|---|---|---|---|---|")
    with Lab("sd") as lab:
        a, b = build(lab, args.links)
        time.sleep(2)
        logs = {h.name: f"{h.dir}/run/ifupdown-agg/tun0.monitor.log" for h in (a, b)}
        for _ in range(args.rounds):
            for mode in args.modes.split(","):
                print(one_round(a, b, logs, mode), flush=True)
        for h in (a, b):
            h.ifdown("tun0", check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
