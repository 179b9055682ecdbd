"""Kernel objects as plain data: what we want, what we saw, what we changed.

Every object ifupdown-agg creates carries a mark so that cleanup finds it even
when the state file is gone: routes and rules carry route protocol 173
("ifagg" in /etc/iproute2/rt_protos.d), the nftables table is named
ifagg_<iface>, and a device we create has the alias "ifupdown-agg".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

from ifupdown_agg.core.spreader import Spreader

RTPROT_IFAGG = 173
DEVICE_ALIAS = "ifupdown-agg"
NFT_PREFIX = "ifagg_"
NFT6_PREFIX = "ifagg6_"        # an inet6 overlay's table, in the ip6 family


def nft_family(name: str) -> str:
    """The nft family of one of our tables, by its name."""
    return "ip6" if name.startswith(NFT6_PREFIX) else "ip"


def nft_table_name(iface: str) -> str:
    """Our nft table for an overlay; nft names allow letters, digits and '_' only."""
    return NFT_PREFIX + "".join(c if c.isalnum() else "_" for c in iface)


@dataclass(frozen=True)
class TunDevice:
    name: str

    def key(self):
        return ("tun", self.name)

    def describe(self) -> str:
        return f"ip tuntap add mode tun name {self.name} && ip link set {self.name} alias {DEVICE_ALIAS}"


@dataclass(frozen=True)
class LinkAttrs:
    """Settable attributes of an existing link; None leaves one alone."""

    name: str
    up: Optional[bool] = None
    gso_max_segs: Optional[int] = None
    mtu: Optional[int] = None

    def key(self):
        return ("link", self.name)

    def describe(self) -> str:
        parts = []
        if self.up is not None:
            parts.append("up" if self.up else "down")
        if self.gso_max_segs is not None:
            parts.append(f"gso_max_segs {self.gso_max_segs}")
        if self.mtu is not None:
            parts.append(f"mtu {self.mtu}")
        return f"ip link set {self.name} " + " ".join(parts)


@dataclass(frozen=True)
class Address:
    dev: str
    address: str
    prefixlen: int = 32

    def key(self):
        return ("addr", self.dev, self.address, self.prefixlen)

    def describe(self) -> str:
        return f"ip addr add {self.address}/{self.prefixlen} dev {self.dev}"


@dataclass(frozen=True)
class Route:
    table: int
    dst: str                       # "a.b.c.d/len"
    dev: str
    gateway: Optional[str] = None
    prefsrc: Optional[str] = None
    congctl: Optional[str] = None
    reordering: Optional[int] = None
    rto_min: Optional[int] = None  # ms, a locked metric (TCP ignores one not locked)

    @property
    def family(self) -> int:
        """4 or 6, by the destination: one table ID holds a route table of each."""
        return 6 if ":" in self.dst else 4

    def key(self):
        return ("route", self.table, self.dst)

    def describe(self) -> str:
        text = f"ip {'-6 ' if self.family == 6 else ''}route add {self.dst}"
        if self.gateway:
            text += f" via {self.gateway}"
        text += f" dev {self.dev}"
        if self.table != 254:
            text += f" table {self.table}"
        if self.prefsrc:
            text += f" src {self.prefsrc}"
        text += f" proto {RTPROT_IFAGG}"
        if self.reordering is not None:
            text += f" reordering {self.reordering}"
        if self.rto_min is not None:
            text += f" rto_min {self.rto_min}ms"
        if self.congctl:
            text += f" congctl {self.congctl}"
        return text


@dataclass(frozen=True)
class Rule:
    priority: int
    fwmark: int
    table: int
    family: int = 4                 # 4 or 6: the kernel keeps a rule list per family

    def key(self):
        return ("rule6" if self.family == 6 else "rule", self.priority, self.fwmark, self.table)

    def describe(self) -> str:
        return (f"ip {'-6 ' if self.family == 6 else ''}rule add priority {self.priority} fwmark {self.fwmark} "
                f"lookup {self.table} proto {RTPROT_IFAGG}")


@dataclass(frozen=True)
class NftTable:
    name: str
    digest: str
    script: str = field(compare=False, repr=False)

    def key(self):
        return ("nft", self.name)

    def describe(self) -> str:
        return f"nft -f - <<< 'table {nft_family(self.name)} {self.name} {{ ... }}'  # {self.digest}"


@dataclass(frozen=True)
class Sysctl:
    path: str                      # below /proc/sys, e.g. net/ipv4/conf/eth1/rp_filter
    value: str

    def key(self):
        return ("sysctl", self.path)

    def describe(self) -> str:
        return f"sysctl -w {self.path.replace('/', '.')}={self.value}"


# iproute2's words for the bond attributes whose netlink names differ.
IPROUTE_BOND_KEYS = {"ad_lacp_rate": "lacp_rate", "num_peer_notif": "num_grat_arp"}


# The names of choice-valued bond attributes, by kernel name ("ad_lacp_rate": ("slow",
# "fast")). The bond wing registers its table's choices at import, so core holds and
# prints bond values without knowing the option table.
BOND_VALUE_NAMES: Dict[str, Tuple[str, ...]] = {}


def register_bond_names(names: Dict[str, Sequence[str]]) -> None:
    for key, words in names.items():
        BOND_VALUE_NAMES.setdefault(key, tuple(words))


def _bond_word(key: str, value) -> str:
    """A kernel-encoded bond value as iproute2 spells it (names for choices)."""
    if isinstance(value, tuple):
        return ",".join(value) or "none"
    names = BOND_VALUE_NAMES.get(key)
    if names and isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    return str(value)


@dataclass(frozen=True)
class Bond:
    """A bonding device; created with its mode, which the kernel fixes while it has slaves."""

    name: str
    mode: str = "balance-rr"

    def key(self):
        return ("bond", self.name)

    def describe(self) -> str:
        return f"ip link add {self.name} type bond mode {self.mode}"


@dataclass(frozen=True)
class BondSettings:
    """Bond attributes by their kernel names (miimon, ad_lacp_rate, ...), in the
    kernel's own encoding: numbers, a MAC text, a tuple of addresses, a port name."""

    name: str
    values: Tuple[Tuple[str, object], ...]

    def __post_init__(self):
        # From JSON these come back as lists; keep them hashable and comparable.
        values = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in self.values)
        object.__setattr__(self, "values", values)

    def key(self):
        return ("bondset", self.name, tuple(k for k, _ in self.values))

    def describe(self) -> str:
        return f"ip link set {self.name} type bond " + " ".join(
            f"{IPROUTE_BOND_KEYS.get(k, k)} {_bond_word(k, v)}" for k, v in self.values)


