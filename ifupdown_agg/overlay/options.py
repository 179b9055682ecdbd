"""The overlay's rows of the option table (iface tunN inet static); every row's
scope is the default, Scope.OVERLAY."""

from __future__ import annotations

from dataclasses import replace
from typing import Dict, Tuple

from ifupdown_agg.config import types as T
from ifupdown_agg.config import types6 as T6
from ifupdown_agg.config.schema import Carrier, NetworkdKey as K, Option
from ifupdown_agg.errors import TokenError


def _key_path(value: str) -> str:
    tokens = value.split()
    if len(tokens) != 1 or not tokens[0].startswith("/"):
        raise TokenError(value, "must be one absolute path")
    return tokens[0]


KEY_FILE = T.ValueType("PATH", _key_path, "an absolute file path")


OVERLAY_OPTIONS: Tuple[Option, ...] = (
    Option(
        "address", T.ADDRESS, owner="ifupdown", required=True,
        help="This host's virtual address in the fake net: a /32 held by the "
             "overlay device. ifupdown's inet static method assigns it; the hook "
             "finds this host's rspec entry by it.",
        example="10.99.255.10", keys=(K("Address", "Address", value="ADDRESS/32"),)),
    Option(
        "netmask", T.NETMASK, owner="ifupdown", default="32",
        help="Must be 255.255.255.255 (or 32): a wider mask makes the kernel add "
             "its own route for the fake net, which would hide the overlay route.",
        example="255.255.255.255", note="part of [Address] Address="),
    Option(
        "mtu", T.MTU, owner="ifupdown",
        help="MTU of the overlay device. Packets leave through the member NICs, "
             "so their MTU is what bounds the path.",
        example="9000", keys=(K("Link", "MTUBytes"),)),
    Option(
        "fakenet", T.CIDR, required=True,
        help="The overlay's network. Packets to it are spread per packet over "
             "the member links; it is routed on the overlay device with this "
             "host's address as source.",
        example="10.99.255.0/24",
        keys=(K("Route", "Destination", note="(Scope=link, PreferredSource=)"),)),
    Option(
        "table", T.TABLES, required=True,
        help="One routing table per member link, in rspec hop order. Each table "
             "holds a /32 route to every peer through that peer's next hop, and "
             "an ip rule sends packets whose firewall mark equals the table ID "
             "to it. The IDs must not be used by anything else.",
        example="10000 10001 10002 10003",
        keys=(K("RoutingPolicyRule", "Table"), K("RoutingPolicyRule", "FirewallMark"),
              K("Route", "Table"))),
    Option(
        "rspec", T.RSPEC, required=True,
        help="Every host of the overlay, as VIRT:HOP1:HOP2..., where HOPn is that "
             "host's address on the link of the n-th table. A host with fewer hops "
             "than tables reuses its hops in order. The same rspec is written on "
             "every host; each finds its own entry by its address.",
        example="10.99.255.10:10.99.0.10:10.99.1.10 10.99.255.20:10.99.0.20:10.99.1.20",
        keys=(K("Route", "Gateway"), K("Route", "Table", note="(one per peer and table)"))),
    Option(
        "agg-weights", T.WEIGHTS, default="auto",
        help="Share of packets per table, in table order. 'auto' takes each "
             "member NIC's rate: its link speed, or the rate of a tbf root qdisc "
             "on it if that is lower; links of unknown speed count as equal. "
             "Packets are interleaved by smooth weighted round robin.",
        example="1000 2500 2500", carrier=Carrier.NETWORKD_UNIT,
        note="nftables map, in the generated ruleset"),
    Option(
        "agg-congctl", T.CONGCTL, default="cubic",
        help="TCP congestion control set on the overlay route, for flows over the "
             "overlay only. Per-packet spreading reorders packets; BBR and other "
             "delay-based algorithms read that as loss and collapse, cubic does not.",
        example="cubic", keys=(K("Route", "TCPCongestionControlAlgorithm"),)),
    Option(
        "agg-reordering", T.REORDERING, default="none",
        help="The reordering metric of the overlay route: how many packets TCP "
             "expects to arrive out of order before it assumes loss.",
        example="32", carrier=Carrier.NETWORKD_UNIT,
        note="no networkd key: set by ifupdown-agg-networkd@IFACE.service"),
    Option(
        "agg-rto-min", T.RTO_MIN, default="100",
        help="The least retransmission timeout, in ms, of TCP flows over the "
             "overlay (a locked rto_min metric on the overlay route); 'none' keeps "
             "the kernel's 200 ms. A path that fails silently loses the packets sent "
             "on it until the monitor takes it out (about 100 ms); a flow whose "
             "retransmissions were among them waits for this timeout. With 100, 19 "
             "silent failures of 22 were back within 0.25 s against 11 of 22 with "
             "'none', with no spurious timeout, on a quiet machine and beside busy "
             "loops (bench/results/20261207T1100Z-rto-min.md). Lower values risk "
             "spurious timeouts when ACKs come late (a delayed ACK waits 40 ms or "
             "more).",
        example="50", carrier=Carrier.NOTHING,
        note="not carried: networkd has no key for it, and re-adds its own route to "
             "the fake net beside one that carries it"),
    Option(
        "agg-gso-max-segs", T.GSO_SEGS, default="auto",
        help="GSO segment limit of the overlay device: a GSO super-packet leaves "
             "through one link whole, so this bounds how many segments go down "
             "one link in a row. 'auto' keeps that under about 60 microseconds "
             "of the slowest member link, and at 2 or more where it runs at 200 "
             "Mbit/s or more: 1 segment below 200 Mbit/s, 2 up to 599, 5 at 1 "
             "Gbit/s, 12 at 2.5 Gbit/s, 50 on 10 Gbit/s (measured: longer runs "
             "reorder one flow on links that send segment by segment); 8 when no "
             "link speed is known. Fewer segments cost more CPU per byte (1 "
             "segment about twice what 2 cost at 200-300 Mbit/s); the bpf "
             "spreader pays less per segment than nft.",
        example="8", carrier=Carrier.NETWORKD_UNIT,
        note="set by ifupdown-agg-networkd@IFACE.service: auto needs live link rates"),
    Option(
        "agg-pace", T.PACE, default="auto",
        help="Pace the overlay through one queue at its links' summed rate "
             "(bpf spreader only). Every packet then passes a veth pair of "
             "ifupdown-agg's whose tbf qdisc holds the only standing queue, so "
             "the member NICs' queues stay short and segments arrive in order; "
             "TCP builds full GSO packets, which the pair segments below the "
             "stack (agg-gso-max-segs auto is then 64). 'auto' paces at the sum "
             "of the member NICs' rates when every rate is known, the sum is at "
             "most 300 Mbit/s (above, pacing measured no better and at 600 far worse: "
             "the hop's queue must release every frame on time) and the kernel "
             "has tcx (Linux 6.6); a number paces "
             "at that many Mbit/s; 'off' "
             "spreads each packet straight from the overlay device.",
        example="off", carrier=Carrier.NETWORKD_UNIT,
        note="set by ifupdown-agg-networkd@IFACE.service with the spreader"),
    Option(
        "agg-queue-meter", T.ON_OFF, default="on",
        help="With the bpf spreader, keep a virtual queue of everything each member "
             "NIC sends (the overlay's packets and any other traffic), drained at the "
             "NIC's rate, and skip for a packet a path whose NIC is queued more than "
             "one full frame (and 60 us) above the least-queued path: other traffic on a shared "
             "link then delays none of the overlay's packets, so a flow does not see "
             "them late. Needs tcx (Linux 6.6) and the member NICs' rates; the "
             "spreader's program sits on each member NIC's tcx egress, first, and "
             "lets the NIC's other programs run. 'off' rotates without looking at "
             "the NICs' queues.",
        example="off", carrier=Carrier.NETWORKD_UNIT,
        note="set by ifupdown-agg-networkd@IFACE.service with the spreader"),
    Option(
        "agg-spread", T.SPREAD, default="auto",
        help="How packets are spread over the paths. 'bpf': a tc program on the "
             "overlay device's egress sends each packet out of a member NIC by a "
             "smooth weighted rotation counted in bytes (a path's weight is about "
             "80 microseconds of its link), so TCP keeps building GSO packets of "
             "several segments: far less CPU per byte than 'nft'. "
             "'nft': nftables marks every packet and a fwmark rule per table "
             "routes it, which needs the GSO limit at one segment on slow links. "
             "'auto' takes bpf where its program (spread.bpf.o) is installed and "
             "there are at most 8 tables, nft otherwise.",
        example="bpf", carrier=Carrier.NETWORKD_UNIT,
        note="the program or the nftables table, by ifupdown-agg-networkd@IFACE.service"),
    Option(
        "agg-rule-priority", T.PRIORITY, default="7000",
        help="Priority of the fwmark rules, which must come before the main "
             "table's rule (32766).",
        example="7000", keys=(K("RoutingPolicyRule", "Priority"),)),
    Option(
        "agg-monitor", T.ON_OFF, default="on",
        help="Run the link monitor while the overlay is up: a path (peer, link) "
             "leaves that peer's rotation when its NIC loses carrier or its probes "
             "go unanswered, and rejoins when it is healthy again.",
        example="on", carrier=Carrier.MONITOR_UNIT),
    Option(
        "agg-probe-interval", T.MILLISECONDS, default="50",
        help="How often the monitor probes every path, in milliseconds. Peers "
             "running the monitor answer; a peer that never answers is watched "
             "by carrier only.",
        example="50", carrier=Carrier.MONITOR_UNIT),
    Option(
        "agg-probe-idle-interval", T.IDLE_MILLISECONDS, default="1000",
        help="How often the monitor probes the paths of a peer the overlay carries "
             "nothing to or from, in milliseconds (never faster than "
             "agg-probe-interval). The first packets for that peer bring both sides "
             "back to agg-probe-interval within one probe; a path that fails while "
             "its peer is idle is noticed after this x agg-probe-loss, or "
             "agg-probe-interval x agg-probe-loss after traffic starts. Needs the bpf "
             "spreader's counters (with agg-spread nft every peer is probed at "
             "agg-probe-interval); set it to agg-probe-interval to probe every peer "
             "fast.",
        example="1000", carrier=Carrier.MONITOR_UNIT),
    Option(
        "agg-probe-loss", T.PROBES, default="3",
        help="Probe intervals without an answer before a path is taken out of "
             "the rotation. A silent failure is noticed after interval x loss "
             "(150 ms at the defaults, as BFD's common 3 x 50 ms). One interval "
             "sooner (from 3 up) the path is drained: it carries no data, but is "
             "not down, and the first answer brings it back at once.",
        example="3", carrier=Carrier.MONITOR_UNIT),
    Option(
        "agg-probe-rejoin", T.PROBES, default="10",
        help="Consecutive good probe intervals before a failed path rejoins the "
             "rotation, so a flapping link does not.",
        example="10", carrier=Carrier.MONITOR_UNIT),
    Option(
        "agg-probe-port", T.PORT, default="7431",
        help="UDP port of the monitor's probes, on the member links' addresses.",
        example="7431", carrier=Carrier.MONITOR_UNIT),
    Option(
        "agg-probe-key-file", KEY_FILE, default="/etc/ifupdown-agg/probe.key",
        help="The cluster key that signs the monitor's hellos (keyed BLAKE2s-128), the "
             "same file on every host, readable by root only: `ifagg keygen` "
             "writes one. Hellos with a bad or missing MAC, replayed ones and "
             "ones that arrive with a TTL below 255 are dropped and counted "
             "(`ifagg status`). Without the file the monitor runs "
             "unauthenticated and says so: any host on a member link's segment "
             "can then forge hellos. Two keys in the file roll the key without "
             "a flap.",
        example="/etc/ifupdown-agg/probe.key", carrier=Carrier.MONITOR_UNIT),
)

OPTIONS: Dict[str, Option] = {opt.name: opt for opt in OVERLAY_OPTIONS}

# An inet6 stanza (iface tunN inet6 static) takes the same rows; only the options that
# hold addresses read IPv6 (rspec entries in brackets). ifupdown's inet6 `netmask` is a
# prefix length, and a /128 is the only one that keeps the kernel from routing the fake
# net itself.
_V6_TYPES = {"address": (T6.ADDRESS6, None), "netmask": (T6.NETMASK6, "128"),
             "fakenet": (T6.CIDR6, None), "rspec": (T6.RSPEC6, None)}
OPTIONS6: Dict[str, Option] = {
    name: replace(opt, vtype=_V6_TYPES[name][0], default=_V6_TYPES[name][1] or opt.default)
    if name in _V6_TYPES else opt for name, opt in OPTIONS.items()}
OPTIONS_BY_FAMILY: Dict[str, Dict[str, Option]] = {"inet": OPTIONS, "inet6": OPTIONS6}
