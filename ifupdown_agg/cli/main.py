"""ifagg: the command line of ifupdown-agg."""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from ifupdown_agg import __version__
from ifupdown_agg.errors import AggError
from ifupdown_agg.config.schema import option_help_lines

DESCRIPTION = """\
Aggregate several NICs into one fast pipe between hosts.

An overlay stanza in /etc/network/interfaces gives every host a /32 in a
"fake net" on a tun device; packets to the fake net are spread per packet
over the member NICs (nftables marks, one ip rule and routing table per NIC),
so even one TCP flow runs faster than any single NIC. ifupdown runs ifagg's
hook at ifup/ifdown; the commands below inspect and drive the same code.
"""

EXAMPLES = """\
examples:
  ifagg plan tun0                 what `ifup tun0` would change, as a dry run
  ifagg up tun0 && ifagg status   bring tun0 up without ifupdown, show the links
  ifagg check --json              does the kernel match the config? (exit 1 if not)
  ifagg down tun0                 undo exactly what `up` made
  ifagg cleanup --all             remove every object carrying ifupdown-agg's marks
  ifagg options                   every stanza option, with an example

a minimal stanza (the same rspec on every host):
  auto tun0
  iface tun0 inet static
      address 10.99.255.10
      netmask 255.255.255.255
      fakenet 10.99.255.0/24
      table 10000 10001
      rspec 10.99.255.10:10.99.0.10:10.99.1.10 10.99.255.20:10.99.0.20:10.99.1.20
"""


