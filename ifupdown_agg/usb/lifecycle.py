"""USB links from usbnet-* stanza options: the gadget's life cycle and the bridge layout.

  pre-up     create the configfs gadget, bind it to the UDC, rename its network
             interface to the stanza's name, and wait (briefly) for the host to
             enumerate it; on any failure remove what was made
  post-up    join usbnet-bridge; start the carrier watch (below)
  pre-down   leave the bridge (what post-up recorded: BridgePort ops through the
             executor and the stanza's record, like every other change)
  post-down  stop the watch, unbind and remove the gadget

The carrier race (measured with dummy_hcd and cdc_ncm on Linux 6.1): if the
gadget's interface is up before the host has enumerated the gadget and bound
its driver, the host's side stays NO-CARRIER until the gadget's side goes down
and up again. Bringing it up after that works in either order. So pre-up waits
up to ENUMERATION_WAIT for the host (plus BOUNCE_DELAY for its driver), and a
small watch process bounces the gadget's interface once when it starts with a
host there, and once each time a host (re-)enumerates it later (its carrier
comes on): a cable plugged in after boot, or a host that reboots.

The gadget (a UsbGadget op, written by kernel/configfs.py) and the bridge join (a
BridgePort op) go through the executor and the stanza's record like every other
change, so post-down and pre-down take out exactly what pre-up and post-up put in.
Renames, up/down and sysfs reads go through kernel/netdev.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from typing import Callable, Dict, List, Mapping, Optional

from ifupdown_agg.core import record as state
from ifupdown_agg.core import transaction
from ifupdown_agg.core.objects import BridgePort, Observed, UsbGadget
from ifupdown_agg.core.ops import Action, Op
from ifupdown_agg.errors import AggError, ConfigError
from ifupdown_agg.usb.options import GADGET_SETTINGS, USBNET_TABLE
from ifupdown_agg.config.schema import RawOption, parse_options
from ifupdown_agg.kernel.configfs import Gadget, bound_udc as _bound_udc, present, udc_state
from ifupdown_agg.kernel.netdev import carrier as _carrier, exists as _netdev_exists
from ifupdown_agg.kernel.netdev import macs as _macs, rename, set_up
from ifupdown_agg.usb.gadget import CONFIGFS, GadgetError, GadgetSpec, gadget_name

NETDEV_WAIT = 5.0            # the kernel registers the gadget's interface at bind
ENUMERATION_WAIT = 2.0       # a connected host enumerates in well under a second
WATCH_INTERVAL = 0.25        # the watch's one read per interval costs next to nothing
BOUNCE_DELAY = 0.5           # let the host's driver bind before the connect notification

Say = Callable[[str], None]


def gadget_spec(iface: str, raw: Mapping[str, RawOption],
                values: Optional[Dict[str, object]] = None) -> Optional[GadgetSpec]:
    values = values or parse_options(iface, raw, USBNET_TABLE)
    if not values["usbnet-gadget"]:
        for name in GADGET_SETTINGS:
            if name in raw:
                raise ConfigError("is a gadget option; add 'usbnet-gadget ncm' (or ecm, rndis, "
                                  "eem) to make this stanza a gadget", iface=iface, option=name,
                                  location=raw[name].location)
        return None
    if "usbnet-match" in raw:
        raise ConfigError("names the other side of a USB link; a gadget's own stanza does "
                          "not need it", iface=iface, option="usbnet-match",
                          location=raw["usbnet-match"].location)
    return GadgetSpec(iface=iface, function=values["usbnet-gadget"], udc=values["usbnet-udc"],
                      dev_addr=values["usbnet-dev-addr"], host_addr=values["usbnet-host-addr"],
                      vendor_id=values["usbnet-vendor-id"], product_id=values["usbnet-product-id"],
                      serial_console=values["usbnet-serial-console"])


# ---- the gadget's life cycle -----------------------------------------------------------

def gadget_object(spec: GadgetSpec, udc: str) -> UsbGadget:
    return UsbGadget(**{**asdict(spec), "udc": udc})


def gadget_up(spec: GadgetSpec, say: Say, make_kernel=None) -> str:
    """Create and bind the gadget; its interface is renamed to the stanza's. Returns the UDC."""
    gadget = Gadget(spec)
    if present(gadget.dir) and _bound_udc(gadget) and _netdev_exists(spec.iface):
        return _bound_udc(gadget)            # up already (ifup twice): nothing to do
    if present(gadget.dir):
        gadget.remove()                      # a half-made leftover of an earlier run
    udc = gadget.preflight()
    existing = {mac: name for mac, name in _macs().items() if name != spec.iface}
    gadget.check_macs(existing)
    if _netdev_exists(spec.iface):
        raise GadgetError(f"{spec.iface}: an interface of that name exists already and is "
                          "not this gadget's; rename the stanza or remove the interface")
    kernel = (make_kernel or _real_kernel)()
    try:
        gadget_op(spec.iface, gadget_object(spec, udc), True, kernel)
        try:
            _named_and_enumerated(gadget, spec, udc, say)
        except (OSError, GadgetError) as err:
            gadget_op(spec.iface, gadget_object(spec, udc), False, kernel)
            if isinstance(err, GadgetError):
                raise
            raise GadgetError(f"{spec.iface}: {err.strerror}") from None
    finally:
        kernel.close()
    return udc


