"""`ifagg check`: does the running kernel match the config? Exit 1 on drift."""

from __future__ import annotations

import json

from ifupdown_agg.cli.common import Command, add_source, overlay_names


class Check(Command):
    name = "check"
    help = "compare the running kernel with the config"
    description = ("Exit 0 when every overlay in the file is applied exactly, "
                   "1 when something is missing or different.")

    def add_arguments(self, p) -> None:
        p.add_argument("iface", nargs="*", help="overlays to check (default: every overlay stanza)")
        add_source(p)
        p.add_argument("--json", action="store_true")

    def run(self, args) -> int:
        report = _drift(args)
        ok = all(r["in_sync"] for r in report)
        if args.json:
            print(json.dumps({"in_sync": ok, "overlays": report}, indent=2))
        else:
            for r in report:
                print(f"{r['iface']}: "
                      + ("in sync" if r["in_sync"] else f"{len(r['drift'])} difference(s)"))
                for line in r["drift"]:
                    print(f"  needs: {line}")
        return 0 if ok else 1


def _drift(args):
    from ifupdown_agg.overlay import lifecycle as overlay, plan
    from ifupdown_agg.core import record as state
    from ifupdown_agg.kernel.netlink import Kernel
    kernel = Kernel()
    report = []
    try:
        obs = kernel.observe()
        for name in overlay_names(args.interfaces, args.iface):
            loaded = overlay.from_file(name, args.interfaces)
            ops, _ = plan.plan_up(loaded.cfg, obs, loaded.raw, state.load(name))
            report.append({"iface": name, "in_sync": not ops,
                           "drift": [op.describe() for op in ops]})
    finally:
        kernel.close()
    return report