def _add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--interfaces", default="/etc/network/interfaces", metavar="FILE",
                   help="interfaces(5) file to read (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ifagg", description=DESCRIPTION, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ifupdown-agg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("plan", help="show what bringing IFACE up would change (dry run)",
                       description="Compare the stanza's desired state with the kernel and print "
                                   "the changes, one iproute2/nft-like line each. Changes nothing.")
    p.add_argument("iface")
    _add_source(p)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")

    p = sub.add_parser("up", help="bring an overlay or a bond up without ifupdown",
                       description="Apply the stanza of IFACE as one transaction: on any error "
                                   "everything done so far is undone. Creates the tun device "
                                   "and adds the address if needed.")
    p.add_argument("iface")
    _add_source(p)
    p.add_argument("-v", "--verbose", action="store_true", help="print each change as it is made")

    p = sub.add_parser("down", help="undo what `up` (or ifup) made for IFACE",
                       description="Undo the recorded changes, newest first. Without a record "
                                   "(lost /run), remove what carries ifupdown-agg's marks.")
    p.add_argument("iface")
    _add_source(p)
    p.add_argument("-v", "--verbose", action="store_true", help="print each change as it is made")

    p = sub.add_parser("check", help="compare the running kernel with the config",
                       description="Exit 0 when every overlay in the file is applied exactly, "
                                   "1 when something is missing or different.")
    p.add_argument("iface", nargs="*", help="overlays to check (default: every overlay stanza)")
    _add_source(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("status", help="per link and per peer: health, share of the rotation, packets, bytes",
                       description="For every member link and every (peer, link) path: its "
                                   "weight, its share of the rotation now, packets and bytes "
                                   "sent, and the monitor's verdict with its last change and "
                                   "reason. Exit 1 if an overlay is not up.")
    p.add_argument("iface", nargs="*", help="overlays to show (default: every overlay stanza)")
    _add_source(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("-w", "--watch", action="store_true", help="redraw in place every --interval seconds")
    p.add_argument("--interval", type=float, default=1.0, metavar="S", help="(default: %(default)s)")
    p.add_argument("--count", type=int, default=3600, metavar="N",
                   help="with --watch, stop after N rounds (default: %(default)s)")

    p = sub.add_parser("cleanup", help="remove objects carrying our marks, without a config",
                       description="Remove nft tables ifagg_*, routes and rules of protocol 173, "
                                   "tun devices and bonds with alias ifupdown-agg, and USB "
                                   "gadgets named ifagg_* in configfs.")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("iface", nargs="?")
    target.add_argument("--all", action="store_true", help="every overlay on this host")
    p.add_argument("-n", "--dry-run", action="store_true")

    p = sub.add_parser("monitor", help="run the link monitor of an overlay in the foreground",
                       description="Watch carrier and probe every (peer, link) path; take dead "
                                   "paths out of the peer's rotation and put them back when "
                                   "healthy. ifup starts it (ifupdown-agg-monitor@IFACE.service "
                                   "under systemd) and ifdown stops it; run it by hand only to "
                                   "debug.")
    p.add_argument("iface")

    p = sub.add_parser("usbnet", help="make or remove a USB gadget from its stanza, without ifupdown",
                       description="What ifup and ifdown do for a stanza with usbnet-gadget, for "
                                   "systems that do not run ifupdown (the "
                                   "ifupdown-agg-usbgadget@IFACE.service unit under "
                                   "systemd-networkd): 'up' creates the configfs gadget, binds it "
                                   "and names its interface IFACE; 'down' removes it.")
    p.add_argument("action", choices=("up", "down"))
    p.add_argument("iface")
    _add_source(p)

    sub.add_parser("options", help="print every stanza option with its type, default and example")
    sub.add_parser("hook", help="entry point of the /etc/network/if-*.d hooks (reads IF_* variables)")

    p = sub.add_parser("networkd", help="the same overlays from systemd-networkd: generate, diff, apply",
                       description="Write .netdev/.network files for the overlay stanzas, reload "
                                   "systemd-networkd over D-Bus, and apply what networkd cannot.")
    from ifupdown_agg.networkd import cli as networkd_cli  # argparse only; run() imports the rest
    networkd_cli.add_arguments(p)

    from ifupdown_agg.doctor import report as doctor
    p = sub.add_parser("doctor", help="explain why a bond does not aggregate, and how to fix it",
                       description=doctor.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    doctor.add_arguments(p)

    return parser


def _overlay_names(path: str, names: List[str]) -> List[str]:
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.config.registry import is_ours
    if names:
        return names
    return [s.name for s in ifaces_file.read(path).stanzas if s.family == "inet" and is_ours(s.options)]


def _executor(kernel, verbose: bool):
    from ifupdown_agg.core.executor import RealExecutor
    progress = (lambda n, t, op: print(f"[{n}/{t}] {op.describe()}")) if verbose else None
    return RealExecutor(kernel, progress)


def _bond_stanza(args):
    """The stanza's options if IFACE is a bond's or a port's stanza, else None."""
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.config.registry import groups_of
    stanza = ifaces_file.read(args.interfaces).find(args.iface)
    if stanza is not None and "bond" in groups_of(stanza.options) \
            and "overlay" not in groups_of(stanza.options):
        return stanza.options
    return None


def _say(msg: str) -> None:
    print(f"ifagg: {msg}", file=sys.stderr)


def _bond_plan(args, raw) -> int:
    from ifupdown_agg.bond import lifecycle as bond
    from ifupdown_agg.core.executor import DryRunExecutor, RecordingExecutor
    from ifupdown_agg.kernel.netlink import Kernel
    kernel = Kernel()
    try:
        executor = RecordingExecutor() if args.json else DryRunExecutor()
        ops = bond.up(args.iface, raw, kernel, executor, _say, args.interfaces)
    finally:
        kernel.close()
    _show_plan(args, ops, [])
    return 0


def _show_plan(args, ops, notes) -> None:
    """After a recording (--json) or dry-run executor has seen the plan."""
    if args.json:
        print(json.dumps({"iface": args.iface, "ops": [op.to_json() for op in ops],
                          "describe": [op.describe() for op in ops], "notes": notes}, indent=2))
        return
    for note in notes:
        print(f"# note: {note}")
    if not ops:
        print(f"# {args.iface} is up to date: nothing to change")


def cmd_plan(args) -> int:
    from ifupdown_agg.overlay import lifecycle as overlay
    from ifupdown_agg.kernel.netlink import Kernel
    from ifupdown_agg.core.executor import DryRunExecutor, RecordingExecutor
    raw = _bond_stanza(args)
    if raw is not None:
        return _bond_plan(args, raw)
    loaded = overlay.from_file(args.iface, args.interfaces)
    kernel = Kernel()
    try:
        executor = RecordingExecutor() if args.json else DryRunExecutor()
        ops, desired = overlay.up(loaded, kernel, executor)
    finally:
        kernel.close()
    _show_plan(args, ops, desired.notes)
    return 0


def cmd_up(args) -> int:
    from ifupdown_agg.bond import lifecycle as bond
    from ifupdown_agg.overlay import lifecycle as overlay
    from ifupdown_agg.kernel.netlink import Kernel
    raw = _bond_stanza(args)
    kernel = Kernel()
    try:
        if raw is not None:
            ops = bond.up(args.iface, raw, kernel, _executor(kernel, args.verbose), _say,
                          args.interfaces)
        else:
            ops, _ = overlay.up(overlay.from_file(args.iface, args.interfaces), kernel,
                                _executor(kernel, args.verbose))
    finally:
        kernel.close()
    print(f"{args.iface}: {len(ops)} change(s)" if ops else f"{args.iface}: already up to date")
    return 0


def cmd_down(args) -> int:
    from ifupdown_agg.bond import lifecycle as bond
    from ifupdown_agg.overlay import lifecycle as overlay
    from ifupdown_agg.kernel.netlink import Kernel
    try:
        raw = _bond_stanza(args)
    except (AggError, OSError):
        raw = None
    if raw is not None:
        kernel = Kernel()
        try:
            ops = bond.down(args.iface, kernel, _executor(kernel, args.verbose))
        finally:
            kernel.close()
        print(f"{args.iface}: {len(ops)} change(s)" if ops else f"{args.iface}: nothing to undo")
        return 0
    cfg = None
    try:
        cfg = overlay.from_file(args.iface, args.interfaces).cfg
    except AggError:
        pass    # the record or the marks are enough to go down
    kernel = Kernel()
    try:
        ops = overlay.down(args.iface, kernel, _executor(kernel, args.verbose), cfg)
    finally:
        kernel.close()
    print(f"{args.iface}: removed {len(ops)} object(s)" if ops else f"{args.iface}: nothing to remove")
    return 0


def cmd_check(args) -> int:
    from ifupdown_agg.overlay import lifecycle as overlay, plan
    from ifupdown_agg.core import record as state
    from ifupdown_agg.kernel.netlink import Kernel
    kernel = Kernel()
    report = []
    try:
        obs = kernel.observe()
        for name in _overlay_names(args.interfaces, args.iface):
            loaded = overlay.from_file(name, args.interfaces)
            ops, _ = plan.plan_up(loaded.cfg, obs, loaded.raw, state.load(name))
            report.append({"iface": name, "in_sync": not ops,
                           "drift": [op.describe() for op in ops]})
    finally:
        kernel.close()
    ok = all(r["in_sync"] for r in report)
    if args.json:
        print(json.dumps({"in_sync": ok, "overlays": report}, indent=2))
    else:
        for r in report:
            print(f"{r['iface']}: " + ("in sync" if r["in_sync"] else f"{len(r['drift'])} difference(s)"))
            for line in r["drift"]:
                print(f"  needs: {line}")
    return 0 if ok else 1


def cmd_status(args) -> int:
    from ifupdown_agg.overlay import status
    return status.run(args)


def cmd_cleanup(args) -> int:
    import os
    from ifupdown_agg.bond import plan as bond_plan
    from ifupdown_agg.overlay import plan
    from ifupdown_agg.usb import gadget as usbgadget
    from ifupdown_agg.core.executor import DryRunExecutor
    from ifupdown_agg.kernel.netlink import Kernel
    from ifupdown_agg.core.objects import DEVICE_ALIAS
    kernel = Kernel()
    try:
        obs = kernel.observe()
        ops = plan.plan_sweep(obs, None if args.all else args.iface)
        bonds = [n for n, li in obs.links.items() if li.kind == "bond"] if args.all else [args.iface]
        for name in bonds:
            ops += bond_plan.plan_sweep(obs, name, DEVICE_ALIAS)
        (DryRunExecutor() if args.dry_run else _executor(kernel, True)).run(ops)
    finally:
        kernel.close()
    gadgets = [g for g in usbgadget.ours()
               if args.all or g == usbgadget.gadget_name(args.iface)]
    for name in gadgets:
        path = os.path.join(usbgadget.CONFIGFS, "usb_gadget", name)
        print(f"remove the USB gadget {path}")
        if not args.dry_run:
            usbgadget.remove_any(path)
    if not ops and not gadgets:
        print("nothing carries ifupdown-agg's marks")
    return 0


def cmd_options(args) -> int:
    from ifupdown_agg.config.registry import GROUP_TITLES, TABLES_BY_GROUP
    for group, table in TABLES_BY_GROUP.items():
        print(GROUP_TITLES[group] + ":\n")
        print("\n".join(option_help_lines(table)) + "\n")
    return 0


def cmd_monitor(args) -> int:
    from ifupdown_agg.monitor import daemon as monitor
    return monitor.main(args.iface)


def cmd_hook(args) -> int:
    from ifupdown_agg.cli import hook
    return hook.main()


def cmd_usbnet(args) -> int:
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.usb import lifecycle as usbnet
    from ifupdown_agg.errors import ConfigError, Location
    stanza = ifaces_file.read(args.interfaces).find(args.iface)
    spec = usbnet.gadget_spec(args.iface, stanza.options) if stanza else None
    if spec is None:
        raise ConfigError(f"no stanza for {args.iface} with usbnet-gadget",
                          location=Location(args.interfaces))
    if args.action == "up":
        udc = usbnet.gadget_up(spec, _say)
        usbnet.start_watch(args.iface, udc)
        print(f"{args.iface}: gadget bound to {udc}")
    else:
        usbnet.stop_watch(args.iface)
        usbnet.gadget_down(spec)
        print(f"{args.iface}: gadget removed")
    return 0


def cmd_networkd(args) -> int:
    from ifupdown_agg.networkd import cli as networkd_cli
    return networkd_cli.run(args)


def cmd_doctor(args) -> int:
    from ifupdown_agg.doctor import report as doctor
    return doctor.run(args)


COMMANDS = {"plan": cmd_plan, "up": cmd_up, "down": cmd_down, "check": cmd_check,
            "status": cmd_status, "cleanup": cmd_cleanup, "options": cmd_options,
            "hook": cmd_hook, "monitor": cmd_monitor,
            "networkd": cmd_networkd, "doctor": cmd_doctor, "usbnet": cmd_usbnet}


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except AggError as err:
        print(f"ifagg: {err}", file=sys.stderr)
        return 1
    except PermissionError as err:
        print(f"ifagg: {err.strerror}: {err.filename or ''} (run as root)", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
