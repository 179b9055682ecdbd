"""`ifagg status`: the arguments; overlay/status.py collects and renders."""

from __future__ import annotations

from ifupdown_agg.cli.common import Command, add_source, overlay_names


class Status(Command):
    name = "status"
    help = "per link and per peer: health, share of the rotation, packets, bytes"
    description = ("For every member link and every (peer, link) path: its "
                   "weight, its share of the rotation now, packets and bytes "
                   "sent, and the monitor's verdict with its last change and "
                   "reason. Exit 1 if an overlay is not up.")

    def add_arguments(self, p) -> None:
        p.add_argument("iface", nargs="*", help="overlays to show (default: every overlay stanza)")
        add_source(p)
        p.add_argument("--json", action="store_true")
        p.add_argument("-w", "--watch", action="store_true",
                       help="redraw in place every --interval seconds")
        p.add_argument("--interval", type=float, default=1.0, metavar="S",
                       help="(default: %(default)s)")
        p.add_argument("--count", type=int, default=3600, metavar="N",
                       help="with --watch, stop after N rounds (default: %(default)s)")

    def run(self, args) -> int:
        from ifupdown_agg.overlay import status
        return status.run(args, overlay_names(args.interfaces, args.iface))
