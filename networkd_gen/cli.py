"""`ifagg networkd ...`: generate, diff, apply, and the unit's post-apply."""

from __future__ import annotations

import argparse
import sys

from . import PREFIX

HELP = """\
Turn overlay stanzas (or a native file) into systemd-networkd configuration.

  generate     write the .netdev/.network files and our extras file
  diff         show what generate would change (exit 1 if anything)
  apply        generate, reload networkd over D-Bus, add the extras, verify
  post-apply   the unit's part for one overlay: nft marking, rp_filter,
               GSO limit, route metrics (ifupdown-agg-networkd@IFACE.service)
"""


def _add_source(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("-i", "--interfaces", default="/etc/network/interfaces", metavar="FILE",
                     help="interfaces(5) file with the overlay and its member NICs' stanzas "
                          "(default: %(default)s)")
    src.add_argument("-c", "--config", metavar="FILE",
                     help="our native file instead (configobj: [IFACE] options, [[members]])")
    p.add_argument("--from-kernel", action="store_true",
                   help="take member NICs and their addresses from this node's kernel too")
    p.add_argument("--networkd-version", metavar="N|auto",
                   help="systemd-networkd to write for (default: the file's, else 252; "
                        "'auto' asks networkctl)")
    _add_root(p)


def _add_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root-dir", default="/", metavar="DIR",
                   help="write and read everything below DIR (packaging, tests)")
    p.add_argument("--prefix", default=PREFIX, help=argparse.SUPPRESS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = HELP
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="networkd_command", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("generate", help="write networkd's files and our extras file")
    _add_source(p)
    p = sub.add_parser("diff", help="show what generate would change (exit 1 if anything)")
    _add_source(p)
    p = sub.add_parser("apply", help="generate, reload networkd over D-Bus, add extras, verify")
    _add_source(p)
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="how long links may take to be configured (default: %(default)s)")
    p.add_argument("--no-reload", action="store_true",
                   help="write and add extras only (networkd is reloaded by someone else)")
    p = sub.add_parser("post-apply", help="apply what networkd cannot, for one overlay (the unit)")
    p.add_argument("iface")
    p.add_argument("--remove", action="store_true",
                   help="undo it instead (the unit's ExecStop)")
    p.add_argument("--wait", type=float, default=30.0, metavar="S",
                   help="how long to wait for networkd to make IFACE (default: %(default)s)")
    _add_root(p)


def _tree(args):
    from . import generate, sources, versions
    srcs = (sources.from_native(args.config) if args.config
            else sources.from_interfaces(args.interfaces))
    if args.from_kernel:
        from ifupdown_agg.kernel import Kernel
        kernel = Kernel()
        try:
            sources.with_kernel_nics(srcs, kernel)
        finally:
            kernel.close()
    version = None
    if args.networkd_version == "auto":
        version = versions.installed_version()
    elif args.networkd_version:
        if not args.networkd_version.isdigit():
            from ifupdown_agg.errors import AggError
            raise AggError(f"--networkd-version: '{args.networkd_version}' is not a number or 'auto'")
        version = int(args.networkd_version)
    tree = generate.generate(srcs, version, args.prefix, args.root_dir)
    for note in tree.notes:
        print(f"note: {note}", file=sys.stderr)
    return tree


def _print_changes(ch) -> None:
    for verb, names in (("wrote", ch.added + ch.changed), ("removed", ch.removed)):
        for rel in names:
            print(f"{verb} /{rel}")
    if not ch:
        print("networkd files are up to date")


def run(args) -> int:
    from . import apply, extras, writer
    if args.networkd_command == "generate":
        _print_changes(writer.write(args.root_dir, _tree(args), args.prefix))
        return 0
    if args.networkd_command == "diff":
        text = writer.unified_diff(args.root_dir, _tree(args), args.prefix)
        sys.stdout.write(text)
        return 1 if text else 0
    if args.networkd_command == "apply":
        report = apply.apply(_tree(args), args.root_dir, args.prefix, args.timeout,
                             reload=not args.no_reload)
        _print_changes(report.changes)
        for state in report.states.values():
            print(f"networkd: {state}")
        for op in report.cleanup:
            print(f"removed what networkd leaves: {op.describe()}")
        for iface, ops in report.extras.items():
            print(f"{iface}: {len(ops)} extra change(s) beyond networkd" if ops
                  else f"{iface}: extras up to date")
        print("verified: the kernel holds the configured overlay(s)")
        return 0
    if args.networkd_command == "post-apply":
        ops = extras.post_apply(args.iface, args.root_dir, args.prefix, remove=args.remove,
                                wait=args.wait)
        for op in ops:
            print(op.describe())
        return 0
    raise AssertionError(args.networkd_command)
