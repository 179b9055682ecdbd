"""ifagg doctor: explain why a bond does not aggregate, and how to fix it;
with --usb (and by itself when no bond is named), what the USB links are and
what their bus leaves of their speed.

diagnose() is pure: it looks at a parsed /proc/net/bonding text and, when
known, at sysfs facts about each slave (driver, duplex, USB identity). The
rest of the module reads those facts and prints the findings.

The case that motivated it: Realtek RTL8156/RTL8153 USB adapters that come up
in their NCM configuration are driven by cdc_ncm, which reports half duplex.
802.3ad disables LACP on half-duplex ports, so the bond sends no LACPDUs,
every port ends in its own aggregator, and the kernel only says "No 802.3ad
response from the link partner".

The USB report (diagnose_usb, pure, on usbinfo's facts) names for every USB
NIC its driver, duplex and speed, and finds: a Realtek RTL8156/RTL8153 left on
cdc_ncm/cdc_ether, a USB 3 adapter that negotiated USB 2.0, links sharing one
USB 2.0 bus (a Pi 1-3's onboard Ethernet and every USB port), plusb cables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from typing import List, Optional

from ifupdown_agg.bond.procfs import BondInfo, parse, read
from ifupdown_agg.doctor.bond import SlaveFacts, diagnose
from ifupdown_agg.doctor.findings import ERROR, INFO, WARNING, Finding, render
from ifupdown_agg.doctor.texts import R8152_FIX, UDEV_RULE
from ifupdown_agg.doctor.usb import describe_nic, diagnose_usb, format_usb_report, usb_report_json
from ifupdown_agg.kernel import usb as usbread

# The names callers and the VM tier know this module by (diagnose, diagnose_usb...).
__all__ = ["ERROR", "INFO", "WARNING", "Finding", "R8152_FIX", "SlaveFacts", "UDEV_RULE",
           "add_arguments", "describe_nic", "diagnose", "diagnose_usb", "format_findings",
           "format_usb_report", "main", "read_slave_facts", "run", "usb_report_json"]

PROC_BONDING = "/proc/net/bonding"


def read_slave_facts(iface: str, sysfs_root: str = "/sys") -> SlaveFacts:
    """A slave's driver, speed, duplex, carrier and USB identity, from sysfs."""
    return usbread.read_link(iface, sysfs_root)


# --- command line -----------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object: the findings, and with the USB report the "
                             "Pi model and every USB link's facts")
    parser.add_argument("--usb", action="store_true",
                        help="report the USB network links: driver, duplex, speed, the USB "
                             "bus and what it leaves of their speed (also shown, after the "
                             "bonds, when no bond is named and USB links exist)")
    # Roots of a copied tree (tests, or a capture from another machine).
    parser.add_argument("--sysfs-root", default="/sys", help=argparse.SUPPRESS)
    parser.add_argument("--dt-root", default="/proc/device-tree", help=argparse.SUPPRESS)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--proc-file", metavar="FILE",
                        help="diagnose a saved /proc/net/bonding/BOND text ('-' reads "
                             "stdin); driver facts are then inferred")
    source.add_argument("bonds", nargs="*", default=[], metavar="BOND",
                        help="bonds to diagnose (default: every bond in /proc/net/bonding)")



def format_findings(bond: BondInfo, findings: List[Finding]) -> str:
    head = f"{bond.name}: {bond.mode or 'unknown mode'}, {len(bond.slaves)} slaves"
    if not findings:
        return f"{head}\n  no problems found\n"
    out = [head]
    for finding in findings:
        out += render(finding) + [""]
    return "\n".join(out)


def _bond_reports(args: argparse.Namespace) -> Optional[list]:
    """[(bond, findings)], or None after a usage error (already printed)."""
    reports = []
    if args.proc_file:
        try:
            if args.proc_file == "-":
                text = sys.stdin.read()
            else:
                with open(args.proc_file) as fh:
                    text = fh.read()
        except OSError as err:
            print(f"doctor: {err}", file=sys.stderr)
            return None
        name = "stdin" if args.proc_file == "-" else os.path.basename(args.proc_file)
        bond = parse(text, name)
        reports.append((bond, diagnose(bond)))
    else:
        names = args.bonds or (sorted(os.listdir(PROC_BONDING)) if os.path.isdir(PROC_BONDING) else [])
        for name in names:
            path = os.path.join(PROC_BONDING, name)
            if not os.path.exists(path):
                print(f"doctor: {name} is not a bond (no {path})", file=sys.stderr)
                return None
            bond = read(path)
            reports.append((bond, diagnose(bond, {s.name: read_slave_facts(s.name, args.sysfs_root)
                                                  for s in bond.slaves})))
    return reports


def run(args: argparse.Namespace) -> int:
    usb_only = args.usb and not args.bonds and not args.proc_file
    reports = [] if usb_only else _bond_reports(args)
    if reports is None:
        return 2
    usb_facts, pi = usbread.read_all(None, args.sysfs_root, args.dt_root)
    # The USB report: asked for, or found when doctor looks at the whole machine.
    show_usb = args.usb or (not args.bonds and not args.proc_file
                                               and bool(usb_facts))
    usb_findings = diagnose_usb(usb_facts, pi) if show_usb else []
    if args.json:
        print(json.dumps(_json(reports, usb_facts, pi, usb_findings, show_usb), indent=2))
    else:
        parts = []
        if not usb_only:
            parts.append("\n".join(format_findings(bond, found) for bond, found in reports)
                         if reports else "no bonds found\n")
        if show_usb:
            parts.append(format_usb_report(usb_facts, pi, usb_findings))
        print("\n".join(parts), end="")
    problems = any(f.severity in (ERROR, WARNING)
                   for f in [f for _, found in reports for f in found] + usb_findings)
    return 1 if problems else 0


JSON_VERSION = 1


def _json(reports, usb_facts, pi, usb_findings, show_usb: bool) -> dict:
    """One object: every finding (bond null for a USB one); with the USB report, its
    Pi model, bus budget and NICs too (the schema: ifupdown_agg/cli/schemas.py)."""
    out = {"version": JSON_VERSION,
           "findings": [dict(bond=bond.name, **asdict(f)) for bond, found in reports for f in found]
           + [dict(bond=None, **asdict(f)) for f in usb_findings]}
    if show_usb:
        usb = usb_report_json(usb_facts, pi, usb_findings)
        out.update(pi=usb["pi"], usb2_bus_budget_mbps=usb["usb2_bus_budget_mbps"], nics=usb["nics"])
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ifagg doctor",
        description="Explain why a Linux bond does not aggregate, and how to fix it; "
                    "with --usb, report the USB network links. "
                    "Exit status: 0 no problems, 1 problems found, 2 usage error.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
