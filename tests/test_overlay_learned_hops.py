"""Next hops learned instead of written (issue #16 item 3), through real ifupdown: two
namespace hosts joined by two direct cables (no switch), whose NICs hold only the
kernel's own link-local addresses (EUI-64, from fixed MACs): no IPv4, no global or ULA
address on any member link, and none written anywhere. The inet6 tun0's rspec writes
every hop as its NIC, [eth0]:[eth1], the same text on both hosts; the monitors sign
their hellos with one key file, learn each other's hops from the hellos sent to ff02::1,
and route them (monitor/learn.py)."""

import json
import os
import re
import time

import pytest

from lab.cluster import Lab, counters, eui64

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]
HOSTS = {"a": 10, "b": 20}
NICS = ("eth0", "eth1")
TABLES = (10000, 10001)
LEARN_WAIT = 40         # seconds, bounded: a few hello intervals, on a loaded machine

OVERLAY = """\
auto tun0
iface tun0 inet6 static
    address fd99:ff::{n}
    netmask 128
    fakenet fd99:ff::/64
    table 10000 10001
    agg-probe-key-file {key}
    rspec [fd99:ff::10]:[eth0]:[eth1] [fd99:ff::20]:[eth0]:[eth1]
"""


def mac(name: str, i: int) -> str:
    return f"02:00:00:00:0{i}:{HOSTS[name]:02x}"


def learned_file(h) -> str:
    return os.path.join(h.dir, "run", "ifupdown-agg", "tun0.inet6.learned.json")


def learned(h) -> dict:
    try:
        with open(learned_file(h)) as fh:
            return {(x["virt"], x["dev"]): x["hop"] for x in json.load(fh)["hops"]}
    except (OSError, ValueError, KeyError):
        return {}


def routes(h, table: int) -> str:
    return h.run(["ip", "-6", "route", "show", "table", str(table)]).stdout


def table_counters(h) -> dict:
    nft = h.run(["nft", "list", "table", "ip6", "ifagg6_tun0"]).stdout
    return {name: int(n) for name, n in re.findall(r"counter (p\d+_t\d+) \{\s*packets (\d+)", nft)}


