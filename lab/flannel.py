"""Pods behind a bridge on each overlay host, routed through a VXLAN device between the
hosts' overlay addresses, as flannel's vxlan backend (k3s's default) sets it up.

Per host h (n = its overlay address's last byte): the VXLAN device flannel.1
(VNI 1, UDP 8472, local = the overlay address, dev = the overlay device, MTU
that of the overlay device less 50) with 198.18.200.n/32; a bridge cni0 with
198.18.(100+k).1/24; a pod namespace behind it at 198.18.(100+k).2; a route to
the other host's pod subnet through flannel.1, a permanent neighbour and an FDB
entry pointing at the other host's overlay address. An nft table counts
conntrack INVALID packets in forward and input (it also makes conntrack track).
"""

from __future__ import annotations

import json
from typing import List, Sequence, Tuple

VXLAN_OVERHEAD = 50
COUNT_INVALID = """table inet podbench {
  chain podfwd { type filter hook forward priority 0; ct state invalid counter; }
  chain podin { type filter hook input priority 0; ct state invalid counter; }
}
"""


def _mac(host) -> str:
    return json.loads(host.run(["ip", "-j", "link", "show", "flannel.1"]).stdout)[0]["address"]


def setup(lab, hosts: Sequence, overlay_ips: Sequence[str], dev: str = "tun0") -> List:
    """Pods behind each host; returns the pod hosts (namespaces), in the same order."""
    pods = []
    for k, (h, ip) in enumerate(zip(hosts, overlay_ips)):
        n = ip.rsplit(".", 1)[1]
        mtu = int(h.run(["cat", f"/sys/class/net/{dev}/mtu"]).stdout) - VXLAN_OVERHEAD
        h.sh(f"ip link add flannel.1 type vxlan id 1 local {ip} dev {dev} dstport 8472 nolearning"
             f" && ip link set flannel.1 mtu {mtu} up && ip addr add 198.18.200.{n}/32 dev flannel.1"
             f" && ip link add cni0 type bridge && ip link set cni0 mtu {mtu} up"
             f" && ip addr add 198.18.{100 + k}.1/24 dev cni0 && sysctl -qw net.ipv4.ip_forward=1")
        h.run(["nft", "-f", "-"], input=COUNT_INVALID)
        pod = lab.host(f"pod{k}")
        h.sh(f"ip link add veth{k} mtu {mtu} type veth peer name eth0 mtu {mtu} netns {pod.ns}"
             f" && ip link set veth{k} master cni0 up")
        pod.sh(f"ip addr add 198.18.{100 + k}.2/24 dev eth0 && ip link set eth0 up"
               f" && ip link set lo up && ip route add default via 198.18.{100 + k}.1")
        pods.append(pod)
    macs = [_mac(h) for h in hosts]
    for k, h in enumerate(hosts):
        for j, ip in enumerate(overlay_ips):
            if j == k:
                continue
            n = ip.rsplit(".", 1)[1]
            h.sh(f"ip neigh add 198.18.200.{n} lladdr {macs[j]} dev flannel.1 nud permanent"
                 f" && bridge fdb append {macs[j]} dev flannel.1 dst {ip}"
                 f" && ip route add 198.18.{100 + j}.0/24 via 198.18.200.{n} dev flannel.1 onlink")
    return pods


def pod_ip(k: int) -> str:
    return f"198.18.{100 + k}.2"


def invalid(host) -> int:
    """Packets conntrack called INVALID in the host's forward and input hooks."""
    out = json.loads(host.run(["nft", "-j", "list", "table", "inet", "podbench"]).stdout)
    return sum(e["counter"]["packets"] for item in out["nftables"] if "rule" in item
               for e in item["rule"]["expr"] if "counter" in e)


def teardown(hosts: Sequence) -> None:
    for h in hosts:
        h.sh("ip link del flannel.1; ip link del cni0; nft delete table inet podbench", check=False)


def hop_counts(host, dev: str = "tun0") -> Tuple[int, int]:
    """(tx packets of the hop's entry, rx packets at its exit)."""
    from ifupdown_agg.kernel.hop import names      # noqa: E402 (lab is not installed)
    entry, exit_ = names(dev)
    read = lambda n, d: int(host.run(["cat", f"/sys/class/net/{n}/statistics/{d}_packets"],  # noqa: E731
                                     check=False).stdout or 0)
    return read(entry, "tx"), read(exit_, "rx")
