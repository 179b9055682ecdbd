"""ifagg doctor: explain why a bond does not aggregate, and how to fix it;
with --usb (and by itself when no bond is named), what the USB links are and
what their bus leaves of their speed.

diagnose() is pure: it looks at a parsed /proc/net/bonding text and, when
known, at sysfs facts about each slave (driver, duplex, USB identity). The
rest of the module reads those facts and prints the findings.

The case that motivated it: Realtek RTL8156/RTL8153 USB adapters that come up
in their NCM configuration are driven by cdc_ncm, which reports half duplex.
802.3ad disables LACP on half-duplex ports, so the bond sends no LACPDUs,
every port ends in its own aggregator, and the kernel only says "No 802.3ad
response from the link partner".

The USB report (diagnose_usb, pure, on usbinfo's facts) names for every USB
NIC its driver, duplex and speed, and finds: a Realtek RTL8156/RTL8153 left on
cdc_ncm/cdc_ether, a USB 3 adapter that negotiated USB 2.0, links sharing one
USB 2.0 bus (a Pi 1-3's onboard Ethernet and every USB port), plusb cables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence

from ifupdown_agg.usb import facts as usbinfo
from ifupdown_agg.bond.procfs import ZERO_MAC, BondInfo, Slave, parse, read
from ifupdown_agg.usb.facts import PiModel, UsbNicFacts

PROC_BONDING = "/proc/net/bonding"
SYSFS_NET = "/sys/class/net"
ERROR, WARNING, INFO = "error", "warning", "info"
REALTEK_VENDOR = "0bda"
REALTEK_OUI = "00:e0:4c"          # first half of Realtek's permanent MACs
R8152_CHIPS = {pid: chip for (vid, pid), chip in usbinfo.CHIPS.items() if vid == REALTEK_VENDOR}

# r8152's configuration selector ("r8152: add USB device driver for config
# selection", ec51fbd1b8a2) is in Linux 6.2 and was backported to the 5.10, 5.15
# and 6.1 stable trees in December 2023.
CFGSELECTOR_KERNELS = ("Linux 6.2 and later, and the 5.10, 5.15 and 6.1 stable "
                       "updates since December 2023")
UDEV_RULE = "/lib/udev/rules.d/60-ifupdown-agg.rules"
R8152_FIX = (
    "Put the adapter into its vendor configuration so that r8152 drives it; r8152 "
    "reports full duplex and the real speed. A kernel whose r8152 has the "
    f"configuration selector ({CFGSELECTOR_KERNELS}) does this by itself once "
    "r8152 is loaded (then /sys/bus/usb/drivers/r8152-cfgselector exists). "
    f"Otherwise the udev rule that ifupdown-agg installs ({UDEV_RULE}) does it for "
    "0bda:8156 and 0bda:8153 when the adapter is plugged in: replug it. Without "
    "the package, add the rule yourself, e.g. as "
    "/etc/udev/rules.d/50-usb-realtek-net.rules, and replug the adapter:\n"
    '    ACTION=="add", SUBSYSTEM=="usb", ATTR{idVendor}=="0bda", '
    'ATTR{idProduct}=="8156", ATTR{bConfigurationValue}!="1", '
    'ATTR{bConfigurationValue}="1"\n'
    "(use 8153 for an RTL8153). Or aggregate these links with the ifupdown-agg "
    "TUN overlay instead of a bond: it spreads packets over the links and does "
    "not care about duplex."
)
HALF_DUPLEX_CONSEQUENCE = (
    "802.3ad refuses half-duplex ports: it runs no LACP on them, so no LACPDUs "
    "are sent or answered, each port stays alone in its own aggregator, and the "
    'kernel logs "No 802.3ad response from the link partner".'
)


@dataclass
class UsbFacts:
    vendor_id: str                       # four hex digits, as in sysfs idVendor
    product_id: str
    product: Optional[str] = None
    configuration: Optional[int] = None  # bConfigurationValue, the active one
    num_configurations: Optional[int] = None

    @property
    def chip(self) -> Optional[str]:
        """"RTL8156" and friends, the chips r8152 can drive."""
        if self.vendor_id == REALTEK_VENDOR:
            return R8152_CHIPS.get(self.product_id)
        return None


@dataclass
class SlaveFacts:
    driver: Optional[str] = None         # name of /sys/class/net/X/device/driver
    speed_mbps: Optional[int] = None
    duplex: Optional[str] = None         # "full", "half", "unknown"
    carrier: Optional[bool] = None
    usb: Optional[UsbFacts] = None


@dataclass(frozen=True)
class Finding:
    severity: str     # error, warning or info
    code: str         # stable short id, e.g. half-duplex
    subject: str      # the bond, or the slave(s) concerned
    message: str
    fix: str


# --- diagnosis (pure) -------------------------------------------------------

def _names(slaves: Sequence[Slave]) -> str:
    return ", ".join(s.name for s in slaves)


def _duplex(slave: Slave, facts: SlaveFacts) -> str:
    return facts.duplex or slave.duplex or "unknown"


def _speed(slave: Slave, facts: SlaveFacts) -> Optional[int]:
    return facts.speed_mbps if facts.speed_mbps is not None else slave.speed_mbps


def _no_lacp_partner(slave: Slave) -> bool:
    partner = slave.partner
    return (partner is None or partner.system_mac in (None, ZERO_MAC)
            or slave.partner_churn_state == "churned")


def _aggregators(slaves: Sequence[Slave]) -> Dict[int, List[Slave]]:
    groups: Dict[int, List[Slave]] = {}
    for slave in slaves:
        if slave.aggregator_id is not None:
            groups.setdefault(slave.aggregator_id, []).append(slave)
    return groups


def _half_duplex_findings(bond: BondInfo, facts: Dict[str, SlaveFacts],
                          up: List[Slave]) -> List[Finding]:
    half = [s for s in up if _duplex(s, facts[s.name]) != "full"]
    by_driver: Dict[Optional[str], List[Slave]] = {}
    for slave in half:
        by_driver.setdefault(facts[slave.name].driver, []).append(slave)
    findings = []
    for driver, slaves in by_driver.items():
        duplexes = sorted({_duplex(s, facts[s.name]) for s in slaves})
        report = f"{_names(slaves)} report{'s' if len(slaves) == 1 else ''} " \
                 f"{' and '.join(duplexes)} duplex"
        chips = {facts[s.name].usb.chip for s in slaves if facts[s.name].usb} - {None}
        if driver == "cdc_ncm":
            adapter = (f"a Realtek {'/'.join(sorted(chips))} in its NCM configuration"
                       if chips else "a USB adapter in its NCM configuration")
            message = (f"{report}: the driver is cdc_ncm ({adapter}), and cdc_ncm "
                       f"reports half duplex. {HALF_DUPLEX_CONSEQUENCE}")
            fix = R8152_FIX if chips else (
                "If the adapter is a Realtek RTL8156/RTL8153 (lsusb: 0bda:8156 or "
                "0bda:8153): " + R8152_FIX)
        elif driver is None and _looks_like_rtl8156_on_cdc_ncm(bond, slaves, up):
            realtek = [s for s in slaves if (s.permanent_hw_addr or "").startswith(REALTEK_OUI)]
            oui = (f" The permanent MACs start with {REALTEK_OUI}, Realtek's prefix."
                   if len(realtek) == len(slaves) else "")
            message = (f"{report}, get no LACPDUs and sit in separate aggregators. "
                       "The driver is not known here (a saved text), but this is the "
                       "signature of Realtek RTL8156/RTL8153 USB adapters driven by "
                       f"cdc_ncm, which reports half duplex.{oui} "
                       f"{HALF_DUPLEX_CONSEQUENCE} To confirm, run: readlink "
                       f"/sys/class/net/{slaves[0].name}/device/driver")
            fix = R8152_FIX
        else:
            by = f" (driver {driver})" if driver else ""
            message = f"{report}{by}. {HALF_DUPLEX_CONSEQUENCE}"
            fix = _generic_duplex_fix()
        findings.append(Finding(ERROR, "half-duplex", _names(slaves), message, fix))
    return findings


def _generic_duplex_fix() -> str:
    return ("Get the ports to full duplex: check cables and the partner's port "
            "settings (autonegotiation on both ends, or the same forced speed and "
            "duplex: ethtool -s IFACE speed N duplex full). Or aggregate the links "
            "with the ifupdown-agg TUN overlay, which does not care about duplex.")


def _looks_like_rtl8156_on_cdc_ncm(bond: BondInfo, half: List[Slave], up: List[Slave]) -> bool:
    """Half duplex, no LACP partner and one aggregator per port: cdc_ncm's signature."""
    return (all(s.duplex == "half" for s in half)
            and all(_no_lacp_partner(s) for s in half)
            and len(_aggregators(up)) > 1)


