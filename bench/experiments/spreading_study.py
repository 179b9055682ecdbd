#!/usr/bin/python3
"""Spreading design study (issues #14/#19): two namespaces, two veth members.

Not a test and not package code. Everything lives in namespaces named
spr<pid>-a/-b, removed in a finally block. Addresses: members 198.18.<i>.0/30,
overlay 198.19.0.1 <-> 198.19.0.2. Usage: spreading_study.py OUTDIR BPF_DIR
(BPF_DIR/spread.c: the program in bench/results/20261201-spreading-design-study.md;
run as root, needs clang, iperf3, nft, tc.)
"""
import json, os, subprocess, sys, time

PID = os.getpid()
A, B = f"spr{PID}-a", f"spr{PID}-b"
OUT, BPFDIR = sys.argv[1], sys.argv[2]
T = 4
REPS = int(os.environ.get("REPS", "3"))


def sh(cmd, ns=None, check=True, timeout=30):
    full = (["ip", "netns", "exec", ns] if ns else []) + ["sh", "-c", cmd]
    r = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode:
        raise RuntimeError(f"{ns}: {cmd}: {r.stderr.strip()}")
    return r.stdout


def stat():
    f = open("/proc/stat").readline().split()[1:8]
    return [int(x) for x in f]   # user nice system idle iowait irq softirq


def netstat(ns):
    lines = sh("cat /proc/net/netstat /proc/net/snmp", ns).splitlines()
    d = {}
    for h, v in zip(lines[0::2], lines[1::2]):
        p = h.split()[0]
        for k, x in zip(h.split()[1:], v.split()[1:]):
            try:
                d[p + k] = int(x)
            except ValueError:
                pass
    return d


def mac(i, side):
    return f"02:00:00:00:{i:02x}:{0xa if side == 'a' else 0xb:02x}"


def setup():
    for ns in (A, B):
        sh(f"ip netns add {ns}")
        sh("ip link set lo up; sysctl -qw net.ipv4.conf.all.rp_filter=0 "
           "net.ipv4.conf.default.rp_filter=0 net.ipv4.ip_forward=0", ns)
    for i in range(2):
        sh(f"ip link add m{i}a netns {A} type veth peer name m{i}b netns {B}")
        for ns, s, o in ((A, "a", 1), (B, "b", 2)):
            sh(f"ip link set m{i}{s} address {mac(0, s)} up; "
               f"ip addr add 198.18.{i}.{o}/30 dev m{i}{s}; "
               f"sysctl -qw net.ipv4.conf.m{i}{s}.rp_filter=0", ns)
    for ns, s, o, p in ((A, "a", 1, 2), (B, "b", 2, 1)):
        # The overlay device: a veth pair standing in for the tun (carrier up,
        # gso_max_segs settable); its address is the flow's endpoint.
        sh(f"ip link add ov type veth peer name ovp; ip link set ov up; "
           f"ip link set ovp up; ip addr add 198.19.0.{o}/32 dev ov; "
           f"ip route add 198.19.0.{p}/32 dev ov src 198.19.0.{o}; "
           f"ip route add 198.19.0.{p}/32 via 198.18.0.{p} dev m0{s} table 101; "
           f"ip route add 198.19.0.{p}/32 via 198.18.1.{p} dev m1{s} table 102; "
           f"ip rule add fwmark 1 table 101; ip rule add fwmark 2 table 102", ns)
        # Same MAC on both members of a side: a BPF redirect m0->m1 needs no L2 rewrite.
        for i in range(2):
            sh(f"ip neigh replace 198.18.{i}.{p} lladdr {mac(0, 'b' if s == 'a' else 'a')} dev m{i}{s}", ns)
    sh(f"iperf3 -s -D -B 198.19.0.2 -p 5201; iperf3 -s -D -B 198.18.0.2 -p 5202", B)


def shape(rate):
    for ns, s in ((A, "a"), (B, "b")):
        for i in range(2):
            sh(f"tc qdisc del dev m{i}{s} root 2>/dev/null; true", ns)
            if rate:
                sh(f"tc qdisc add dev m{i}{s} root tbf rate {rate}mbit burst 3kb latency 20ms", ns)


def reset_design():
    for ns, s, p in ((A, "a", 2), (B, "b", 1)):
        sh("nft flush ruleset; tc qdisc del dev m0%s clsact 2>/dev/null; true" % s, ns)
        sh(f"ip link set ov gso_max_segs 65535; ip link set m0{s} gso_max_segs 65535; "
           f"ip link set m1{s} gso_max_segs 65535; sysctl -qw net.ipv4.tcp_reordering=3; "
           f"ip route replace 198.19.0.{p}/32 dev ov src 198.19.0.{3 - p}", ns)