@dataclass(frozen=True)
class Enslave:
    slave: str
    master: str

    def key(self):
        return ("slave", self.slave)

    def describe(self) -> str:
        return f"ip link set {self.slave} down && ip link set {self.slave} master {self.master}"


@dataclass(frozen=True)
class BridgePort:
    """A port joined to a bridge. Not Enslave: that takes the port down first (bonding
    wants it down), which would flap a bridge port for nothing."""

    port: str
    bridge: str

    def key(self):
        return ("brport", self.port)

    def describe(self) -> str:
        return f"ip link set {self.port} master {self.bridge}"


@dataclass(frozen=True)
class UsbGadget:
    """A configfs USB gadget bound to a device controller (udc): usb/gadget.GadgetSpec's
    fields as plain data, so core holds it without knowing the usb wing."""

    iface: str
    function: str
    udc: str
    dev_addr: str = "auto"
    host_addr: str = "auto"
    vendor_id: int = 0x1D6B
    product_id: int = 0x0104
    serial_console: bool = False
    manufacturer: str = "ifupdown-agg"
    product: str = "USB Ethernet"

    def key(self):
        return ("gadget", self.iface)

    def describe(self) -> str:
        return (f"configfs add usb_gadget/ifagg_{self.iface} {self.function} "
                f"&& echo {self.udc} > UDC")


KObject = Union[TunDevice, LinkAttrs, Address, Route, Rule, NftTable, Spreader, Sysctl, Bond,
                BondSettings, Enslave, BridgePort, UsbGadget]
KINDS = {"tun": TunDevice, "link": LinkAttrs, "addr": Address, "route": Route,
         "rule": Rule, "nft": NftTable, "sysctl": Sysctl, "bond": Bond,
         "bondset": BondSettings, "slave": Enslave, "brport": BridgePort,
         "gadget": UsbGadget, "spreader": Spreader}
KIND_OF = {cls: kind for kind, cls in KINDS.items()}


def to_json(obj: KObject) -> dict:
    data = asdict(obj)
    data["kind"] = KIND_OF[type(obj)]
    return data


def from_json(data: dict) -> KObject:
    data = dict(data)
    cls = KINDS[data.pop("kind")]
    return cls(**data)


# ---- what observation returns ---------------------------------------------------------


