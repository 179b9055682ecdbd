"""The one option table.

Every stanza option ifupdown-agg reads is defined here once: its type, default,
help, an example and the systemd-networkd key it maps to. The IF_* reader, the
interfaces(5) reader, validation, --help, the man pages and networkd_gen all
read this table; nothing else lists options.
"""

from __future__ import annotations

import difflib
import textwrap
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

from . import optiontypes as T
from .errors import ConfigError, Location, TokenError


@dataclass(frozen=True)
class Option:
    name: str
    vtype: T.ValueType
    help: str
    example: str
    default: Optional[str] = None      # raw text, parsed like user input
    required: bool = False
    networkd: str = ""                 # "[Section] Key=" or how networkd_gen carries it
    owner: str = "agg"                 # "ifupdown": inet static's own option, read only
    group: str = "overlay"             # overlay, bond or usbnet: which stanzas it belongs to
    kernel: str = ""                   # bond: the IFLA_BOND_* attribute it sets
    kernel_needs: str = ""             # bond: "down" or "noslaves" if the kernel refuses it otherwise
    modes: Tuple[str, ...] = ()        # bond: the modes it applies to (empty: all)

    @property
    def tags(self) -> List[str]:
        """Short facts shown next to the option in --help and the man page."""
        tags = ["required"] if self.required else []
        if self.default is not None and self.owner == "agg":
            tags.append(f"default {self.default}")
        if self.owner == "ifupdown":
            tags.append("inet static's own option")
        if self.owner == "ifenslave":
            tags.append("as ifenslave")
        return tags

    @property
    def env(self) -> str:
        """The variable ifupdown exports for it to hooks."""
        return "IF_" + self.name.upper().replace("-", "_")


