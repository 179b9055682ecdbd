"""What observe() reads from files: rp_filter from /proc/sys, and each addressed
link's speed and raw USB facts from /sys."""

from __future__ import annotations

import os

from ifupdown_agg.core.objects import Observed
from ifupdown_agg.kernel import sysfs
from ifupdown_agg.kernel import usb as usbread

PROC_SYS = "/proc/sys"

SYSFS = sysfs.Sysfs("/")


def observe_into(obs: Observed) -> None:
    """rp_filter, and each addressed link's speed and USB facts, from /proc and /sys."""
    for dev in ["all"] + [n for n, li in obs.links.items() if li.addrs]:
        path = f"net/ipv4/conf/{dev}/rp_filter"
        value = sysfs.read(os.path.join(PROC_SYS, path))
        if value is not None:
            obs.sysctls[path] = value
        if dev != "all":
            obs.links[dev].speed = SYSFS.speed(dev)
            # Raw facts only: what the USB bus leaves of a link is the planner's call.
            obs.links[dev].usb = usbread.read_nic(dev)
    if any(li.usb for li in obs.links.values()):
        obs.pi = usbread.read_pi_model()
