"""Kernel.qdisc_stats against a real tbf in a namespace, with a flow filling it.

No duration is asserted: the flow runs for a bounded time and the reader
samples a bounded number of times. IFAGG_LAB_PYTHONPATH (as in lab/cluster.py)
puts another pyroute2 first, e.g. 0.9.x from PyPI.
"""

import json
import os
import sys

import pytest

from lab.cluster import REPO, Lab

pytestmark = pytest.mark.root

# Offers ~40 Mbit/s of UDP for at most 3 s into a 10 Mbit/s tbf: its queue fills.
BLAST = r"""
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.monotonic() + 3
payload = b"x" * 1400
while time.monotonic() < end:
    for _ in range(36):
        s.sendto(payload, ("198.18.90.2", 9))
    time.sleep(0.01)
"""

READ = r"""
import json, sys, time
from ifupdown_agg.kernel.netlink import Kernel
k = Kernel()
seen = []
for _ in range(40):
    seen.append(k.qdisc_stats(["eth0"])["eth0"])
    if seen[-1].backlog:
        break
    time.sleep(0.05)
lo = k.qdisc_stats(["lo"])["lo"]
print(json.dumps({"eth0": [s.backlog for s in seen], "sent": [s.sent for s in seen],
                  "lo": lo.backlog if lo else None,
                  "gone": k.qdisc_stats(["nosuch0"])["nosuch0"]}))
"""


def _python(host, code):
    path = ":".join(p for p in (os.environ.get("IFAGG_LAB_PYTHONPATH"), REPO) if p)
    res = host.run(["env", f"PYTHONPATH={path}", sys.executable, "-c", code], timeout=30)
    return json.loads(res.stdout)


def test_backlog_of_a_tbf_with_a_flow_and_of_an_idle_link():
    with Lab("qb") as lab:
        a, b = lab.host("a"), lab.host("b")
        lab.segment([(a, "eth0", "198.18.90.1"), (b, "eth0", "198.18.90.2")],
                    rate="10mbit", burst="3kb", latency="200ms")
        idle = _python(a, READ.replace("range(40)", "range(1)"))
        assert idle["eth0"] == [0]          # a tbf, nothing queued
        assert idle["gone"] is None         # no such device: no reading, no error
        a.run(["ip", "neigh", "replace", "198.18.90.2", "lladdr", "02:00:00:00:00:02",
               "dev", "eth0"])              # no ARP wait before the queue fills
        blast = lab.spawn(a, [sys.executable, "-c", BLAST])
        try:
            busy = _python(a, READ)
        finally:
            blast.kill()
        assert max(v or 0 for v in busy["eth0"]) > 1400   # at least one packet waiting
        # The bytes it sent grow with the flow (read beside the backlog, one dump).
        assert busy["sent"][-1] > max(idle["sent"][0], 1400)
        assert busy["lo"] in (0, None)      # noqueue or nothing at all on lo
