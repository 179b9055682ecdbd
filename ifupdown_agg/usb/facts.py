"""Facts about USB network links, and what the USB bus leaves of their speed.

Pi clusters network over USB three ways: a Pi as a USB Ethernet device
(gadget mode: cdc_ncm/cdc_ether/rndis_host/cdc_eem on the host, g_ether or a
configfs gadget on the Pi), host-to-host cables (Prolific PL-25A1, driver
plusb on both ends) and USB NICs (RTL8156 2.5G, RTL8153 and AX88179 1G).

This module is pure: the judging on a link's facts (core/objects.LinkFacts,
UsbNicFacts here) and the Pi model. Reading (I/O, always under a root
directory, so tests run on fake trees) is kernel/usb.py, through kernel/sysfs.py:

  kernel.usb: read_nic(), read_all(), read_pi_model() sysfs and the device tree
  here:     parse_pi_model(), bus_caps(), ncm_mode()  pure

The sysfs layout kernel/usb.py reads (real paths; a fake tree under a root mirrors them):

  /sys/class/net/X/{speed,duplex}      the link's own rate and duplex
  /sys/class/net/X/device              host side: the USB *interface* dir (1-1.2:1.0)
  /sys/class/net/X/device/driver       -> .../drivers/r8152 (the driver's name)
  /sys/class/net/X/device/..           the USB *device* dir (1-1.2): idVendor,
                                       idProduct, serial, speed (negotiated: 480,
                                       5000...), version (bcdUSB, " 3.20"),
                                       bConfigurationValue, busnum, devpath
  .../usbN/..                          the host controller; its driver (xhci_hcd,
                                       dwc_otg, dwc2, ehci-pci)
  gadget side: device -> the gadget dir (gadget.0) under the UDC's device, whose
               udc/NAME/current_speed says high-speed, super-speed...
  /proc/device-tree/model              "Raspberry Pi 3 Model B Rev 1.2\\0" (also
  /sys/firmware/devicetree/base/model)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ifupdown_agg.core.objects import USB_GADGET, USB_HOST, LinkFacts

# --- the USB 2.0 budget -------------------------------------------------------
#
# Measured (issue 8, "usbnet"): on a Raspberry Pi 3B the 100M onboard port plus a
# gigabit USB adapter, both busy at once, reached 224 Mbit/s together. Both sit
# on the Pi's one USB 2.0 bus (480 Mbit/s signalling), so the bus, not the link
# speeds (1100 Mbit/s), set the total. USB 2.0 bulk transfers top out near
# 53 MB/s (~425 Mbit/s) on paper; real host controllers moving Ethernet frames
# (TCP ACKs share the same half-duplex bus) land around 224-300 Mbit/s.
#
# We take the measured 224, the low end, for every shared USB 2.0 bus. For the
# overlay's per-packet round robin the two errors do not cost the same: a link
# weighted above what it can carry holds the whole flow back (the total is
# sum(estimates) * min(real/estimate)), while one weighted below leaves only its
# own shortfall unused. With a 1G link beside two USB 2.0 links, guessing the
# bus at 280 when it gives 224 costs ~200 Mbit/s; guessing 224 when it gives 280
# costs 56.
USB2_BUS_BUDGET_MBPS = 224
USB2_SIGNALLING_MBPS = 480

# Chips that are USB 3 capable even when their descriptor, enumerated at high
# speed on a USB 2 port, says bcdUSB 2.10.
USB3_CHIPS = {("0bda", "8156"): "RTL8156", ("0bda", "8153"): "RTL8153",
              ("0b95", "1790"): "AX88179"}
CHIPS = {
    **USB3_CHIPS, ("0bda", "8152"): "RTL8152", ("0bda", "8155"): "RTL8155",
    ("067b", "25a1"): "PL-25A1", ("0424", "ec00"): "LAN9514",
    ("0424", "7800"): "LAN7800", ("0b95", "772b"): "AX88772B"}
REALTEK_VENDOR = "0bda"
REALTEK_R8152_IDS = {("0bda", "8156"), ("0bda", "8153")}   # what the udev rule covers
# USB class drivers a Realtek RTL8156/RTL8153 lands on outside its vendor
# configuration; both report half duplex, both are treated alike everywhere.
USB_NCM_DRIVERS = ("cdc_ncm", "cdc_ether")
PI_ONBOARD_DRIVERS = ("smsc95xx", "lan78xx")
# The onboard NIC's place behind the Pi's internal hub: LAN9514 at 1-1.1, the
# Pi 3B+'s LAN7515 hub puts the LAN7800 one level deeper, at 1-1.1.1.
PI_ONBOARD_DEVPATHS = ("1.1", "1.1.1")
UDC_SPEEDS = {"low-speed": 1, "full-speed": 12, "high-speed": 480,
              "super-speed": 5000, "super-speed-plus": 10000}
HOST, GADGET = USB_HOST, USB_GADGET


@dataclass(frozen=True)
class PiModel:
    model: str                    # the device tree's model string
    generation: int               # 1..5; Zero and Zero W are 1, Zero 2 W is 3
    onboard_ethernet: Optional[str] = None   # smsc95xx or lan78xx when on USB

    @property
    def shared_usb2_bus(self) -> bool:
        """Pi 1-3 (and Zero, CM1/CM3): one USB 2.0 controller (dwc_otg), one
        480 Mbit/s link to the SoC, behind which sit every USB port and, on the
        B models, the onboard Ethernet. (The SD card has its own controller.)"""
        return self.generation <= 3


# One link's facts are core/objects.LinkFacts, whatever reads them (sysfs here,
# the ethtool ioctl for bonding); this wing adds only the judging below.
UsbNicFacts = LinkFacts


def chip(nic: LinkFacts) -> Optional[str]:
    """The chip's name from CHIPS ("RTL8156"), else None."""
    return CHIPS.get((nic.vendor_id or "", nic.product_id or ""))


