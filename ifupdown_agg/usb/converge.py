"""A USB link stanza brought to its configuration in one go, and put back: what `ifagg try`
runs for it (ifup runs the same steps split over pre-up and post-up, in usb/lifecycle.py).

ifup leaves a gadget that is up as it is. Here a gadget whose recorded settings differ
from the stanza's (a MAC, the function, the UDC, the IDs) is replaced: the old one is
deleted and the new one made, both as UsbGadget ops through the executor and the
stanza's record, so the inverse ops put the old one back exactly (the record holds
every setting). The gadget's network interface goes and comes with it; what ifupdown
or the user set on it (the stanza's addresses, up, the MTU, a bridge) is not ours and
not recorded, so it is carried from the interface before to the one after (settle()),
and a revert carries it back from the state taken before the try.

Where the gadget lives is a Side: configfs and the real interface (ConfigfsSide), or
core/memory.py's kernel, where a gadget makes its interface at once (MemorySide).
"""

from __future__ import annotations

import os
from typing import Callable, Dict, List, Mapping, Optional

from ifupdown_agg.config.schema import RawOption, parse_options
from ifupdown_agg.core import record as state
from ifupdown_agg.core import transaction
from ifupdown_agg.core.objects import Address, BridgePort, LinkAttrs, LinkInfo, UsbGadget
from ifupdown_agg.core.ops import Action, Op
from ifupdown_agg.errors import AggError
from ifupdown_agg.usb import lifecycle
from ifupdown_agg.usb.gadget import CONFIGFS, GadgetError, GadgetSpec, addresses, gadget_name
from ifupdown_agg.usb.options import USBNET_TABLE

Say = Callable[[str], None]


class ConfigfsSide:
    """The real gadget side: configfs, the UDC and the gadget's network interface."""

    def present(self, iface: str) -> bool:
        return os.path.isdir(os.path.join(CONFIGFS, "usb_gadget", gadget_name(iface)))

    def udc(self, spec: GadgetSpec, old: Optional[UsbGadget]) -> str:
        """The UDC to bind to; refused (GadgetError) as gadget_up refuses. The MACs of the
        gadget being replaced, and its own interface, do not count as taken."""
        from ifupdown_agg.kernel.configfs import Gadget, spec_of
        from ifupdown_agg.kernel.netdev import exists, macs
        gadget = Gadget(spec)
        udc = gadget.preflight()
        mine = set(addresses(spec_of(old))) if old is not None else set()
        gadget.check_macs({m: n for m, n in macs().items() if n != spec.iface and m not in mine})
        if old is None and exists(spec.iface):
            raise GadgetError(f"{spec.iface}: an interface of that name exists already and is "
                              "not this gadget's; rename the stanza or remove the interface")
        return udc

    def settle(self, obj: UsbGadget, say: Say) -> None:
        """The new gadget's interface named as the stanza, and the host given its time."""
        from ifupdown_agg.kernel.configfs import Gadget, spec_of
        spec = spec_of(obj)
        lifecycle._named_and_enumerated(Gadget(spec), spec, obj.udc, say)

    def watching(self, iface: str) -> bool:
        return lifecycle.watch_pid(iface) is not None

    def watch(self, iface: str, on: bool) -> None:
        if not on:
            lifecycle.stop_watch(iface)
            return
        try:
            with open(os.path.join(CONFIGFS, "usb_gadget", gadget_name(iface), "UDC")) as fh:
                udc = fh.read().strip()
        except OSError:
            return                          # no gadget: nothing to watch
        lifecycle.start_watch(iface, udc)


class MemorySide:
    """core/memory.py's kernel: the gadget is in kernel.gadgets and makes its interface,
    named as the stanza, when it is made. No host, no carrier watch."""

    def __init__(self, kernel):
        self.kernel = kernel

    def present(self, iface: str) -> bool:
        return iface in self.kernel.gadgets

    def udc(self, spec: GadgetSpec, old: Optional[UsbGadget]) -> str:
        return "memory_udc.0" if spec.udc == "auto" else spec.udc

    def settle(self, obj: UsbGadget, say: Say) -> None:
        pass

    def watching(self, iface: str) -> bool:
        return False

    def watch(self, iface: str, on: bool) -> None:
        pass


def side_for(kernel):
    from ifupdown_agg.core.memory import MemoryKernel
    return MemorySide(kernel) if isinstance(kernel, MemoryKernel) else ConfigfsSide()


def recorded_gadget(iface: str) -> Optional[UsbGadget]:
    return next((op.obj for op in state.load(iface)
                 if op.action is Action.ADD and isinstance(op.obj, UsbGadget)), None)


