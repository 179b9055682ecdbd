"""What the USB links are and what their bus leaves of their speed (pure).

diagnose_usb() names, on usb/facts.py's facts, a Realtek RTL8156/RTL8153 left
on cdc_ncm/cdc_ether, a USB 3 adapter that negotiated USB 2.0, links sharing
one USB 2.0 bus (a Pi 1-3's onboard Ethernet and every USB port), plusb
cables; describe_nic(), format_usb_report() and usb_report_json() render them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Dict, List, Optional, Sequence

from ifupdown_agg.doctor.findings import INFO, WARNING, Finding, render
from ifupdown_agg.doctor.texts import (CFGSELECTOR_KERNELS, HALF_DUPLEX_CONSEQUENCE, R8152_FIX,
                                       UDEV_RULE)
from ifupdown_agg.usb import facts as usbinfo
from ifupdown_agg.usb.facts import USB_NCM_DRIVERS, PiModel, UsbNicFacts, ncm_mode, realtek_chip

USB2_ONE_LINK_MBPS = 300       # a single link over USB 2.0, at most

def _list(names: Sequence[str]) -> str:
    return ", ".join(names)


def _are(names: Sequence[str]) -> str:
    return "is" if len(names) == 1 else "are"


def _realtek_findings(facts: Dict[str, UsbNicFacts]) -> List[Finding]:
    groups: Dict[tuple, List[str]] = {}
    for name, nic in sorted(facts.items()):
        chip = realtek_chip(nic)
        if nic.role == usbinfo.HOST and chip and nic.driver in USB_NCM_DRIVERS:
            groups.setdefault((chip, nic.driver, nic.duplex, nic.configuration,
                               (nic.vendor_id, nic.product_id) in usbinfo.REALTEK_R8152_IDS),
                              []).append(name)
    findings = []
    for (chip, driver, duplex, config, ruled), names in groups.items():
        mode = ncm_mode(driver)
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
        if (nic.role != usbinfo.HOST or not usbinfo.usb3_capable(nic)
                or nic.usb_speed_mbps != usbinfo.USB2_SIGNALLING_MBPS):
            continue
        chip = usbinfo.chip(nic)
        what = f"{chip}, {nic.usb_id}" if chip else nic.usb_id
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
        lone_usb3 = len(names) == 1 and usbinfo.usb3_capable(facts[names[0]])
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
            f"{name} is a host-to-host cable ({usbinfo.chip(nic) or 'Prolific PL-25A1'}, "
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
    name = usbinfo.chip(nic)
    chip = [name] if name else []
    chip += ["USB 3 capable"] if usbinfo.usb3_capable(nic) else []
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
        out += render(finding)
    return "\n".join(out) + "\n"


def usb_report_json(facts: Dict[str, UsbNicFacts], pi: Optional[PiModel],
                    findings: List[Finding]) -> dict:
    caps = usbinfo.bus_caps(facts, pi)
    nics = [dict(asdict(nic), usb_id=nic.usb_id, chip=usbinfo.chip(nic),
                 usb3_capable=usbinfo.usb3_capable(nic), onboard=usbinfo.is_pi_onboard(nic, pi),
                 usable_mbps=caps.get(name))
            for name, nic in sorted(facts.items())]
    return dict(pi=dict(asdict(pi), shared_usb2_bus=pi.shared_usb2_bus) if pi else None,
                usb2_bus_budget_mbps=usbinfo.USB2_BUS_BUDGET_MBPS, nics=nics,
                findings=[dict(bond=None, **asdict(f)) for f in findings])
