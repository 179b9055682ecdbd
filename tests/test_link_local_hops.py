"""Link-local hops ([fe80::X%NIC], issue #16 item 2) where the planner cases do not
reach: how observation files a NIC's link-local addresses, a peer reached on no link,
and networkd's own check of this host's link-local hops. Unprivileged."""

import pytest

from ifupdown_agg.config.types6 import parse_rspec6
from ifupdown_agg.core.objects import LinkInfo, Observed
from ifupdown_agg.errors import ConfigError
from ifupdown_agg.kernel import netdev
from ifupdown_agg.networkd import generate, sources
from ifupdown_agg.overlay import hops


def test_observation_files_link_local_addresses_apart_with_their_dad_state():
    link = LinkInfo("eth1", 3)
    netdev.file_address(link, "fd99:1::10", 64, 0)
    netdev.file_address(link, "198.18.1.10", 24, 0)
    netdev.file_address(link, "fe80::1:10", 64, netdev.IFA_F_TENTATIVE)
    netdev.file_address(link, "fe80::ff:fe00:110", 64, 0x80)           # permanent
    netdev.file_address(link, "FEBF::1", 64, netdev.IFA_F_DADFAILED | netdev.IFA_F_TENTATIVE)
    assert link.addrs == [("fd99:1::10", 64), ("198.18.1.10", 24)]
    assert link.link_local == [("fe80::1:10", "tentative"), ("fe80::ff:fe00:110", ""),
                               ("FEBF::1", "dadfailed")]


def _fail(option, reason, token=""):
    return ConfigError(reason, iface="tun0", option=option, token=token)


def test_a_peer_on_a_link_this_host_lacks_is_named_so():
    # This host (30) has one hop, on the link of position 1; the peer's only reachable
    # hop would be its ULA one, on a network this host does not have.
    me, peer = parse_rspec6("[fd99:ff::30]:[fe80::30%eth0] "
                            "[fd99:ff::20]:[fd99:5::20]:[fe80::1:20%eth1]")
    obs = Observed(links={"eth0": LinkInfo("eth0", 2, link_local=[("fe80::30", "")])})
    devs = hops.member_devs(me, (10000, 10001), obs, hops.connected(obs), "tun0", _fail)
    reach = hops.Reach(me, devs, hops.connected(obs), "tun0")
    assert devs == ["eth0", "eth0"]
    assert reach.next_hop(peer, 1) == ("fe80::1:20", None, "fe80::1:20%eth1")
    assert reach.unreachable(peer, 1, 10001) == (
        "next hop fe80::1:20%eth1 of fd99:ff::20 for table 10001 is link-local, on the link "
        "of each entry's hop 2, and this host's entry has 1 hop(s) (none on that link), nor "
        "reaches another of its hops")


def test_own_link_local_hop_on_the_overlay_device_is_refused():
    (me,) = parse_rspec6("[fd99:ff::30]:[fe80::30%tun0]")
    obs = Observed(links={"tun0": LinkInfo("tun0", 2, link_local=[("fe80::30", "")])})
    with pytest.raises(ConfigError, match="names tun0, which is the overlay's own device"):
        hops.member_devs(me, (10000,), obs, [], "tun0", _fail)


def test_networkd_needs_a_stanza_for_the_nic_of_a_link_local_hop(tmp_path):
    (tmp_path / "interfaces").write_text("""\
iface eth0 inet static
    address 10.99.0.10/24

iface tun0 inet static
    address 10.99.255.10
    netmask 255.255.255.255
    fakenet 10.99.255.0/24
    table 10000
    rspec 10.99.255.10:10.99.0.10 10.99.255.20:10.99.0.20

iface tun0 inet6 static
    address fd99:ff::10
    netmask 128
    fakenet fd99:ff::/64
    table 10000
    rspec [fd99:ff::10]:[fe80::10%eth9] [fd99:ff::20]:[fe80::20%eth0]
""")
    path = str(tmp_path / "interfaces")
    with pytest.raises(ConfigError) as err:
        generate.generate(sources.from_interfaces(path))
    assert str(err.value).replace(path, "interfaces") == (
        "interfaces:16: tun0: rspec: this host's hop fe80::10%eth9 for table 10000 names eth9, "
        "which has no stanza here; give it one (iface eth9 inet6 static / address fe80::10/64) "
        "or a [[members]] entry (token 'fe80::10%eth9')")


def test_an_own_hop_on_a_nic_that_is_down_says_so():
    (me,) = parse_rspec6("[fd99:ff::30]:[fe80::30%eth0]")
    obs = Observed(links={"eth0": LinkInfo("eth0", 2, up=False)})
    with pytest.raises(ConfigError) as err:
        hops.member_devs(me, (10000,), obs, [], "tun0", _fail)
    assert str(err.value) == (
        "tun0: rspec: this host's hop fe80::30%eth0 for table 10000 is not an address of eth0 "
        "(its link-local addresses: none); give eth0 that address (iface eth0 inet6 static / "
        "address fe80::30/64) before the overlay, or write one of its own in the rspec; eth0 "
        "is down, and the kernel makes its own link-local address when it comes up (token "
        "'fe80::30%eth0')")