OVERLAY_OPTIONS: Tuple[Option, ...] = (
    Option(
        "address", T.ADDRESS, owner="ifupdown", required=True,
        help="This host's virtual address in the fake net: a /32 held by the "
             "overlay device. ifupdown's inet static method assigns it; the hook "
             "finds this host's rspec entry by it.",
        example="10.99.255.10", networkd="[Address] Address=ADDRESS/32"),
    Option(
        "netmask", T.NETMASK, owner="ifupdown", default="32",
        help="Must be 255.255.255.255 (or 32): a wider mask makes the kernel add "
             "its own route for the fake net, which would hide the overlay route.",
        example="255.255.255.255", networkd="(part of [Address] Address=)"),
    Option(
        "mtu", T.MTU, owner="ifupdown",
        help="MTU of the overlay device. Packets leave through the member NICs, "
             "so their MTU is what bounds the path.",
        example="9000", networkd="[Link] MTUBytes="),
    Option(
        "fakenet", T.CIDR, required=True,
        help="The overlay's network. Packets to it are spread per packet over "
             "the member links; it is routed on the overlay device with this "
             "host's address as source.",
        example="10.99.255.0/24", networkd="[Route] Destination= (Scope=link, PreferredSource=)"),
    Option(
        "table", T.TABLES, required=True,
        help="One routing table per member link, in rspec hop order. Each table "
             "holds a /32 route to every peer through that peer's next hop, and "
             "an ip rule sends packets whose firewall mark equals the table ID "
             "to it. The IDs must not be used by anything else.",
        example="10000 10001 10002 10003",
        networkd="[RoutingPolicyRule] Table= FirewallMark=; [Route] Table="),
    Option(
        "rspec", T.RSPEC, required=True,
        help="Every host of the overlay, as VIRT:HOP1:HOP2..., where HOPn is that "
             "host's address on the link of the n-th table. A host with fewer hops "
             "than tables reuses its hops in order. The same rspec is written on "
             "every host; each finds its own entry by its address.",
        example="10.99.255.10:10.99.0.10:10.99.1.10 10.99.255.20:10.99.0.20:10.99.1.20",
        networkd="[Route] Gateway= Table= (one per peer and table)"),
    Option(
        "agg-weights", T.WEIGHTS, default="auto",
        help="Share of packets per table, in table order. 'auto' takes each "
             "member NIC's rate: its link speed, or the rate of a tbf root qdisc "
             "on it if that is lower; links of unknown speed count as equal. "
             "Packets are interleaved by smooth weighted round robin.",
        example="1000 2500 2500", networkd="(nftables map, in the generated ruleset)"),
    Option(
        "agg-congctl", T.CONGCTL, default="cubic",
        help="TCP congestion control set on the overlay route, for flows over the "
             "overlay only. Per-packet spreading reorders packets; BBR and other "
             "delay-based algorithms read that as loss and collapse, cubic does not.",
        example="cubic", networkd="[Route] TCPCongestionControlAlgorithm="),
    Option(
        "agg-reordering", T.REORDERING, default="none",
        help="The reordering metric of the overlay route: how many packets TCP "
             "expects to arrive out of order before it assumes loss.",
        example="32", networkd="(no networkd key: set by ifupdown-agg-networkd@IFACE.service)"),
    Option(
        "agg-gso-max-segs", T.GSO_SEGS, default="auto",
        help="GSO segment limit of the overlay device. A GSO super-packet gets "
             "one mark, so this decides how many segments go down one link in a "
             "row. 'auto' keeps such a run under about 60 microseconds on the "
             "slowest member link: 1 segment up to 200 Mbit/s, 5 at 1 Gbit/s, 12 "
             "at 2.5 Gbit/s (measured: at 4x200 Mbit/s, 1 gives 94% of the links' "
             "sum where 8 gives 72%); 8 when no link speed is known. Fewer "
             "segments cost more CPU per byte.",
        example="8", networkd="(set by ifupdown-agg-networkd@IFACE.service: auto needs live link rates)"),
    Option(
        "agg-rule-priority", T.PRIORITY, default="7000",
        help="Priority of the fwmark rules, which must come before the main "
             "table's rule (32766).",
        example="7000", networkd="[RoutingPolicyRule] Priority="),
    Option(
        "agg-monitor", T.ON_OFF, default="on",
        help="Run the link monitor while the overlay is up: a path (peer, link) "
             "leaves that peer's rotation when its NIC loses carrier or its probes "
             "go unanswered, and rejoins when it is healthy again.",
        example="on", networkd="(ifupdown-agg-monitor@IFACE.service)"),
    Option(
        "agg-probe-interval", T.MILLISECONDS, default="100",
        help="How often the monitor probes every path, in milliseconds. Peers "
             "running the monitor answer; a peer that never answers is watched "
             "by carrier only.",
        example="100", networkd="(ifupdown-agg-monitor@IFACE.service)"),
    Option(
        "agg-probe-loss", T.PROBES, default="3",
        help="Probe intervals without an answer before a path is taken out of "
             "the rotation. A silent failure is noticed after interval x loss.",
        example="3", networkd="(ifupdown-agg-monitor@IFACE.service)"),
    Option(
        "agg-probe-rejoin", T.PROBES, default="10",
        help="Consecutive good probe intervals before a failed path rejoins the "
             "rotation, so a flapping link does not.",
        example="10", networkd="(ifupdown-agg-monitor@IFACE.service)"),
    Option(
        "agg-probe-port", T.PORT, default="7431",
        help="UDP port of the monitor's probes, on the member links' addresses.",
        example="7431", networkd="(ifupdown-agg-monitor@IFACE.service)"),
)

def _bond(name: str, vtype: T.ValueType, kernel: str, help: str, example: str,
          networkd: str, needs: str = "", default: Optional[str] = None,
          modes: Tuple[str, ...] = ()) -> Option:
    return Option(name, vtype, help, example, default=default, networkd=networkd,
                  owner="ifenslave", group="bond", kernel=kernel, kernel_needs=needs,
                  modes=modes)


LACP = ("802.3ad",)
ARP_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast")
PRIMARY_MODES = ("active-backup", "balance-tlb", "balance-alb")


