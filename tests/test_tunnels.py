"""Tunnels riding on the overlay (issue #18): which ones, the MTU they may use, the
notes and check's warnings. Pure: Tunnel rows as kernel/tunnels.py reads them."""

from ifupdown_agg.core.tunnel import Tunnel
from ifupdown_agg.kernel.hop import names
from ifupdown_agg.overlay import tunnels

FLANNEL = Tunnel("flannel.1", "vxlan", 1450, local="198.19.255.10", link="tun0", vni=1, port=8472)


def test_the_carried_mtu_is_the_smallest_member_nic():
    assert tunnels.carried_mtu([1500, 1400, None]) == 1400
    assert tunnels.carried_mtu([None]) is None


def test_a_tunnel_rides_by_local_address_remote_peer_or_bound_device():
    others = [Tunnel("gre1", "gre", 1476, local="10.0.0.1", remote="198.19.255.20"),
              Tunnel("vx9", "vxlan", 1450, link="tun0"),
              Tunnel("vx8", "vxlan", 1450, local="10.0.0.1", remote="10.0.0.2")]
    got = tunnels.riding([FLANNEL] + others, "tun0", "198.19.255.10", ["198.19.255.20"])
    assert [t.name for t in got] == ["flannel.1", "gre1", "vx9"]


def test_notes_say_how_it_is_spread_and_what_mtu_it_may_use():
    (bpf,) = tunnels.notes("tun0", [FLANNEL], 1500, "bpf")
    assert bpf.startswith("flannel.1 (vxlan, VNI 1, port 8472) rides on tun0: its GSO packets "
                          "take the spreader's segmenting hop")
    assert "at most 1450" in bpf and "cubic" in bpf
    (nft,) = tunnels.notes("tun0", [FLANNEL], 1500, "nft")
    assert "leaves whole on one link" in nft


def test_check_warns_only_when_the_tunnel_exceeds_the_carried_mtu():
    assert tunnels.oversize("tun0", [FLANNEL], 1500) == []
    (warning,) = tunnels.oversize("tun0", [FLANNEL], 1400)
    assert "MTU 1450: its packets are up to 1500 bytes, above the 1400" in warning
    assert "set its MTU to 1350" in warning
    assert tunnels.oversize("tun0", [FLANNEL], None) == []


def test_hop_names_fit_ifnamsiz():
    assert names("tun0") == ("aggs-tun0", "aggx-tun0")
    assert all(len(n) <= 15 for n in names("averylongname15"))
