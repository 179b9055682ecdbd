"""GSO 1 (auto) vs 2 at 2x300 serialised: retransmits against DSACKs (spurious) and qdisc drops."""
import os
import sys, os, json, re
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path[:0] = [os.path.join(REPO, "bench"), REPO]   # run as root from anywhere
import datapath
from workloads import two_hosts, setup_mptcp, nstat
from lab.cluster import Lab

def drops(h):
    out = h.run(["tc", "-s", "qdisc", "show"]).stdout
    return sum(int(x) for x in re.findall(r"dropped (\d+)", out))

rates, burst = datapath.CELLS[sys.argv[1]]
with Lab("dg") as lab:
    a, b = two_hosts(lab, rates, burst)
    first = True
    for rnd in range(2):
        for gso in ("auto", "2"):
            datapath.EXTRA[:] = [f"agg-gso-max-segs {gso}"]
            datapath.use_spread((a, b), len(rates), "overlay-bpf", first); first = False
            na, da, db = nstat(a), drops(a), drops(b)
            r = datapath.measure(lab, a, b, "overlay-bpf", rates, 4, False)
            nb = nstat(a)
            d = {k: nb.get(k, 0) - na.get(k, 0) for k in ("TcpRetransSegs", "TcpExtTCPDSACKRecv", "TcpExtTCPDSACKRecvSegs", "TcpExtTCPSACKReorder", "TcpExtTCPTSReorder", "TcpExtTCPLostRetransmit", "TcpExtTCPFastRetrans", "TcpExtTCPLossProbes", "TcpExtTCPTimeouts", "TcpExtTCPSpuriousRtxHostQueues", "TcpExtTCPFullUndo", "TcpExtTCPPartialUndo", "TcpExtTCPDSACKUndo", "TcpExtTCPLossUndo", "TcpExtTCPRenoReorder")}
            print(f"gso {gso}: {r['fwd']:.0f} Mbit/s cpu {r['cpu_s_per_gbit']:.2f} drops a {drops(a)-da} b {drops(b)-db}", d, flush=True)
    for h in (a, b):
        h.ifdown("tun0", check=False)