# ifenslave's options, read the way ifenslave reads them. `kernel` is the bond's
# netlink attribute; `kernel_needs` says when the kernel refuses a change
# (drivers/net/bonding/bond_options.c), so that a bond is taken down, or its
# slaves released, only for those.
BOND_OPTIONS: Tuple[Option, ...] = (
    _bond("bond-mode", T.choices(*T.BOND_MODES), "mode", needs="noslaves",
          help="The bonding mode, by name or number; the kernel's default is balance-rr. "
               "802.3ad (4) is LACP: it needs a switch, or another bond, that speaks LACP "
               "on every port, and full duplex on every port.",
          example="802.3ad", networkd="[Bond] Mode="),
    Option("bond-slaves", T.IFNAMES, owner="ifenslave", group="bond",
           help="On the bond's stanza: the ports to enslave when the bond comes up, or "
                "'none' when each port's stanza says bond-master instead.",
           example="eth1 eth2", networkd="[Network] Bond= in each port's .network"),
    Option("bond-master", T.IFNAME, owner="ifenslave", group="bond",
           help="On a port's stanza: the bond it joins. The bond is created from its own "
                "stanza if the port comes up first.",
           example="bond0", networkd="[Network] Bond="),
    _bond("bond-miimon", T.SECONDS_MS, "miimon",
          help="How often, in milliseconds, the bond checks each port's carrier; 0 turns "
               "link monitoring off. 100 is the usual value.",
          example="100", networkd="[Bond] MIIMonitorSec="),
    _bond("bond-updelay", T.SECONDS_MS, "updelay",
          help="Milliseconds a port must have carrier before it is used (a multiple of miimon).",
          example="200", networkd="[Bond] UpDelaySec="),
    _bond("bond-downdelay", T.SECONDS_MS, "downdelay",
          help="Milliseconds a port may lack carrier before it is dropped (a multiple of miimon).",
          example="200", networkd="[Bond] DownDelaySec="),
    _bond("bond-lacp-rate", T.choices("slow", "fast"), "ad_lacp_rate", needs="down",
          help="How often the partner is asked to send LACPDUs: slow (every 30 s) or fast "
               "(every second). fast notices a dead port within 3 s.",
          example="fast", networkd="[Bond] LACPTransmitRate=", modes=LACP),
    _bond("bond-xmit-hash-policy",
          T.choices("layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"),
          "xmit_hash_policy",
          help="What decides the port of a packet in 802.3ad and balance-xor. One flow always "
               "takes one port, so a single TCP stream never exceeds one link; the overlay "
               "(fakenet/rspec) spreads per packet instead.",
          example="layer3+4", networkd="[Bond] TransmitHashPolicy= (not vlan+srcmac)"),
    _bond("bond-ad-select", T.choices("stable", "bandwidth", "count"), "ad_select", needs="down",
          help="Which aggregator is active when the ports form more than one.",
          example="bandwidth", networkd="[Bond] AdSelect=", modes=LACP),
    _bond("bond-min-links", T.COUNT, "min_links",
          help="The bond has carrier only while at least this many ports are active.",
          example="1", networkd="[Bond] MinLinks="),
    _bond("bond-primary", T.IFNAME, "primary",
          help="active-backup, balance-tlb and balance-alb: the port used whenever it is up.",
          example="eth1", networkd="[Network] PrimarySlave=yes in that port's .network", modes=PRIMARY_MODES),
    _bond("bond-primary-reselect", T.choices("always", "better", "failure"), "primary_reselect",
          help="When the primary port takes over again after it comes back.",
          example="failure", networkd="[Bond] PrimaryReselectPolicy=", modes=PRIMARY_MODES),
    _bond("bond-fail-over-mac", T.choices("none", "active", "follow"), "fail_over_mac",
          needs="noslaves",
          help="active-backup: how the ports' MAC addresses follow a failover.",
          example="active", networkd="[Bond] FailOverMACPolicy="),
    _bond("bond-arp-interval", T.SECONDS_MS, "arp_interval",
          help="ARP monitoring instead of carrier: milliseconds between ARP probes to "
               "bond-arp-ip-target; 0 turns it off. Not for 802.3ad.",
          example="1000", networkd="[Bond] ARPIntervalSec=", modes=ARP_MODES),
    _bond("bond-arp-ip-target", T.IPV4_LIST, "arp_ip_target",
          help="The addresses ARP monitoring probes (up to 16).",
          example="192.168.1.1", networkd="[Bond] ARPIPTargets=", modes=ARP_MODES),
    _bond("bond-arp-validate",
          T.choices("none", "active", "backup", "all", "filter", "filter_active", "filter_backup"),
          "arp_validate",
          help="Which ports check that ARP replies come from the targets.",
          example="all",
          networkd="[Bond] ARPValidate= (not filter, filter_active, filter_backup)",
          modes=ARP_MODES),
    _bond("bond-arp-all-targets", T.choices("any", "all"), "arp_all_targets",
          help="Whether one target or all of them must answer for a port to count as up.",
          example="all", networkd="[Bond] ARPAllTargets=", modes=ARP_MODES),
    _bond("bond-use-carrier", T.BIT, "use_carrier",
          help="1: miimon reads the carrier flag; 0: it asks the driver through MII ioctls.",
          example="1", networkd="(no networkd key: the kernel's default, 1, applies)"),
    _bond("bond-num-grat-arp", T.SMALL_COUNT, "num_peer_notif",
          help="Gratuitous ARPs and unsolicited NAs sent after a failover.",
          example="1", networkd="[Bond] GratuitousARP="),
    _bond("bond-all-slaves-active", T.BIT, "all_slaves_active",
          help="1: inactive ports deliver received packets too.",
          example="0", networkd="[Bond] AllSlavesActive="),
    _bond("bond-packets-per-slave", T.PACKETS_PER_SLAVE, "packets_per_slave",
          help="balance-rr: packets sent through a port before the next one; 0 picks at random.",
          example="1", networkd="[Bond] PacketsPerSlave=", modes=("balance-rr",)),
    _bond("bond-lp-interval", T.LP_INTERVAL, "lp_interval",
          help="Seconds between learning packets sent to the switch (balance-tlb, balance-alb).",
          example="1", networkd="[Bond] LearnPacketIntervalSec=", modes=("balance-tlb", "balance-alb")),
    _bond("bond-resend-igmp", T.SMALL_COUNT, "resend_igmp",
          help="IGMP membership reports sent after a failover.",
          example="1", networkd="[Bond] ResendIGMP="),
    _bond("bond-ad-actor-sys-prio", T.SYS_PRIO, "ad_actor_sys_prio", needs="down",
          help="802.3ad: this system's LACP priority (lower wins when the partner chooses).",
          example="65535", networkd="[Bond] AdActorSystemPriority=", modes=LACP),
    _bond("bond-ad-actor-system", T.MAC_ADDR, "ad_actor_system", needs="down",
          help="802.3ad: the system MAC sent in LACPDUs instead of the bond's own. Two bonds "
               "that share it look like one system to the switch (MLAG).",
          example="02:00:00:00:00:01", networkd="[Bond] AdActorSystem=", modes=LACP),
    _bond("bond-ad-user-port-key", T.PORT_KEY, "ad_user_port_key", needs="down",
          help="802.3ad: the user part (bits 6-15) of the port key the ports send.",
          example="0", networkd="[Bond] AdUserPortKey=", modes=LACP),
    Option("bond-preflight", T.choices("warn", "strict", "off", numbers=False), group="bond",
           default="warn",
           help="ifupdown-agg's own: before an 802.3ad bond enslaves a port, read the port's "
                "duplex, speed and driver. A port that is not full duplex never joins LACP "
                "(the kernel logs 'No 802.3ad response from the link partner'); an RTL8156 "
                "on cdc_ncm is the usual case. warn says so and goes on, strict refuses to "
                "enslave it and leaves nothing half made.",
           example="strict",
           networkd="(networkd enslaves without it: run ifagg doctor once the bond is up)"),
)