def _no_partner_finding(up: List[Slave], half_duplex: bool) -> Optional[Finding]:
    lonely = [s for s in up if _no_lacp_partner(s)]
    if not lonely:
        return None
    silent = [s for s in lonely if s.partner is None or s.partner.system_mac in (None, ZERO_MAC)]
    if silent:
        what = (f"{_names(silent)} receive{'s' if len(silent) == 1 else ''} no LACPDUs "
                f"from the link partner (partner MAC {ZERO_MAC})")
    else:
        what = (f"LACP with the partner of {_names(lonely)} never settled "
                "(partner churn state: churned)")
    if half_duplex:
        return Finding(ERROR, "no-partner", _names(lonely),
                       f"{what}. This follows from the half duplex reported above: the "
                       "bond runs no LACP on those ports.",
                       "See half-duplex; this clears once that is fixed.")
    return Finding(ERROR, "no-partner", _names(lonely),
                   f"{what}. The kernel logs \"No 802.3ad response from the link partner\" "
                   "and the ports cannot join one aggregator.",
                   "Configure the partner's ports (switch or peer bond) as one LACP "
                   "(802.3ad) group, check that every cable ends in that group, and "
                   "that the partner runs LACP (active on at least one end).")


def _split_finding(bond: BondInfo, up: List[Slave], cause: Optional[str]) -> Optional[Finding]:
    groups = _aggregators(up)
    if len(groups) < 2:
        return None
    layout = "; ".join(f"aggregator {agg}: {_names(ss)}" for agg, ss in sorted(groups.items()))
    active = bond.active_aggregator.aggregator_id if bond.active_aggregator else None
    message = (f"The slaves sit in {len(groups)} aggregators ({layout}). Only the active "
               f"aggregator{f' ({active})' if active is not None else ''} carries traffic, "
               "so the bond is no faster than its ports in that aggregator.")
    if cause:
        return Finding(WARNING, "split-aggregators", bond.name,
                       f"{message} This follows from {cause} above.",
                       f"See {cause}; this clears once that is fixed.")
    return Finding(WARNING, "split-aggregators", bond.name, message,
                   "Ports join one aggregator only with the same speed, full duplex and "
                   "the same partner system and key: connect them all to one LACP group.")


