"""`ifagg check`: does the running kernel match the config, object by object?

It runs the very plan `ifagg up` would run (against the record and the kernel),
so what check reports is exactly what up repairs. Exit status: 0 in sync,
1 drift, 2 invalid configuration, 3 could not look (permissions, a missing
tool or module); the highest applies when stanzas differ.
"""

from __future__ import annotations

import json
import sys
from typing import List, Optional

from ifupdown_agg.cli.common import Command, add_source
from ifupdown_agg.errors import AggError, ApplyError, ConfigError

IN_SYNC, DRIFT, INVALID, UNSEEN = 0, 1, 2, 3
# A usbnet stanza check looks at: a gadget it makes, a bridge it joins.
USB_OPTIONS = frozenset({"usbnet-gadget", "usbnet-bridge"})
EXIT_TEXT = ("0 when the kernel holds every object of every checked stanza exactly "
             "(overlays: device, address, mtu, GSO limit, routes, rules, rp_filter and "
             "the nft table's listed contents; bonds: the bond, its settings and ports; "
             "USB gadgets: the configfs gadget, its settings, its controller binding, its "
             "interface's name and bridge); "
             "1 on drift (each missing, different or stale object is named; `ifagg up` "
             "repairs exactly that); 2 when the configuration is invalid; 3 when the "
             "kernel could not be read (permissions, a missing tool).")


class Check(Command):
    name = "check"
    help = "compare the running kernel with the config (exit 0 sync, 1 drift, 2 invalid, 3 unseen)"
    description = ("Compare every overlay, bond and USB gadget stanza (or the IFACEs named) with the "
                   "kernel, object by object. Exit status: " + EXIT_TEXT)

    def add_arguments(self, p) -> None:
        p.add_argument("iface", nargs="*",
                       help="stanzas to check (default: every overlay, bond and USB gadget "
                            "stanza)")
        add_source(p)
        p.add_argument("--json", action="store_true",
                       help="one object per stanza, its ops as `plan --json` writes them")
        p.add_argument("--syntax", action="store_true",
                       help="only validate the file, each stanza and the stanzas against each "
                            "other (no kernel, no root: any machine); exit 0 or 2")

    def run(self, args) -> int:
        from ifupdown_agg.config import across
        if args.syntax:
            return _syntax(args, across.validate(args.interfaces))
        try:
            invalid = {e.iface: e for e in reversed(across.validate(args.interfaces).errors)}
            stanzas = _stanzas(args.interfaces, args.iface)
        except (ConfigError, OSError) as err:
            return _fail(args, INVALID, _reason(err))
        try:
            report = _report(args, [s for s in stanzas if s[0] not in invalid])
        except _Unseen as err:
            return _fail(args, UNSEEN, str(err))
        report += [_invalid(name, kind, invalid[name]) for name, kind in stanzas
                   if name in invalid]
        code = max([r["exit"] for r in report], default=IN_SYNC)
        if invalid and not args.iface:
            code = max(code, INVALID)
        if args.json:
            print(json.dumps({"version": 1, "in_sync": code == IN_SYNC, "exit": code,
                              "stanzas": report}, indent=2))
        else:
            for r in report:
                _print(r)
        return code


class _Unseen(Exception):
    """The kernel could not be read: nothing can be said about drift."""


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and not isinstance(err, AggError):
        return f"{err.filename or ''}: {err.strerror or err}".lstrip(": ")
    return str(err)


def _syntax(args, report) -> int:
    code = INVALID if report.errors else IN_SYNC
    if args.json:
        print(json.dumps({"version": 1, "valid": not report.errors, "exit": code,
                          "errors": [str(e) for e in report.errors],
                          "warnings": report.warnings}, indent=2))
    else:
        for line in report.errors:
            print(f"ifagg: {line}", file=sys.stderr)
        for line in report.warnings:
            print(f"ifagg: warning: {line}", file=sys.stderr)
        if not report.errors:
            print(f"{args.interfaces}: valid")
    return code


def _invalid(name: str, kind: str, err: ConfigError) -> dict:
    return {"iface": name, "kind": kind, "in_sync": False, "exit": INVALID, "ops": [],
            "describe": [], "details": [], "notes": [], "error": str(err)}


def _fail(args, code: int, reason: str) -> int:
    what = "invalid configuration" if code == INVALID else "could not look"
    if args.json:
        print(json.dumps({"version": 1, "in_sync": False, "exit": code,
                          "error": f"{what}: {reason}", "stanzas": []}, indent=2))
    print(f"ifagg: check: {what}: {reason}", file=sys.stderr)
    return code


