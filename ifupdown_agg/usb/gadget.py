"""USB gadget Ethernet through configfs (libcomposite): the device side of a USB link.

A Pi Zero, a Pi 4 on its USB-C port or a CM4 becomes a USB network adapter for
the machine it is plugged into. The gadget is described as a list of configfs
steps (directories, attribute writes, links), so a plan can be shown, tested
against a temporary directory, applied, and undone in exactly the reverse
order, which is the only order configfs accepts. kernel/configfs.py writes them.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ifupdown_agg.errors import AggError

CONFIGFS = "/sys/kernel/config"
UDC_CLASS = "/sys/class/udc"
FUNCTIONS = {"ncm": "ncm", "ecm": "ecm", "rndis": "rndis", "eem": "eem"}
MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


class GadgetError(AggError):
    pass


@dataclass(frozen=True)
class GadgetSpec:
    iface: str
    function: str                  # ncm, ecm, rndis or eem
    udc: str = "auto"
    dev_addr: str = "auto"         # the gadget's own MAC
    host_addr: str = "auto"        # the MAC the host side gets
    vendor_id: int = 0x1D6B        # Linux Foundation
    product_id: int = 0x0104       # Multifunction Composite Gadget
    serial_console: bool = False   # an ACM function beside the network one
    manufacturer: str = "ifupdown-agg"
    product: str = "USB Ethernet"

    @property
    def name(self) -> str:
        return gadget_name(self.iface)


def gadget_name(iface: str) -> str:
    """Our gadget's directory in configfs; the prefix is the mark cleanup looks for."""
    return f"ifagg_{iface}"


def stable_mac(iface: str, role: str, machine_id: Optional[str] = None) -> str:
    """A locally administered unicast MAC that stays the same across boots."""
    if machine_id is None:
        try:
            with open("/etc/machine-id") as fh:
                machine_id = fh.read().strip()
        except OSError:
            machine_id = ""
    digest = bytearray(hashlib.sha256(f"{machine_id}/{iface}/{role}".encode()).digest()[:6])
    digest[0] = (digest[0] | 0x02) & 0xFE
    return ":".join(f"{b:02x}" for b in digest)


@dataclass(frozen=True)
class Step:
    kind: str       # "mkdir", "write", "link"
    path: str       # relative to the gadget directory
    value: str = ""

    def describe(self) -> str:
        if self.kind == "mkdir":
            return f"mkdir {self.path}"
        if self.kind == "link":
            return f"ln -s {self.value} {self.path}"
        return f"echo {self.value} > {self.path}"


def addresses(spec: GadgetSpec, machine_id: Optional[str] = None) -> Tuple[str, str]:
    dev = spec.dev_addr if spec.dev_addr != "auto" else stable_mac(spec.iface, "dev", machine_id)
    host = spec.host_addr if spec.host_addr != "auto" else stable_mac(spec.iface, "host", machine_id)
    if dev == host:
        raise GadgetError(f"{spec.iface}: usbnet-dev-addr and usbnet-host-addr are both {dev}; "
                          "the two ends of a USB link need different MACs")
    return dev, host


def steps(spec: GadgetSpec, machine_id: Optional[str] = None) -> List[Step]:
    """Everything but the UDC binding, in the order configfs needs."""
    dev, host = addresses(spec, machine_id)
    serial = stable_mac(spec.iface, "serial", machine_id).replace(":", "")
    func = f"functions/{FUNCTIONS[spec.function]}.{spec.iface}"
    out = [
        Step("mkdir", "."),
        Step("write", "idVendor", f"0x{spec.vendor_id:04x}"),
        Step("write", "idProduct", f"0x{spec.product_id:04x}"),
        Step("write", "bcdDevice", "0x0100"),
        Step("write", "bcdUSB", "0x0200"),
        Step("mkdir", "strings/0x409"),
        Step("write", "strings/0x409/manufacturer", spec.manufacturer),
        Step("write", "strings/0x409/product", spec.product),
        Step("write", "strings/0x409/serialnumber", serial),
        Step("mkdir", "configs/c.1"),
        Step("write", "configs/c.1/MaxPower", "250"),
        Step("mkdir", "configs/c.1/strings/0x409"),
        Step("write", "configs/c.1/strings/0x409/configuration", f"{spec.function.upper()} network"),
        Step("mkdir", func),
    ]
    if spec.function != "eem":      # EEM has no MAC attributes of its own
        out += [Step("write", f"{func}/dev_addr", dev), Step("write", f"{func}/host_addr", host)]
    if spec.function == "rndis":
        # Windows binds RNDIS only when the device says so in its OS descriptors.
        out += [Step("write", "os_desc/use", "1"), Step("write", "os_desc/b_vendor_code", "0xcd"),
                Step("write", "os_desc/qw_sign", "MSFT100"),
                Step("write", f"{func}/os_desc/interface.rndis/compatible_id", "RNDIS"),
                Step("write", f"{func}/os_desc/interface.rndis/sub_compatible_id", "5162001"),
                Step("link", "os_desc/c.1", "configs/c.1")]
    out.append(Step("link", f"configs/c.1/{os.path.basename(func)}", func))
    if spec.serial_console:
        out += [Step("mkdir", f"functions/acm.{spec.iface}"),
                Step("link", f"configs/c.1/acm.{spec.iface}", f"functions/acm.{spec.iface}")]
    return out


def ours(root: str = CONFIGFS) -> List[str]:
    """Gadgets carrying our name prefix: what cleanup may remove without a stanza."""
    base = os.path.join(root, "usb_gadget")
    return sorted(g for g in os.listdir(base) if g.startswith("ifagg_")) if os.path.isdir(base) else []


def remove_any(gadget_dir: str) -> None:
    """Take a gadget apart without knowing its spec, in the order configfs accepts."""
    def entries(rel: str) -> List[str]:
        path = os.path.join(gadget_dir, rel)
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    try:
        with open(os.path.join(gadget_dir, "UDC"), "w") as fh:
            fh.write("\n")
    except OSError:
        pass
    doomed = []
    for cfg in entries("configs"):
        rel = os.path.join("configs", cfg)
        doomed += [os.path.join(rel, e) for e in entries(rel)
                   if os.path.islink(os.path.join(gadget_dir, rel, e))]
        doomed += [os.path.join(rel, "strings", s) for s in entries(os.path.join(rel, "strings"))]
        doomed.append(rel)
    doomed += [os.path.join("os_desc", e) for e in entries("os_desc")
               if os.path.islink(os.path.join(gadget_dir, "os_desc", e))]
    doomed += [os.path.join("functions", f) for f in entries("functions")]
    doomed += [os.path.join("strings", s) for s in entries("strings")]
    for rel in doomed + [""]:
        path = os.path.normpath(os.path.join(gadget_dir, rel))
        try:
            os.unlink(path) if os.path.islink(path) else os.rmdir(path)
        except OSError:
            pass