@dataclass
class LinkInfo:
    name: str
    index: int
    kind: str = ""
    alias: str = ""
    up: bool = False
    gso_max_segs: Optional[int] = None
    mtu: Optional[int] = None
    speed: Optional[int] = None                      # Mbit/s, None if unknown
    shaped: Optional[int] = None                     # Mbit/s of a tbf root qdisc, if any
    master: Optional[str] = None                     # the bond or bridge it is enslaved to
    carrier: bool = False
    bond: Optional[Dict[str, object]] = None         # a bond's attributes, as BondSettings holds them

    bus_cap: Optional[int] = None                    # Mbit/s of a shared USB 2.0 bus, its share
    # the LinkFacts of a USB-backed link (raw facts; the planner fills bus_cap).
    usb: Optional[object] = None

    @property
    def rate(self) -> Optional[int]:
        """What the link can carry: its speed, or less if a shaper or a shared USB
        bus holds it back."""
        known = [r for r in (self.speed, self.shaped, self.bus_cap) if r]
        return min(known) if known else None
    addrs: List[Tuple[str, int]] = field(default_factory=list)
    link_local: List[Tuple[str, str]] = field(default_factory=list)  # fe80::/10: (address, DAD state)


@dataclass(frozen=True)
class SeenRoute:
    route: Route
    proto: int


@dataclass(frozen=True)
class SeenRule:
    rule: Rule
    proto: int


@dataclass
class Observed:
    links: Dict[str, LinkInfo] = field(default_factory=dict)
    routes: List[SeenRoute] = field(default_factory=list)
    rules: List[SeenRule] = field(default_factory=list)
    nft: Dict[str, NftTable] = field(default_factory=dict)   # our tables only
    spreaders: Dict[str, Spreader] = field(default_factory=dict)   # ours, by device
    bpf_program: Optional[str] = None   # the spreader's object file, if installed
    tcx: bool = False                   # the kernel attaches tcx programs (the spreader's hop)
    sysctls: Dict[str, str] = field(default_factory=dict)
    pi: Optional[object] = None     # usb/facts.PiModel when observed on a Raspberry Pi with USB links
    # Built on first use: a plan asks about every route, so a scan each time is quadratic.
    _routes_by_key: Optional[Dict[tuple, Route]] = field(default=None, repr=False, compare=False)
    _rule_set: Optional[set] = field(default=None, repr=False, compare=False)

    def route_index(self) -> Dict[tuple, Route]:
        """Routes by (table, destination)."""
        if self._routes_by_key is None:
            self._routes_by_key = {s.route.key(): s.route for s in self.routes}
        return self._routes_by_key

    def rule_set(self) -> set:
        if self._rule_set is None:
            self._rule_set = {s.rule for s in self.rules}
        return self._rule_set


USB_HOST, USB_GADGET = "host", "gadget"    # LinkFacts.role: a USB device is our NIC / we are it


@dataclass(frozen=True)
class LinkFacts:
    """One network link: its driver, duplex and speed, and (when a USB device is
    behind it) where it sits on USB. The one facts type of doctor, bond preflight
    and the overlay's auto weights: kernel/usb.py fills it from sysfs,
    kernel/ethtool.py (driver, speed_mbps, duplex, carrier) through the ioctl.
    Plain data; the USB judging (chip, usb3_capable...) is usb/facts.py's."""
    name: str
    role: str = USB_HOST                  # host: a USB device is our NIC; gadget: we are the USB device
    driver: Optional[str] = None          # r8152, cdc_ncm, plusb, g_ether, configfs-gadget.g1...
    duplex: str = "unknown"               # full, half, unknown (sysfs duplex)
    speed_mbps: Optional[int] = None      # the link's own rate (sysfs speed); None unknown
    vendor_id: Optional[str] = None       # idVendor, four hex digits
    product_id: Optional[str] = None
    product: Optional[str] = None
    serial: Optional[str] = None
    usb_speed_mbps: Optional[int] = None  # negotiated: 12, 480, 5000, 10000, 20000
    usb_version: Optional[str] = None     # bcdUSB as sysfs shows it: "3.20"
    configuration: Optional[int] = None   # bConfigurationValue
    busnum: Optional[int] = None
    devpath: Optional[str] = None         # port chain below the root hub: "1.2"
    host_controller: Optional[str] = None # driver of the controller: xhci_hcd, dwc_otg...
    udc: Optional[str] = None             # gadget side: the UDC's name
    carrier: Optional[bool] = None        # sysfs carrier; None unknown
    num_configurations: Optional[int] = None  # bNumConfigurations

    @property
    def is_usb(self) -> bool:
        """False for a port with no USB behind it (read_link reads those too)."""
        return self.vendor_id is not None or self.role == USB_GADGET

    @property
    def usb_id(self) -> Optional[str]:
        return f"{self.vendor_id}:{self.product_id}" if self.vendor_id else None

    @property
    def root_port(self) -> Optional[str]:
        return self.devpath.split(".")[0] if self.devpath else None
