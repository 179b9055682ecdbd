"""The text of /proc/net/bonding/<bond> as a typed model.

The kernel prints one "Key: value" per line, grouped into the bond header,
"802.3ad info", "Active Aggregator Info", one block per "Slave Interface" and,
inside a slave, "details actor lacp pdu:" / "details partner lacp pdu:". The
kernel indents the nested blocks, but text pasted into forums and bug reports
often loses the indentation; so sections are recognised by their keys (the
LACPDU keys are lower case, everything else is capitalised), never by
whitespace.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Dict, List, Optional

ZERO_MAC = "00:00:00:00:00:00"


class PortState(enum.IntFlag):
    """LACP port state bits, as the kernel prints them in "port state: N"."""
    ACTIVITY = 1
    SHORT_TIMEOUT = 2
    AGGREGATION = 4
    SYNCHRONIZATION = 8
    COLLECTING = 16
    DISTRIBUTING = 32
    DEFAULTED = 64
    EXPIRED = 128


# 63: active, fast, aggregatable, in sync, collecting and distributing
PORT_STATE_SETTLED_MASK = (PortState.AGGREGATION | PortState.SYNCHRONIZATION
                           | PortState.COLLECTING | PortState.DISTRIBUTING)


@dataclass
class LacpPdu:
    """One side of a port's LACP exchange ("details actor/partner lacp pdu")."""
    system_priority: Optional[int] = None
    system_mac: Optional[str] = None
    key: Optional[int] = None            # "port key" (actor) or "oper key" (partner)
    port_priority: Optional[int] = None
    port_number: Optional[int] = None
    port_state: Optional[int] = None

    @property
    def state(self) -> PortState:
        return PortState(self.port_state or 0)

    @property
    def settled(self) -> bool:
        """In sync and passing traffic in both directions."""
        return self.state & PORT_STATE_SETTLED_MASK == PORT_STATE_SETTLED_MASK


@dataclass
class Slave:
    name: str
    mii_status: Optional[str] = None
    speed_mbps: Optional[int] = None     # None when the kernel says "Unknown"
    duplex: Optional[str] = None         # "full", "half" or "unknown"
    link_failure_count: Optional[int] = None
    permanent_hw_addr: Optional[str] = None
    queue_id: Optional[int] = None
    aggregator_id: Optional[int] = None
    actor_churn_state: Optional[str] = None
    partner_churn_state: Optional[str] = None
    actor_churned_count: Optional[int] = None
    partner_churned_count: Optional[int] = None
    actor: Optional[LacpPdu] = None
    partner: Optional[LacpPdu] = None
    other: Dict[str, str] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        return self.mii_status == "up"


@dataclass
class ActiveAggregator:
    aggregator_id: Optional[int] = None
    number_of_ports: Optional[int] = None
    actor_key: Optional[int] = None
    partner_key: Optional[int] = None
    partner_mac: Optional[str] = None


@dataclass
class BondInfo:
    name: str
    driver_version: Optional[str] = None
    mode: Optional[str] = None
    transmit_hash_policy: Optional[str] = None
    mii_status: Optional[str] = None
    miimon_ms: Optional[int] = None
    updelay_ms: Optional[int] = None
    downdelay_ms: Optional[int] = None
    currently_active_slave: Optional[str] = None
    lacp_active: Optional[str] = None
    lacp_rate: Optional[str] = None
    min_links: Optional[int] = None
    ad_select: Optional[str] = None
    system_priority: Optional[int] = None
    system_mac: Optional[str] = None
    active_aggregator: Optional[ActiveAggregator] = None
    slaves: List[Slave] = field(default_factory=list)
    other: Dict[str, str] = field(default_factory=dict)

    @property
    def is_8023ad(self) -> bool:
        return self.mode is not None and "802.3ad" in self.mode

    @property
    def partner_mac(self) -> Optional[str]:
        return self.active_aggregator.partner_mac if self.active_aggregator else None

    def slave(self, name: str) -> Optional[Slave]:
        return next((s for s in self.slaves if s.name == name), None)


