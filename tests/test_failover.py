"""A failed link costs bandwidth, never a connection; a healed link carries again.

Three hosts over four shaped links, the monitor running on each (started by the
hooks). A long transfer a -> b runs while one path fails: carrier down on the
sender's side, carrier down on the receiver's side, or a silent drop with the
carrier up. The data must arrive intact. No test asserts a duration.
"""

import os
import subprocess

import pytest

from lab.cluster import VIRT, Lab, build_seed_cluster, seed_stanza, wait_for
from lab.transfer import transfer

pytestmark = [pytest.mark.root, pytest.mark.ifupdown, pytest.mark.throughput]
SILENT_DROP = ("nft add table netdev test_drop && nft 'add chain netdev test_drop drop_all "
               "{ type filter hook ingress device eth2 priority 0 ; policy drop ; }'")


@pytest.fixture(scope="module")
def cluster():
    with Lab("fo") as lab:
        hosts = build_seed_cluster(lab, rate="100mbit")
        for h in hosts:
            h.write_interfaces(seed_stanza(VIRT[h.name]))
        for h in hosts:
            h.ifup("tun0")
        yield lab
        for h in hosts:
            h.ifdown("tun0", check=False)


def path_state(host, peer, dev):
    for p in host.status("tun0")["peers"]:
        if p["peer"] == peer:
            states = {row["health"] for row in p["paths"] if row["dev"] == dev}
            return states.pop() if len(states) == 1 else states
    raise AssertionError(peer)


def test_every_peer_answers_probes(cluster):
    a = cluster.hosts["a"]
    assert wait_for(lambda: all(p["probed"] for p in a.status("tun0")["peers"]))
    assert a.status("tun0")["monitor"]["running"]


CASES = {
    "carrier down on the sender": ("a", "eth1", "ip link set eth1 down", "ip link set eth1 up"),
    "carrier down on the receiver": ("b", "eth1", "ip link set eth1 down", "ip link set eth1 up"),
    "silent drop, carrier up": ("b", "eth2", SILENT_DROP,
                                "nft delete table netdev test_drop"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_transfer_survives_a_failed_path_and_the_path_rejoins(cluster, case):
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    where, dev, break_it, heal_it = CASES[case]
    target = cluster.hosts[where]
    result = transfer(cluster, a, b, VIRT["b"], megabytes=120,
                      during=lambda: target.sh(break_it), after_seconds=1.0)
    try:
        assert result["intact"], result
        # Both ends took the path out of the rotation, with a reason.
        assert path_state(a, VIRT["b"], dev) == "down"
        assert path_state(b, VIRT["a"], dev) == "down"
        log = open(f"{a.dir}/run/ifupdown-agg/tun0.monitor.log").read()
        assert f"via {dev}" in log and "DOWN" in log
        if case.startswith("silent"):
            # b heard nothing from a, and a learnt it from b's hellos (FLAG_DRAIN, or their
            # reports of a's): each drained the path before taking it down.
            for host, peer in ((b, VIRT["a"]), (a, VIRT["b"])):
                lines = [ln for ln in open(f"{host.dir}/run/ifupdown-agg/tun0.monitor.log")
                         if f"path to {peer} via {dev} " in ln]
                events = [w for ln in lines for w in ("DRAINED", "DOWN") if f" {w}: " in ln]
                assert events[:2] == ["DRAINED", "DOWN"], (host.name, lines)
    finally:
        target.sh(heal_it)
    assert wait_for(lambda: path_state(a, VIRT["b"], dev) == "up"
                    and path_state(b, VIRT["a"], dev) == "up"), "the path did not rejoin"
    before = {p["dev"]: p["packets"] for p in a.status("tun0")["peers"][1]["paths"]}
    again = transfer(cluster, a, b, VIRT["b"], megabytes=20)
    assert again["intact"], again
    after = {p["dev"]: p["packets"] for p in a.status("tun0")["peers"][1]["paths"]}
    assert after[dev] > before[dev], "the healed path carries no share"


def test_ifdown_stops_the_monitor_and_leaves_nothing(cluster):
    for h in cluster.hosts.values():
        h.ifdown("tun0")
        assert h.our_objects() == []
        # The monitor was the only process living in the host's namespace.
        assert subprocess.run(["ip", "netns", "pids", h.ns], capture_output=True,
                              text=True).stdout.split() == []
        assert not os.path.exists(f"{h.dir}/run/ifupdown-agg/tun0.monitor.pid")
