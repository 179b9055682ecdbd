"""Reading the facts of network links from sysfs and the device tree (I/O).

The facts types and every judgement on them are in usb/facts.py (pure); this
module only fills them, through kernel/sysfs.py, under a root directory so
that tests run on fake trees (see usb/facts.py for the layout). Policy, such as
usb/read.py's usb_caps(), stays in the usb wing.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Iterable, Optional, Tuple

from ifupdown_agg.kernel.sysfs import link_name, read, read_int
from ifupdown_agg.usb.facts import GADGET, HOST, UDC_SPEEDS, PiModel, UsbNicFacts, parse_pi_model


def _usb_speed(text: Optional[str]) -> Optional[int]:
    """sysfs speed of a USB device: "1.5", "12", "480", "5000", "10000", "20000"."""
    if not text:
        return None
    try:
        return max(1, int(float(text)))
    except ValueError:
        return None


def _host_controller(usb_device: str) -> Optional[str]:
    """Driver of the controller above the root hub (usbN) of a USB device dir."""
    path = usb_device
    while path not in ("", "/"):
        if re.fullmatch(r"usb\d+", os.path.basename(path)):
            return link_name(os.path.join(os.path.dirname(path), "driver"))
        path = os.path.dirname(path)
    return None


def _udc_under(gadget: str) -> Tuple[Optional[str], Optional[int]]:
    """(name, negotiated speed) of the UDC a gadget dir hangs from."""
    udc_dir = os.path.join(os.path.dirname(gadget), "udc")
    names = sorted(os.listdir(udc_dir)) if os.path.isdir(udc_dir) else []
    if not names:
        return None, None
    speed = read(os.path.join(udc_dir, names[0], "current_speed"))
    return names[0], UDC_SPEEDS.get(speed or "")


def _usb_device(real: str) -> Optional[str]:
    """The USB device dir (with idVendor) of a netdev's device: an interface's parent."""
    for path in (real, os.path.dirname(real)):
        if os.path.exists(os.path.join(path, "idVendor")):
            return path
    return None


def _host_side(usb_device: str) -> dict:
    def attr(key: str) -> Optional[str]:
        return read(os.path.join(usb_device, key))
    return dict(role=HOST, vendor_id=attr("idVendor"), product_id=attr("idProduct"),
                product=attr("product"), serial=attr("serial"),
                usb_speed_mbps=_usb_speed(attr("speed")), usb_version=attr("version"),
                configuration=read_int(os.path.join(usb_device, "bConfigurationValue")),
                num_configurations=read_int(os.path.join(usb_device, "bNumConfigurations")),
                busnum=read_int(os.path.join(usb_device, "busnum")), devpath=attr("devpath"),
                host_controller=_host_controller(usb_device))


def read_link(name: str, sysfs_root: str = "/sys") -> UsbNicFacts:
    """Facts of one interface, USB or not (is_usb tells): driver, speed, duplex,
    carrier, and where it sits on USB when it does."""
    base = os.path.join(sysfs_root, "class", "net", name)
    device = os.path.join(base, "device")
    speed = read_int(os.path.join(base, "speed"))
    carrier = read(os.path.join(base, "carrier"))
    common = dict(name=name, driver=link_name(os.path.join(device, "driver")),
                  duplex=read(os.path.join(base, "duplex")) or "unknown",
                  speed_mbps=speed if speed and speed > 0 else None,     # -1 means unknown
                  carrier=None if carrier is None else carrier == "1")
    if not os.path.exists(device):
        return UsbNicFacts(**common)
    real = os.path.realpath(device)
    usb_device = _usb_device(real)
    if usb_device is not None:
        return UsbNicFacts(**common, **_host_side(usb_device))
    driver = common["driver"] or ""
    if (re.fullmatch(r"gadget(\.\d+)?", os.path.basename(real)) or driver.startswith("g_")
            or driver.startswith("configfs-gadget")):
        udc, usb_speed = _udc_under(real)
        return UsbNicFacts(**common, role=GADGET, udc=udc, usb_speed_mbps=usb_speed)
    return UsbNicFacts(**common)


def read_nic(name: str, sysfs_root: str = "/sys") -> Optional[UsbNicFacts]:
    """Facts of one interface, or None when no USB is behind it."""
    nic = read_link(name, sysfs_root)
    return nic if nic.is_usb else None


def read_pi_model(dt_root: str = "/proc/device-tree", sysfs_root: str = "/sys") -> Optional[PiModel]:
    for path in (os.path.join(dt_root, "model"),
                 os.path.join(sysfs_root, "firmware", "devicetree", "base", "model")):
        model = read(path)
        if model is not None:
            return parse_pi_model(model)
    return None


def read_all(names: Optional[Iterable[str]] = None, sysfs_root: str = "/sys",
             dt_root: str = "/proc/device-tree") -> Tuple[Dict[str, UsbNicFacts], Optional[PiModel]]:
    """({name: facts} of the USB-backed links among `names` (default: every
    interface), the Pi model or None)."""
    if names is None:
        net = os.path.join(sysfs_root, "class", "net")
        names = sorted(os.listdir(net)) if os.path.isdir(net) else []
    facts = {}
    for name in names:
        nic = read_nic(name, sysfs_root)
        if nic is not None:
            facts[name] = nic
    return facts, read_pi_model(dt_root, sysfs_root)