def usb3_capable(nic: LinkFacts) -> bool:
    major = (nic.usb_version or "").split(".")[0]
    return ((major.isdigit() and int(major) >= 3)
            or (nic.vendor_id or "", nic.product_id or "") in USB3_CHIPS)


# --- judging (pure) -----------------------------------------------------------

def ncm_mode(driver: Optional[str]) -> str:
    """The USB configuration a class driver implies: NCM for cdc_ncm, else ECM."""
    return "NCM" if driver == "cdc_ncm" else "ECM"


def realtek_chip(nic: UsbNicFacts) -> Optional[str]:
    """"RTL8156" and friends: the Realtek chips r8152 can drive, else None."""
    return chip(nic) if nic.vendor_id == REALTEK_VENDOR else None


def parse_pi_model(model: Optional[str]) -> Optional[PiModel]:
    """The Pi behind a device-tree model string; None for anything else."""
    text = (model or "").replace("\0", "").strip()
    if not text.startswith("Raspberry Pi"):
        return None
    rest = text[len("Raspberry Pi"):].split()
    if not rest:
        return None
    if rest[0] == "Zero":
        generation = 3 if len(rest) > 1 and rest[1] == "2" else 1
    elif rest[0] == "Compute":                     # Compute Module [3|3 Plus|4|5]
        digit = rest[2] if len(rest) > 2 and rest[2].isdigit() else "1"
        generation = int(digit)
    elif rest[0] == "Model":                       # Model B Rev 2, Model B Plus, Model A Plus
        generation = 1
    elif rest[0].isdigit():                        # 2, 3, 4, 5, 400, 500
        generation = int(rest[0][0])
    else:
        return None
    onboard = None
    if generation <= 3 and "Model B" in text:
        onboard = "lan78xx" if generation == 3 and "Plus" in rest else "smsc95xx"
    return PiModel(text, generation, onboard)


def is_pi_onboard(nic: UsbNicFacts, pi: Optional[PiModel]) -> bool:
    return (pi is not None and pi.onboard_ethernet is not None
            and nic.driver == pi.onboard_ethernet and nic.busnum in (None, 1)
            and nic.devpath in PI_ONBOARD_DEVPATHS)


def bandwidth_domain(nic: UsbNicFacts, pi: Optional[PiModel]) -> Optional[Tuple]:
    """The shared USB 2.0 link this NIC's traffic crosses, or None when no USB 2.0
    bus limits it (USB 3 speeds, or not known to be on USB 2.0).

    On a Pi 1-3 that is the one bus for every USB link, whatever sysfs says.
    Elsewhere the links negotiated at 480 Mbit/s on one bus share it; on an
    xHCI controller each root port is its own high-speed bandwidth domain (the
    controller schedules root ports separately), so there only links behind
    the same root port (one hub) share. Full/low speed (USB 1.1) is left out.
    """
    if pi is not None and pi.shared_usb2_bus:
        return ("pi-usb2",)
    if nic.usb_speed_mbps != USB2_SIGNALLING_MBPS:
        return None
    if nic.role == GADGET:
        return ("udc", nic.udc)
    if nic.busnum is None:
        return None
    if (nic.host_controller or "").startswith("xhci"):
        return ("bus", nic.busnum, nic.root_port)
    return ("bus", nic.busnum)


def bus_groups(facts: Dict[str, UsbNicFacts], pi: Optional[PiModel]) -> List[List[str]]:
    """The names on each shared USB 2.0 bandwidth domain, in a stable order."""
    groups: Dict[Tuple, List[str]] = {}
    for name in sorted(facts):
        domain = bandwidth_domain(facts[name], pi)
        if domain is not None:
            groups.setdefault(domain, []).append(name)
    return [names for _, names in sorted(groups.items(), key=lambda kv: kv[1])]


def _split(budget: int, rates: Dict[str, int]) -> Dict[str, int]:
    """budget split in proportion to rates, rounded so the parts sum to budget."""
    total = sum(rates.values())
    exact = {name: budget * rate / total for name, rate in rates.items()}
    caps = {name: int(value) for name, value in exact.items()}
    short = budget - sum(caps.values())
    for name in sorted(exact, key=lambda n: (caps[n] - exact[n], n))[:short]:
        caps[name] += 1
    return caps


def bus_caps(facts: Dict[str, UsbNicFacts], pi: Optional[PiModel],
             rates: Optional[Dict[str, Optional[int]]] = None,
             budget: int = USB2_BUS_BUDGET_MBPS) -> Dict[str, int]:
    """Usable rate in Mbit/s of each link in `facts`, with the USB bus counted.

    rates[name] overrides a link's own rate (e.g. a lower tbf rate); otherwise
    facts[name].speed_mbps. Links sharing one USB 2.0 bandwidth domain (see
    bandwidth_domain) whose rates add up to more than `budget` get caps that
    sum to exactly `budget`, split in proportion to their rates: a Pi 3B's 100M
    onboard port and a gigabit USB adapter get 20 and 204. A link of unknown
    rate on such a bus counts as `budget` (it cannot be faster than the bus).
    Links no USB 2.0 bus limits keep their own rate; one of unknown rate there
    gets no entry.
    """
    rates = rates or {}
    own = {name: rates.get(name) or nic.speed_mbps for name, nic in facts.items()}
    caps = {name: rate for name, rate in own.items() if rate}
    for names in bus_groups(facts, pi):
        wanted = {name: own[name] or budget for name in names}
        if sum(wanted.values()) > budget:
            caps.update(_split(budget, wanted))
        else:
            caps.update(wanted)
    return caps