def _named_and_enumerated(gadget: Gadget, spec: GadgetSpec, udc: str, say: Say) -> None:
    name = _wait_for(gadget.ifname, NETDEV_WAIT)
    if name is None:
        raise GadgetError(f"{spec.iface}: bound to {udc}, but the kernel made no network "
                          f"interface within {NETDEV_WAIT:.0f} s")
    if name != spec.iface:
        rename(name, spec.iface)
    if _wait_for(lambda: udc_state(udc) == "configured" or None, ENUMERATION_WAIT) is None:
        say(f"{spec.iface}: no USB host has enumerated the gadget on {udc} yet "
            f"({udc_state(udc)}); the link comes up when one does")
    else:
        # "configured" comes a few tens of ms before the host's driver binds; up
        # before that is the race again (seen once in ten VM runs without this).
        time.sleep(BOUNCE_DELAY)


def gadget_op(iface: str, obj: UsbGadget, add: bool, kernel) -> List[Op]:
    """Add the gadget (recorded under the stanza), or delete what the record holds;
    without a record, the gadget `obj` names if configfs has it."""
    from ifupdown_agg.core.executor import RealExecutor
    executor = RealExecutor(kernel)
    if add:
        return transaction.up(iface, kernel, executor,
                              lambda obs, made: [Op(Action.ADD, obj)]).ops

    def planner(obs, made):
        mine = [op.obj for op in made if op.action is Action.ADD and isinstance(op.obj, UsbGadget)]
        if not mine and present(os.path.join(CONFIGFS, "usb_gadget", gadget_name(iface))):
            mine = [obj]
        return [Op(Action.DEL, o) for o in mine]

    return transaction.down(iface, kernel, executor, planner,
                            keep=lambda op: not isinstance(op.obj, UsbGadget)).ops


def gadget_down(spec: GadgetSpec, make_kernel=None) -> None:
    kernel = (make_kernel or _real_kernel)()
    try:
        gadget_op(spec.iface, gadget_object(spec, ""), False, kernel)
    finally:
        kernel.close()


def _wait_for(probe, seconds: float):
    deadline = time.monotonic() + seconds
    while True:                              # bounded by the deadline
        got = probe()
        if got or time.monotonic() >= deadline:
            return got
        time.sleep(0.05)


# ---- the carrier watch -----------------------------------------------------------------

def _pidfile(iface: str) -> str:
    return os.path.join(state.STATE_DIR, f"{iface}.usbnet-watch.pid")


