"""Bad stanzas through real ifup: a located error, a failed ifup, nothing left behind."""

import os

import pytest

from lab.cluster import Lab

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]

STANZA = """\
auto lo
iface lo inet loopback

auto tun0
iface tun0 inet static
    address {address}
    netmask 255.255.255.255
    fakenet 198.19.255.0/24
    table {tables}
    rspec {rspec}
{extra}"""
GOOD = dict(address="198.19.255.10", tables="10000 10001",
            rspec="198.19.255.10:198.18.0.10:198.18.1.10 198.19.255.20:198.18.0.20:198.18.1.20",
            extra="")


@pytest.fixture(scope="module")
def host():
    with Lab("err") as lab:
        a, b = lab.host("a"), lab.host("b")
        for i in range(2):
            lab.segment([(a, f"eth{i}", f"198.18.{i}.10"), (b, f"eth{i}", f"198.18.{i}.20")])
        yield a


CASES = [
    ("malformed rspec",
     dict(rspec="198.19.255.10:198.18.0.10:198.18.1 198.19.255.20:198.18.0.20"),
     "/etc/network/interfaces:10: tun0: rspec: '198.18.1' is not an IPv4 address"),
    ("more hops than tables",
     dict(tables="10000"),
     "/etc/network/interfaces:10: tun0: rspec: entry for 198.19.255.10 has 2 hops but 'table' lists 1 tables"),
    ("our address missing from the rspec",
     dict(rspec="198.19.255.11:198.18.0.10 198.19.255.20:198.18.0.20"),
     "/etc/network/interfaces:10: tun0: rspec: has no entry for this host's address 198.19.255.10"),
    ("address outside the fakenet",
     dict(address="198.19.254.10"),
     "/etc/network/interfaces:6: tun0: address: '198.19.254.10' is outside fakenet 198.19.255.0/24"),
    ("duplicate virtual address",
     dict(rspec="198.19.255.10:198.18.0.10 198.19.255.20:198.18.0.20 198.19.255.20:198.18.1.20"),
     "/etc/network/interfaces:10: tun0: rspec: virtual address '198.19.255.20' is listed twice"),
    ("table already used by a foreign route",
     dict(tables="10000 10001"),
     "/etc/network/interfaces:9: tun0: table: table 10001 already holds a route that ifupdown-agg did not make"),
    ("kernel refuses a change half way: everything is undone",
     dict(extra="    agg-congctl nosuchcc\n"),
     "ip route add 198.19.255.0/24 dev tun0 src 198.19.255.10 proto 173 rto_min 100ms congctl nosuchcc: Invalid argument (is congestion control 'nosuchcc' known to this kernel?"),
]


@pytest.mark.parametrize("values,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_ifup_cleanly(host, values, message):
    foreign = "table already used" in message or "already holds" in message
    if foreign:
        host.run(["ip", "route", "add", "198.51.100.0/24", "via", "198.18.1.20", "table", "10001"])
    try:
        host.write_interfaces(STANZA.format(**dict(GOOD, **values)))
        before = host.run(["ip", "-o", "link"]).stdout
        res = host.ifup("tun0", check=False)
        assert res.returncode != 0
        assert message in res.stderr, res.stderr
        assert host.our_objects() == []
        assert host.run(["ip", "-o", "link"]).stdout == before
        assert not os.path.exists(f"{host.dir}/run/ifupdown-agg/tun0.json")
    finally:
        if foreign:
            host.run(["ip", "route", "flush", "table", "10001"])
