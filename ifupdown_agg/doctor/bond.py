"""Why an 802.3ad bond does not aggregate (pure).

diagnose() looks at a parsed /proc/net/bonding text and, when known, at the
sysfs facts of each slave (core/objects.LinkFacts: driver, duplex, speed,
carrier, USB identity). Unknown facts are treated as unknown.

The case that motivated it: Realtek RTL8156/RTL8153 USB adapters that come up
in their NCM (or ECM) configuration are driven by cdc_ncm (cdc_ether), which
report half duplex. 802.3ad disables LACP on half-duplex ports, so the bond
sends no LACPDUs, every port ends in its own aggregator, and the kernel only
says "No 802.3ad response from the link partner".
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from ifupdown_agg.bond.procfs import ZERO_MAC, BondInfo, Slave
from ifupdown_agg.doctor.findings import ERROR, WARNING, Finding
from ifupdown_agg.doctor.texts import (HALF_DUPLEX_CONSEQUENCE, R8152_FIX, REALTEK_OUI,
                                       usb_class_fix, usb_class_verdict)
from ifupdown_agg.usb.facts import USB_NCM_DRIVERS, UsbNicFacts, realtek_chip

SlaveFacts = UsbNicFacts     # a slave's facts are a link's facts, USB or not


def _names(slaves: Sequence[Slave]) -> str:
    return ", ".join(s.name for s in slaves)


def _duplex(slave: Slave, facts: UsbNicFacts) -> str:
    known = facts.duplex if facts.duplex != "unknown" else None
    return known or slave.duplex or "unknown"


def _speed(slave: Slave, facts: UsbNicFacts) -> Optional[int]:
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


def _half_duplex_findings(bond: BondInfo, facts: Dict[str, UsbNicFacts],
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
        chips = {realtek_chip(facts[s.name]) for s in slaves} - {None}
        if driver in USB_NCM_DRIVERS:
            message = (f"{report}: {usb_class_verdict(driver, chips)}, and {driver} "
                       f"reports half duplex. {HALF_DUPLEX_CONSEQUENCE}")
            fix = usb_class_fix(chips)
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


def _speed_finding(up: List[Slave], facts: Dict[str, UsbNicFacts], lacp: bool) -> Optional[Finding]:
    speeds = {s.name: _speed(s, facts[s.name]) for s in up}
    known = {name: mbps for name, mbps in speeds.items() if mbps is not None}
    if len(set(known.values())) < 2:
        return None
    listing = ", ".join(f"{name} {mbps} Mbit/s" for name, mbps in known.items())
    effect = ("802.3ad puts ports of different speeds into different aggregators "
              "(the speed is part of the port key)." if lacp else
              "The bond spreads flows evenly, so the slowest link holds the others back.")
    return Finding(WARNING, "speed-mismatch", ", ".join(known),
                   f"The slaves run at different speeds: {listing}. {effect}",
                   "Use links of one speed (check cables and autonegotiation: ethtool "
                   "IFACE), or aggregate unequal links with the ifupdown-agg TUN overlay.")


def _carrier_findings(bond: BondInfo, facts: Dict[str, UsbNicFacts]) -> List[Finding]:
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


def diagnose(bond: BondInfo, slave_facts: Optional[Dict[str, UsbNicFacts]] = None) -> List[Finding]:
    """Findings for one bond, root causes first. Unknown facts are treated as unknown."""
    facts = {s.name: (slave_facts or {}).get(s.name) or UsbNicFacts(s.name) for s in bond.slaves}
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