def design(name, segs=1, reord=None, run=None):
    reset_design()
    for ns, s, p in ((A, "a", 2), (B, "b", 1)):
        if name.startswith("nft"):
            sh(f"ip link set ov gso_max_segs {segs}", ns)
            sh("nft -f - <<'E'\ntable ip spr {\n chain output {\n  type route hook output priority mangle;\n"
               f"  ip daddr 198.19.0.{p} meta mark set numgen inc mod 2 map {{ 0 : 1, 1 : 2 }}\n }}\n}}\nE", ns)
        if name.startswith("bpf"):
            # No marks: route via m0; tc egress on m0 moves every other RUN bytes to m1.
            # The socket's route is now m0, so m0/m1 carry the GSO cap.
            sh(f"ip link set m0{s} gso_max_segs {segs}; ip link set m1{s} gso_max_segs {segs}; "
               f"ip route replace 198.19.0.{p}/32 via 198.18.0.{p} dev m0{s} src 198.19.0.{3 - p}", ns)
            idx = sh(f"cat /sys/class/net/m1{s}/ifindex", ns).strip()
            obj = f"{BPFDIR}/spread_{idx}_{run}.o"
            if not os.path.exists(obj):
                subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu",
                                f"-DOTHER={idx}", f"-DRUN={run}", "-c", f"{BPFDIR}/spread.c", "-o", obj],
                               check=True, timeout=60)
            sh(f"tc qdisc add dev m0{s} clsact; tc filter add dev m0{s} egress bpf da obj {obj} sec tc", ns)
        if reord:
            sh(f"sysctl -qw net.ipv4.tcp_reordering={reord}", ns)


def flow(bidir, dst="198.19.0.2", port=5201):
    n0a, n0b, s0 = netstat(A), netstat(B), stat()
    ss = []
    args = f"iperf3 -J -t {T} -c {dst} -p {port} -C cubic" + (" --bidir" if bidir else "")
    p = subprocess.Popen(["ip", "netns", "exec", A, "sh", "-c", args], stdout=subprocess.PIPE, text=True)
    time.sleep(T - 1)
    ss.append(sh("ss -tin dst " + dst, A, check=False))
    out, _ = p.communicate(timeout=T + 20)
    s1, n1a, n1b = stat(), netstat(A), netstat(B)
    j = json.loads(out)
    d = [b - a for a, b in zip(s0, s1)]
    res = {"ss": ss, "cpu_jiffies": d,
           "tcpext_a": {k: n1a[k] - n0a.get(k, 0) for k in n1a if "Reord" in k or "Retrans" in k or "DSACK" in k},
           "tcpext_b": {k: n1b[k] - n0b.get(k, 0) for k in n1b if "Reord" in k or "OFO" in k or "DSACK" in k}}
    e = j["end"]
    res["fwd_mbit"] = e["sum_received"]["bits_per_second"] / 1e6
    res["retr"] = e["sum_sent"].get("retransmits")
    if bidir:
        res["rev_mbit"] = e["sum_received_bidir_reverse"]["bits_per_second"] / 1e6
        res["rev_retr"] = e["sum_sent_bidir_reverse"].get("retransmits")
    return res


CASES = {
    "unshaped": (0, False, [("plain", {}), ("nft1", {"segs": 1}), ("nft8", {"segs": 8}),
                            ("nft8_reord127", {"segs": 8, "reord": 127}),
                            ("bpf_run64k_gso", {"segs": 65535, "run": 65536}),
                            ("bpf_run16k_gso8", {"segs": 8, "run": 16384})]),
    "shaped300": (300, False, [("plain", {}), ("nft1", {"segs": 1}), ("nft4", {"segs": 4}),
                               ("nft4_reord127", {"segs": 4, "reord": 127}),
                               ("bpf_run3k_gso2", {"segs": 2, "run": 3000}),
                               ("bpf_run12k_gso8_reord127", {"segs": 8, "run": 12000, "reord": 127})]),
    "shaped300_bidir": (300, True, [("nft1", {"segs": 1}), ("nft4_reord127", {"segs": 4, "reord": 127}),
                                    ("bpf_run3k_gso2", {"segs": 2, "run": 3000})]),
}


def main():
    results = {}
    try:
        setup()
        for case, (rate, bidir, comps) in CASES.items():
            if time.time() > float(os.environ.get("STOP_AT", "1e12")):
                break
            shape(rate)
            for rep in range(REPS):
                for name, kw in comps:
                    if name == "plain":
                        reset_design()
                        r = flow(bidir, "198.18.0.2", 5202)
                    else:
                        design(name, **kw)
                        r = flow(bidir)
                    results.setdefault(case, {}).setdefault(name, []).append(r)
                    print(case, rep, name, round(r["fwd_mbit"]), r.get("rev_mbit"), r["retr"],
                          r["cpu_jiffies"], flush=True)
                    json.dump(results, open(f"{OUT}/raw.json", "w"))
    finally:
        for ns in (A, B):
            subprocess.run(["sh", "-c", f"ip netns pids {ns} | xargs -r kill"], timeout=10)
            subprocess.run(["ip", "netns", "del", ns], timeout=10)


if __name__ == "__main__":
    main()