def _speed_finding(up: List[Slave], facts: Dict[str, SlaveFacts], lacp: bool) -> Optional[Finding]:
    speeds = {s.name: _speed(s, facts[s.name]) for s in up}
    known = {name: mbps for name, mbps in speeds.items() if mbps is not None}
    if len(set(known.values())) < 2:
        return None
    listing = ", ".join(f"{name} {mbps} Mb/s" for name, mbps in known.items())
    effect = ("802.3ad puts ports of different speeds into different aggregators "
              "(the speed is part of the port key)." if lacp else
              "The bond spreads flows evenly, so the slowest link holds the others back.")
    return Finding(WARNING, "speed-mismatch", ", ".join(known),
                   f"The slaves run at different speeds: {listing}. {effect}",
                   "Use links of one speed (check cables and autonegotiation: ethtool "
                   "IFACE), or aggregate unequal links with the ifupdown-agg TUN overlay.")


def _carrier_findings(bond: BondInfo, facts: Dict[str, SlaveFacts]) -> List[Finding]:
    down = [s for s in bond.slaves if not s.up or facts[s.name].carrier is False]
    if not down:
        return []
    severity = ERROR if len(down) == len(bond.slaves) else WARNING
    return [Finding(severity, "no-carrier", s.name,
                    f"{s.name} has no carrier (MII status {s.mii_status or 'unknown'}); "
                    f"the bond does not use it.",
                    f"Check the cable and the link partner; `ip link show {s.name}` "
                    "shows LOWER_UP once the link is up.")
            for s in down]


