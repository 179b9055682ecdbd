"""min_rtt and RACK-related ss fields of the overlay flow mid-run, GSO auto vs 2, 2x300 serialised."""
import os
import sys, re, threading, time
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path[:0] = [os.path.join(REPO, "bench"), REPO]   # run as root from anywhere
import datapath
from workloads import two_hosts
from lab.cluster import Lab
rates, burst = datapath.CELLS[sys.argv[1]]
with Lab("mr") as lab:
    a, b = two_hosts(lab, rates, burst)
    first = True
    for gso in ("auto", "2"):
        datapath.EXTRA[:] = [f"agg-gso-max-segs {gso}"]
        datapath.use_spread((a, b), len(rates), "overlay-bpf", first); first = False
        res = {}
        t = threading.Thread(target=lambda: res.update(datapath.measure(lab, a, b, "overlay-bpf", rates, 5, False)))
        t.start(); time.sleep(3)
        out = a.run(["ss", "-tin", "dst", datapath.OVERLAY_DST]).stdout
        t.join(60)
        fields = [f for f in out.split() if re.match(r"(rtt|minrtt|reordering|reord_seen|dsack_dups|retrans|cwnd|unacked|rcv_ooopack):", f)]
        print(f"gso {gso}: {res.get('fwd', 0):.0f} Mbit/s", " ".join(fields[-12:]), flush=True)
    for h in (a, b):
        h.ifdown("tun0", check=False)
