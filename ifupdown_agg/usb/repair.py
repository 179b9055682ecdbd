"""`ifagg check` and `ifagg up` for a USB gadget stanza (issue #13 item 3).

check compares the configfs gadget the stanza makes (usb/gadget.py's steps, bound to
its controller, its interface named as the stanza) with what configfs holds, and
names each difference; up repairs exactly that, with the smallest change:

  unbound, or its interface renamed   bind it again / rename it back: the interface
                                      and the address ifupdown gave it stay
  a setting, a directory or a link    configfs takes no change to a bound gadget:
  differs or is missing               it is removed and made again (its interface
                                      comes back without ifupdown's address: a note
                                      says to run ifdown and ifup)
  no gadget                           it is made, as at pre-up

A stanza that joins a bridge (usbnet-bridge) also needs its interface in the bridge.
"""

from __future__ import annotations

from typing import List, Mapping, Tuple

from ifupdown_agg.config.schema import RawOption, parse_options
from ifupdown_agg.core import record as state
from ifupdown_agg.core.objects import BridgePort, Observed, UsbGadget
from ifupdown_agg.core.ops import Action, Op
from ifupdown_agg.errors import AggError
from ifupdown_agg.kernel.configfs import Gadget
from ifupdown_agg.usb import lifecycle
from ifupdown_agg.usb.gadget import CONFIGFS, UDC_CLASS, GadgetSpec
from ifupdown_agg.usb.options import USBNET_TABLE

# The differences a bind or a rename mends; any other needs the gadget made again.
IN_PLACE = frozenset({"udc", "name"})


def wanted_udc(spec: GadgetSpec) -> str:
    """The controller the gadget belongs on: the stanza's, else the one pre-up bound
    (its record), else "" (any: auto takes the only one there is)."""
    if spec.udc != "auto":
        return spec.udc
    for op in state.load(spec.iface):
        if op.action is Action.ADD and isinstance(op.obj, UsbGadget) and op.obj.udc:
            return op.obj.udc
    return ""


def differences(spec: GadgetSpec) -> List[Tuple[str, str]]:
    return _gadget(spec).differences(wanted_udc(spec))


def _gadget(spec: GadgetSpec) -> Gadget:
    return Gadget(spec, CONFIGFS, UDC_CLASS)       # read at the call: tests point them away


def ops_for(spec: GadgetSpec, found: List[Tuple[str, str]]) -> List[Op]:
    """What up runs for these differences, as plan --json writes ops."""
    if not found:
        return []
    obj = lifecycle.gadget_object(spec, wanted_udc(spec) or spec.udc)
    kinds = {kind for kind, _ in found}
    if "missing" in kinds:
        return [Op(Action.ADD, obj)]
    if kinds <= IN_PLACE:
        return [Op(Action.SET, obj)]
    return [Op(Action.DEL, obj), Op(Action.ADD, obj)]


def check(iface: str, raw: Mapping[str, RawOption],
          obs: Observed) -> Tuple[List[Op], List[str], List[str]]:
    """(ops, notes, details) for `ifagg check`: [] ops when the gadget is as the stanza says."""
    values = parse_options(iface, raw, USBNET_TABLE)
    spec = lifecycle.gadget_spec(iface, raw, values)
    ops: List[Op] = []
    details: List[str] = []
    if spec is not None:
        found = differences(spec)
        ops, details = ops_for(spec, found), [text for _, text in found]
    bridge = values["usbnet-bridge"]
    if bridge and not ops:
        try:
            ops += lifecycle.plan_join(iface, bridge, obs)
        except AggError as err:
            details.append(str(err))
            ops.append(Op(Action.ADD, BridgePort(iface, bridge)))
    return ops, [], details


def up(iface: str, raw: Mapping[str, RawOption], say, make_kernel=None) -> List[str]:
    """Mend what check reports; returns what was mended, [] when nothing differed."""
    make_kernel = make_kernel or lifecycle._real_kernel
    values = parse_options(iface, raw, USBNET_TABLE)
    spec = lifecycle.gadget_spec(iface, raw, values)
    found = differences(spec) if spec is not None else []
    kinds = {kind for kind, _ in found}
    if found and kinds <= IN_PLACE:
        _in_place(spec, say)
    elif found:
        lifecycle.stop_watch(iface)
        if "missing" not in kinds:
            lifecycle.gadget_down(spec, make_kernel)
            say(f"{iface}: the gadget was made again; its interface lost the address "
                f"ifupdown gave it: `ifdown {iface}; ifup {iface}` gives it back")
        lifecycle.gadget_up(spec, say, make_kernel)
    if spec is not None and found:
        lifecycle.start_watch(iface, lifecycle._bound_udc(_gadget(spec)))
    done = [text for _, text in found]
    bridge = values["usbnet-bridge"]
    if bridge and (spec is None or lifecycle._netdev_exists(iface)):
        kernel = make_kernel()
        try:
            from ifupdown_agg.core.executor import RealExecutor
            done += [op.describe() for op in
                     lifecycle.bridge_join(iface, bridge, True, kernel, RealExecutor(kernel))]
        finally:
            kernel.close()
    return done


def _in_place(spec: GadgetSpec, say) -> None:
    """Bind the gadget to its controller again and give its interface the stanza's name."""
    gadget = _gadget(spec)
    udc, want = lifecycle._bound_udc(gadget), wanted_udc(spec)
    if not udc or (want and udc != want):
        if udc:
            gadget.bind("")
        udc = want or gadget.preflight()
        gadget.bind(udc)
        lifecycle._named_and_enumerated(gadget, spec, udc, say)
        return
    name = gadget.ifname()
    if name and name != spec.iface:
        _rename(name, spec.iface)


def _rename(old: str, new: str) -> None:
    """An interface is renamed only while down: down, rename, up again if it was."""
    from ifupdown_agg.kernel.netdev import carrier, rename, set_up
    was_up = carrier(old) is not None
    if was_up:
        set_up(old, False)
    rename(old, new)
    if was_up:
        set_up(new, True)