def _min_links_finding(bond: BondInfo, up: List[Slave]) -> Optional[Finding]:
    wanted = bond.min_links or 0
    if wanted == 0:
        return None
    if bond.is_8023ad and bond.active_aggregator and bond.active_aggregator.number_of_ports is not None:
        active, unit = bond.active_aggregator.number_of_ports, "ports in the active aggregator"
    else:
        active, unit = len(up), "slaves up"
    if active >= wanted:
        return None
    return Finding(ERROR, "min-links", bond.name,
                   f"min_links is {wanted} but there {'is' if active == 1 else 'are'} only "
                   f"{active} {unit}, so the bond keeps its carrier down."
                   + (f" It has only {len(bond.slaves)} slaves at all." if len(bond.slaves) < wanted else ""),
                   "Fix the ports named above, or lower min_links (bond-min-links in "
                   f"/etc/network/interfaces, or ip link set {bond.name} type bond min_links N).")


def diagnose(bond: BondInfo, slave_facts: Optional[Dict[str, SlaveFacts]] = None) -> List[Finding]:
    """Findings for one bond, root causes first. Unknown facts are treated as unknown."""
    facts = {s.name: (slave_facts or {}).get(s.name) or SlaveFacts() for s in bond.slaves}
    if not bond.slaves:
        return [Finding(WARNING, "no-slaves", bond.name, f"{bond.name} has no slaves.",
                        "Add ports to it (bond-slaves in /etc/network/interfaces).")]
    findings: List[Finding] = []
    up = [s for s in bond.slaves if s.up and facts[s.name].carrier is not False]
    cause = None
    if bond.is_8023ad:
        half = _half_duplex_findings(bond, facts, up)
        findings += half
        cause = "half-duplex" if half else None
        no_partner = _no_partner_finding(up, bool(half))
        if no_partner:
            findings.append(no_partner)
            cause = cause or "no-partner"
        split = _split_finding(bond, up, cause)
        if split:
            findings.append(split)
    speed = _speed_finding(up, facts, bond.is_8023ad)
    if speed:
        findings.append(speed)
    findings += _carrier_findings(bond, facts)
    min_links = _min_links_finding(bond, up)
    if min_links:
        findings.append(min_links)
    return findings


# --- USB links (pure) -------------------------------------------------------

NCM_ECM_DRIVERS = ("cdc_ncm", "cdc_ether")
USB2_ONE_LINK_MBPS = 300       # a single link over USB 2.0, at most


def _list(names: Sequence[str]) -> str:
    return ", ".join(names)


def _are(names: Sequence[str]) -> str:
    return "is" if len(names) == 1 else "are"


