"""An inet6 overlay whose member links carry IPv6 link-local addresses only (no IPv4, no
global or ULA), through real ifupdown: three namespace hosts on two shaped links, each
a segment of all three. Every hop is written fe80::X%NIC, the same rspec on every host.

The hosts get their link-local hops three ways: a from ifupdown (`iface ethN inet6
static`, which waits for DAD), b from the lab (nodad), c from the kernel (EUI-64 from
fixed MACs), whose DAD is still under way when tun0 comes up: a tentative own hop is
the NIC's (hops.py)."""

import json
import re
import time

import pytest

from lab.cluster import Lab, counters, eui64, iperf3

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]
HOSTS = {"a": 10, "b": 20, "c": 30}
NICS = ("eth0", "eth1")
# Host c's DAD lasts this many seconds (one probe a second): its ifup of tun0 ends well
# before, even on a busy machine.
C_DAD_PROBES = 12

OVERLAY = """\
auto tun0
iface tun0 inet6 static
    address fd99:ff::{n}
    netmask 128
    fakenet fd99:ff::/64
    table 10000 10001
    rspec {rspec}
"""
NIC_STANZA = """\
auto eth{i}
iface eth{i} inet6 static
    address {lladdr}/64

"""


def mac(name: str, i: int) -> str:
    return f"02:00:00:00:0{i}:{HOSTS[name]:02x}"


def lladdr(name: str, i: int) -> str:
    if name == "c":
        return eui64(mac(name, i))
    return f"fe80::{i}:{HOSTS[name]}" if i else f"fe80::{HOSTS[name]}"


def rspec() -> str:
    return " ".join(f"[fd99:ff::{n}]:" + ":".join(f"[{lladdr(name, i)}%eth{i}]" for i in (0, 1))
                    for name, n in HOSTS.items())


def tentative(h, nic: str) -> str:
    return h.run(["ip", "-6", "-o", "addr", "show", "dev", nic, "tentative"]).stdout


def settled(h, timeout: float = 30) -> None:
    """Bounded: until no address of the host's member NICs is in DAD."""
    deadline = time.monotonic() + timeout
    while any(tentative(h, nic) for nic in NICS):
        assert time.monotonic() < deadline, f"{h.name}: DAD did not end"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster():
    with Lab("ll") as lab:
        hosts = {name: lab.host(name) for name in HOSTS}
        hosts["c"].sh("; ".join(f"sysctl -qw net.ipv6.conf.{k}.dad_transmits={C_DAD_PROBES}"
                                for k in ("default", "all")))
        for i in (0, 1):
            lab.link_local_segment(
                [(hosts["a"], f"eth{i}", "down", None),
                 (hosts["b"], f"eth{i}", lladdr("b", i), None),
                 (hosts["c"], f"eth{i}", "down", mac("c", i))], rate="200mbit")
        a = hosts["a"]
        a.write_interfaces("".join(NIC_STANZA.format(i=i, lladdr=lladdr("a", i)) for i in (0, 1))
                           + OVERLAY.format(n=HOSTS["a"], rspec=rspec()))
        for nic in NICS:
            a.ifup(nic)         # ifupdown waits for DAD (settle-dad.sh)
        for name in ("b", "c"):
            hosts[name].write_interfaces(OVERLAY.format(n=HOSTS[name], rspec=rspec()))
        for name in ("a", "b"):
            hosts[name].ifup("tun0")
        c = hosts["c"]
        c.sh("ip link set eth0 up && ip link set eth1 up")     # the kernel's DAD starts
        lab.c_tentative = [tentative(c, nic) for nic in NICS]
        c.ifup("tun0")
        # Still in DAD after its ifup, so it was all along: a tentative own hop passes.
        lab.c_tentative_after = [tentative(c, nic) for nic in NICS]
        for h in hosts.values():
            settled(h)
        yield lab


