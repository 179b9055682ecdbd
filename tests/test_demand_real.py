"""Hellos on demand with real monitors (monitor/demand.py): two hosts brought up by
real ifup over two links, the BPF spreader counting. Idle, each probes the other at
agg-probe-idle-interval; traffic on the overlay brings both back to the fast interval
(the receiver because the sender's hellos ask), a silent failure under traffic is
found at the fast pace, and once the traffic ends both go idle again."""

import json
import os

import pytest

from lab.cluster import Lab, wait_for

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]

VIRT = {"a": "198.19.254.10", "b": "198.19.254.20"}
ADDR = {"a": ("198.18.44.10", "198.18.45.10"), "b": ("198.18.44.20", "198.18.45.20")}
STANZA = """\
auto tun0
iface tun0 inet static
    address {address}
    netmask 255.255.255.255
    fakenet 198.19.254.0/24
    table 10000 10001
    rspec {a} {b}
    agg-spread bpf
    agg-probe-interval 50
    agg-probe-idle-interval 500
"""
SILENT_DROP = ("nft add table netdev test_drop && nft 'add chain netdev test_drop drop_all "
               "{ type filter hook ingress device eth1 priority 0 ; policy drop ; }'")


@pytest.fixture(scope="module")
def cluster():
    from ifupdown_agg.kernel import bpf
    if not bpf.find_program():
        pytest.skip("no spread.bpf.o (tools/build-bpf)")
    with Lab("dm") as lab:
        a, b = lab.host("a"), lab.host("b")
        for i in range(2):
            lab.segment([(a, f"eth{i}", ADDR["a"][i]), (b, f"eth{i}", ADDR["b"][i])])
        rspec = {h: ":".join((VIRT[h],) + ADDR[h]) for h in "ab"}
        for h in (a, b):
            h.write_interfaces(STANZA.format(address=VIRT[h.name], **rspec))
            h.ifup("tun0")
        yield lab
        for h in (a, b):
            h.ifdown("tun0", check=False)


def hellos_ms(host, peer: str):
    """The interval the host's monitor probes `peer` at now, from its health.json."""
    try:
        with open(os.path.join(host.dir, "run", "ifupdown-agg", "tun0.health.json")) as fh:
            return json.load(fh).get("hellos_ms", {}).get(peer)
    except (OSError, ValueError):
        return None


def both_at(cluster, ms: int) -> bool:
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    return hellos_ms(a, VIRT["b"]) == ms and hellos_ms(b, VIRT["a"]) == ms


def path_row(host, peer, dev):
    for p in host.status("tun0")["peers"]:
        if p["peer"] == peer:
            return next(r for r in p["paths"] if r["dev"] == dev)
    raise AssertionError(peer)


def test_idle_peers_probe_each_other_slowly_and_status_says_so(cluster):
    assert wait_for(lambda: both_at(cluster, 500), 20.0)
    a = cluster.hosts["a"]
    assert "1 of 1 idle peer(s) every 500 ms, woken by the spreader" in a.ifagg("status", "tun0").stdout
    assert path_row(a, VIRT["b"], "eth0")["health"] == "up"


def test_traffic_brings_both_back_fast_and_a_silent_failure_is_found(cluster):
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    assert wait_for(lambda: both_at(cluster, 500), 20.0)
    flow = a.popen(["ping", "-q", "-i", "0.02", "-c", "400", VIRT["b"]])     # 8 s at most
    try:
        assert wait_for(lambda: both_at(cluster, 50), 5.0)
        assert a.status("tun0")["monitor"]["idle_wakes"] >= 1     # the ring woke a's monitor
        b.sh(SILENT_DROP)           # b hears nothing on eth1; carrier stays up
        assert wait_for(lambda: path_row(a, VIRT["b"], "eth1")["health"] == "down", 3.0)
        assert path_row(a, VIRT["b"], "eth0")["health"] == "up"
    finally:
        b.sh("nft delete table netdev test_drop", check=False)
        flow.kill()
        flow.communicate(timeout=10)
    assert wait_for(lambda: path_row(a, VIRT["b"], "eth1")["health"] == "up", 20.0)
    assert wait_for(lambda: both_at(cluster, 500), 20.0)


def test_ifdown_leaves_nothing(cluster):
    for name in "ab":
        h = cluster.hosts[name]
        h.ifdown("tun0")
        assert h.our_objects() == []
