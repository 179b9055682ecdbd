"""Subcommands whose work lives elsewhere: options, monitor, hook, networkd, doctor."""

from __future__ import annotations

from ifupdown_agg.cli.common import Command


class Options(Command):
    name = "options"
    help = "print every stanza option with its type, default and example"

    def run(self, args) -> int:
        from ifupdown_agg.config.registry import GROUP_TITLES, TABLES_BY_GROUP
        from ifupdown_agg.config.schema import option_help_lines
        for group, table in TABLES_BY_GROUP.items():
            print(GROUP_TITLES[group] + ":\n")
            print("\n".join(option_help_lines(table)) + "\n")
        return 0


class Monitor(Command):
    name = "monitor"
    help = "run the link monitor of an overlay in the foreground"
    description = ("Watch carrier and probe every (peer, link) path; take dead "
                   "paths out of the peer's rotation and put them back when "
                   "healthy. One per overlay stanza: IFACE for the inet one, "
                   "IFACE.inet6 for the inet6 one (IPv6 hellos). ifup starts it "
                   "(ifupdown-agg-monitor@IFACE.service under systemd) and ifdown "
                   "stops it; run it by hand only to debug.")

    def add_arguments(self, p) -> None:
        p.add_argument("iface", help="the stanza: tun0, or tun0.inet6 for its inet6 one")

    def run(self, args) -> int:
        from ifupdown_agg.monitor import daemon as monitor
        return monitor.main(args.iface)


class Hook(Command):
    name = "hook"
    help = "entry point of the /etc/network/if-*.d hooks (reads IF_* variables)"

    def run(self, args) -> int:
        from ifupdown_agg.cli import hook
        return hook.main()


class Networkd(Command):
    name = "networkd"
    help = "the same overlays from systemd-networkd: generate, diff, apply"
    description = ("Write .netdev/.network files for the overlay stanzas, reload "
                   "systemd-networkd over D-Bus, and apply what networkd cannot.")

    def add_arguments(self, p) -> None:
        from ifupdown_agg.networkd import cli as networkd_cli  # argparse only; run() imports the rest
        networkd_cli.add_arguments(p)

    def run(self, args) -> int:
        from ifupdown_agg.networkd import cli as networkd_cli
        return networkd_cli.run(args)


class Doctor(Command):
    name = "doctor"
    help = "explain why a bond does not aggregate, and how to fix it"
    description = ("Read /proc/net/bonding/* and sysfs and explain, with the fix, why a bond "
                   "does not aggregate: a half- or unknown-duplex port on an 802.3ad bond (a "
                   "Realtek RTL8156/RTL8153 left on cdc_ncm), a silent partner, ports split "
                   "across aggregators, mismatched speeds, a port without carrier, min-links "
                   "not met. With --usb (and by itself when no bond is named and there are USB "
                   "NICs): every USB NIC with its driver, duplex, speed and negotiated USB "
                   "speed, a USB 3 adapter running at USB 2.0, links sharing one USB 2.0 bus.")

    def add_arguments(self, p) -> None:
        from ifupdown_agg.doctor import report as doctor
        doctor.add_arguments(p)

    def run(self, args) -> int:
        from ifupdown_agg.doctor import report as doctor
        return doctor.run(args)
