"""The benchmark's topologies and workloads: each run_* returns its raw results.

bench/run.py chooses what runs; bench/report.py turns the results into tables.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from lab.cluster import Lab  # noqa: E402

LINKSETS = {"4x200": [200] * 4, "2x500": [500] * 2, "100+224": [100, 224],
            "100+250+250": [100, 250, 250]}
# tbf bursts. whole: a 64 KB GSO packet passes at once. serialised: bigger ones leave frame by
# frame, as from a NIC; the bucket holds a 2-segment packet and a frame more, as one that only
# just holds it loses rate at every late timer (a TCP flow of such packets on a 300 Mbit/s
# link: 229 Mbit/s with 3 KB, 284 with 6 KB; results/20261208T0010Z-gso-two.md).
WHOLE, SERIALISED = "64kb", "4500"
SHAPINGS = {"whole": WHOLE, "serialised": SERIALISED}
WORKLOADS = ["single", "parallel", "udp", "failover", "apply", "cpu", "cross", "changing"]
TCP_COMPETITORS = ["overlay", "mptcp", "ecmp", "single-link"]
OVERLAY_DST, ECMP_A, ECMP_B = "198.19.255.20", "198.19.1.10", "198.19.1.20"


def log(msg: str) -> None:
    print(msg, flush=True)


# ---- topology ------------------------------------------------------------------------------

# --gro: receive offload on every member NIC, as a real NIC's NAPI driver does
# (bcmgenet, r8152, igb: `ethtool -k` says generic-receive-offload on). A veth without
# it hands every segment up the stack alone; with it, veth receives through NAPI and
# merges in-order segments.
GRO = {"on": False}


def two_hosts(lab: Lab, rates, burst: str):
    """a and b joined by one veth pair per rate, each end shaped to it."""
    a, b = lab.host("a"), lab.host("b")
    for i, rate in enumerate(rates):
        a.run(["ip", "link", "add", f"eth{i}", "type", "veth", "peer", "name", f"eth{i}", "netns", b.ns])
        for h, n in ((a, 10), (b, 20)):
            h.run(["ip", "addr", "add", f"198.18.{i}.{n}/24", "dev", f"eth{i}"])
            h.run(["ip", "link", "set", f"eth{i}", "up"])
            if rate:
                lab.shape(h, f"eth{i}", f"{rate}mbit", burst, "20ms")
            if GRO["on"]:
                h.run(["ethtool", "-K", f"eth{i}", "gro", "on"])
    for h in (a, b):
        h.sh("sysctl -qw net.ipv4.conf.all.rp_filter=2 net.ipv4.fib_multipath_hash_policy=1 "
             "net.mptcp.enabled=1")
    return a, b


EXTRA_OPTIONS: list = []     # --overlay-option, for tuning experiments


def setup_overlay(a, b, rates) -> None:
    n = len(rates)
    tables = " ".join(str(10000 + i) for i in range(n))
    rspec = " ".join(f"198.19.255.{h}:" + ":".join(f"198.18.{i}.{h}" for i in range(n)) for h in (10, 20))
    for h, me in ((a, 10), (b, 20)):
        h.write_interfaces(f"auto tun0\niface tun0 inet static\n    address 198.19.255.{me}\n"
                           f"    netmask 255.255.255.255\n    fakenet 198.19.255.0/24\n"
                           f"    table {tables}\n    rspec {rspec}\n"
                           + "".join(f"    {o}\n" for o in EXTRA_OPTIONS))
        h.ifup("tun0")


def setup_ecmp(a, b, rates) -> None:
    for h, mine, peer, peer_host in ((a, ECMP_A, ECMP_B, 20), (b, ECMP_B, ECMP_A, 10)):
        h.run(["ip", "addr", "add", f"{mine}/32", "dev", "lo"])
        hops = []
        for i, rate in enumerate(rates):
            hops += ["nexthop", "via", f"198.18.{i}.{peer_host}", "weight", str(max(1, rate // 10))]
        h.run(["ip", "route", "add", f"{peer}/32"] + hops)


def setup_mptcp(a, b, rates) -> None:
    n = len(rates)
    for h in (a, b):
        h.run(["ip", "mptcp", "limits", "set", "subflow", str(n), "add_addr_accepted", str(n)])
    for i in range(1, n):
        a.run(["ip", "mptcp", "endpoint", "add", f"198.18.{i}.10", "dev", f"eth{i}", "subflow"])


# ---- measurements --------------------------------------------------------------------------

def iperf(lab, server, client, dst, seconds, extra=(), prefix=(), bind=None, port=5201):
    srv = lab.spawn(server, list(prefix) + ["iperf3", "-s", "-1", "-p", str(port)])
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and f":{port}" not in server.run(["ss", "-ltn"]).stdout:
            time.sleep(0.05)
        cmd = list(prefix) + ["iperf3", "-c", dst, "-p", str(port), "-t", str(seconds), "-J"] + list(extra)
        if bind:
            cmd += ["-B", bind]
        res = client.run(cmd, check=False, timeout=seconds + 40)
        try:
            return json.loads(res.stdout)
        except ValueError:
            return {"error": (res.stdout + res.stderr)[-300:]}
    finally:
        if srv.poll() is None:
            srv.kill()
        srv.communicate(timeout=5)


def tcp_target(kind: str, rates):
    best = max(range(len(rates)), key=lambda i: rates[i])
    return {"overlay": (OVERLAY_DST, (), None), "mptcp": ("198.18.0.20", ("mptcpize", "run"), None),
            "ecmp": (ECMP_B, (), ECMP_A), "single-link": (f"198.18.{best}.20", (), None)}[kind]


def tcp_rate(lab, a, b, kind, rates, seconds, flows=1) -> float:
    dst, prefix, bind = tcp_target(kind, rates)
    data = iperf(lab, b, a, dst, seconds, ["-P", str(flows)] if flows > 1 else (), prefix, bind)
    if "end" not in data:
        log(f"    {kind}: failed: {data.get('error', data)}")
        return 0.0
    return data["end"]["sum_received"]["bits_per_second"]


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def run_tcp(args, flows: int) -> list:
    out = []
    for ls in args.linksets:
        rates = LINKSETS[ls]
        for shaping in args.shapings:
            log(f"== {'one flow' if flows == 1 else f'{flows} flows'}: {ls} Mbit/s, {shaping}")
            with Lab("bench") as lab:
                a, b = two_hosts(lab, rates, SHAPINGS[shaping])
                setup_overlay(a, b, rates)
                setup_ecmp(a, b, rates)
                setup_mptcp(a, b, rates)
                results = {k: [] for k in TCP_COMPETITORS}
                for rep in range(args.reps):
                    for kind in TCP_COMPETITORS:     # interleaved: the same noise for all
                        bps = tcp_rate(lab, a, b, kind, rates, args.seconds, flows)
                        results[kind].append(bps / 1e6)
                        log(f"  rep {rep + 1}: {kind:<12} {bps / 1e6:7.1f} Mbit/s "
                            f"({bps / 1e6 / sum(rates):.0%})")
                for h in (a, b):
                    h.ifdown("tun0")
            out.append({"linkset": ls, "rates": rates, "shaping": shaping, "flows": flows,
                        "mbps": {k: summary(v) for k, v in results.items()}})
    return out


def run_udp(args) -> list:
    out = []
    for ls in args.linksets:
        rates = LINKSETS[ls]
        offered = int(0.9 * sum(rates))
        log(f"== UDP at {offered} Mbit/s: {ls}")
        with Lab("bench") as lab:
            a, b = two_hosts(lab, rates, SHAPINGS["serialised"])
            setup_overlay(a, b, rates)
            rows = {}
            # ECMP is left out: iperf3's UDP handshake from the bound loopback address
            # fails over the multipath route, and one UDP flow hashes to one path anyway.
            for kind in ("overlay", "single-link"):
                dst, _, bind = tcp_target(kind, rates)
                data = iperf(lab, b, a, dst, args.seconds, ["-u", "-b", f"{offered}M", "-l", "1400"],
                             bind=bind)
                s = data.get("end", {}).get("sum", {})
                streams = data.get("end", {}).get("streams", [{}])
                ooo = streams[0].get("udp", {}).get("out_of_order", 0) if streams else 0
                rows[kind] = {"delivered_mbps": s.get("bits_per_second", 0) / 1e6
                              * (1 - s.get("lost_percent", 100) / 100),
                              "lost_percent": s.get("lost_percent"), "out_of_order": ooo,
                              "packets": s.get("packets")}
                log(f"  {kind:<12} delivered {rows[kind]['delivered_mbps']:.0f} Mbit/s, "
                    f"loss {rows[kind]['lost_percent']}%, out of order {ooo}")
            for h in (a, b):
                h.ifdown("tun0")
        out.append({"linkset": ls, "offered_mbps": offered, "results": rows})
    return out


def recovery_time(intervals, fail_at: float, healthy: float, n: int, share: float = 1.0):
    """(seconds, dipped): from the failure until the rate is back at share x (N-1)/N of
    the healthy rate, as the mean of three 0.1 s intervals (a sender's intervals are
    lumpy: MPTCP's come in multiples of its socket writes). The search starts at the
    first such mean below that, if one starts within 0.5 s: a failure takes a moment to
    show. share < 1 because a flow bound by the links' rate settles at (N-1)/N itself,
    so about half of its later intervals fall just below that figure."""
    target = share * healthy * (n - 1) / n
    after = [iv["sum"] for iv in intervals if iv["sum"]["end"] > fail_at]
    rates = [iv["bits_per_second"] for iv in after]
    means = [sum(rates[i:i + 3]) / 3 for i in range(len(rates) - 2)]
    first_low = next((i for i, m in enumerate(means)
                      if after[i]["start"] < fail_at + 0.5 and m < target), None)
    for i in range(first_low or 0, len(means)):
        if means[i] >= target:
            return round(max(0.0, after[i]["start"] - fail_at), 2), first_low is not None
    return None, first_low is not None


def deficit_seconds(intervals, fail_at: float, after_bps: float, window: float = 2.0) -> float:
    """What the failure cost, in seconds of the after-failure rate: the bytes the flow
    would have carried at that rate over the window from the failure, less what it did."""
    got = sum(iv["sum"]["bits_per_second"] * (iv["sum"]["end"] - iv["sum"]["start"])
              for iv in intervals if fail_at <= iv["sum"]["start"] < fail_at + window)
    return round(window - got / after_bps, 2) if after_bps else window


def failover_trace(intervals, fail_at: float) -> list:
    """The rate in Mbit/s of every 0.1 s interval from 0.3 s before the failure to 1.5 s after."""
    return [round(iv["sum"]["bits_per_second"] / 1e6) for iv in intervals
            if fail_at - 0.3 <= iv["sum"]["start"] < fail_at + 1.5]


FAILOVER_BREAKS = {
    "carrier": ("a", "ip link set eth1 down"),
    "silent": ("b", "nft add table netdev bench_drop && nft 'add chain netdev bench_drop "
                    "c { type filter hook ingress device eth1 priority 0 ; policy drop ; }'")}


def run_failover(args) -> list:
    """Interleaved: every repetition runs each failure for each competitor in turn."""
    return [_one_failover(args, how, kind, rep) for rep in range(args.reps)
            for how in FAILOVER_BREAKS for kind in ("overlay", "mptcp")]


def _one_failover(args, how: str, kind: str, rep: int) -> dict:
    rates = LINKSETS["4x200"]
    where, cmd = FAILOVER_BREAKS[how]
    log(f"== failover, {how}, {kind}, repetition {rep + 1} of {args.reps}")
    with Lab("bench") as lab:
        a, b = two_hosts(lab, rates, SHAPINGS["whole"])
        setup_overlay(a, b, rates)
        setup_mptcp(a, b, rates)
        time.sleep(1.5)      # monitors exchange probes
        dst, prefix, _ = tcp_target(kind, rates)
        fail_at = 5.0
        srv = lab.spawn(b, list(prefix) + ["iperf3", "-s", "-1"])
        time.sleep(0.5)
        cli = lab.spawn(a, list(prefix) + ["iperf3", "-c", dst, "-t", str(args.failover_seconds),
                                           "-i", "0.1", "-J"])
        time.sleep(fail_at + 0.05)
        before = tcp_counters(a)
        (a if where == "a" else b).sh(cmd)
        stdout, _ = cli.communicate(timeout=args.failover_seconds + 40)
        srv.kill()
        row = {"failure": how, "competitor": kind, "rep": rep, **_failover_row(stdout, fail_at, rates),
               "sender_tcp": counters_since(before, tcp_counters(a))}
        log(f"  recovery {row['recovery_s']} s (to 95%: {row['recovery95_s']} s), survived "
            f"{row['survived']}, healthy {row['healthy_mbps']:.0f}, after {row['after_mbps']:.0f} "
            f"Mbit/s, lost {row['lost_s']} s; around the failure {row['trace_mbps']}")
        a.ifdown("tun0", check=False)
        b.ifdown("tun0", check=False)
    return row


TCP_COUNTERS = ("TcpRetransSegs", "TcpExtTCPTimeouts", "TcpExtTCPSpuriousRTOs", "TcpExtTCPLossProbes",
                "TcpExtTCPLossProbeRecovery")


def nstat(host) -> dict:
    """Every kernel counter of a host's namespace, absolute (nstat's names; -s: its
    history file is left alone)."""
    out = host.run(["nstat", "-asz"], check=False).stdout
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)", out, re.M)}


def tcp_counters(host) -> dict:
    """The sender's TCP counters that tell a timeout from a fast recovery: a
    retransmission lost on a dead path waits for the RTO (TCPTimeouts); one that was
    not needed shows as TCPSpuriousRTOs."""
    every = nstat(host)
    return {name: every.get(name, 0) for name in TCP_COUNTERS}


def counters_since(before: dict, after: dict) -> dict:
    return {name: after[name] - before.get(name, 0) for name in after}


def _failover_row(stdout: str, fail_at: float, rates) -> dict:
    try:
        data = json.loads(stdout)
        intervals = data["intervals"]
        healthy = statistics.median(iv["sum"]["bits_per_second"] for iv in intervals
                                    if 1.0 <= iv["sum"]["end"] <= fail_at)
        rec, dipped = recovery_time(intervals, fail_at, healthy, len(rates))
        rec95, _ = recovery_time(intervals, fail_at, healthy, len(rates), 0.95)
        survived = "error" not in data and data["end"]["sum_received"]["bytes"] > 0
        after = statistics.median(iv["sum"]["bits_per_second"] for iv in intervals
                                  if iv["sum"]["start"] >= fail_at + 2)
        trace = failover_trace(intervals, fail_at)
        lost = deficit_seconds(intervals, fail_at, after)
    except (ValueError, KeyError, statistics.StatisticsError):
        rec, rec95, dipped, survived, healthy, after, trace = None, None, None, False, 0, 0, []
        lost = None
    return {"recovery_s": rec, "recovery95_s": rec95, "dipped": dipped, "survived": survived,
            "lost_s": lost,
            "healthy_mbps": healthy / 1e6, "after_mbps": after / 1e6, "trace_mbps": trace}


def _apply_stanza(hosts: int) -> str:
    rspec = " ".join(f"198.19.{h // 250}.{h % 250 + 1}:" + ":".join(f"198.18.{i}.{h % 250 + 1}"
                                                                     for i in range(4)) for h in range(hosts))
    return ("auto tun0\niface tun0 inet static\n    address 198.19.0.1\n    netmask 255.255.255.255\n"
            "    fakenet 198.19.0.0/16\n    table 10000 10001 10002 10003\n"
            f"    rspec {rspec}\n")


def _fork_script(hosts: int, up: bool) -> str:
    """What the original if-up.d approach did: one ip or nft process per object."""
    lines = ["set -e"] if up else []
    if up:
        lines += ["ip tuntap add mode tun tun9", "ip addr add 198.19.0.1/32 dev tun9",
                  "ip link set tun9 up", "ip route add 198.19.0.0/16 dev tun9 src 198.19.0.1"]
    for t in range(4):
        for h in range(1, hosts):
            hop = f"198.18.{t}.{h % 250 + 1}"
            dst = f"198.19.{h // 250}.{h % 250 + 1}"
            lines.append(f"ip route {'add' if up else 'del'} {dst}/32 via {hop} table {10000 + t}")
        lines.append(f"ip rule {'add' if up else 'del'} fwmark {10000 + t} lookup {10000 + t}")
    if up:
        lines += ["nft add table ip forkagg",
                  "nft 'add chain ip forkagg out { type route hook output priority mangle; }'",
                  "nft add rule ip forkagg out ip daddr 198.19.0.0/16 meta mark set numgen inc mod 4 "
                  "map { 0 : 10000, 1 : 10001, 2 : 10002, 3 : 10003 }"]
        lines += [f"nft add rule ip forkagg out meta mark {10000 + t} counter" for t in range(4)]
    else:
        lines += ["nft delete table ip forkagg", "ip link del tun9"]
    return "\n".join(lines) + "\n"


def run_apply(args) -> dict:
    out = {"growth": []}
    sizes = [8, 32, 64, 256] if not args.quick else [64]
    for hosts in sizes:
        with Lab("bench") as lab:
            a = lab.host("a")
            for i in range(4):
                a.run(["ip", "link", "add", f"eth{i}", "type", "veth", "peer", "name", f"p{i}"])
                a.run(["ip", "addr", "add", f"198.18.{i}.1/16", "dev", f"eth{i}"])
                a.run(["ip", "link", "set", f"eth{i}", "up"])
                a.run(["ip", "link", "set", f"p{i}", "up"])
            # The fork-per-command script runs from ifup as well, as the original
            # if-up.d script did, so both pay for ifupdown itself.
            for updown in ("up", "down"):
                with open(os.path.join(a.dir, f"fork-{updown}.sh"), "w") as fh:
                    fh.write(_fork_script(hosts, updown == "up"))
            a.write_interfaces(_apply_stanza(hosts) + f"\niface tun9 inet manual\n"
                               f"    up sh {a.dir}/fork-up.sh\n    down sh {a.dir}/fork-down.sh\n")
            ups, downs, fup, fdown = [], [], [], []
            for _ in range(args.apply_reps):
                t = time.monotonic(); a.ifup("tun0"); ups.append(time.monotonic() - t)
                t = time.monotonic(); a.ifdown("tun0"); downs.append(time.monotonic() - t)
                if hosts == 64:
                    t = time.monotonic(); a.ifup("tun9"); fup.append(time.monotonic() - t)
                    t = time.monotonic(); a.ifdown("tun9"); fdown.append(time.monotonic() - t)
            row = {"hosts": hosts, "objects": 4 * (hosts - 1), "ifup_s": summary(ups),
                   "ifdown_s": summary(downs)}
            if fup:
                row["fork_up_s"], row["fork_down_s"] = summary(fup), summary(fdown)
            log(f"== apply {hosts} hosts x 4 tables: ifup {row['ifup_s']['median']:.3f} s, "
                f"ifdown {row['ifdown_s']['median']:.3f} s"
                + (f"; fork-per-command up {row['fork_up_s']['median']:.3f} s" if fup else ""))
            out["growth"].append(row)
    return out


def run_cpu(args) -> dict:
    log("== CPU per Gbit/s, unshaped veth, overlay vs plain routing")
    out = {}
    with Lab("bench") as lab:
        a, b = two_hosts(lab, [0, 0], "64kb")
        setup_overlay(a, b, [1, 1])
        rows = {"plain": [], "overlay": []}
        for _ in range(args.reps):
            for kind, dst in (("plain", "198.18.0.20"), ("overlay", OVERLAY_DST)):
                data = iperf(lab, b, a, dst, args.seconds)
                gbps = data["end"]["sum_received"]["bits_per_second"] / 1e9
                cpu = data["end"]["cpu_utilization_percent"]
                rows[kind].append({"gbps": gbps, "sender_pct_per_gbps": cpu["host_total"] / gbps,
                                   "receiver_pct_per_gbps": cpu["remote_total"] / gbps})
                log(f"  {kind:<8} {gbps:.2f} Gbit/s, sender {cpu['host_total']:.0f}% "
                    f"receiver {cpu['remote_total']:.0f}%")
        for kind, runs in rows.items():
            out[kind] = {k: summary([r[k] for r in runs]) for k in runs[0]}
        for h in (a, b):
            h.ifdown("tun0")
    return out
