"""USB gadget Ethernet through configfs (libcomposite): the device side of a USB link.

A Pi Zero, a Pi 4 on its USB-C port or a CM4 becomes a USB network adapter for
the machine it is plugged into. The gadget is described as a list of configfs
steps (directories, attribute writes, links), so a plan can be shown, tested
against a temporary directory, applied, and undone in exactly the reverse
order, which is the only order configfs accepts.
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


class Gadget:
    """Applies and removes a gadget under `root` (configfs, or a test directory)."""

    def __init__(self, spec: GadgetSpec, root: str = CONFIGFS, udc_class: str = UDC_CLASS):
        self.spec = spec
        self.root = root
        self.udc_class = udc_class
        self.dir = os.path.join(root, "usb_gadget", spec.name)

    def preflight(self) -> str:
        """The UDC to bind to, or a GadgetError that says what is missing and how to fix it."""
        if not os.path.isdir(self.root) or not os.listdir(self.root) and not os.path.ismount(self.root):
            raise GadgetError(f"configfs is not mounted at {self.root}: "
                              f"mount -t configfs none {self.root}")
        if not os.path.isdir(os.path.join(self.root, "usb_gadget")):
            raise GadgetError("libcomposite is not loaded (no usb_gadget in configfs): "
                              "modprobe libcomposite")
        udcs = sorted(os.listdir(self.udc_class)) if os.path.isdir(self.udc_class) else []
        if not udcs:
            raise GadgetError("no USB device controller (nothing in /sys/class/udc). On a "
                              "Raspberry Pi add dtoverlay=dwc2 to config.txt and modules-load=dwc2 "
                              "to cmdline.txt, then reboot; elsewhere load the controller's driver")
        if self.spec.udc == "auto":
            if len(udcs) > 1:
                raise GadgetError(f"{len(udcs)} USB device controllers ({', '.join(udcs)}): "
                                  "name one with usbnet-udc")
            udc = udcs[0]
        elif self.spec.udc not in udcs:
            raise GadgetError(f"no USB device controller '{self.spec.udc}' (there are: {', '.join(udcs)})")
        else:
            udc = self.spec.udc
        for other in sorted(os.listdir(os.path.join(self.root, "usb_gadget"))):
            if other == self.spec.name:
                continue
            try:
                with open(os.path.join(self.root, "usb_gadget", other, "UDC")) as fh:
                    bound = fh.read().strip()
            except OSError:
                continue
            if bound == udc:
                raise GadgetError(f"USB device controller {udc} is already used by the gadget "
                                  f"'{other}'; unbind it (echo > .../{other}/UDC) or pick another")
        return udc

    def check_macs(self, existing_macs) -> None:
        dev, host = addresses(self.spec)
        for mac, role in ((dev, "usbnet-dev-addr"), (host, "usbnet-host-addr")):
            if mac in existing_macs:
                raise GadgetError(f"{self.spec.iface}: {role} {mac} is already the MAC of "
                                  f"{existing_macs[mac]}")

    def create(self, udc: str) -> None:
        done: List[Step] = []
        step = Step("write", "UDC", udc)
        try:
            for step in steps(self.spec):
                self._do(step)
                done.append(step)
            step = Step("write", "UDC", udc)
            self._write("UDC", udc)
        except OSError as err:
            self._undo(done)
            raise GadgetError(f"{self.spec.iface}: configfs refused {step.describe()}: "
                              f"{err.strerror}") from None

    def remove(self) -> None:
        if not os.path.isdir(self.dir):
            return
        try:
            self._write("UDC", "")
        except OSError:
            pass
        self._undo(steps(self.spec))

    def ifname(self) -> Optional[str]:
        """The network interface the kernel made for the function, once bound."""
        path = os.path.join(self.dir, f"functions/{FUNCTIONS[self.spec.function]}.{self.spec.iface}/ifname")
        try:
            with open(path) as fh:
                name = fh.read().strip()
        except OSError:
            return None
        return name if name and "%" not in name else None

    def _do(self, step: Step) -> None:
        path = os.path.join(self.dir, step.path)
        if step.kind == "mkdir":
            os.makedirs(path, exist_ok=True)
        elif step.kind == "link":
            if not os.path.islink(path):
                os.symlink(os.path.join(self.dir, step.value), path)
        else:
            self._write(step.path, step.value)

    def _write(self, rel: str, value: str) -> None:
        with open(os.path.join(self.dir, rel), "w") as fh:
            fh.write(value + "\n")

    def _undo(self, done) -> None:
        # configfs removes attribute files with their directory; only the
        # directories and links we made are taken away, newest first.
        for step in reversed(list(done)):
            path = os.path.normpath(os.path.join(self.dir, step.path))   # rmdir("g/.") is EINVAL
            try:
                if step.kind == "link" and os.path.islink(path):
                    os.unlink(path)
                elif step.kind == "mkdir" and os.path.isdir(path):
                    os.rmdir(path)
            except OSError:
                pass


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
