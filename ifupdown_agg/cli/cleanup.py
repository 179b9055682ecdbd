"""`ifagg cleanup`: remove what carries our marks, with no config at all."""

from __future__ import annotations

import os

from ifupdown_agg.cli.common import Command, changing, executor


class Cleanup(Command):
    name = "cleanup"
    help = "remove objects carrying our marks, without a config"
    description = ("Remove nft tables ifagg_*, routes and rules of protocol 173, "
                   "tun devices and bonds with alias ifupdown-agg, and USB "
                   "gadgets named ifagg_* in configfs.")

    def add_arguments(self, p) -> None:
        target = p.add_mutually_exclusive_group(required=True)
        target.add_argument("iface", nargs="?")
        target.add_argument("--all", action="store_true", help="every overlay on this host")
        p.add_argument("-n", "--dry-run", action="store_true")

    def run(self, args) -> int:
        if args.dry_run:
            ops, gadgets = _sweep_kernel(args), _sweep_gadgets(args)
        else:
            with changing("ifagg cleanup " + ("--all" if args.all else args.iface)):
                ops, gadgets = _sweep_kernel(args), _sweep_gadgets(args)
        if not ops and not gadgets:
            print("nothing carries ifupdown-agg's marks")
        return 0


def _sweep_kernel(args):
    from ifupdown_agg.bond import plan as bond_plan
    from ifupdown_agg.overlay import plan
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
        (DryRunExecutor() if args.dry_run else executor(kernel, True)).run(ops)
    finally:
        kernel.close()
    return ops


def _sweep_gadgets(args):
    from ifupdown_agg.usb import gadget as usbgadget
    gadgets = [g for g in usbgadget.ours()
               if args.all or g == usbgadget.gadget_name(args.iface)]
    for name in gadgets:
        path = os.path.join(usbgadget.CONFIGFS, "usb_gadget", name)
        print(f"remove the USB gadget {path}")
        if not args.dry_run:
            usbgadget.remove_any(path)
    return gadgets
