"""Writes a USB gadget into configfs: the kernel edge of usb/gadget.py's steps.

usb/gadget.py says what a gadget is (spec, steps, names, MACs); this module makes
and removes it, and applies the core UsbGadget op for Kernel._apply.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import List, Optional, Tuple

from ifupdown_agg.core.objects import UsbGadget
from ifupdown_agg.usb.gadget import (CONFIGFS, FUNCTIONS, UDC_CLASS, GadgetError, GadgetSpec,
                                     Step, addresses, steps)


def spec_of(obj: UsbGadget) -> GadgetSpec:
    return GadgetSpec(**asdict(obj))


def udc_state(udc: str, udc_class: str = UDC_CLASS) -> str:
    """The UDC's state ("configured" once a host enumerated the gadget), or "gone"."""
    try:
        with open(os.path.join(udc_class, udc, "state")) as fh:
            return fh.read().strip()
    except OSError:
        return "gone"


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as fh:
            return fh.read().replace("\x00", "").strip()     # ncm's MACs end in a NUL
    except OSError:
        return None


def _same(have: str, want: str) -> bool:
    """An attribute as configfs reads it back: 0x1d6b for 0x1D6B, a MAC in lower case."""
    if have.lower() == want.lower():
        return True
    try:
        return int(have, 0) == int(want, 0)
    except ValueError:
        return False


def present(gadget_dir: str) -> bool:
    """Whether the gadget's configfs directory is there."""
    return os.path.isdir(gadget_dir)


def bound_udc(gadget: "Gadget") -> str:
    """The UDC the gadget is bound to, "" if none or the gadget is gone."""
    try:
        with open(os.path.join(gadget.dir, "UDC")) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def apply(obj: UsbGadget, add: bool, root: str = CONFIGFS) -> None:
    """Make the gadget and bind it to obj.udc, or unbind and remove it."""
    gadget = Gadget(spec_of(obj), root)
    if add:
        gadget.create(obj.udc)
    else:
        gadget.remove()


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

    def bind(self, udc: str) -> None:
        """Bind the gadget to `udc` ("" unbinds); a refusal is a GadgetError."""
        try:
            self._write("UDC", udc)
        except OSError as err:
            raise GadgetError(f"{self.spec.iface}: configfs refused echo {udc} > UDC: "
                              f"{err.strerror}") from None

    def differences(self, udc: str) -> List[Tuple[str, str]]:
        """What configfs holds differently from the spec, as (kind, text) with kind
        "missing" (no gadget), "setting" (a directory, attribute or link), "udc" (not bound
        to `udc`, or to none when `udc` is "") or "name" (its interface is not the
        stanza's); [] when the gadget is exactly as the spec makes it."""
        where = f"usb_gadget/{self.spec.name}"
        if not present(self.dir):
            return [("missing", f"{where}: missing")]
        out = [("setting", f"{where}/{text}") for text in self._settings()]
        bound = bound_udc(self)
        if not bound or (udc and bound != udc):
            out.append(("udc", f"{where}/UDC: {'bound to ' + bound if bound else 'not bound'}"
                               f", wants {udc or 'a USB device controller'}"))
        elif self.ifname() != self.spec.iface:
            out.append(("name", f"{where}: its interface is {self.ifname() or 'missing'}, "
                                f"wants {self.spec.iface}"))
        return out

    def _settings(self) -> List[str]:
        out = []
        for step in steps(self.spec):
            path = os.path.join(self.dir, step.path)
            if step.kind == "mkdir" and not os.path.isdir(path):
                out.append(f"{step.path}: missing")
            elif step.kind == "link" and not os.path.islink(path):
                out.append(f"{step.path}: missing (a link to {step.value})")
            elif step.kind == "write":
                have = _read(path)
                if have is None or not _same(have, step.value):
                    out.append(f"{step.path}: {'missing' if have is None else repr(have)}, "
                               f"wants {step.value!r}")
        return out

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
