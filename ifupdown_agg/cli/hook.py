"""The ifupdown hook: /etc/network/if-{pre-up,up,down,post-down}.d/ifupdown-agg.

ifupdown runs the hooks with IFACE, ADDRFAM, PHASE and one IF_* variable per
stanza option. The phases split the work so that ifupdown's own inet static
method finds the device at pre-up and still has it at post-down:

  pre-up     validate the stanza, create the tun device if it is missing
  post-up    check against the kernel (NICs, tables and marks in use), then
             routes, rules, rp_filter, GSO limit and the nft marking as one
             transaction; on failure undo it and pre-up's device
  pre-down   undo all of that, newest first
  post-down  delete the tun device if we created it

pre-up and post-down need no netlink and do not import pyroute2.

Bond stanzas (ifenslave's bond-* options) are handled at pre-up (create the
bond, set what differs, enslave) and post-down (release, delete), unless
Debian's ifenslave is installed: then its hooks own them and this one steps
aside. USB gadget stanzas (usbnet-*) make their gadget at pre-up and remove it
at post-down. Going up the order is usbnet, bond, overlay; going down, the
reverse.
"""

from __future__ import annotations

import os
from typing import Mapping, NamedTuple, Optional

from ifupdown_agg.config import ifaces_file
from ifupdown_agg.overlay import lifecycle as overlay
from ifupdown_agg.errors import AggError, ConfigError
from ifupdown_agg.config.registry import env_options, groups_of

INTERFACES = "/etc/network/interfaces"
PHASES = ("pre-up", "post-up", "pre-down", "post-down")


def _located(err: ConfigError, iface: str) -> ConfigError:
    """Point an error found in IF_* variables at the interfaces file, if it is there."""
    if not err.option or not (err.location is None or err.location.variable):
        return err
    raw = ifaces_file.locate_option(iface, err.option, INTERFACES)
    if raw is None:
        return err
    return ConfigError(err.reason, iface=err.iface, option=err.option, token=err.token,
                       location=raw.locate(err.token) if err.token else raw.location)


def _say(msg: str, priority: str = "") -> None:
    from ifupdown_agg.cli.common import log_line
    log_line(msg, priority)


def _fail(err: AggError, iface: str) -> int:
    """Report an error once, located in the interfaces file where it can be."""
    if isinstance(err, ConfigError):
        _say(str(_located(err, iface)), "err")
    else:
        text = str(err)
        _say(text if text.startswith(f"{iface}:") else f"{iface}: {text}", "err")
    return 1


def _method(iface: str, method: str) -> None:
    """Refuse an overlay stanza whose method is not static (ifupdown sets METHOD),
    located at its iface line in the interfaces file where it is there."""
    from ifupdown_agg.overlay.model import METHOD, method_error
    from ifupdown_agg.errors import Location
    if not method or method == METHOD:
        return
    where = Location(variable="METHOD")
    try:
        stanza = ifaces_file.read(INTERFACES).find(iface)
    except (ConfigError, OSError):
        stanza = None
    if stanza is not None and stanza.method == method:
        where = stanza.location
    err = method_error(iface, method, where)
    if err is not None:
        raise err


class Call(NamedTuple):
    """What every handler gets: one hook run for one interface."""
    env: Mapping[str, str]
    iface: str
    phase: str
    raw: dict
    verbose: bool


def main(env: Optional[Mapping[str, str]] = None) -> int:
    env = os.environ if env is None else env
    iface = env.get("IFACE", "")
    phase = env.get("PHASE", "")
    raw = env_options(env)
    groups = groups_of(raw)
    if env.get("ADDRFAM") == "meta" or not iface or not groups or phase not in PHASES:
        return 0
    call = Call(env, iface, phase, raw, env.get("VERBOSITY") == "1")
    if "bond" in groups:
        from ifupdown_agg.bond.lifecycle import ifenslave_in_charge
        if ifenslave_in_charge():
            if call.verbose and phase == "pre-up":
                _say(f"{iface}: ifenslave is installed and handles the bond-* options")
            groups.remove("bond")
    order = [g for g in ORDER if g in groups]
    from ifupdown_agg.kernel import lock
    try:
        with lock.held(f"ifupdown-agg {phase} {iface}", say=_say):
            for group in (order if phase in ("pre-up", "post-up") else reversed(order)):
                handler = HANDLERS.get((group, phase))
                rc = handler(call) if handler else 0
                if rc:
                    return rc
    except lock.LockTimeout as err:
        return _fail(err, iface)
    except OSError as err:
        _say(f"{iface}: cannot take the lock: {err.strerror}: {err.filename or ''}")
        return 1
    return 0


