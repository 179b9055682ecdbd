"""What to say about a port before an 802.3ad bond enslaves it (pure).

802.3ad runs LACP only on full-duplex ports, and aggregates only ports of one
speed. A port that fails either is left alone in its own aggregator, and the
kernel's only word for it is "No 802.3ad response from the link partner".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ifupdown_agg.doctor.texts import HALF_DUPLEX_CONSEQUENCE, usb_class_fix, usb_class_verdict
from ifupdown_agg.core.objects import LinkFacts
from ifupdown_agg.usb.facts import USB_NCM_DRIVERS
GENERIC_FIX = ("Get the port to full duplex (cables, the partner's port settings, "
               "autonegotiation on both ends), or aggregate these links with the "
               "ifupdown-agg overlay (fakenet/rspec), which does not care about duplex.")


@dataclass(frozen=True)
class Problem:
    ports: Tuple[str, ...]
    code: str         # half-duplex, unknown-duplex, speed-mismatch
    message: str
    fix: str

    def text(self, bond: str) -> str:
        return f"{bond}: {self.message} Fix: {self.fix}"


def _what(group: List[LinkFacts]) -> str:
    f = group[0]
    bits = [f"driver {f.driver or 'unknown'}"]
    speeds = sorted({g.speed_mbps for g in group if g.speed_mbps})
    if speeds:
        bits.append("/".join(map(str, speeds)) + " Mbit/s")
    names = ", ".join(g.name for g in group)
    verb = "reports" if len(group) == 1 else "report"
    return f"{names} ({', '.join(bits)}) {verb}"


def check_ports(facts: Dict[str, LinkFacts], realtek_usb: Dict[str, bool],
                others: Optional[Dict[str, Optional[int]]] = None) -> List[Problem]:
    """Problems of the ports in `facts`, one per cause and driver; `others` are the
    speeds of ports already in the bond. realtek_usb[name] is True for a Realtek
    RTL8156/8153 USB adapter."""
    problems: List[Problem] = []
    groups: Dict[tuple, List[LinkFacts]] = {}
    for name, f in sorted(facts.items()):
        if f.duplex != "full":
            groups.setdefault((f.duplex, f.driver, realtek_usb.get(name, False)), []).append(f)
    for (duplex, driver, realtek), group in groups.items():
        if driver in USB_NCM_DRIVERS:
            chips = ["RTL8156/RTL8153"] if realtek else []
            message = (f"{_what(group)} {duplex} duplex: {usb_class_verdict(driver, chips)}. "
                       f"{HALF_DUPLEX_CONSEQUENCE}")
            fix = usb_class_fix(chips)
        else:
            message = f"{_what(group)} {duplex} duplex. {HALF_DUPLEX_CONSEQUENCE}"
            fix = GENERIC_FIX
        code = "half-duplex" if duplex == "half" else "unknown-duplex"
        problems.append(Problem(tuple(g.name for g in group), code, message, fix))
    speeds = {n: f.speed_mbps for n, f in facts.items()}
    speeds.update(others or {})
    known = {s for s in speeds.values() if s}
    if len(known) > 1:
        listing = ", ".join(f"{n} {s or '?'} Mbit/s" for n, s in sorted(speeds.items()))
        problems.append(Problem(
            tuple(sorted(facts)), "speed-mismatch",
            f"ports of different speeds ({listing}): 802.3ad puts ports of each speed in "
            "an aggregator of their own, and only one aggregator carries traffic.",
            "Bond ports of one speed, or use the overlay, which weights links by speed."))
    return problems
