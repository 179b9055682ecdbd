"""An overlay's inet6 stanza: IPv6 values in the same option rows, and its errors
located by file, line, option and token (ifagg check --syntax)."""

import subprocess
import sys

import pytest

from ifupdown_agg.config import across

INET = """auto tun0
iface tun0 inet static
    address 10.99.255.10
    netmask 255.255.255.255
    fakenet 10.99.255.0/24
    table 10000 10001
    rspec 10.99.255.10:10.99.0.10:10.99.1.10 10.99.255.20:10.99.0.20:10.99.1.20
"""

INET6 = """
iface tun0 inet6 static
    address {address}
    netmask 128
    fakenet {fakenet}
    table {table}
    rspec [fd99:ff::10]:[fd99:0::10]:[fd99:1::10] \\
          {peer}
"""

GOOD6 = dict(address="fd99:ff::10", fakenet="fd99:ff::/64", table="10000 10001",
             peer="[fd99:ff::20]:[fd99:0::20]:[fd99:1::20]")


def write(tmp_path, inet=True, **changes):
    path = tmp_path / "interfaces"
    path.write_text((INET if inet else "auto tun0\n") + INET6.format(**{**GOOD6, **changes}))
    return str(path)


def test_dual_stack_is_valid(tmp_path):
    assert across.validate(write(tmp_path)).errors == []


def test_inet6_alone_reads_ipv6(tmp_path):
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.overlay.model import overlay_from_options
    stanza = ifaces_file.read(write(tmp_path, inet=False)).find("tun0", "inet6")
    cfg = overlay_from_options("tun0", stanza.options, "inet6")
    assert (cfg.family, cfg.key, cfg.nft_table) == ("inet6", "tun0.inet6", "ifagg6_tun0")
    assert [(p.virt, p.hops) for p in cfg.peers] == [("fd99:ff::20", ("fd99::20", "fd99:1::20"))]
    assert cfg.me.hops == ("fd99::10", "fd99:1::10")


@pytest.mark.parametrize("changes,message", [
    (dict(address="fd99:ff::1g"), "interfaces:10: tun0: address: 'fd99:ff::1g' is not an IPv6 address"),
    (dict(address="fd99:ff::10/129"),
     "interfaces:10: tun0: address: 'fd99:ff::10/129': prefix /129 is longer than /128"),
    (dict(address="fd99:ff::10/64"),
     "interfaces:10: tun0: address: must be a /128, not /64: a wider prefix makes the kernel "
     "route the fake net itself (token 'fd99:ff::10/64')"),
    (dict(peer="[fd99:ff::20]:10.99.0.20"),
     "interfaces:15: tun0: rspec: '10.99.0.20' is an IPv4 address in an inet6 stanza's rspec "
     "entry '[fd99:ff::20]:10.99.0.20' (families mixed); write every address as [IPv6]"),
    (dict(peer="[fd99:ff::20]:[fd99:0::20]:[fd99:1::20"),
     "interfaces:15: tun0: rspec: '[fd99:1::20' has no closing ']' (in rspec entry "
     "'[fd99:ff::20]:[fd99:0::20]:[fd99:1::20')"),
    (dict(fakenet="10.99.255.0/24"),
     "interfaces:12: tun0: fakenet: '10.99.255.0/24' is an IPv4 network; an inet6 stanza's "
     "fakenet must be an IPv6 prefix such as fd99:ff::/64"),
    (dict(fakenet="fd99:ff::/129"),
     "interfaces:12: tun0: fakenet: 'fd99:ff::/129': prefix /129 is longer than /128"),
    (dict(table="10000 10002"),
     "interfaces:13: tun0: table: lists tables 10000 10002 but the inet stanza of tun0 lists "
     "10000 10001; both families of one overlay use the same tables, one per member link, in "
     "the same order"),
])
def test_inet6_errors_are_located(tmp_path, changes, message):
    path = write(tmp_path, **changes)
    errors = [str(e).replace(path, "interfaces") for e in across.validate(path).errors]
    assert errors == [message]


LL = "[fd99:ff::20]:[fe80::20%eth0]:{hop}"


