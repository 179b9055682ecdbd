"""A dual-stack overlay through real ifupdown: an inet and an inet6 stanza on tun0 of
three namespace hosts, over the same two shaped links (each a segment of all three):
lab/dualstack.py."""

import json

import pytest

from lab.cluster import counters, iperf3
from lab.dualstack import HOSTS, LINKS, dual_stack

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]


@pytest.fixture(scope="module")
def cluster():
    with dual_stack("i6") as lab:
        yield lab


def test_ping_and_ping6_cross_the_overlay(cluster):
    for src in cluster.hosts.values():
        for name, n in HOSTS.items():
            if name != src.name:
                src.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", f"198.19.255.{n}"])
                src.run(["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", f"fd99:ff::{n}"])


def test_both_families_are_ours_and_ipv6_is_spread_by_the_ip6_table(cluster):
    a = cluster.hosts["a"]
    rules6 = a.run(["ip", "-6", "rule", "show"]).stdout
    assert "fwmark 0x2710 lookup 10000 proto 173" in rules6.replace("fwmark 10000", "fwmark 0x2710")
    route = a.run(["ip", "-6", "route", "show", "fd99:ff::/64"]).stdout
    assert "src fd99:ff::10" in route and "congctl cubic" in route and "proto 173" in route
    for table in (10000, 10001):
        routes = a.run(["ip", "-6", "route", "show", "table", str(table)]).stdout
        assert "fd99:ff::20 via" in routes and "fd99:ff::30 via" in routes
    assert "table ip6 ifagg6_tun0" in a.run(["nft", "list", "tables"]).stdout
    before = a.run(["nft", "list", "counters", "table", "ip6", "ifagg6_tun0"]).stdout
    a.run(["ping", "-6", "-c", "20", "-i", "0.01", "-W", "2", "fd99:ff::20"])
    after = a.run(["nft", "list", "counters", "table", "ip6", "ifagg6_tun0"]).stdout
    assert before != after
    # The inet stanza's objects are still there beside them.
    assert "198.19.255.20 via" in a.run(["ip", "route", "show", "table", "10000"]).stdout


def test_one_ipv6_flow_beats_the_best_single_link_and_every_link_carries(cluster):
    """#16's check, on this lab's two 200 Mbit/s links (bench/ipv6.py runs 4x200: 3.5x)."""
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    nics = [f"eth{i}" for i in range(LINKS)]
    single = max(iperf3(cluster, b, a, f"fd99:{i}::20", seconds=3) for i in range(LINKS))
    before = counters(a, nics)
    overlay = iperf3(cluster, b, a, "fd99:ff::20", seconds=4)
    sent = {n: v - before[n] for n, v in counters(a, nics).items()}
    print(f"best single link {single / 1e6:.0f} Mbit/s, IPv6 overlay {overlay / 1e6:.0f}, {sent}")
    assert overlay >= 1.5 * single
    assert all(v > 0.25 * sum(sent.values()) for v in sent.values()), sent


def test_status_and_check_cover_both_stanzas(cluster):
    a = cluster.hosts["a"]
    st = json.loads(a.ifagg("status", "--json", check=False).stdout)["overlays"]
    assert [s["iface"] for s in st] == ["tun0", "tun0.inet6"] and all(s["up"] for s in st)
    six = st[1]
    assert six["spread"] == "nft" and [p["peer"] for p in six["peers"]] == ["fd99:ff::20", "fd99:ff::30"]
    assert {r["via"] for p in six["peers"] for r in p["paths"]} == {
        "fd99::20", "fd99:1::20", "fd99::30", "fd99:1::30"}
    checked = json.loads(a.ifagg("check", "--json").stdout)
    assert [s["iface"] for s in checked["stanzas"]] == ["tun0", "tun0.inet6"]
    assert checked["in_sync"], checked


def test_applying_again_changes_nothing(cluster):
    for h in cluster.hosts.values():
        assert "up to date" in h.ifagg("plan", "tun0").stdout
        assert "up to date" in h.ifagg("plan", "tun0.inet6").stdout
        assert h.ifagg("up", "tun0.inet6").stdout.strip() == "tun0.inet6: already up to date"
        assert h.ifagg("up", "tun0").stdout.strip() == "tun0: already up to date"


def test_down_of_the_inet6_overlay_leaves_the_inet_one(cluster):
    a = cluster.hosts["a"]
    before = a.our_objects()
    a.ifagg("down", "tun0.inet6")
    six = a.sh("ip -6 rule show; ip -6 route show table all; nft list tables").stdout
    assert "proto 173" not in six and "ifagg6_" not in six
    # Two rules, a route per peer and table, the fake net's: the inet stanza's, all there.
    assert a.sh("ip -4 rule show; ip -4 route show table all").stdout.count("proto 173") == 7
    a.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", "198.19.255.20"])
    a.ifagg("up", "tun0.inet6")
    assert sorted(a.our_objects()) == sorted(before)
    a.run(["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "fd99:ff::20"])


def test_ifdown_leaves_nothing_of_ours_in_either_family(cluster):
    for h in cluster.hosts.values():
        h.ifdown("tun0")
        assert h.our_objects() == []
        assert "tun0" not in h.run(["ip", "-o", "link"]).stdout
