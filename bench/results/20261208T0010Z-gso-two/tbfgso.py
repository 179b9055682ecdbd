"""Does tbf `burst 3kb` lose rate on 2-segment GSO packets? One plain TCP flow on one
serialised 300 Mbit/s link, the sender's NIC at gso_max_segs 65535 (its default), 1, 2 and 3,
alternated; and the same with burst 6kb."""
import os
import sys
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path[:0] = [os.path.join(REPO, "bench"), REPO]   # run as root from anywhere
import datapath
from workloads import two_hosts
from lab.cluster import Lab
for burst in ("3kb", "6kb"):
    with Lab("tg") as lab:
        a, b = two_hosts(lab, [300], burst)
        for rnd in range(2):
            for segs in ("65535", "1", "2", "3"):
                a.run(["ip", "link", "set", "eth0", "gso_max_segs", segs])
                r = datapath.measure_to(lab, a, b, "single-link", "198.18.0.20", (), 4)
                print(f"burst {burst} gso_max_segs {segs:>5}: {r['fwd']:.0f} Mbit/s cpu {r['cpu_s_per_gbit']:.2f} retr {r['retr']}", flush=True)
