"""The seed stanza through real ifupdown, on three namespace hosts and four shaped links."""

import pytest

from lab.cluster import VIRT, Lab, build_seed_cluster, iperf3, seed_stanza

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]
RATE = "100mbit"


@pytest.fixture(scope="module")
def cluster():
    with Lab("it") as lab:
        hosts = build_seed_cluster(lab, rate=RATE)
        for h in hosts:
            # Debian and most distributions ship strict rp_filter; the overlay needs loose.
            h.sh("sysctl -qw net.ipv4.conf.all.rp_filter=1")
            h.write_interfaces(seed_stanza(VIRT[h.name]))
        for h in hosts:
            h.ifup("tun0")
        yield lab


def test_ping_crosses_the_overlay_between_every_pair(cluster):
    for src in cluster.hosts.values():
        for dst, virt in VIRT.items():
            if dst != src.name:
                src.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", virt])


def test_member_nics_are_loose_and_the_route_carries_the_metrics(cluster):
    a = cluster.hosts["a"]
    for nic in ("eth0", "eth1", "eth2", "eth3"):
        assert a.run(["sysctl", "-n", f"net.ipv4.conf.{nic}.rp_filter"]).stdout.strip() == "2"
    route = a.run(["ip", "route", "show", "198.19.255.0/24"]).stdout
    assert "congctl cubic" in route and "src 198.19.255.10" in route
    assert "rto_min lock 100ms" in route    # agg-rto-min 100, the default (TCP reads it locked)
    # agg-gso-max-segs auto reads the links' tbf rate (100 Mbit/s): one segment, with
    # either spreader, unless bpf paces (agg-pace auto, at the links' sum): then 64.
    paced = a.status("tun0")["pace_mbit"]["planned"]
    assert paced in (0, 400)
    assert f"gso_max_segs {64 if paced else 1} " in a.run(["ip", "-d", "link", "show", "tun0"]).stdout
    assert [ln["weight"] for ln in a.status("tun0")["links"]] == [100, 100, 100, 100]


@pytest.mark.throughput
def test_one_flow_beats_the_best_single_link_and_every_link_carries(cluster):
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    before = {ln["table"]: ln["packets"] for ln in a.status("tun0")["links"]}
    single = max(iperf3(cluster, b, a, f"198.18.{i}.20", seconds=3) for i in (0, 1))
    overlay = iperf3(cluster, b, a, VIRT["b"], seconds=4)
    print(f"best single link {single / 1e6:.0f} Mbit/s, overlay {overlay / 1e6:.0f} Mbit/s")
    assert overlay >= 1.5 * single
    after = {ln["table"]: ln["packets"] for ln in a.status("tun0")["links"]}
    carried = {t: after[t] - before[t] for t in after}
    total = sum(carried.values())
    assert all(n > 0.1 * total for n in carried.values()), carried


def test_applying_again_changes_nothing(cluster):
    for h in cluster.hosts.values():
        assert "up to date" in h.ifagg("plan", "tun0").stdout
        assert h.ifagg("up", "tun0").stdout.strip() == "tun0: already up to date"
        assert h.ifagg("check", "--json").returncode == 0


def test_ifdown_leaves_nothing_of_ours(cluster):
    for h in cluster.hosts.values():
        h.ifdown("tun0")
        assert h.our_objects() == []
        assert "tun0" not in h.run(["ip", "-o", "link"]).stdout
        # rp_filter is back to what it was before ifup (strict, from conf/all).
        assert h.run(["sysctl", "-n", "net.ipv4.conf.eth0.rp_filter"]).stdout.strip() == "0"
        # A second ifdown is not an error.
        h.ifagg("down", "tun0")