def _realtek_findings(facts: Dict[str, UsbNicFacts]) -> List[Finding]:
    groups: Dict[tuple, List[str]] = {}
    for name, nic in sorted(facts.items()):
        chip = nic.chip if nic.vendor_id == REALTEK_VENDOR else None
        if nic.role == usbinfo.HOST and chip and nic.driver in NCM_ECM_DRIVERS:
            groups.setdefault((chip, nic.driver, nic.duplex, nic.configuration,
                               (nic.vendor_id, nic.product_id) in usbinfo.REALTEK_R8152_IDS),
                              []).append(name)
    findings = []
    for (chip, driver, duplex, config, ruled), names in groups.items():
        mode = "NCM" if driver == "cdc_ncm" else "ECM"
        conf = f" (USB configuration {config})" if config else ""
        message = (f"{_list(names)} {_are(names)} a Realtek {chip} in its {mode} "
                   f"configuration{conf}, driven by {driver} instead of r8152, and "
                   f"report{'s' if len(names) == 1 else ''} {duplex} duplex. "
                   f"{HALF_DUPLEX_CONSEQUENCE} The overlay does not care about duplex.")
        if ruled:
            fix = (f"The udev rule that ifupdown-agg installs ({UDEV_RULE}) puts an "
                   "RTL8156/RTL8153 into its vendor configuration (1) when it is plugged "
                   "in, so that r8152 drives it at full duplex: replug the adapter (or "
                   "reboot) if it was plugged in before the package was installed. A "
                   f"kernel whose r8152 has the configuration selector ({CFGSELECTOR_KERNELS}) "
                   "does the same by itself. Or leave it on "
                   f"{driver} and aggregate with the overlay, which does not care about duplex.")
        else:
            fix = R8152_FIX
        findings.append(Finding(WARNING, "realtek-not-r8152", _list(names), message, fix))
    return findings


def _usb3_at_usb2_findings(facts: Dict[str, UsbNicFacts],
                           pi: Optional[PiModel]) -> List[Finding]:
    if pi is not None and pi.shared_usb2_bus:
        return []                     # no USB 3 port to move to: see usb2-shared-bus
    findings = []
    for name, nic in sorted(facts.items()):
        if (nic.role != usbinfo.HOST or not nic.usb3_capable
                or nic.usb_speed_mbps != usbinfo.USB2_SIGNALLING_MBPS):
            continue
        what = f"{nic.chip}, {nic.usb_id}" if nic.chip else nic.usb_id
        link = f", not its {nic.speed_mbps} Mbit/s" if nic.speed_mbps else ""
        port = f"{nic.busnum}-{nic.devpath}" if nic.busnum and nic.devpath else "BUS-PORT"
        findings.append(Finding(
            WARNING, "usb3-at-usb2", name,
            f"{name} ({what}) is USB 3 capable but negotiated 480 Mbit/s (USB 2.0 "
            "high speed): it sits in a USB 2 port, or behind a USB 2 cable, extension "
            f"or hub. Over USB 2.0 expect ~{USB2_ONE_LINK_MBPS} Mbit/s at most{link}.",
            "Move it to a USB 3 port (blue, or marked SS) with no USB 2 hub or "
            "extension cable in between, and check that "
            f"/sys/bus/usb/devices/{port}/speed then says 5000 or more."))
    return findings