# The device side of a USB link (a configfs gadget), and the host side's naming.
USBNET_OPTIONS: Tuple[Option, ...] = (
    Option("usbnet-gadget", T.choices("ncm", "ecm", "rndis", "eem", numbers=False),
           group="usbnet",
           help="Make this host a USB network adapter for the machine its USB device port "
                "is plugged into (Pi Zero, Pi 4 on USB-C, CM4). At pre-up a configfs gadget "
                "with this function is created and bound to the USB device controller, and "
                "its network interface gets the stanza's name; post-down removes it. ncm is "
                "the fastest; ecm for old hosts; rndis for Windows; eem for some Macs.",
           example="ncm", networkd="ifupdown-agg-usbgadget@IFACE.service; [Match] Name="),
    Option("usbnet-udc", T.UDC, group="usbnet", default="auto",
           help="The USB device controller to bind to (see /sys/class/udc); 'auto' takes "
                "the only one there is.",
           example="fe980000.usb", networkd="(ifupdown-agg-usbgadget@IFACE.service)"),
    Option("usbnet-dev-addr", T.MAC_OR_AUTO, group="usbnet", default="auto",
           help="The gadget side's MAC. 'auto' derives one from /etc/machine-id and the "
                "interface name, so it stays the same across boots.",
           example="auto", networkd="(ifupdown-agg-usbgadget@IFACE.service)"),
    Option("usbnet-host-addr", T.MAC_OR_AUTO, group="usbnet", default="auto",
           help="The MAC the other machine's side of the link gets, derived like "
                "usbnet-dev-addr. Set it by hand to name that side with usbnet-match mac "
                "on the other machine.",
           example="02:1d:6b:00:00:11", networkd="(ifupdown-agg-usbgadget@IFACE.service)"),
    Option("usbnet-serial-console", T.ON_OFF, group="usbnet", default="off",
           help="Add a serial console function (ACM) beside the network one, as ClusterCTRL "
                "does; the other machine sees /dev/ttyACM0. Start a getty on ttyGS0 here.",
           example="on", networkd="(ifupdown-agg-usbgadget@IFACE.service)"),
    Option("usbnet-vendor-id", T.HEX16, group="usbnet", default="0x1d6b",
           help="The gadget's USB vendor ID.", example="0x1d6b",
           networkd="(ifupdown-agg-usbgadget@IFACE.service)"),
    Option("usbnet-product-id", T.HEX16, group="usbnet", default="0x0104",
           help="The gadget's USB product ID.", example="0x0104",
           networkd="(ifupdown-agg-usbgadget@IFACE.service)"),
    Option("usbnet-match", T.USB_MATCH, group="usbnet",
           help="On the other side of a USB link (a gadget's host, a USB NIC, a PL-25A1 "
                "cable): the device that gets this stanza's name, by its MAC (a gadget's "
                "usbnet-host-addr), its USB serial number, or its udev ID_PATH (a fixed "
                "port). 'ifagg networkd links' writes the .link files that name it (udev applies "
                "them, with or without systemd-networkd).",
           example="mac 02:1d:6b:00:00:11", networkd="[Match] MACAddress=|Property=; [Link] Name="),
    Option("usbnet-bridge", T.IFNAME, group="usbnet",
           help="Put this USB link into an existing bridge at post-up (and take it out at "
                "pre-down): the controller bridges its gadget links with its Ethernet, "
                "'Linux as the switch', instead of an overlay.",
           example="br0", networkd="[Network] Bridge="),
)