@pytest.mark.parametrize("hop,message", [
    ("[fe80::1:20%]", "'fe80::1:20%' has '%' but no NIC after it (in rspec entry "
     "'[fd99:ff::20]:[fe80::20%eth0]:[fe80::1:20%]'); write [fe80::1:20%NIC], the NIC that "
     "holds it on the host whose entry this is"),
    ("[fe80::1:20]", "'fe80::1:20' is a link-local address, on every link (in rspec entry "
     "'[fd99:ff::20]:[fe80::20%eth0]:[fe80::1:20]'): write [fe80::1:20%NIC], the NIC that "
     "holds it on the host whose entry this is"),
    ("[fd99:1::20%eth1]", "'fd99:1::20%eth1': only a link-local (fe80::/10) hop names its NIC "
     "(in rspec entry '[fd99:ff::20]:[fe80::20%eth0]:[fd99:1::20%eth1]'); write [fd99:1::20]"),
    ("[fe80::1:20%eth/1]", "'eth/1' in 'fe80::1:20%eth/1' is not a NIC name (1 to 15 letters, "
     "digits, '_.+-') (in rspec entry '[fd99:ff::20]:[fe80::20%eth0]:[fe80::1:20%eth/1]')"),
    ("[fe80::1:20%averyverylongnic0]", "'averyverylongnic0' in 'fe80::1:20%averyverylongnic0' "
     "is not a NIC name (1 to 15 letters, digits, '_.+-') (in rspec entry "
     "'[fd99:ff::20]:[fe80::20%eth0]:[fe80::1:20%averyverylongnic0]')"),
    ("[%eth1]", "'%eth1' has a NIC but no address before the '%' (in rspec entry "
     "'[fd99:ff::20]:[fe80::20%eth0]:[%eth1]')"),
    ("[198.18.1.20%eth1]", "'198.18.1.20%eth1' is an IPv4 address with a %NIC in an inet6 "
     "stanza's rspec (families mixed) (in rspec entry "
     "'[fd99:ff::20]:[fe80::20%eth0]:[198.18.1.20%eth1]'); write [fe80::X%NIC]"),
])
def test_link_local_hop_errors_are_located(tmp_path, hop, message):
    path = write(tmp_path, peer=LL.format(hop=hop))
    errors = [str(e).replace(path, "interfaces") for e in across.validate(path).errors]
    assert errors == [f"interfaces:15: tun0: rspec: {message}"]


def test_link_local_hops_read_with_their_nics(tmp_path):
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.overlay.model import overlay_from_options
    path = write(tmp_path, inet=False, peer=LL.format(hop="[fd99:1::20]"))
    cfg = overlay_from_options("tun0", ifaces_file.read(path).find("tun0", "inet6").options,
                               "inet6")
    (peer,) = cfg.peers
    assert (peer.hops, peer.nics) == (("fe80::20", "fd99:1::20"), ("eth0", None))
    assert [peer.written(j) for j in (0, 1)] == ["fe80::20%eth0", "fd99:1::20"]
    assert cfg.me.nics == ()        # no link-local hop: as before


def test_virtual_address_and_fakenet_take_no_link_local(tmp_path):
    path = write(tmp_path, peer="[fd99:ff::20%eth0]:[fe80::20%eth0]")
    errors = [str(e).replace(path, "interfaces") for e in across.validate(path).errors]
    assert errors == ["interfaces:15: tun0: rspec: 'fd99:ff::20%eth0': the virtual address "
                      "takes no %NIC (in rspec entry '[fd99:ff::20%eth0]:[fe80::20%eth0]'); it "
                      "is the first field, [VIRT]"]
    path = write(tmp_path, fakenet="fe80::/64", address="fe80::10")
    errors = [str(e).replace(path, "interfaces") for e in across.validate(path).errors]
    assert errors[0] == ("interfaces:12: tun0: fakenet: 'fe80::/64' is link-local (fe80::/10): "
                         "its addresses are never routed off a link; take a ULA prefix such as "
                         "fd99:ff::/64")


