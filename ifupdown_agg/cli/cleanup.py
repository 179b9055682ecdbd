"""`ifagg cleanup`: leave nothing of ours, with or without a config or a record.

In order: stop our monitors (a monitor rewrites the nft table); undo what each
record in /run/ifupdown-agg says (so rp_filter and the GSO limit get their old
values back); remove what still carries our marks; remove the record files.
A del of what is already gone succeeds, and a failure does not stop the rest.
"""

from __future__ import annotations

import os
from typing import List

from ifupdown_agg.cli.common import Command, changing, executor

# Files of ours in the state directory, besides IFACE.json (the record).
SIDE_FILES = ("options.json", "monitor.pid", "health.json", "monitor.log", "usbnet-watch.log",
              "learned.json")


class Cleanup(Command):
    name = "cleanup"
    help = "remove everything of ours: monitors, recorded changes, marked objects, records"
    description = ("Stop our link monitors, undo what the records in /run/ifupdown-agg say "
                   "(rp_filter and the GSO limit get their old values back), remove nft "
                   "tables ifagg_*, routes and rules of protocol 173, tun devices and bonds "
                   "with alias ifupdown-agg, the spreaders' segmenting hops (aggs-*) and queue meters "
                   "(on member NICs' tcx egress, once no spreader runs them), USB "
                   "gadgets named ifagg_* in configfs, and the "
                   "record files. Works without a config and without records.")

    def add_arguments(self, p) -> None:
        target = p.add_mutually_exclusive_group(required=True)
        target.add_argument("iface", nargs="?")
        target.add_argument("--all", action="store_true", help="every overlay on this host")
        p.add_argument("-n", "--dry-run", action="store_true")

    def run(self, args) -> int:
        if args.dry_run:
            return _cleanup(args)
        with changing("ifagg cleanup " + ("--all" if args.all else args.iface)):
            return _cleanup(args)


def _cleanup(args) -> int:
    # A device's inet6 overlay keeps a record of its own (tun0.inet6).
    names = recorded() if args.all else [n for n in recorded() if n == f"{args.iface}.inet6"] + [args.iface]
    monitors = _stop_monitors(args, names)
    ops, errors = _sweep_kernel(args, names)
    gadgets = _sweep_gadgets(args)
    hops = _sweep_hops(args) + _sweep_meters(args)
    files = _remove_files(args, names)
    if not (ops or gadgets or monitors or files or hops):
        print("nothing of ifupdown-agg's is left")
    if errors:
        print("ifagg: could not remove: " + "; ".join(errors))
        return 1
    return 0


def recorded() -> List[str]:
    """The names that have a record, a monitor or options in the state directory."""
    from ifupdown_agg.core import record
    try:
        entries = os.listdir(record.STATE_DIR)
    except OSError:
        return []
    names = set()
    for entry in entries:
        if entry.startswith(".") and entry.count(".") >= 2:
            names.add(entry[1:].rsplit(".", 1)[0])   # a killed save's temporary: .NAME.XXXXXX
            continue
        if entry.startswith("."):
            continue
        for suffix in SIDE_FILES + ("json",):
            if entry.endswith("." + suffix) and len(entry) > len(suffix) + 1:
                names.add(entry[:-len(suffix) - 1])
                break
    return sorted(names)


def _stop_monitors(args, names: List[str]) -> List[str]:
    from ifupdown_agg.monitor import service
    # Also those no pid file names (a hook killed right after starting one).
    found = service.strays(None if args.all else names)
    running = sorted({n for n in names if service.running_pid(n)} | set(found.values()))
    for name in running:
        pids = sorted({p for p, n in found.items() if n == name} | {service.running_pid(name) or 0} - {0})
        print(f"stop the link monitor of {name} (pid {', '.join(map(str, pids))})")
        if not args.dry_run:
            service.stop(name)
    return running


def _undo_records(names: List[str], obs):
    """Undo each record: an overlay's through its plan, a bond's through the bond wing's."""
    from ifupdown_agg.bond import plan as bond_plan
    from ifupdown_agg.bond.lifecycle import BOND_KINDS
    from ifupdown_agg.core import record
    from ifupdown_agg.core.objects import DEVICE_ALIAS, UsbGadget
    from ifupdown_agg.overlay import teardown
    ops = []
    for name in names:
        made = [op for op in record.load(name) if not isinstance(op.obj, UsbGadget)]
        bond = [op for op in made if isinstance(op.obj, BOND_KINDS[:3])]
        if bond:
            ops += bond_plan.plan_release(made, obs, DEVICE_ALIAS)
        else:
            ops += teardown.plan_down(made, obs)
    return ops


def _sweep_kernel(args, names: List[str]):
    from ifupdown_agg.bond import plan as bond_plan
    from ifupdown_agg.overlay import teardown
    from ifupdown_agg.core.executor import DryRunExecutor
    from ifupdown_agg.kernel.netlink import Kernel
    from ifupdown_agg.core.objects import DEVICE_ALIAS
    kernel = Kernel()
    try:
        obs = kernel.observe()
        ops = _undo_records(names, obs)
        ops += teardown.plan_sweep(obs, None if args.all else args.iface)
        bonds = [n for n, li in obs.links.items() if li.kind == "bond"] if args.all else [args.iface]
        for name in bonds:
            ops += bond_plan.plan_sweep(obs, name, DEVICE_ALIAS)
        ops = _once(ops)
        run = DryRunExecutor() if args.dry_run else executor(kernel, True)
        result = run.run(ops, rollback=False)
    finally:
        kernel.close()
    return ops, list(result.errors)


def _once(ops):
    """Each object once: a record's undo and the marks' sweep name the same objects."""
    seen, out = set(), []
    for op in ops:
        key = (op.action, op.obj.key())
        if key not in seen:
            seen.add(key)
            out.append(op)
    return out


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


def _sweep_hops(args) -> List[str]:
    """Segmenting hops that outlived their spreader and device (a crash between)."""
    from ifupdown_agg.kernel import hop
    found = hop.left(None if args.all else args.iface)
    for entry in found:
        print(f"ip link del {entry}  # a spreader's segmenting hop")
        if not args.dry_run:
            hop.delete(entry)
    return found


def _sweep_meters(args) -> List[str]:
    """Queue meters no spreader runs any more (its device went with a crash); every one
    with --all (the kernel sweep removed their spreaders already)."""
    from ifupdown_agg.kernel import bpf, hop, meters
    if not hop.supported():
        return []
    found = meters.strays(bpf.live_programs(), every=args.all)
    for nic, prog in found:
        print(f"detach program {prog} from {nic}'s tcx egress  # a spreader's queue meter")
        if not args.dry_run:
            meters.detach_from(nic, prog)
    return [nic for nic, _ in found]


def _remove_files(args, names: List[str]) -> List[str]:
    from ifupdown_agg.core import record
    paths = [record.path_for(n) for n in names]
    paths += [os.path.join(record.STATE_DIR, f"{n}.{s}") for n in names for s in SIDE_FILES]
    try:        # what a save() killed between writing and renaming left behind
        entries = os.listdir(record.STATE_DIR)
    except OSError:
        entries = []
    paths += [os.path.join(record.STATE_DIR, e) for n in names for e in entries
              if e.startswith(f".{n}.")]
    present = [p for p in paths if os.path.exists(p)]
    for path in present:
        print(f"rm {path}")
        if not args.dry_run:
            os.unlink(path)
    return present
