"""The bond's rows of the option table: ifenslave's bond-* options."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

from ifupdown_agg.config import types as T
from ifupdown_agg.config.schema import Carrier, NetworkdKey as K, Option, Refused, Scope
from ifupdown_agg.core.objects import register_bond_names


BOND_SCOPE = frozenset({Scope.BOND})
PORT_SCOPE = frozenset({Scope.PORT})


def _bond(name: str, vtype: T.ValueType, netlink: str, help: str, example: str,
          key: str = "", needs: Refused = Refused.NONE, default: Optional[str] = None,
          modes: Tuple[str, ...] = (), refused: Tuple[str, ...] = (), note: str = "",
          keys: Tuple[K, ...] = ()) -> Option:
    """A row of the bond's own stanza: `key` is its [Bond] key in the .netdev, if any."""
    keys = keys or ((K("Bond", key, refused=refused),) if key else ())
    return Option(name, vtype, help, example, default=default, owner="ifenslave",
                  scope=BOND_SCOPE, keys=keys, note=note,
                  carrier=Carrier.NETWORKD if keys else Carrier.NOTHING, netlink=netlink,
                  refused_unless=needs, modes=modes)


LACP = ("802.3ad",)
ARP_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast")
PRIMARY_MODES = ("active-backup", "balance-tlb", "balance-alb")


