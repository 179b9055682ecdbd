"""`ifagg up IFACE` and `ifagg down IFACE`: an overlay or a bond without ifupdown."""

from __future__ import annotations

from ifupdown_agg.cli.common import (Command, add_source, bond_stanza, changing, executor,
                                     refuse_conflicts, say)
from ifupdown_agg.errors import AggError


def _add_iface(p) -> None:
    p.add_argument("iface")
    add_source(p)
    p.add_argument("-v", "--verbose", action="store_true", help="print each change as it is made")


class Up(Command):
    name = "up"
    help = "bring an overlay or a bond up without ifupdown; mend a USB gadget's drift"
    description = ("Apply the stanza of IFACE as one transaction: on any error "
                   "everything done so far is undone. Creates the tun device "
                   "and adds the address if needed. For a USB gadget stanza: mends what "
                   "`ifagg check` reports (binds, renames, or makes the gadget again).")

    def add_arguments(self, p) -> None:
        _add_iface(p)

    def run(self, args) -> int:
        with changing(f"ifagg up {args.iface}"):
            return self._run(args)

    @staticmethod
    def _run(args) -> int:
        from ifupdown_agg.bond import lifecycle as bond
        from ifupdown_agg.overlay import lifecycle as overlay
        from ifupdown_agg.kernel.netlink import Kernel
        mended = _usb_up(args)
        raw = bond_stanza(args)
        if mended is not None and raw is None:
            print(f"{args.iface}: mended: " + "; ".join(mended) if mended
                  else f"{args.iface}: already up to date")
            return 0
        kernel = Kernel()
        try:
            if raw is not None:
                ops = bond.up(args.iface, raw, kernel, executor(kernel, args.verbose), say,
                              args.interfaces) + (mended or [])
            else:
                refuse_conflicts(args.iface, args.interfaces)
                ops, _ = overlay.up(overlay.from_file(args.iface, args.interfaces), kernel,
                                    executor(kernel, args.verbose))
        finally:
            kernel.close()
        print(f"{args.iface}: {len(ops)} change(s)" if ops else f"{args.iface}: already up to date")
        return 0


def _usb_up(args):
    """What `up` mended of a USB gadget stanza (the gadget, its bridge; usb/repair.py),
    or None when IFACE's stanza has neither."""
    from ifupdown_agg.config import ifaces_file
    stanza = ifaces_file.read(args.interfaces).find(args.iface)
    if stanza is None or not {"usbnet-gadget", "usbnet-bridge"} & set(stanza.options):
        return None
    from ifupdown_agg.usb import repair
    return repair.up(args.iface, stanza.options, say)


class Down(Command):
    name = "down"
    help = "undo what `up` (or ifup) made for IFACE"
    description = ("Undo the recorded changes, newest first. Without a record "
                   "(lost /run), remove what carries ifupdown-agg's marks.")

    def add_arguments(self, p) -> None:
        _add_iface(p)

    def run(self, args) -> int:
        try:
            raw = bond_stanza(args)
        except (AggError, OSError):
            raw = None
        with changing(f"ifagg down {args.iface}"):
            return self._bond(args) if raw is not None else self._overlay(args)

    @staticmethod
    def _bond(args) -> int:
        from ifupdown_agg.bond import lifecycle as bond
        from ifupdown_agg.kernel.netlink import Kernel
        kernel = Kernel()
        try:
            ops = bond.down(args.iface, kernel, executor(kernel, args.verbose))
        finally:
            kernel.close()
        print(f"{args.iface}: {len(ops)} change(s)" if ops else f"{args.iface}: nothing to undo")
        return 0

    @staticmethod
    def _overlay(args) -> int:
        from ifupdown_agg.overlay import lifecycle as overlay
        from ifupdown_agg.kernel.netlink import Kernel
        cfg = None
        try:
            cfg = overlay.from_file(args.iface, args.interfaces).cfg
        except AggError:
            pass    # the record or the marks are enough to go down
        # tun0.inet6 names tun0's inet6 stanza, as from_file reads it.
        iface, _, family = args.iface.partition(".")
        kernel = Kernel()
        try:
            ops = overlay.down(iface, kernel, executor(kernel, args.verbose), cfg,
                               family=family if family == "inet6" else "inet")
        finally:
            kernel.close()
        print(f"{args.iface}: removed {len(ops)} object(s)" if ops
              else f"{args.iface}: nothing to remove")
        return 0
