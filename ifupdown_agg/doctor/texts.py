"""Fix texts and verdicts shared by doctor and bond-preflight (pure, a leaf).

bond/preflight.py imports this module, not the doctor: the two must say the
same about a port, so they build their sentences from the same pieces here.
"""

from __future__ import annotations

from typing import Iterable, Optional

from ifupdown_agg.usb.facts import ncm_mode

REALTEK_OUI = "00:e0:4c"          # first half of Realtek's permanent MACs

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


def usb_class_verdict(driver: str, chips: Iterable[Optional[str]] = ()) -> str:
    """What a cdc_ncm/cdc_ether port is: "the driver is cdc_ether (a Realtek
    RTL8156 in its ECM configuration)". `chips` are the Realtek chips known."""
    known = sorted(set(chips) - {None})
    mode = ncm_mode(driver)
    adapter = (f"a Realtek {'/'.join(known)} in its {mode} configuration"
               if known else f"a USB adapter in its {mode} configuration")
    return f"the driver is {driver} ({adapter})"


def usb_class_fix(chips: Iterable[Optional[str]] = ()) -> str:
    """The fix for a cdc_ncm/cdc_ether port; conditional when the chip is unknown."""
    if set(chips) - {None}:
        return R8152_FIX
    return "If the adapter is a Realtek RTL8156/RTL8153 (lsusb: 0bda:8156 or 0bda:8153): " + R8152_FIX