GROUP_TITLES = {"overlay": "Overlay (iface tunN inet static)",
                "bond": "Bonds, as ifenslave reads them (on the bond's stanza, or bond-master "
                        "on a port's)",
                "usbnet": "USB links (a gadget's stanza, or the other side's)"}

TABLES_BY_GROUP: Dict[str, Dict[str, Option]] = {
    "overlay": {opt.name: opt for opt in OVERLAY_OPTIONS},
    "bond": {opt.name: opt for opt in BOND_OPTIONS},
    "usbnet": {opt.name: opt for opt in USBNET_OPTIONS},
}

# The overlay's options: most of the code means these when it says OPTIONS.
OPTIONS: Dict[str, Option] = TABLES_BY_GROUP["overlay"]
ALL_OPTIONS: Dict[str, Option] = {name: opt for table in TABLES_BY_GROUP.values()
                                  for name, opt in table.items()}

# Options whose presence in a stanza makes it ours, per group.
TRIGGERS = ("fakenet", "rspec")
OWN_PREFIX = "agg-"
GROUP_PREFIX = {"bond": "bond-", "usbnet": "usbnet-"}


@dataclass
class RawOption:
    """An option's text as written, and where; `lines` maps each token to its line."""

    text: str
    location: Location
    token_lines: Dict[str, int] = field(default_factory=dict)

    def locate(self, token: str) -> Location:
        line = self.token_lines.get(token)
        if line is None:
            for tok, tline in self.token_lines.items():
                if token and token in tok:
                    line = tline
                    break
        if line is None or self.location.file is None:
            return self.location
        return Location(self.location.file, line)


