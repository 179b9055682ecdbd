"""What the USB bus leaves of this machine's links' speed: bus_caps() on what
kernel/usb.py reads (the reading itself is kernel/usb.py's)."""

from __future__ import annotations

from typing import Dict, Iterable, Optional

from ifupdown_agg.kernel.usb import read_all
from ifupdown_agg.usb.facts import bus_caps


def usb_caps(names: Iterable[str], rates: Optional[Dict[str, Optional[int]]] = None,
             sysfs_root: str = "/sys", dt_root: str = "/proc/device-tree") -> Dict[str, int]:
    """bus_caps() of the USB-backed links among `names`, read from this machine.
    Names with no USB behind them get no entry (the caller keeps their rate).
    A Pi 1-3's onboard Ethernet is counted only when it is named: it takes bus
    time only when it carries traffic, and then it is an overlay member."""
    facts, pi = read_all(list(names), sysfs_root, dt_root)
    return bus_caps(facts, pi, rates)