def _shared_bus_findings(facts: Dict[str, UsbNicFacts], pi: Optional[PiModel]) -> List[Finding]:
    caps = usbinfo.bus_caps(facts, pi)
    budget = usbinfo.USB2_BUS_BUDGET_MBPS
    on_pi = pi is not None and pi.shared_usb2_bus
    findings = []
    for names in usbinfo.bus_groups(facts, pi):
        rates = [facts[n].speed_mbps for n in names]
        binds = sum(r or budget for r in rates) > budget
        lone_usb3 = len(names) == 1 and facts[names[0]].usb3_capable
        if not (len(names) > 1 or binds) or (not on_pi and lone_usb3):
            continue
        total = sum(caps[n] for n in names)
        nominal = sum(r for r in rates if r)
        shares = ", ".join(f"{n} {caps[n]}" for n in names)
        onboard = [n for n in names if usbinfo.is_pi_onboard(facts[n], pi)]
        labels = _list([f"{n} (onboard)" if n in onboard else n for n in names])
        measured = ("Measured on a Pi 3B: the 100M onboard port and a gigabit USB adapter "
                    f"reached {budget} Mbit/s together.")
        if on_pi:
            assert pi is not None
            message = (f"This {pi.model} has one USB 2.0 bus (480 Mbit/s) to the SoC, "
                       "behind which sit every USB port"
                       f"{' and the onboard Ethernet' if pi.onboard_ethernet else ''}; "
                       f"{labels} share it. Expect about {total} Mbit/s for all of them "
                       f"together{f', not the {nominal} Mbit/s of their link speeds' if nominal > total else ''}. "
                       f"{measured} The bus, not the link speeds, sets the weights "
                       f"(Mbit/s): {shares}.")
            fix = ("Nothing to fix on this Pi: the overlay's agg-weights auto weights the "
                   "links by these bus shares. More links on this bus add no speed; a "
                   "Pi 4 or 5 has USB 3 ports and onboard Ethernet off the USB bus.")
        else:
            nic = facts[names[0]]
            where = (f"USB bus {nic.busnum}" + (f" behind root port {nic.root_port}"
                                                 if (nic.host_controller or "").startswith("xhci") else "")
                     if nic.role == usbinfo.HOST else f"the USB device controller {nic.udc}")
            message = (f"{labels} negotiated 480 Mbit/s (USB 2.0) on {where}, and share "
                       f"it. Expect about {total} Mbit/s for "
                       f"{'all of them together' if len(names) > 1 else 'it'}"
                       f"{f', not {nominal} Mbit/s' if nominal > total else ''}. {measured} "
                       f"The bus, not the link speeds, sets the weights (Mbit/s): {shares}.")
            fix = ("Put each adapter on a USB 3 port of its own (USB 3 adapters), or on "
                   "separate root ports or controllers (lsusb -t shows the tree). "
                   "agg-weights auto follows the bus shares meanwhile.")
        findings.append(Finding(INFO, "usb2-shared-bus", _list(names), message, fix))
    return findings


def _plusb_findings(facts: Dict[str, UsbNicFacts]) -> List[Finding]:
    findings = []
    for name, nic in sorted(facts.items()):
        if nic.driver != "plusb":
            continue
        at = f" It negotiated {nic.usb_speed_mbps} Mbit/s on USB." if nic.usb_speed_mbps else ""
        findings.append(Finding(
            INFO, "plusb-link", name,
            f"{name} is a host-to-host cable ({nic.chip or 'Prolific PL-25A1'}, "
            f"{nic.usb_id or 'USB'}) driven by plusb. It works as a network link, and "
            "the host at the other end sees it as a NIC too (plusb there as well). "
            "Expect a ~300 Mbit/s class link at USB 2.0." + at + " A cable has no "
            f"Ethernet PHY: speed reads {nic.speed_mbps or 'unknown'} and duplex "
            f"{nic.duplex}, which is normal here, but 802.3ad cannot use it.",
            "Nothing to fix. Give both ends an address on the link, or make it an "
            "overlay member (the overlay does not care about duplex)."))
    return findings


def diagnose_usb(facts: Dict[str, UsbNicFacts], pi: Optional[PiModel] = None) -> List[Finding]:
    """Findings about USB links, warnings first."""
    return (_realtek_findings(facts) + _usb3_at_usb2_findings(facts, pi)
            + _shared_bus_findings(facts, pi) + _plusb_findings(facts))


def describe_nic(nic: UsbNicFacts, pi: Optional[PiModel] = None) -> str:
    """One line: driver, duplex, speed, then where it sits on USB."""
    speed = f"{nic.speed_mbps} Mbit/s" if nic.speed_mbps else "speed unknown"
    head = f"{nic.name}: {nic.driver or 'driver unknown'}, {nic.duplex} duplex, {speed}"
    usb_speed = f"{nic.usb_speed_mbps} Mbit/s" if nic.usb_speed_mbps else "unknown speed"
    if nic.role == usbinfo.GADGET:
        return (f"{head}; gadget side (this machine is the USB device), {usb_speed} "
                f"on UDC {nic.udc or 'unknown'}")
    chip = [nic.chip] if nic.chip else []
    chip += ["USB 3 capable"] if nic.usb3_capable else []
    tags = f" ({', '.join(chip)})" if chip else ""
    where = f", bus {nic.busnum} port {nic.devpath}" if nic.busnum is not None else ""
    extra = ", onboard" if usbinfo.is_pi_onboard(nic, pi) else ""
    serial = f", serial {nic.serial}" if nic.serial else ""
    return f"{head}; USB {nic.usb_id or '?'}{tags} at {usb_speed}{where}{extra}{serial}"