def _stanzas(path: str, names: List[str]):
    """(name, kind) of the stanzas to check; a named one that is not ours is an error."""
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.config.registry import groups_of
    parsed = ifaces_file.read(path)
    out = []
    for stanza in parsed.stanzas:
        groups = groups_of(stanza.options)
        kind = ("overlay" if "overlay" in groups else "bond" if "bond" in groups else
                "usb" if USB_OPTIONS & set(stanza.options) else None)
        # An inet6 overlay stanza is checked as NAME.inet6 (its record's name).
        label = stanza.name if stanza.family == "inet" else f"{stanza.name}.{stanza.family}"
        usable = stanza.family == "inet" or (stanza.family == "inet6" and kind == "overlay")
        if usable and kind and (not names or label in names):
            out.append((label, kind))
    for name in names:
        if name not in [n for n, _ in out]:
            raise ConfigError(f"{name}: no overlay, bond or USB gadget stanza of that name "
                              f"in {path}")
    return out


def _report(args, stanzas):
    try:
        from ifupdown_agg.kernel.netlink import Kernel
        kernel = Kernel()
    except ImportError as err:
        raise _Unseen(f"{err} (apt install python3-pyroute2 python3-nftables)") from None
    except OSError as err:
        raise _Unseen(_reason(err)) from None
    try:
        try:
            obs = kernel.observe()
        except (ApplyError, OSError, ImportError) as err:
            raise _Unseen(_reason(err)) from None
        return [_one(args, name, kind, kernel, obs) for name, kind in stanzas]
    finally:
        kernel.close()


def _one(args, name: str, kind: str, kernel, obs) -> dict:
    entry = {"iface": name, "kind": kind, "in_sync": False, "exit": DRIFT, "ops": [],
             "describe": [], "details": [], "notes": [], "error": None}
    try:
        ops, notes, details = (_overlay(args, name, obs) if kind == "overlay"
                               else _bond(args, name, kernel, obs) if kind == "bond"
                               else _usb(args, name, obs))
    except ConfigError as err:
        entry.update(exit=INVALID, error=str(err))
        return entry
    except (ApplyError, OSError) as err:
        entry.update(exit=UNSEEN, error=_reason(err))
        return entry
    entry.update(in_sync=not ops, exit=DRIFT if ops else IN_SYNC, notes=notes, details=details,
                 ops=[op.to_json() for op in ops], describe=[op.describe() for op in ops])
    return entry


def _overlay(args, name: str, obs):
    from ifupdown_agg.core import record
    from ifupdown_agg.overlay import lifecycle as overlay, plan
    loaded = overlay.from_file(name, args.interfaces)
    ops, desired = plan.plan_up(loaded.cfg, obs, loaded.raw, record.load(name))
    return ops, desired.notes, _nft_details(ops, obs) + _tunnel_warnings(loaded.cfg, desired, obs)


def _tunnel_warnings(cfg, desired, obs) -> List[str]:
    """A tunnel riding on the overlay whose packets exceed what it carries (not drift:
    `up` does not own the tunnel)."""
    from ifupdown_agg.kernel import tunnels as observed
    from ifupdown_agg.overlay import tunnels
    return tunnels.judge(cfg, desired, obs, observed.observe())[3]


def _nft_details(ops, obs) -> List[str]:
    """For a table whose contents differ: the lines of ours the listing lacks."""
    from ifupdown_agg.core.nftcontent import differences
    from ifupdown_agg.core.objects import NftTable
    out = []
    for op in ops:
        cur: Optional[NftTable] = obs.nft.get(op.obj.name) if isinstance(op.obj, NftTable) else None
        if op.action == "set" and cur is not None:
            out += [f"nft table {cur.name} lacks: {line}"
                    for line in differences(cur.script, op.obj.script)]
    return out


def _bond(args, name: str, kernel, obs):
    from ifupdown_agg.bond import lifecycle as bond
    from ifupdown_agg.cli.common import say
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.core.executor import RecordingExecutor
    stanza = ifaces_file.read(args.interfaces).find(name)
    usb_ops, _, usb_details = (_usb(args, name, obs) if USB_OPTIONS & set(stanza.options)
                               else ([], [], []))      # a gadget that is a bond's port
    ops = bond.up(name, stanza.options, kernel, RecordingExecutor(), say, args.interfaces)
    return usb_ops + ops, [], usb_details


def _usb(args, name: str, obs):
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.usb import repair
    stanza = ifaces_file.read(args.interfaces).find(name)
    return repair.check(name, stanza.options, obs)


def _print(r: dict) -> None:
    if r["error"]:
        what = "invalid configuration" if r["exit"] == INVALID else "could not look"
        print(f"{r['iface']}: {what}: {r['error']}")
        return
    print(f"{r['iface']}: " + ("in sync" if r["in_sync"] else f"{len(r['ops'])} difference(s)"))
    for line in r["describe"]:
        print(f"  needs: {line}")
    for line in r["details"]:
        print(f"  {line}")