def test_member_links_hold_link_local_addresses_only(cluster):
    for h in cluster.hosts.values():
        for i, nic in enumerate(NICS):
            out = h.run(["ip", "-o", "addr", "show", "dev", nic]).stdout
            assert f"inet6 {lladdr(h.name, i)}/64 scope link" in out
            assert " inet " not in out and "scope global" not in out, out


def test_host_c_came_up_while_its_eui64_hops_were_tentative(cluster):
    for i, (before, after) in enumerate(zip(cluster.c_tentative, cluster.c_tentative_after)):
        assert lladdr("c", i) in before and lladdr("c", i) in after, (before, after)
    assert not any(tentative(cluster.hosts["c"], nic) for nic in NICS)


def test_routes_go_via_link_local_next_hops_on_each_tables_nic(cluster):
    a = cluster.hosts["a"]
    for i, table in enumerate((10000, 10001)):
        routes = a.run(["ip", "-6", "route", "show", "table", str(table)]).stdout
        for peer in ("b", "c"):
            assert (f"fd99:ff::{HOSTS[peer]} via {lladdr(peer, i)} dev eth{i} proto 173"
                    in routes), routes


def test_ping6_crosses_the_overlay_between_every_pair(cluster):
    for src in cluster.hosts.values():
        for name, n in HOSTS.items():
            if name != src.name:
                src.run(["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", f"fd99:ff::{n}"])


@pytest.mark.throughput
def test_one_tcp_flow_uses_every_link(cluster):
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    before = counters(a, NICS)
    rate = iperf3(cluster, b, a, "fd99:ff::20", seconds=3, extra=["-6"])
    sent = {nic: n - before[nic] for nic, n in counters(a, NICS).items()}
    print(f"one flow over two link-local links: {rate / 1e6:.0f} Mbit/s, tx bytes {sent}")
    assert rate > 0
    assert all(n > 0.25 * sum(sent.values()) for n in sent.values()), sent


def test_the_monitor_runs_over_link_local_paths_and_keeps_them_up(cluster):
    """The inet6 stanza's monitor sends its hellos over the link-local hops (scope id =
    the NIC): every path is timed and up, both tables keep their marks, and status
    lists every path by its link-local next hop."""
    a = cluster.hosts["a"]
    deadline = time.monotonic() + 15
    for _ in range(60):                 # health.json is rewritten about once a second
        st = json.loads(a.ifagg("status", "--json", "tun0.inet6").stdout)["overlays"][0]
        timed = all(r.get("rtt_us") is not None for p in st["peers"] for r in p["paths"])
        if timed or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert st["monitor"]["running"], st["monitor"]
    for peer in st["peers"]:
        for row in peer["paths"]:
            assert row["health"] == "up" and row["rtt_us"] is not None, row
    assert {r["via"] for p in st["peers"] for r in p["paths"]} == {
        lladdr(peer, i) for peer in ("b", "c") for i in (0, 1)}
    nft = a.run(["nft", "list", "table", "ip6", "ifagg6_tun0"]).stdout
    # One chain per peer, each rotating over both tables (the monitor may weigh them
    # by what it measures: mod 7 over 4 and 3, say).
    rotations = re.findall(r"meta mark set numgen inc mod \d+ map \{([^}]*)\}", nft)
    assert len(rotations) == 2, nft
    for slots in rotations:
        marks = {int(m, 0) for m in re.findall(r": (\w+)", slots)}
        assert marks == {10000, 10001}, nft


def test_applying_again_changes_nothing(cluster):
    for h in cluster.hosts.values():
        assert "up to date" in h.ifagg("plan", "tun0.inet6").stdout
        assert h.ifagg("up", "tun0.inet6").stdout.strip() == "tun0.inet6: already up to date"
        checked = json.loads(h.ifagg("check", "--json").stdout)
        assert checked["in_sync"], checked


def test_ifdown_leaves_nothing_of_ours(cluster):
    for h in cluster.hosts.values():
        h.ifdown("tun0")
        assert h.our_objects() == []
        assert "tun0" not in h.run(["ip", "-o", "link"]).stdout
