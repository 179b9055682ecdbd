"""`ifagg usbnet up|down IFACE`: a USB gadget from its stanza, without ifupdown."""

from __future__ import annotations

from ifupdown_agg.cli.common import Command, add_source, say


class Usbnet(Command):
    name = "usbnet"
    help = "make or remove a USB gadget from its stanza, without ifupdown"
    description = ("What ifup and ifdown do for a stanza with usbnet-gadget, for "
                   "systems that do not run ifupdown (the "
                   "ifupdown-agg-usbgadget@IFACE.service unit under "
                   "systemd-networkd): 'up' creates the configfs gadget, binds it "
                   "and names its interface IFACE; 'down' removes it.")

    def add_arguments(self, p) -> None:
        p.add_argument("action", choices=("up", "down"))
        p.add_argument("iface")
        add_source(p)

    def run(self, args) -> int:
        from ifupdown_agg.config import ifaces_file
        from ifupdown_agg.usb import lifecycle as usbnet
        from ifupdown_agg.errors import ConfigError, Location
        stanza = ifaces_file.read(args.interfaces).find(args.iface)
        spec = usbnet.gadget_spec(args.iface, stanza.options) if stanza else None
        if spec is None:
            raise ConfigError(f"no stanza for {args.iface} with usbnet-gadget",
                              location=Location(args.interfaces))
        if args.action == "up":
            udc = usbnet.gadget_up(spec, say)
            usbnet.start_watch(args.iface, udc)
            print(f"{args.iface}: gadget bound to {udc}")
        else:
            usbnet.stop_watch(args.iface)
            usbnet.gadget_down(spec)
            print(f"{args.iface}: gadget removed")
        return 0
