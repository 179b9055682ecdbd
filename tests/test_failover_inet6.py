"""The link monitor of an inet6 stanza: IPv6 hellos, failover in the ip6 table.

The dual-stack lab of lab/dualstack.py (hosts a, b, c; tun0's inet and inet6
stanzas over two shaped links, each a bridged segment of all three), brought up by
real ifupdown with a probe key. Each stanza runs its own monitor (tun0, tun0.inet6).
One member link of b fails: silently for IPv6 only (an nft drop of b's IPv6 arrivals
on eth1, carrier up, IPv4 untouched), or by carrier (b's port on the segment goes
down). The IPv6 path a-b on that link must leave both hosts' ip6 rotation, ping6 over
the overlay must go on, and the path must come back after the repair.
"""

import os
import re
import subprocess
import time

import pytest

from lab.cluster import _run, wait_for
from lab.dualstack import HOSTS, dual_stack, virt4, virt6

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]

DROP6 = ("nft add table netdev test_drop6 && nft 'add chain netdev test_drop6 in "
         "{ type filter hook ingress device eth1 priority 0 ; }' && "
         "nft add rule netdev test_drop6 in meta protocol ip6 drop")


@pytest.fixture(scope="module")
def cluster():
    with dual_stack("f6", key=True) as lab:
        yield lab


def path_row(host, name, peer, dev):
    for p in host.status(name)["peers"]:
        if p["peer"] == peer:
            return next(r for r in p["paths"] if r["dev"] == dev)
    raise AssertionError(peer)


def health(host, name, peer, dev):
    return path_row(host, name, peer, dev)["health"]


def rotation_marks(host, peer_index):
    """The marks (tables) the ip6 table's chain of a peer rotates over now."""
    chain = host.run(["nft", "list", "chain", "ip6", "ifagg6_tun0", f"peer_{peer_index}"]).stdout
    found = re.search(r"meta mark set numgen inc mod \d+ map \{([^}]*)\}", chain)
    assert found, chain
    return sorted({int(v.strip(), 0) for v in re.findall(r":\s*(0x[0-9a-f]+|\d+)", found.group(1))})


def ping6(host, dst, count=20):
    out = host.run(["ping", "-6", "-c", str(count), "-i", "0.05", "-W", "1", dst], check=False).stdout
    got = re.search(r"(\d+) received", out)
    return int(got.group(1)) if got else 0


def test_each_stanza_has_its_own_monitor_and_every_ipv6_peer_answers(cluster):
    a = cluster.hosts["a"]
    # health.json is rewritten about once a second: wait until it has every path timed.
    assert wait_for(lambda: all(p["probed"] and all(r["rtt_us"] is not None for r in p["paths"])
                                for p in a.status("tun0.inet6")["peers"]))
    st = a.status("tun0.inet6")
    assert st["monitor"]["running"] and st["monitor"]["authenticated"] is True
    for peer in st["peers"]:
        for row in peer["paths"]:
            assert row["health"] == "up" and not row["rejected"], row
    assert a.status("tun0")["monitor"]["running"]
    run = f"{a.dir}/run/ifupdown-agg"
    pids = {open(f"{run}/{n}.monitor.pid").read().strip() for n in ("tun0", "tun0.inet6")}
    assert len(pids) == 2
    log = open(f"{run}/tun0.inet6.monitor.log").read()
    assert "tun0.inet6: monitoring 4 path(s) to 2 peer(s)" in log and "signed with key 1" in log
    text = a.ifagg("status", "tun0.inet6").stdout
    assert "monitor running" in text and "UNAUTHENTICATED" not in text
    # The hellos are IPv6 datagrams, each socket bound to a member NIC and our hop on it.
    socks = a.run(["ss", "-u", "-a", "-n", "-6"]).stdout
    assert "[fd99::10]%eth0:7431" in socks and "[fd99:1::10]%eth1:7431" in socks, socks


def _carrier(lab, up: bool):
    # b's port on eth1's segment (the second switch; b is its second member).
    _run(["ip", "-n", lab.switches[1], "link", "set", "p1", "up" if up else "down"])


CASES = {
    "ipv6 dropped silently, carrier up": (
        lambda lab: lab.hosts["b"].sh(DROP6),
        lambda lab: lab.hosts["b"].sh("nft delete table netdev test_drop6")),
    "carrier lost on the far end": (
        lambda lab: _carrier(lab, False), lambda lab: _carrier(lab, True)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_failed_ipv6_path_leaves_the_ip6_rotation_and_comes_back(cluster, case):
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    break_it, heal_it = CASES[case]
    index_b = list(HOSTS).index("b")        # b's position in the rspec: its chain
    assert wait_for(lambda: health(a, "tun0.inet6", virt6("b"), "eth1") == "up"
                    and health(b, "tun0.inet6", virt6("a"), "eth1") == "up")
    assert rotation_marks(a, index_b) == [10000, 10001]
    # ping6 across the failure: only what was sent before it was noticed may be lost
    # (without the monitor every other packet a sends to b would be).
    pinger = a.popen(["ping", "-6", "-c", "80", "-i", "0.05", "-W", "1", virt6("b")])
    try:
        time.sleep(0.5)
        break_it(cluster)
        out, _ = pinger.communicate(timeout=30)
        received = int(re.search(r"(\d+) received", out).group(1))
        assert received >= 64, out
        assert wait_for(lambda: health(a, "tun0.inet6", virt6("b"), "eth1") == "down"
                        and health(b, "tun0.inet6", virt6("a"), "eth1") == "down")
        assert rotation_marks(a, index_b) == [10000]
        assert rotation_marks(b, list(HOSTS).index("a")) == [10000]
        assert path_row(a, "tun0.inet6", virt6("b"), "eth1")["reason"]
        # The other paths stay in; so does IPv4 on the same link when only IPv6 is lost.
        assert rotation_marks(a, list(HOSTS).index("c")) == [10000, 10001]
        assert health(a, "tun0.inet6", virt6("c"), "eth1") == "up"
        if "silently" in case:
            assert health(a, "tun0", virt4("b"), "eth1") == "up"
        assert ping6(a, virt6("b")) == 20 and ping6(b, virt6("a")) == 20
        log = open(f"{a.dir}/run/ifupdown-agg/tun0.inet6.monitor.log").read()
        assert f"path to {virt6('b')} via eth1 (fd99:1::20, tables 10001) DOWN" in log
    finally:
        if pinger.poll() is None:
            pinger.kill()
            pinger.communicate()
        heal_it(cluster)
    assert wait_for(lambda: health(a, "tun0.inet6", virt6("b"), "eth1") == "up"
                    and health(b, "tun0.inet6", virt6("a"), "eth1") == "up"), "did not rejoin"
    assert rotation_marks(a, index_b) == [10000, 10001]
    before = path_row(a, "tun0.inet6", virt6("b"), "eth1")["packets"]
    assert ping6(a, virt6("b")) == 20
    assert path_row(a, "tun0.inet6", virt6("b"), "eth1")["packets"] > before, \
        "the healed path carries no share"
    # IPv4 came back (or stayed) too.
    assert wait_for(lambda: health(a, "tun0", virt4("b"), "eth1") == "up")


def test_ifdown_stops_both_monitors_and_leaves_nothing_of_either_family(cluster):
    for h in cluster.hosts.values():
        h.ifdown("tun0")
        assert h.our_objects() == []
        assert subprocess.run(["ip", "netns", "pids", h.ns], capture_output=True,
                              text=True).stdout.split() == []
        left = os.listdir(f"{h.dir}/run/ifupdown-agg")
        assert not [f for f in left if f.startswith("tun0")], left