def is_ours(names) -> bool:
    """An overlay stanza."""
    return any(n in TRIGGERS or n.startswith(OWN_PREFIX) for n in names)


def groups_of(names) -> List[str]:
    """Which of our option groups a stanza uses: overlay, bond, usbnet."""
    names = list(names)
    found = ["overlay"] if is_ours(names) else []
    found += [g for g, prefix in GROUP_PREFIX.items() if any(n.startswith(prefix) for n in names)]
    return found


def parse_options(iface: str, raw: Mapping[str, RawOption],
                  table: Mapping[str, Option] = OPTIONS) -> Dict[str, object]:
    """Typed values for every option in `table`; defaults fill what is absent."""
    known_own = [n for n in table if table[n].owner != "ifupdown"]
    prefixes = tuple({OWN_PREFIX} | {GROUP_PREFIX.get(table[n].group, OWN_PREFIX) for n in table})
    for name, value in raw.items():
        if name.startswith(prefixes) and name not in table:
            near = difflib.get_close_matches(name, known_own, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ConfigError(f"unknown option{hint}", iface=iface, option=name,
                              location=value.location)
    out: Dict[str, object] = {}
    for name, opt in table.items():
        value = raw.get(name)
        if value is None:
            if opt.required:
                where = next(iter(raw.values())).location if raw else None
                raise ConfigError(f"missing; {opt.help.split('.')[0].lower()} "
                                  f"(example: {opt.name} {opt.example})",
                                  iface=iface, option=name,
                                  location=Location(where.file) if where else None)
            out[name] = None if opt.default is None else opt.vtype.parse(opt.default)
            continue
        try:
            out[name] = opt.vtype.parse(value.text)
        except TokenError as err:
            raise ConfigError(err.reason, iface=iface, option=name, token=err.token,
                              location=value.locate(err.token)) from None
    return out


def env_options(env: Mapping[str, str], table: Mapping[str, Option] = OPTIONS
                ) -> Dict[str, RawOption]:
    """Options from the IF_* variables ifupdown exports to hooks."""
    by_env = {opt.env: opt.name for opt in table.values()}
    out: Dict[str, RawOption] = {}
    for var, text in env.items():
        if not var.startswith("IF_"):
            continue
        name = by_env.get(var) or var[3:].lower().replace("_", "-")
        out[name] = RawOption(text, Location(variable=var))
    return out


def option_help_lines(table: Mapping[str, Option] = OPTIONS) -> List[str]:
    """Plain-text option reference for --help; the man page renders the same table."""
    lines = []
    for opt in table.values():
        tags = opt.tags
        lines.append(f"  {opt.name} {opt.vtype.metavar}" + (f"   [{', '.join(tags)}]" if tags else ""))
        lines += textwrap.wrap(opt.help, 78, initial_indent="      ", subsequent_indent="      ")
        lines.append(f"      example: {opt.name} {opt.example}")
    return lines
