"""`ifagg plan IFACE`: the dry run of `up`."""

from __future__ import annotations

import json

from ifupdown_agg.cli.common import Command, add_source, bond_stanza, say


class Plan(Command):
    name = "plan"
    help = "show what bringing IFACE up would change (dry run)"
    description = ("Compare the stanza's desired state with the kernel and print "
                   "the changes, one iproute2/nft-like line each. Changes nothing.")

    def add_arguments(self, p) -> None:
        p.add_argument("iface")
        add_source(p)
        p.add_argument("--json", action="store_true", help="print the plan as JSON")

    def run(self, args) -> int:
        from ifupdown_agg.bond import lifecycle as bond
        from ifupdown_agg.overlay import lifecycle as overlay
        from ifupdown_agg.kernel.netlink import Kernel
        from ifupdown_agg.core.executor import DryRunExecutor, RecordingExecutor
        raw = bond_stanza(args)
        loaded = overlay.from_file(args.iface, args.interfaces) if raw is None else None
        kernel = Kernel()
        try:
            executor = RecordingExecutor() if args.json else DryRunExecutor()
            if raw is not None:
                ops, notes = bond.up(args.iface, raw, kernel, executor, say, args.interfaces), []
            else:
                ops, desired = overlay.up(loaded, kernel, executor)
                notes = desired.notes + _tunnel_notes(loaded.cfg, desired, kernel)
        finally:
            kernel.close()
        show_plan(args, ops, notes)
        return 0


def _tunnel_notes(cfg, desired, kernel):
    """Notes on the tunnels riding on the overlay (flannel's VXLAN): what they may use."""
    from ifupdown_agg.kernel import tunnels as observed
    from ifupdown_agg.overlay import tunnels
    _, _, notes, warnings = tunnels.judge(cfg, desired, kernel.observe(), observed.observe())
    return notes + warnings


def show_plan(args, ops, notes) -> None:
    """After a recording (--json) or dry-run executor has seen the plan."""
    if args.json:
        print(json.dumps({"version": 1, "iface": args.iface, "ops": [op.to_json() for op in ops],
                          "describe": [op.describe() for op in ops], "notes": notes}, indent=2))
        return
    for note in notes:
        print(f"# note: {note}")
    if not ops:
        print(f"# {args.iface} is up to date: nothing to change")