def format_usb_report(facts: Dict[str, UsbNicFacts], pi: Optional[PiModel],
                      findings: List[Finding]) -> str:
    head = "USB links" + (f" ({pi.model})" if pi else "")
    if not facts:
        return f"{head}\n  no USB network links found\n"
    out = [head] + ["  " + describe_nic(facts[name], pi) for name in sorted(facts)]
    if not findings:
        out.append("  no problems found")
    for finding in findings:
        out.append(f"  {finding.severity.upper()} {finding.code}: {finding.subject}")
        out += _wrap("", finding.message)
        out += _wrap("Fix: ", finding.fix)
    return "\n".join(out) + "\n"


def usb_report_json(facts: Dict[str, UsbNicFacts], pi: Optional[PiModel],
                    findings: List[Finding]) -> dict:
    caps = usbinfo.bus_caps(facts, pi)
    nics = [dict(asdict(nic), usb_id=nic.usb_id, chip=nic.chip, usb3_capable=nic.usb3_capable,
                 onboard=usbinfo.is_pi_onboard(nic, pi), usable_mbps=caps.get(name))
            for name, nic in sorted(facts.items())]
    return dict(pi=dict(asdict(pi), shared_usb2_bus=pi.shared_usb2_bus) if pi else None,
                usb2_bus_budget_mbps=usbinfo.USB2_BUS_BUDGET_MBPS, nics=nics,
                findings=[dict(bond=None, **asdict(f)) for f in findings])


# --- facts from sysfs -------------------------------------------------------

def _read(path: str) -> Optional[str]:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:       # e.g. EINVAL for speed/carrier of a link that is down
        return None


def _read_int(path: str) -> Optional[int]:
    value = _read(path)
    return int(value) if value and value.lstrip("-").isdigit() else None


def read_usb_facts(device: str) -> Optional[UsbFacts]:
    """USB identity of a netdev's device: its interface's parent carries idVendor."""
    path = os.path.realpath(device)
    for _ in range(3):
        if os.path.exists(os.path.join(path, "idVendor")):
            return UsbFacts(
                vendor_id=_read(os.path.join(path, "idVendor")) or "",
                product_id=_read(os.path.join(path, "idProduct")) or "",
                product=_read(os.path.join(path, "product")),
                configuration=_read_int(os.path.join(path, "bConfigurationValue")),
                num_configurations=_read_int(os.path.join(path, "bNumConfigurations")))
        path = os.path.dirname(path)
    return None


def read_slave_facts(iface: str, sysfs: str = SYSFS_NET) -> SlaveFacts:
    base = os.path.join(sysfs, iface)
    device = os.path.join(base, "device")
    driver_link = os.path.join(device, "driver")
    speed = _read_int(os.path.join(base, "speed"))
    carrier = _read(os.path.join(base, "carrier"))
    return SlaveFacts(
        driver=os.path.basename(os.readlink(driver_link)) if os.path.islink(driver_link) else None,
        speed_mbps=speed if speed and speed > 0 else None,     # -1 means unknown
        duplex=_read(os.path.join(base, "duplex")),
        carrier=None if carrier is None else carrier == "1",
        usb=read_usb_facts(device) if os.path.exists(device) else None)


# --- command line -----------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the findings as a JSON list (with --usb: an object "
                             "with the Pi model, every USB link's facts and the findings)")
    parser.add_argument("--usb", action="store_true",
                        help="report the USB network links: driver, duplex, speed, the USB "
                             "bus and what it leaves of their speed (also shown, after the "
                             "bonds, when no bond is named and USB links exist)")
    # Roots of a copied tree (tests, or a capture from another machine).
    parser.add_argument("--sysfs-root", default="/sys", help=argparse.SUPPRESS)
    parser.add_argument("--dt-root", default="/proc/device-tree", help=argparse.SUPPRESS)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--proc-file", metavar="FILE",
                        help="diagnose a saved /proc/net/bonding/BOND text ('-' reads "
                             "stdin); driver facts are then inferred")
    source.add_argument("bonds", nargs="*", default=[], metavar="BOND",
                        help="bonds to diagnose (default: every bond in /proc/net/bonding)")