def settled(h, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while h.run(["ip", "-6", "-o", "addr", "show", "tentative"]).stdout.strip():
        assert time.monotonic() < deadline, f"{h.name}: DAD did not end"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster():
    with Lab("lrn") as lab:
        hosts = {name: lab.host(name) for name in HOSTS}
        for i in (0, 1):        # a direct cable per NIC: a veth pair
            lab.link_local_segment([(h, f"eth{i}", None, mac(name, i))
                                    for name, h in hosts.items()], rate="200mbit")
        key = os.path.join(lab.root, "probe.key")
        with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fh:
            fh.write("1 " + "5a" * 32 + "\n")
        for name, h in hosts.items():
            settled(h)
            h.write_interfaces(OVERLAY.format(n=HOSTS[name], key=key))
        try:
            for h in hosts.values():
                h.ifup("tun0")
            lab.learn_s = wait_learned(hosts)
            yield lab
        finally:
            for h in hosts.values():
                h.ifdown("tun0", check=False)


def wait_learned(hosts) -> float:
    """Bounded: until every host learned both of its peer's hops and routes them."""
    t0 = time.monotonic()
    for _ in range(LEARN_WAIT * 4):
        if all(len(learned(h)) == 2 and all("via fe80" in routes(h, t) for t in TABLES)
               for h in hosts.values()):
            break
        if time.monotonic() - t0 > LEARN_WAIT:
            break
        time.sleep(0.25)
    return time.monotonic() - t0


def test_member_links_hold_the_kernels_link_local_addresses_only(cluster):
    for name, h in cluster.hosts.items():
        for i, nic in enumerate(NICS):
            out = h.run(["ip", "-o", "addr", "show", "dev", nic]).stdout
            assert f"inet6 {eui64(mac(name, i))}/64 scope link" in out, out
            assert " inet " not in out and "scope global" not in out, out


def test_each_host_learned_its_peers_hops_from_the_hellos(cluster):
    print(f"learned within {cluster.learn_s:.1f} s")
    for name, h in cluster.hosts.items():
        (peer,) = [p for p in HOSTS if p != name]
        assert learned(h) == {(f"fd99:ff::{HOSTS[peer]}", f"eth{i}"): eui64(mac(peer, i))
                              for i in (0, 1)}, h.name
        for i, table in enumerate(TABLES):
            assert (f"fd99:ff::{HOSTS[peer]} via {eui64(mac(peer, i))} dev eth{i} proto 173"
                    in routes(h, table)), routes(h, table)


def test_ping6_crosses_the_overlay_and_each_table_carries_it(cluster):
    """Each table's nft counter for the peer (packets marked for it) and each NIC's
    packet counter grow with the pings."""
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    marked, before = table_counters(a), counters(a, NICS, "tx_packets")
    a.run(["ping", "-6", "-c", "20", "-i", "0.05", "-W", "2", "fd99:ff::20"])
    b.run(["ping", "-6", "-c", "4", "-i", "0.2", "-W", "2", "fd99:ff::10"])
    grew = {k: n - marked.get(k, 0) for k, n in table_counters(a).items()}
    assert set(grew) == {f"p1_t{t}" for t in TABLES} and all(n >= 5 for n in grew.values()), grew
    sent = {nic: n - before[nic] for nic, n in counters(a, NICS, "tx_packets").items()}
    assert all(n >= 5 for n in sent.values()), sent


def test_the_monitor_keeps_the_learned_paths_up(cluster):
    a = cluster.hosts["a"]
    deadline = time.monotonic() + 15
    for _ in range(60):
        st = a.status("tun0.inet6")
        rows = [r for p in st.get("peers", []) for r in p["paths"]]
        if (len(rows) == 2 and all(r["health"] == "up" for r in rows)) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert st["monitor"]["running"], st["monitor"]
    assert {r["via"] for r in rows} == {eui64(mac("b", i)) for i in (0, 1)}, rows
    assert all(r["health"] == "up" for r in rows), rows


def test_check_sees_no_drift_in_learned_routes(cluster):
    for h in cluster.hosts.values():
        checked = json.loads(h.ifagg("check", "--json").stdout)
        assert checked["in_sync"], checked


def test_a_host_brought_down_and_up_again_learns_again(cluster):
    """b forgets (ifdown removes its learned file and routes) while a keeps its own: b
    learns again from a's hellos, and the overlay carries pings again."""
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    b.ifdown("tun0")
    assert not os.path.exists(learned_file(b)) and b.our_objects() == []
    b.ifup("tun0")
    wait_learned(cluster.hosts)
    assert learned(b) == {("fd99:ff::10", f"eth{i}"): eui64(mac("a", i)) for i in (0, 1)}
    b.run(["ping", "-6", "-c", "4", "-i", "0.2", "-W", "2", "fd99:ff::10"])
    assert learned(a) == {("fd99:ff::20", f"eth{i}"): eui64(mac("b", i)) for i in (0, 1)}


def test_ifdown_leaves_nothing_learned_nor_routed(cluster):
    for h in cluster.hosts.values():
        h.ifdown("tun0")
        assert h.our_objects() == []
        assert not os.path.exists(learned_file(h))


# ---- three hosts on two switched segments ------------------------------------------------

HOSTS3 = {"a": 10, "b": 20, "c": 30}
OVERLAY3 = OVERLAY.replace("rspec [fd99:ff::10]:[eth0]:[eth1] [fd99:ff::20]:[eth0]:[eth1]",
                           "rspec [fd99:ff::10]:[eth0]:[eth1] [fd99:ff::20]:[eth0]:[eth1] \\\n"
                           "          [fd99:ff::30]:[eth0]:[eth1]")


def mac3(name: str, i: int) -> str:
    return f"02:00:00:00:1{i}:{HOSTS3[name]:02x}"


def test_three_hosts_on_switches_learn_every_peer_and_leave_nothing():
    """On a switch the ff02::1 hello reaches every peer at once: each host learns both
    peers on both links (four hops; the monitor starts over after each lesson), pings
    cross every pair, and ifdown leaves nothing."""
    with Lab("lrn3") as lab:
        hosts = {name: lab.host(name) for name in HOSTS3}
        for i in (0, 1):
            lab.link_local_segment([(h, f"eth{i}", None, mac3(name, i))
                                    for name, h in hosts.items()])
        key = os.path.join(lab.root, "probe.key")
        with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fh:
            fh.write("1 " + "3c" * 32 + "\n")
        try:
            for name, h in hosts.items():
                settled(h)
                h.write_interfaces(OVERLAY3.format(n=HOSTS3[name], key=key))
            for h in hosts.values():
                h.ifup("tun0")
            t0 = time.monotonic()
            while time.monotonic() - t0 < LEARN_WAIT and not all(
                    len(learned(h)) == 4 for h in hosts.values()):
                time.sleep(0.25)
            for name, h in hosts.items():
                assert learned(h) == {(f"fd99:ff::{n}", f"eth{i}"): eui64(mac3(peer, i))
                                      for peer, n in HOSTS3.items() if peer != name
                                      for i in (0, 1)}, name
            for src in hosts.values():
                for name, n in HOSTS3.items():
                    if name != src.name:
                        src.run(["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2",
                                 f"fd99:ff::{n}"])
            for h in hosts.values():
                assert json.loads(h.ifagg("check", "--json").stdout)["in_sync"], h.name
        finally:
            for h in hosts.values():
                h.ifdown("tun0", check=False)
        for h in hosts.values():
            assert h.our_objects() == [] and not os.path.exists(learned_file(h))
