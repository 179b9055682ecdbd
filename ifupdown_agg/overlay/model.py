"""The typed overlay configuration, validated as a whole.

Single options are checked by their parsers; this module checks how they fit
together (the address is in the fake net and in the rspec, hops match tables,
no virtual address twice), still without looking at the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple, Union

import netaddr

from ifupdown_agg.errors import ConfigError, Location
from ifupdown_agg.core.objects import nft_table_name
from ifupdown_agg.config.schema import RawOption, parse_options
from ifupdown_agg.overlay.options import OPTIONS_BY_FAMILY
from ifupdown_agg.config.types import RspecEntry


@dataclass(frozen=True)
class MonitorConfig:
    enabled: bool
    interval_ms: int
    loss: int
    rejoin: int
    port: int
    key_file: str = "/etc/ifupdown-agg/probe.key"
    idle_ms: int = 1000


@dataclass(frozen=True)
class OverlayConfig:
    iface: str
    address: str
    fakenet: str
    tables: Tuple[int, ...]
    rspec: Tuple[RspecEntry, ...]
    weights: Union[str, Tuple[int, ...]]
    congctl: Optional[str]
    reordering: Optional[int]
    rto_min: Optional[int]     # ms; None keeps the kernel's 200
    gso_max_segs: Union[str, int, None]
    rule_priority: int
    mtu: Optional[int]
    monitor: "MonitorConfig"
    spread: str = "auto"
    pace: Union[str, int] = "auto"
    queue_meter: bool = True
    family: str = "inet"

    @property
    def host_prefix(self) -> int:
        return 128 if self.family == "inet6" else 32

    @property
    def key(self) -> str:
        """Its entry in the record: the inet stanza keeps the device's name (as before
        IPv6), the inet6 one is `tun0.inet6`, so ifdown of one leaves the other's."""
        return self.iface if self.family == "inet" else f"{self.iface}.{self.family}"

    @property
    def me(self) -> RspecEntry:
        return next(e for e in self.rspec if e.virt == self.address)

    @property
    def peers(self) -> Tuple[RspecEntry, ...]:
        return tuple(e for e in self.rspec if e.virt != self.address)

    @property
    def peer_indexes(self) -> Tuple[Tuple[int, str], ...]:
        """(position in the rspec, address) of every peer: the same on every host."""
        return tuple((i, e.virt) for i, e in enumerate(self.rspec) if e.virt != self.address)

    @property
    def nft_table(self) -> str:
        # ifagg_tun0 for inet, as before; ifagg6_tun0 (an ip6 table) for inet6.
        name = nft_table_name(self.iface)
        return name if self.family == "inet" else name.replace("ifagg_", "ifagg6_", 1)


def overlay_from_options(iface: str, raw: Mapping[str, RawOption],
                         family: str = "inet") -> OverlayConfig:
    values = parse_options(iface, raw, OPTIONS_BY_FAMILY[family])

    def fail(option: str, reason: str, token: str = "") -> ConfigError:
        where: Optional[Location] = None
        if option in raw:
            where = raw[option].locate(token) if token else raw[option].location
        return ConfigError(reason, iface=iface, option=option, token=token, location=where)

    address, prefix = values["address"]
    netmask = values["netmask"]
    host = 128 if family == "inet6" else 32
    if prefix not in (None, host):
        raise fail("address", f"must be a /{host}, not /{prefix}: a wider prefix makes the "
                   "kernel route the fake net itself", f"{address}/{prefix}")
    if netmask != host:
        mask = "128" if family == "inet6" else "255.255.255.255"
        raise fail("netmask", f"must be {mask}: a wider mask makes the kernel route "
                   "the fake net itself, hiding the overlay route", raw["netmask"].text)
    fakenet = netaddr.IPNetwork(values["fakenet"])
    if netaddr.IPAddress(address) not in fakenet:
        raise fail("address", f"'{address}' is outside fakenet {fakenet}", address)

    tables = values["table"]
    rspec: Tuple[RspecEntry, ...] = values["rspec"]
    seen: Dict[str, RspecEntry] = {}
    for entry in rspec:
        if entry.virt in seen:
            raise fail("rspec", f"virtual address '{entry.virt}' is listed twice", entry.virt)
        seen[entry.virt] = entry
        if netaddr.IPAddress(entry.virt) not in fakenet:
            raise fail("rspec", f"virtual address '{entry.virt}' is outside fakenet {fakenet}",
                       entry.virt)
        if len(entry.hops) > len(tables):
            raise fail("rspec", f"entry for {entry.virt} has {len(entry.hops)} hops but 'table' "
                       f"lists {len(tables)} tables; give at most one hop per table",
                       entry.virt)
    if address not in seen:
        raise fail("rspec", f"has no entry for this host's address {address}; add "
                   f"'{address}:HOP...' (one hop per table)", "")

    weights = values["agg-weights"]
    if weights != "auto" and len(weights) != len(tables):
        raise fail("agg-weights", f"gives {len(weights)} weights for {len(tables)} tables",
                   raw["agg-weights"].text)

    return OverlayConfig(
        iface=iface, address=address, fakenet=str(fakenet), tables=tables, rspec=rspec,
        weights=weights, congctl=values["agg-congctl"], reordering=values["agg-reordering"],
        rto_min=values["agg-rto-min"],
        gso_max_segs=values["agg-gso-max-segs"], rule_priority=values["agg-rule-priority"],
        mtu=values["mtu"],
        monitor=MonitorConfig(values["agg-monitor"], values["agg-probe-interval"],
                              values["agg-probe-loss"], values["agg-probe-rejoin"],
                              values["agg-probe-port"], values["agg-probe-key-file"],
                              values["agg-probe-idle-interval"]),
        spread=values["agg-spread"], pace=values["agg-pace"], family=family,
        queue_meter=values["agg-queue-meter"])



# The one ifupdown method an overlay stanza may use. inet static assigns the /32 and takes it
# away again; dhcp would ask a server for another address, and manual leaves the address to
# no one (ifupdown neither adds nor removes it, so `ifdown` and `check` disagree with ifup).
METHOD = "static"


def method_error(iface: str, method: str, location: Optional[Location]) -> Optional[ConfigError]:
    """The located error of an overlay stanza written `iface IFACE inet METHOD` with a
    method other than static, or None."""
    if method == METHOD:
        return None
    why = ("it would ask a DHCP server for an address, but the overlay's address is a "
           "fixed /32 in the fake net" if method == "dhcp" else
           "ifupdown's manual method neither assigns nor removes the overlay's /32"
           if method == "manual" else "only inet static assigns the overlay's fixed /32")
    return ConfigError(f"'inet {method}' cannot carry an overlay: {why}; write "
                       f"'iface {iface} inet static'", iface=iface, option="iface",
                       token=method, location=location)