@pytest.mark.parametrize("entry", ["10.99.255.20:fe80::20%eth0", "10.99.255.20:10.99.0.20%eth0"])
def test_a_nic_hop_in_an_inet_rspec_is_a_family_mix(tmp_path, entry):
    path = tmp_path / "interfaces"
    path.write_text(INET.replace("10.99.255.20:10.99.0.20:10.99.1.20", entry))
    errors = [str(e).replace(str(path), "interfaces") for e in across.validate(str(path)).errors]
    assert errors == [f"interfaces:7: tun0: rspec: '{entry}' names a NIC with '%': only an "
                      "IPv6 link-local hop does, in an inet6 stanza's rspec ([fe80::X%NIC]); an "
                      "inet stanza's hops are IPv4 addresses (families mixed)"]


def test_ipv6_entry_in_inet_rspec_is_a_family_mix(tmp_path):
    path = tmp_path / "interfaces"
    path.write_text(INET.replace("10.99.255.20:10.99.0.20:10.99.1.20", "[fd99:ff::20]:[fd99::20]"))
    errors = [str(e).replace(str(path), "interfaces") for e in across.validate(str(path)).errors]
    assert errors == ["interfaces:7: tun0: rspec: '[fd99:ff::20]:[fd99::20]' is an IPv6 entry "
                      "in an inet stanza's rspec (families mixed); IPv6 hosts go in an inet6 "
                      "stanza"]


def test_check_syntax_reports_inet6_errors(tmp_path):
    path = write(tmp_path, peer="[fd99:ff::20]:[fd99:0::20]:[fd99:1::20")
    run = subprocess.run([sys.executable, "-m", "ifupdown_agg", "check", "--syntax", "-i", path],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert f"{path}:15: tun0: rspec: '[fd99:1::20' has no closing ']'" in run.stderr


def test_a_sweep_of_one_family_leaves_the_other():
    from ifupdown_agg.core.objects import (NftTable, Observed, Route, Rule, SeenRoute,
                                           SeenRule)
    from ifupdown_agg.overlay.teardown import plan_sweep
    obs = Observed()
    obs.routes = [SeenRoute(Route(10000, "198.19.255.20/32", "eth0", "198.18.0.20"), 173),
                  SeenRoute(Route(10000, "fd99:ff::20/128", "eth0", "fd99::20"), 173),
                  SeenRoute(Route(254, "fd99:ff::/64", "tun0", prefsrc="fd99:ff::10"), 173)]
    obs.rules = [SeenRule(Rule(7000, 10000, 10000), 173), SeenRule(Rule(7000, 10000, 10000, 6), 173)]
    obs.nft = {"ifagg_tun0": NftTable("ifagg_tun0", "x", ""),
               "ifagg6_tun0": NftTable("ifagg6_tun0", "y", "")}
    six = [op.describe() for op in plan_sweep(obs, "tun0", (10000,), family=6)]
    assert six == ["nft delete table ip6 ifagg6_tun0",
                   "ip -6 rule del priority 7000 fwmark 10000 lookup 10000 proto 173",
                   "ip -6 route del fd99:ff::20/128 via fd99::20 dev eth0 table 10000 proto 173",
                   "ip -6 route del fd99:ff::/64 dev tun0 src fd99:ff::10 proto 173"]
    four = [op.describe() for op in plan_sweep(obs, "tun0", (10000,), family=4)]
    assert len(four) == 3 and not any("-6" in d or "ip6" in d for d in four)
    assert len(plan_sweep(obs, "tun0", (10000,))) == 7      # cleanup: the device's both


def test_a_link_local_hop_on_a_bond_port_is_a_conflict(tmp_path):
    """A link-local hop names its NIC: a bond's port (by bond-slaves) is refused as a member."""
    path = tmp_path / "interfaces"
    path.write_text("iface bond0 inet manual\n    bond-slaves eth0 eth1\n\n"
                    "iface eth0 inet6 static\n    address fe80::10/64\n" +
                    INET6.format(**{**GOOD6, "peer": LL.format(hop="[fe80::1:20%eth1]")})
                    .replace("[fd99:0::10]", "[fe80::10%eth0]"))
    errors = [str(e).replace(str(path), "interfaces") for e in across.validate(str(path)).errors]
    assert errors == ["interfaces:12: tun0: rspec: this host's hop fe80::10%eth0 is on eth0 "
                      "(interfaces:4), a port of bond0 (interfaces:1); a bond's port cannot "
                      "carry an overlay table: use the bond's address as the hop"]