# ---- up -----------------------------------------------------------------------------------

def up(iface: str, raw: Mapping[str, RawOption], kernel, executor, say: Say, side=None) -> List[Op]:
    """The gadget (made, or replaced when its settings changed), then the bridge join,
    then the carrier watch: pre-up and post-up. Returns the recorded ops run; with an
    executor that does not change the kernel, only what would be run."""
    side = side or side_for(kernel)
    values = parse_options(iface, raw, USBNET_TABLE)
    spec = lifecycle.gadget_spec(iface, raw, values)
    ops: List[Op] = []
    if spec is not None:
        ops += _gadget(iface, spec, kernel, executor, say, side)
    if values["usbnet-bridge"]:
        ops += lifecycle.bridge_join(iface, values["usbnet-bridge"], True, kernel, executor)
    if spec is not None and executor.changes_kernel and not side.watching(iface):
        side.watch(iface, True)
    return ops


def _gadget(iface: str, spec: GadgetSpec, kernel, executor, say: Say, side) -> List[Op]:
    have = recorded_gadget(iface)
    present = side.present(iface)
    if present and have is None:
        raise GadgetError(f"{iface}: configfs holds a gadget {gadget_name(iface)} that no record "
                          f"of ours made, so a revert could not put it back; `ifagg usbnet down "
                          f"{iface}` (or ifdown {iface}) removes it first")
    want = lifecycle.gadget_object(spec, side.udc(spec, have if present else None))
    if present and have == want:
        return []
    ops = ([Op(Action.DEL, have)] if present else []) + [Op(Action.ADD, want)]
    if not executor.changes_kernel:
        executor.run(ops)
        return ops
    before = kernel.observe().links.get(iface) if present else None
    side.watch(iface, False)            # the watch of the old gadget goes with it
    try:
        done = transaction.up(iface, kernel, executor, lambda obs, made: ops).ops
    except AggError:                    # all undone: the old gadget is back, unnamed
        if present:
            settle(have, before, kernel, executor, say, side)
        raise
    try:
        settle(want, before, kernel, executor, say, side)
    except (AggError, OSError):         # made but unusable: the old one again, as before
        back = [Op(Action.DEL, want)] + ([Op(Action.ADD, have)] if present else [])
        transaction.up(iface, kernel, executor, lambda obs, made: back)
        if present:
            settle(have, before, kernel, executor, say, side)
        raise
    return done


def settle(obj: UsbGadget, before: Optional[LinkInfo], kernel, executor, say: Say, side) -> None:
    """A gadget just made: its interface named, then given what the one BEFORE had (its
    addresses, MTU, bridge, up), none of which is in our record."""
    side.settle(obj, say)
    now = kernel.observe().links.get(obj.iface)
    if before is None or now is None:
        return
    ops = [Op(Action.ADD, Address(obj.iface, a, p)) for a, p in before.addrs
           if (a, p) not in now.addrs]
    if before.master and before.master != now.master:
        ops.append(Op(Action.ADD, BridgePort(obj.iface, before.master)))
    mtu = before.mtu if before.mtu and before.mtu != now.mtu else None
    if mtu or (before.up and not now.up):
        ops.append(Op(Action.SET, LinkAttrs(obj.iface, up=True if before.up else None, mtu=mtu)))
    if ops:
        executor.run(ops)


# ---- what a revert needs ------------------------------------------------------------------

class Before:
    """The USB stanzas' interfaces and carrier watches before a try."""

    def __init__(self, names: List[str], kernel, side=None):
        self.side = side or side_for(kernel)
        links = kernel.observe().links
        self.links: Dict[str, Optional[LinkInfo]] = {n: links.get(n) for n in names}
        self.watched = {n: self.side.watching(n) for n in names}
        self.changed: set = set()

    def quiet(self, applied: List[Op]) -> None:
        """Before the undo: the watches of the gadgets it changes stop, so none bounces a
        gadget that is going (the others are left alone: a new watch bounces its link)."""
        self.changed = {op.obj.iface for op in applied if isinstance(op.obj, UsbGadget)}
        for name in sorted(self.changed):
            self.side.watch(name, False)

    def put_back(self, undone: List[Op], kernel, executor, say: Say) -> None:
        """After the undo: each gadget it made again named and carried as before, and the
        watches that ran before run again."""
        for op in undone:
            if op.action is Action.ADD and isinstance(op.obj, UsbGadget):
                settle(op.obj, self.links.get(op.obj.iface), kernel, executor, say, self.side)
        for name in sorted(self.changed):
            if self.watched.get(name):
                self.side.watch(name, True)
