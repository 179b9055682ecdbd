"""Link rates, the weights they give, and the nft marking's GSO limit.

Pure: everything comes from an Observed snapshot (speeds, tbf shapers, USB
facts).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from ifupdown_agg.core.objects import Observed
from ifupdown_agg.usb.facts import bus_caps

GSO_BURST_SECONDS = 60e-6
SEGMENT_BITS = 1500 * 8
# From this slowest rate up, GSO packets carry at least two segments (120 us at 200
# Mbit/s): half the packets through TCP, IP, the spreader and the qdisc, for about one
# segment of reordering, which costs one flow 1-3% (bench/results/20261208T0010Z-gso-two.md:
# at 2x300 serialised 558 Mbit/s against 567 with 1 segment, at 0.46x the CPU per bit, and
# both ways at once 428/401 against 330/331). Below it one segment lasts 120 us or more.
PAIRED_FROM_MBIT = 200
SIXTY_US = "about 60 us of the slowest link"
PAIRED = (f"at least 2 where the slowest link runs at {PAIRED_FROM_MBIT} Mbit/s or more: "
          "half the packets through the stack for one segment of reordering")


def fill_bus_caps(obs: Observed) -> None:
    """Set bus_cap of the addressed USB links that share a USB 2.0 bus (a Pi 1-3:
    the onboard Ethernet too), from the raw USB facts observe() reports.

    Links kept their bus_cap when none are known (the planner cases set it).
    The shares split what the links carry without the bus (speed, shaper)."""
    usb = {n: li.usb for n, li in obs.links.items() if li.addrs and li.usb is not None}
    if not usb:
        return
    own = {n: min([r for r in (obs.links[n].speed, obs.links[n].shaped) if r], default=None)
           for n in usb}
    for name, cap in bus_caps(usb, obs.pi, own).items():   # type: ignore[arg-type]
        link = obs.links[name]
        link.bus_cap = None
        if link.rate is None or cap < link.rate:
            link.bus_cap = cap


def auto_gso_segs(devs: Sequence[str], obs: Observed) -> Tuple[int, str]:
    """Segments that keep one marked GSO run under ~60 us on the slowest member, and at
    least two where it runs at 200 Mbit/s or more (PAIRED_FROM_MBIT); with the rule that
    chose them, for the plan's note. 8 when a member's rate is unknown.

    One rule for both spreaders, unpaced: a GSO packet leaves through one link whole."""
    fill_bus_caps(obs)
    rates = [obs.links[d].rate for d in devs if d in obs.links]
    if not rates or not all(rates):
        return 8, SIXTY_US
    slowest = min(rates)
    segs = int(slowest * 1e6 * GSO_BURST_SECONDS / SEGMENT_BITS)
    if slowest >= PAIRED_FROM_MBIT and segs < 2:
        return 2, PAIRED
    return max(1, min(64, segs)), SIXTY_US


def auto_weights(devs: Sequence[str], obs: Observed) -> Tuple[List[int], Optional[str]]:
    fill_bus_caps(obs)
    speeds = [obs.links[d].rate if d in obs.links else None for d in devs]
    if any(not s or s <= 0 for s in speeds):
        unknown = sorted({d for d, s in zip(devs, speeds) if not s or s <= 0})
        return [1] * len(devs), ("speed unknown for " + ", ".join(unknown) +
                                 "; all links weigh the same (set agg-weights to change)")
    capped = [d for d in devs if obs.links[d].bus_cap and obs.links[d].bus_cap == obs.links[d].rate]
    if capped:
        return [int(s) for s in speeds], (
            "a shared USB 2.0 bus sets the weights of " + ", ".join(
                f"{d} ({obs.links[d].bus_cap} Mbit/s)" for d in capped) +
            ": the bus, not the link speed, bounds what they carry together (ifagg doctor --usb)")
    return [int(s) for s in speeds], None