# ifenslave's options, read the way ifenslave reads them. `netlink` is the bond's
# netlink attribute; `refused_unless` says when the kernel refuses a change
# (drivers/net/bonding/bond_options.c), so that a bond is taken down, or its
# slaves released, only for those.
BOND_OPTIONS: Tuple[Option, ...] = (
    _bond("bond-mode", T.choices(*T.BOND_MODES), "mode", needs=Refused.NOSLAVES,
          help="The bonding mode, by name or number; the kernel's default is balance-rr. "
               "802.3ad (4) is LACP: it needs a switch, or another bond, that speaks LACP "
               "on every port, and full duplex on every port.",
          example="802.3ad", key="Mode"),
    Option("bond-slaves", T.IFNAMES, owner="ifenslave", scope=BOND_SCOPE,
           help="On the bond's stanza: the ports to enslave when the bond comes up, or "
                "'none' when each port's stanza says bond-master instead.",
           example="eth1 eth2", keys=(K("Network", "Bond", note="in each port's .network"),)),
    Option("bond-master", T.IFNAME, owner="ifenslave", scope=PORT_SCOPE,
           help="On a port's stanza: the bond it joins. The bond is created from its own "
                "stanza if the port comes up first.",
           example="bond0", keys=(K("Network", "Bond"),)),
    _bond("bond-miimon", T.SECONDS_MS, "miimon",
          help="How often, in milliseconds, the bond checks each port's carrier; 0 turns "
               "link monitoring off. 100 is the usual value.",
          example="100", key="MIIMonitorSec"),
    _bond("bond-updelay", T.SECONDS_MS, "updelay",
          help="Milliseconds a port must have carrier before it is used (a multiple of miimon).",
          example="200", key="UpDelaySec"),
    _bond("bond-downdelay", T.SECONDS_MS, "downdelay",
          help="Milliseconds a port may lack carrier before it is dropped (a multiple of miimon).",
          example="200", key="DownDelaySec"),
    _bond("bond-lacp-rate", T.choices("slow", "fast"), "ad_lacp_rate", needs=Refused.DOWN,
          help="How often the partner is asked to send LACPDUs: slow (every 30 s) or fast "
               "(every second). fast notices a dead port within 3 s.",
          example="fast", key="LACPTransmitRate", modes=LACP),
    _bond("bond-xmit-hash-policy",
          T.choices("layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"),
          "xmit_hash_policy",
          help="What decides the port of a packet in 802.3ad and balance-xor. One flow always "
               "takes one port, so a single TCP stream never exceeds one link; the overlay "
               "(fakenet/rspec) spreads per packet instead.",
          example="layer3+4", key="TransmitHashPolicy", refused=("vlan+srcmac",)),
    _bond("bond-ad-select", T.choices("stable", "bandwidth", "count"), "ad_select",
          needs=Refused.DOWN,
          help="Which aggregator is active when the ports form more than one.",
          example="bandwidth", key="AdSelect", modes=LACP),
    _bond("bond-min-links", T.COUNT, "min_links",
          help="The bond has carrier only while at least this many ports are active.",
          example="1", key="MinLinks"),
    _bond("bond-primary", T.IFNAME, "primary",
          help="active-backup, balance-tlb and balance-alb: the port used whenever it is up.",
          example="eth1", modes=PRIMARY_MODES,
          keys=(K("Network", "PrimarySlave", value="yes", note="in that port's .network"),)),
    _bond("bond-primary-reselect", T.choices("always", "better", "failure"), "primary_reselect",
          help="When the primary port takes over again after it comes back.",
          example="failure", key="PrimaryReselectPolicy", modes=PRIMARY_MODES),
    _bond("bond-fail-over-mac", T.choices("none", "active", "follow"), "fail_over_mac",
          needs=Refused.NOSLAVES,
          help="active-backup: how the ports' MAC addresses follow a failover.",
          example="active", key="FailOverMACPolicy"),
    _bond("bond-arp-interval", T.SECONDS_MS, "arp_interval",
          help="ARP monitoring instead of carrier: milliseconds between ARP probes to "
               "bond-arp-ip-target; 0 turns it off. Not for 802.3ad.",
          example="1000", key="ARPIntervalSec", modes=ARP_MODES),
    _bond("bond-arp-ip-target", T.IPV4_LIST, "arp_ip_target",
          help="The addresses ARP monitoring probes (up to 16).",
          example="192.168.1.1", key="ARPIPTargets", modes=ARP_MODES),
    _bond("bond-arp-validate",
          T.choices("none", "active", "backup", "all", "filter", "filter_active", "filter_backup"),
          "arp_validate",
          help="Which ports check that ARP replies come from the targets.",
          example="all",
          key="ARPValidate", refused=("filter", "filter_active", "filter_backup",),
          modes=ARP_MODES),
    _bond("bond-arp-all-targets", T.choices("any", "all"), "arp_all_targets",
          help="Whether one target or all of them must answer for a port to count as up.",
          example="all", key="ARPAllTargets", modes=ARP_MODES),
    _bond("bond-use-carrier", T.BIT, "use_carrier",
          help="1: miimon reads the carrier flag; 0: it asks the driver through MII ioctls.",
          example="1", note="no networkd key: the kernel's default, 1, applies"),
    _bond("bond-num-grat-arp", T.SMALL_COUNT, "num_peer_notif",
          help="Gratuitous ARPs and unsolicited NAs sent after a failover.",
          example="1", key="GratuitousARP"),
    _bond("bond-all-slaves-active", T.BIT, "all_slaves_active",
          help="1: inactive ports deliver received packets too.",
          example="0", key="AllSlavesActive"),
    _bond("bond-packets-per-slave", T.PACKETS_PER_SLAVE, "packets_per_slave",
          help="balance-rr: packets sent through a port before the next one; 0 picks at random.",
          example="1", key="PacketsPerSlave", modes=("balance-rr",)),
    _bond("bond-lp-interval", T.LP_INTERVAL, "lp_interval",
          help="Seconds between learning packets sent to the switch (balance-tlb, balance-alb).",
          example="1", key="LearnPacketIntervalSec", modes=("balance-tlb", "balance-alb")),
    _bond("bond-resend-igmp", T.SMALL_COUNT, "resend_igmp",
          help="IGMP membership reports sent after a failover.",
          example="1", key="ResendIGMP"),
    _bond("bond-ad-actor-sys-prio", T.SYS_PRIO, "ad_actor_sys_prio", needs=Refused.DOWN,
          help="802.3ad: this system's LACP priority (lower wins when the partner chooses).",
          example="65535", key="AdActorSystemPriority", modes=LACP),
    _bond("bond-ad-actor-system", T.MAC_ADDR, "ad_actor_system", needs=Refused.DOWN,
          help="802.3ad: the system MAC sent in LACPDUs instead of the bond's own. Two bonds "
               "that share it look like one system to the switch (MLAG).",
          example="02:00:00:00:00:01", key="AdActorSystem", modes=LACP),
    _bond("bond-ad-user-port-key", T.PORT_KEY, "ad_user_port_key", needs=Refused.DOWN,
          help="802.3ad: the user part (bits 6-15) of the port key the ports send.",
          example="0", key="AdUserPortKey", modes=LACP),
    Option("bond-preflight", T.choices("warn", "strict", "off", numbers=False),
           scope=BOND_SCOPE | PORT_SCOPE, carrier=Carrier.NOTHING,
           default="warn",
           help="ifupdown-agg's own: before an 802.3ad bond enslaves a port, read the port's "
                "duplex, speed and driver. A port that is not full duplex never joins LACP "
                "(the kernel logs 'No 802.3ad response from the link partner'); an RTL8156 "
                "on cdc_ncm is the usual case. warn says so and goes on, strict refuses to "
                "enslave it and leaves nothing half made.",
           example="strict",
           note="networkd enslaves without it: run ifagg doctor once the bond is up"),
)

BOND_TABLE: Dict[str, Option] = {opt.name: opt for opt in BOND_OPTIONS}

# The bond-* rows a port's stanza may carry (bond-master and bond-preflight).
PORT_OPTIONS: Tuple[str, ...] = tuple(n for n, o in BOND_TABLE.items() if Scope.PORT in o.scope)

# core prints bond values by name without the table: it learns the choices here.
register_bond_names({"mode": T.BOND_MODES})
for _opt in BOND_OPTIONS:
    if _opt.netlink and getattr(_opt.vtype, "names", None):
        register_bond_names({_opt.netlink: _opt.vtype.names})
