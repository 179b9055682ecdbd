"""Issue #18: pod traffic forwarded from a bridge and carried in a flannel-like VXLAN
tunnel between two overlay hosts is spread per segment over every member link,
survives a member link pulled, and conntrack and strict rp_filter drop none of it.

Two hosts over three shaped links (100 Mbit/s, serialised), the overlay by real
ifup with its defaults (agg-spread auto = bpf), conf/all/rp_filter strict; on each
host a pod namespace behind a bridge, routed through flannel.1 (VNI 1, UDP 8472)
between the overlay addresses (lab/flannel.py). No test asserts a duration.
"""

import json

import pytest

from lab import flannel
from lab.pair import VIRT, overlay_pair
from lab.transfer import transfer
from ifupdown_agg.kernel.hop import names as hop_names

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]
LINKS = 3
ROUTED = "198.18.150.1"


def strict_rp_filter(host) -> None:
    host.sh("sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1")


@pytest.fixture(scope="module")
def pods():
    with overlay_pair("pod", LINKS, before_up=strict_rp_filter) as (lab, a, b):
        pod_hosts = flannel.setup(lab, (a, b), (VIRT["a"], VIRT["b"]))
        # A service address on b that a routes to through tun0 via b's overlay address
        # (flannel's host-gw style).
        b.run(["ip", "addr", "add", f"{ROUTED}/32", "dev", "lo"])
        a.run(["ip", "route", "add", "198.18.150.0/24", "via", VIRT["b"], "dev", "tun0", "onlink"])
        yield lab, a, b, pod_hosts
        flannel.teardown((a, b))


def link_packets(host):
    return {ln["dev"]: ln["packets"] for ln in host.status("tun0")["links"]}


def rp_dropped(host) -> int:
    lines = host.run(["cat", "/proc/net/netstat"]).stdout.splitlines()
    head, values = lines[0].split(), lines[1].split()
    return int(dict(zip(head, values)).get("IPReversePathFilter", 0))


def test_forwarded_vxlan_is_spread_over_every_link(pods):
    lab, a, b, (pa, pb) = pods
    assert a.status("tun0")["spread"] == "bpf" and b.status("tun0")["spread"] == "bpf"
    before, hop_before = link_packets(a), flannel.hop_counts(a)
    result = transfer(lab, pa, pb, flannel.pod_ip(1), megabytes=40)
    assert result["intact"], result
    after, hop_after = link_packets(a), flannel.hop_counts(a)
    sent = {dev: after[dev] - before[dev] for dev in after}
    total = sum(sent.values())
    assert total > 20_000, sent                 # 40 MB in ~1400-byte segments
    for dev, n in sent.items():                 # equal links: a third each, give or take
        assert n > total * 0.2, sent
    # The tunnel's GSO packets went through the segmenting hop and came out segmented.
    assert hop_after[0] > hop_before[0] and hop_after[1] - hop_before[1] > total * 0.5
    for h in (a, b):
        assert flannel.invalid(h) == 0
        assert rp_dropped(h) == 0


def test_pod_traffic_routed_via_a_peer_is_spread(pods):
    lab, a, b, (pa, _) = pods
    back = ["198.18.100.2/32", "via", VIRT["a"], "dev", "tun0", "onlink"]
    b.run(["ip", "route", "add"] + back)       # the answers routed the same way
    before = link_packets(a)
    try:
        result = transfer(lab, pa, b, ROUTED, megabytes=30)
    finally:
        b.run(["ip", "route", "del"] + back)
    assert result["intact"], result
    sent = {dev: n - before[dev] for dev, n in link_packets(a).items()}
    assert sum(sent.values()) > 15_000, sent
    for dev, n in sent.items():
        assert n > sum(sent.values()) * 0.2, sent
    for h in (a, b):
        assert flannel.invalid(h) == 0
        assert rp_dropped(h) == 0


def test_pod_flow_survives_a_member_link_pulled(pods):
    lab, a, b, (pa, pb) = pods
    try:
        result = transfer(lab, pa, pb, flannel.pod_ip(1), megabytes=60,
                          during=lambda: a.sh("ip link set eth1 down"), after_seconds=1.0)
    finally:
        a.sh("ip link set eth1 up")
    assert result["intact"], result
    for h in (a, b):
        assert flannel.invalid(h) == 0


def test_status_plan_and_check_name_the_tunnel(pods):
    lab, a, b, _ = pods
    st = a.status("tun0")
    assert st["tunnel_mtu"] == 1500
    assert [t["name"] for t in st["tunnels"]] == ["flannel.1"]
    assert any("flannel.1 (vxlan, VNI 1, port 8472) rides on tun0" in n for n in st["notes"])
    assert "may send packets of up to 1500" in a.ifagg("status", "tun0", check=False).stdout
    plan = json.loads(a.ifagg("plan", "--json", "tun0").stdout)
    assert any("segmenting hop" in n for n in plan["notes"])
    assert "warning: flannel.1" not in a.ifagg("check", "tun0", check=False).stdout
    # The kernel caps a VXLAN bound to tun0 (dev) itself; one that is only sourced
    # from the overlay address is not, and check names it.
    a.run(["ip", "link", "add", "vx2", "mtu", "1500", "type", "vxlan", "id", "2", "local",
           VIRT["a"], "dstport", "4789"])
    try:
        out = a.ifagg("check", "tun0", check=False)
        assert "warning: vx2 (vxlan, VNI 2, port 4789) rides on tun0 with MTU 1500" in out.stdout
        assert "set its MTU to 1450" in out.stdout
        # Not drift (up does not own the tunnel): no op names it. (The pulled link of
        # the test before may still be drift while its routes come back.)
        stanza = json.loads(a.ifagg("check", "--json", "tun0", check=False).stdout)["stanzas"][0]
        assert not [d for d in stanza["describe"] if "vx2" in d]
        assert any(d.startswith("warning: vx2") for d in stanza["details"])
    finally:
        a.run(["ip", "link", "del", "vx2"])


def test_ifdown_removes_the_hop_and_ifup_makes_it_again(pods):
    lab, a, b, _ = pods
    entry, exit_ = hop_names("tun0")
    links = lambda: a.run(["ls", "/sys/class/net"]).stdout.split()    # noqa: E731
    assert entry in links() and exit_ in links()
    a.ifdown("tun0")
    assert entry not in links() and exit_ not in links()
    a.ifup("tun0")
    assert entry in links() and exit_ in links()
    assert "up to date" in a.ifagg("plan", "tun0").stdout


def test_cleanup_removes_a_hop_that_outlived_its_device(pods):
    lab, a, b, _ = pods
    entry = hop_names("tun0")[0]
    a.run(["ip", "link", "del", "tun0"])         # as if ifdown had been killed
    assert entry in a.run(["ls", "/sys/class/net"]).stdout.split()
    out = a.ifagg("cleanup", "tun0").stdout
    # By the record's spreader (its removal takes the hop and queue meters) or the sweep.
    assert f"ip link del {entry}" in out or "tc filter del dev tun0 egress" in out, out
    assert entry not in a.run(["ls", "/sys/class/net"]).stdout.split()
    assert a.our_objects() == []