def _bond(call: Call) -> int:
    iface, phase, raw, verbose = call.iface, call.phase, call.raw, call.verbose
    from ifupdown_agg.bond import lifecycle as bond
    from ifupdown_agg.core.executor import RealExecutor
    from ifupdown_agg.kernel.netlink import Kernel
    kernel = Kernel()
    progress = (lambda n, total, op: _say(f"[{n}/{total}] {op.describe()}")) if verbose else None
    try:
        if phase == "pre-up":
            bond.up(iface, raw, kernel, RealExecutor(kernel, progress), _say, INTERFACES)
        else:
            bond.down(iface, kernel, RealExecutor(kernel, progress))
    except AggError as err:
        return _fail(err, iface)
    finally:
        kernel.close()
    return 0


def _usbnet(call: Call) -> int:
    iface, phase, raw = call.iface, call.phase, call.raw
    from ifupdown_agg.usb import lifecycle as usbnet
    try:
        usbnet.hook(iface, phase, raw, _say)
    except AggError as err:
        return _fail(err, iface)
    except OSError as err:
        _say(f"{iface}: {err.strerror}: {err.filename or ''}")
        return 1
    return 0


def _overlay(call: Call) -> int:
    env, iface, phase, raw, verbose = call
    family = env.get("ADDRFAM", "")
    if family not in ("inet", "inet6"):
        _say(f"{iface}: an overlay is an inet or inet6 stanza; ignoring the {family} stanza")
        return 0

    loaded: Optional[overlay.Loaded] = None
    try:
        loaded = overlay.from_raw(iface, raw, family)
        if phase in ("pre-up", "post-up"):
            _method(iface, env.get("METHOD", ""))
    except ConfigError as err:
        if phase in ("pre-up", "post-up"):
            _say(str(_located(err, iface)), "err")
            return 1
        # Going down with a config that no longer parses: undo from the record.

    try:
        if phase == "pre-up":
            from ifupdown_agg.cli.common import refuse_conflicts
            refuse_conflicts(iface, INTERFACES)
            overlay.create_device(loaded)
            return 0
        if phase == "post-down":
            overlay.remove_device(iface, family)
            return 0
    except OSError as err:
        _say(f"{iface}: {err.strerror}: {err.filename or ''}")
        return 1
    except ConfigError as err:
        return _fail(err, iface)

    # Imported here: pyroute2 is needed only for the phases that route.
    from ifupdown_agg.core.executor import RealExecutor
    from ifupdown_agg.kernel.netlink import Kernel

    kernel = Kernel()
    progress = (lambda n, total, op: _say(f"[{n}/{total}] {op.describe()}")) if verbose else None
    executor = RealExecutor(kernel, progress)
    try:
        if phase == "post-up":
            try:
                overlay.up(loaded, kernel, executor)
            except AggError:
                # ifupdown runs no down phase for a failed ifup: undo pre-up too.
                overlay.down(iface, kernel, executor, loaded.cfg, family=family)
                raise
        elif phase == "pre-down":
            overlay.down(iface, kernel, executor, loaded.cfg if loaded else None, keep_device=True,
                         family=family)
    except AggError as err:
        return _fail(err, iface)
    finally:
        kernel.close()
    return 0


# Going up the features run in this order, going down in the reverse.
ORDER = ("usbnet", "bond", "overlay")
# (feature, phase) -> handler; a missing pair does nothing (bonds act at pre-up and post-down).
HANDLERS = {**{("usbnet", p): _usbnet for p in PHASES},
            ("bond", "pre-up"): _bond, ("bond", "post-down"): _bond,
            **{("overlay", p): _overlay for p in PHASES}}


if __name__ == "__main__":
    raise SystemExit(main())