def watch_pid(iface: str) -> Optional[int]:
    try:
        with open(_pidfile(iface)) as fh:
            pid = int(fh.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def start_watch(iface: str, udc: str) -> None:
    if watch_pid(iface):
        return
    os.makedirs(state.STATE_DIR, exist_ok=True)
    with open(os.path.join(state.STATE_DIR, f"{iface}.usbnet-watch.log"), "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ifupdown_agg.usb.lifecycle", "watch", iface, udc],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
    with open(_pidfile(iface), "w") as fh:
        fh.write(f"{proc.pid}\n")


def stop_watch(iface: str) -> None:
    pid = watch_pid(iface)
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    try:
        os.unlink(_pidfile(iface))
    except FileNotFoundError:
        pass


def watch(iface: str, udc: str, gadget_dir: str, interval: float = WATCH_INTERVAL) -> int:
    """Bounce `iface` once whenever a host (re-)enumerates the gadget; ends with the gadget.

    A (re-)enumeration shows on the gadget side as its carrier coming on (the UDC's
    state file is not kept current by every controller driver: dummy_hcd's stays
    "configured" across a replug). The bounce itself leaves the carrier alone, so
    it does not trigger another."""
    # A host already there at start counts as arriving: pre-up's wait does not always
    # outlast the host's driver binding, so the first enumeration gets its bounce too.
    last: Optional[bool] = False
    while present(gadget_dir) and _netdev_exists(iface):
        time.sleep(interval)
        now = _carrier(iface)
        if now is None:
            continue                        # down: ifdown, or our own bounce
        if now and last is False:
            time.sleep(BOUNCE_DELAY)
            print(f"{time.strftime('%F %T')} {iface}: a host enumerated the gadget on {udc}; "
                  "down and up, so that its side gets carrier", flush=True)
            try:
                set_up(iface, False)
                set_up(iface, True)
            except OSError as err:
                print(f"{iface}: bounce failed: {err.strerror}", flush=True)
        elif not now and last:
            print(f"{time.strftime('%F %T')} {iface}: the host went away", flush=True)
        last = now
    return 0


# ---- the bridge layout -----------------------------------------------------------------

def _no_bridge(iface: str, bridge: str) -> AggError:
    return AggError(f"{iface}: usbnet-bridge {bridge}: no bridge of that name (create it "
                    f"first, e.g. a stanza 'iface {bridge} inet static' with "
                    "'bridge_ports none' from bridge-utils)")


def plan_join(iface: str, bridge: str, obs: Observed) -> List[Op]:
    """post-up: join `bridge` unless in it already; an absent interface has nothing to join."""
    link = obs.links.get(bridge)
    if link is None or link.kind != "bridge":
        raise _no_bridge(iface, bridge)
    port = obs.links.get(iface)
    if port is None or port.master == bridge:
        return []
    return [Op(Action.ADD, BridgePort(iface, bridge))]


def plan_leave(made: List[Op], obs: Observed) -> List[Op]:
    """pre-down: leave the bridges the record says we joined, if still in them."""
    out = []
    for op in made:
        if op.action is Action.ADD and isinstance(op.obj, BridgePort):
            port = obs.links.get(op.obj.port)
            if port is not None and port.master == op.obj.bridge:
                out.append(Op(Action.DEL, op.obj))
    return out


def _not_bridge_port(op: Op) -> bool:
    return not isinstance(op.obj, BridgePort)


def bridge_join(iface: str, bridge: Optional[str], join: bool, kernel, executor) -> List[Op]:
    """Join (post-up) or leave (pre-down) through one transaction on the stanza's record;
    the record's other entries (none of ours) stay as they are."""
    if join:
        return transaction.up(iface, kernel, executor,
                              lambda obs, made: plan_join(iface, bridge, obs)).ops
    return transaction.down(iface, kernel, executor, lambda obs, made: plan_leave(made, obs),
                            keep=_not_bridge_port).ops


def record_has_port(iface: str) -> bool:
    return any(isinstance(op.obj, BridgePort) for op in state.load(iface))


def _real_kernel():
    from ifupdown_agg.kernel.netlink import Kernel    # pyroute2 only when a bridge asks
    return Kernel()


def _bridge(iface: str, bridge: Optional[str], join: bool, make_kernel) -> None:
    from ifupdown_agg.core.executor import RealExecutor
    kernel = make_kernel()
    try:
        bridge_join(iface, bridge, join, kernel, RealExecutor(kernel))
    finally:
        kernel.close()


# ---- the hook --------------------------------------------------------------------------

def hook(iface: str, phase: str, raw: Mapping[str, RawOption], say: Say,
         make_kernel=_real_kernel) -> None:
    values = parse_options(iface, raw, USBNET_TABLE)
    spec = gadget_spec(iface, raw, values)
    bridge = values["usbnet-bridge"]
    if phase == "pre-up" and spec:
        gadget_up(spec, say, make_kernel)
    elif phase == "post-up":
        if bridge:
            _bridge(iface, bridge, True, make_kernel)
        if spec:
            start_watch(iface, _bound_udc(Gadget(spec)))
    elif phase == "pre-down":
        if bridge or record_has_port(iface):
            _bridge(iface, bridge, False, make_kernel)
    elif phase == "post-down" and spec:
        stop_watch(iface)
        gadget_down(spec, make_kernel)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 3 and argv[0] == "watch":
        iface, udc = argv[1], argv[2]
        gadget_dir = os.path.join(CONFIGFS, "usb_gadget", gadget_name(iface))
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        return watch(iface, udc, gadget_dir)
    print("usage: python3 -m ifupdown_agg.usb.lifecycle watch IFACE UDC", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