def _int(value: str) -> Optional[int]:
    """First word as an int: "100", "2500 Mbps"; None for "Unknown" and the like."""
    word = value.split()[0] if value.split() else ""
    digits = word[1:] if word.startswith("-") else word
    # ASCII digits only: str.isdigit() takes '1²', which int() refuses.
    return int(word) if 0 < len(digits) <= 12 and digits.isascii() and digits.isdigit() else None


# key -> (attribute, converter); one table per section.
_BOND_KEYS = {
    "Ethernet Channel Bonding Driver": ("driver_version", str),
    "Bonding Mode": ("mode", str),
    "Transmit Hash Policy": ("transmit_hash_policy", str),
    "MII Status": ("mii_status", str),
    "MII Polling Interval (ms)": ("miimon_ms", _int),
    "Up Delay (ms)": ("updelay_ms", _int),
    "Down Delay (ms)": ("downdelay_ms", _int),
    "Currently Active Slave": ("currently_active_slave", str),
    "LACP active": ("lacp_active", str),
    "LACP rate": ("lacp_rate", str),
    "Min links": ("min_links", _int),
    "Aggregator selection policy (ad_select)": ("ad_select", str),
    "System priority": ("system_priority", _int),
    "System MAC address": ("system_mac", str.lower),
}
_AGGREGATOR_KEYS = {
    "Aggregator ID": ("aggregator_id", _int),
    "Number of ports": ("number_of_ports", _int),
    "Actor Key": ("actor_key", _int),
    "Partner Key": ("partner_key", _int),
    "Partner Mac Address": ("partner_mac", str.lower),
}
_SLAVE_KEYS = {
    "MII Status": ("mii_status", str),
    "Speed": ("speed_mbps", _int),
    "Duplex": ("duplex", str.lower),
    "Link Failure Count": ("link_failure_count", _int),
    "Permanent HW addr": ("permanent_hw_addr", str.lower),
    "Slave queue ID": ("queue_id", _int),
    "Aggregator ID": ("aggregator_id", _int),
    "Actor Churn State": ("actor_churn_state", str),
    "Partner Churn State": ("partner_churn_state", str),
    "Actor Churned Count": ("actor_churned_count", _int),
    "Partner Churned Count": ("partner_churned_count", _int),
}
_PDU_KEYS = {
    "system priority": ("system_priority", _int),
    "system mac address": ("system_mac", str.lower),
    "port key": ("key", _int),
    "oper key": ("key", _int),
    "port priority": ("port_priority", _int),
    "port number": ("port_number", _int),
    "port state": ("port_state", _int),
}


def _set(obj, table, key: str, value: str) -> bool:
    if key not in table:
        return False
    attr, convert = table[key]
    setattr(obj, attr, convert(value) if value else None)
    return True


def parse(text: str, name: str = "bond") -> BondInfo:
    """Parse /proc/net/bonding text, indented or not."""
    bond = BondInfo(name=name)
    slave: Optional[Slave] = None
    aggregator: Optional[ActiveAggregator] = None   # while in "Active Aggregator Info"
    pdu: Optional[LacpPdu] = None                   # while in a "details ... lacp pdu" block
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if pdu is not None and _set(pdu, _PDU_KEYS, key, value):
            continue
        pdu = None
        if key == "Slave Interface":
            slave, aggregator = Slave(name=value), None
            bond.slaves.append(slave)
        elif slave is not None and key in ("details actor lacp pdu", "details partner lacp pdu"):
            pdu = LacpPdu()
            if key.split()[1] == "actor":
                slave.actor = pdu
            else:
                slave.partner = pdu
        elif slave is not None:
            if not _set(slave, _SLAVE_KEYS, key, value) and value:
                slave.other[key] = value
        elif key == "Active Aggregator Info":
            aggregator = bond.active_aggregator = ActiveAggregator()
        elif aggregator is not None and _set(aggregator, _AGGREGATOR_KEYS, key, value):
            continue
        elif not _set(bond, _BOND_KEYS, key, value) and value:
            bond.other[key] = value
    return bond


def read(path: str, name: Optional[str] = None) -> BondInfo:
    """Parse a file such as /proc/net/bonding/bond0; the bond is named after it."""
    with open(path) as fh:
        return parse(fh.read(), name or path.rstrip("/").rsplit("/", 1)[-1])
