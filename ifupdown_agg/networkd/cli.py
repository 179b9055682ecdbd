"""`ifagg networkd ...`: generate, diff, apply, and the unit's post-apply."""

from __future__ import annotations

import argparse
import sys

from ifupdown_agg.networkd import PREFIX

HELP = """\
Turn overlay, bond and usbnet stanzas (or a native file) into systemd-networkd
configuration.

  generate     write the .netdev/.network/.link files and our extras files
  diff         show what generate would change (exit 1 if anything)
  apply        generate, reload networkd over D-Bus, add the extras, verify
  post-apply   the unit's part for one overlay: nft marking, rp_filter,
               GSO limit, route metrics (ifupdown-agg-networkd@IFACE.service)
  links        only the .link files that name USB links (usbnet-match), for
               ifupdown nodes too: udev applies them without networkd
"""
LINK_HINT = ("udev reads .link files when a device appears: run `udevadm control --reload`, "
             "then re-plug the device (or `udevadm trigger -c add /sys/class/net/NAME` with "
             "its current name, while it is down)")


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
    p.add_argument("--root-dir", "--root", default="/", metavar="DIR",
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
    p = sub.add_parser("links", help="write only the .link files naming USB links (ifupdown too)")
    p.add_argument("-i", "--interfaces", default="/etc/network/interfaces", metavar="FILE",
                   help="interfaces(5) file with the usbnet-match stanzas (default: %(default)s)")
    p.add_argument("--dry-run", action="store_true",
                   help="show what would change, write nothing")
    _add_root(p)
    p = sub.add_parser("post-apply", help="apply what networkd cannot, for one overlay (the unit)")
    p.add_argument("iface")
    p.add_argument("--remove", action="store_true",
                   help="undo it instead (the unit's ExecStop)")
    p.add_argument("--wait", type=float, default=30.0, metavar="S",
                   help="how long to wait for networkd to make IFACE (default: %(default)s)")
    _add_root(p)


def _tree(args):
    from ifupdown_agg.networkd import generate, sources, versions
    srcs = (sources.from_native(args.config) if args.config
            else sources.from_interfaces(args.interfaces))
    if args.from_kernel:
        from ifupdown_agg.kernel.netlink import Kernel
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


def _print_changes(ch, what: str = "networkd files") -> None:
    for verb, names in (("wrote", ch.added + ch.changed), ("removed", ch.removed)):
        for rel in names:
            print(f"{verb} /{rel}")
    if not ch:
        print(f"{what} are up to date")
    elif any(rel.endswith(".link") for rel in ch.added + ch.changed + ch.removed):
        print(LINK_HINT)


def _links(args) -> int:
    from ifupdown_agg.networkd import devices, generate, writer
    tree = generate.Tree(files=generate.link_files(devices.usb_links(args.interfaces)))
    if args.dry_run:
        sys.stdout.write(writer.unified_diff(args.root_dir, tree, args.prefix,
                                             writer.link_files_only))
        return 0
    _print_changes(writer.write(args.root_dir, tree, args.prefix, writer.link_files_only),
                   "the .link files")
    return 0


def run(args) -> int:
    from ifupdown_agg.networkd import apply, extras, writer
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
    if args.networkd_command == "links":
        return _links(args)
    if args.networkd_command == "post-apply":
        ops = extras.post_apply(args.iface, args.root_dir, args.prefix, remove=args.remove,
                                wait=args.wait)
        for op in ops:
            print(op.describe())
        return 0
    raise AssertionError(args.networkd_command)


def main(argv=None) -> int:
    """`python3 -m ifupdown_agg.networkd ACTION ...` from a checkout: `ifagg networkd`."""
    from ifupdown_agg.errors import AggError
    parser = argparse.ArgumentParser(prog="python3 -m ifupdown_agg.networkd")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except AggError as err:
        print(f"ifagg networkd: {err}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as err:
        print(f"ifagg networkd: this Python ({sys.executable}) has no module {err.name!r}: "
              "run /usr/bin/python3 with Debian's python3-* packages", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