def _wrap(label: str, text: str) -> List[str]:
    """Wrap a paragraph; lines indented in the text (commands) are kept as they are."""
    lines = []
    for chunk in text.split("\n"):
        if chunk.startswith(" "):
            lines.append("      " + chunk.strip())
        else:
            lines += textwrap.wrap(chunk, 76, break_on_hyphens=False, initial_indent="    " + label if not lines else "    ",
                                   subsequent_indent="    ")
    return lines


def format_findings(bond: BondInfo, findings: List[Finding]) -> str:
    head = f"{bond.name}: {bond.mode or 'unknown mode'}, {len(bond.slaves)} slaves"
    if not findings:
        return f"{head}\n  no problems found\n"
    out = [head]
    for finding in findings:
        out.append(f"  {finding.severity.upper()} {finding.code}: {finding.subject}")
        out += _wrap("", finding.message)
        out += _wrap("Fix: ", finding.fix)
        out.append("")
    return "\n".join(out)


def _bond_reports(args: argparse.Namespace) -> Optional[list]:
    """[(bond, findings)], or None after a usage error (already printed)."""
    reports = []
    if args.proc_file:
        try:
            if args.proc_file == "-":
                text = sys.stdin.read()
            else:
                with open(args.proc_file) as fh:
                    text = fh.read()
        except OSError as err:
            print(f"doctor: {err}", file=sys.stderr)
            return None
        name = "stdin" if args.proc_file == "-" else os.path.basename(args.proc_file)
        bond = parse(text, name)
        reports.append((bond, diagnose(bond)))
    else:
        names = args.bonds or (sorted(os.listdir(PROC_BONDING)) if os.path.isdir(PROC_BONDING) else [])
        for name in names:
            path = os.path.join(PROC_BONDING, name)
            if not os.path.exists(path):
                print(f"doctor: {name} is not a bond (no {path})", file=sys.stderr)
                return None
            bond = read(path)
            reports.append((bond, diagnose(bond, {s.name: read_slave_facts(s.name)
                                                  for s in bond.slaves})))
    return reports


def run(args: argparse.Namespace) -> int:
    usb_only = args.usb and not args.bonds and not args.proc_file
    reports = [] if usb_only else _bond_reports(args)
    if reports is None:
        return 2
    usb_facts, pi = usbinfo.read_all(None, args.sysfs_root,
                                     args.dt_root)
    # The USB report: asked for, or found when doctor looks at the whole machine.
    show_usb = args.usb or (not args.bonds and not args.proc_file
                                               and bool(usb_facts))
    usb_findings = diagnose_usb(usb_facts, pi) if show_usb else []
    if args.json and usb_only:
        print(json.dumps(usb_report_json(usb_facts, pi, usb_findings), indent=2))
    elif args.json:
        print(json.dumps([dict(bond=bond.name, **asdict(f)) for bond, found in reports for f in found]
                         + [dict(bond=None, **asdict(f)) for f in usb_findings], indent=2))
    else:
        parts = []
        if not usb_only:
            parts.append("\n".join(format_findings(bond, found) for bond, found in reports)
                         if reports else "no bonds found\n")
        if show_usb:
            parts.append(format_usb_report(usb_facts, pi, usb_findings))
        print("\n".join(parts), end="")
    problems = any(f.severity in (ERROR, WARNING)
                   for f in [f for _, found in reports for f in found] + usb_findings)
    return 1 if problems else 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ifagg doctor",
        description="Explain why a Linux bond does not aggregate, and how to fix it; "
                    "with --usb, report the USB network links. "
                    "Exit status: 0 no problems, 1 problems found, 2 usage error.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
