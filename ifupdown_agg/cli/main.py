"""ifagg: the command line of ifupdown-agg.

The composition root: each subcommand is one object (cli/plan.py, updown.py,
check.py, status.py, cleanup.py, usbnet.py, delegates.py) with
add_arguments(parser) and run(args); this module only parses and dispatches.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ifupdown_agg import __version__
from ifupdown_agg.errors import AggError
from ifupdown_agg.cli.check import Check
from ifupdown_agg.cli.cleanup import Cleanup
from ifupdown_agg.cli.delegates import Doctor, Hook, Monitor, Networkd, Options
from ifupdown_agg.cli.keygen import Keygen
from ifupdown_agg.cli.plan import Plan
from ifupdown_agg.cli.status import Status
from ifupdown_agg.cli.updown import Down, Up
from ifupdown_agg.cli.usbnet import Usbnet

DESCRIPTION = """\
Aggregate several NICs into one fast pipe between hosts.

An overlay stanza in /etc/network/interfaces gives every host a /32 in a
"fake net" on a tun device; packets to the fake net are spread per packet
over the member NICs (nftables marks, one ip rule and routing table per NIC),
so even one TCP flow runs faster than any single NIC. ifupdown runs ifagg's
hook at ifup/ifdown; the commands below inspect and drive the same code.
"""

EXAMPLES = """\
examples:
  ifagg plan tun0                 what `ifup tun0` would change, as a dry run
  ifagg up tun0 && ifagg status   bring tun0 up without ifupdown, show the links
  ifagg check --json              does the kernel match the config? (exit 1 if not)
  ifagg down tun0                 undo exactly what `up` made
  ifagg cleanup --all             remove every object carrying ifupdown-agg's marks
  ifagg options                   every stanza option, with an example

a minimal stanza (the same rspec on every host):
  auto tun0
  iface tun0 inet static
      address 10.99.255.10
      netmask 255.255.255.255
      fakenet 10.99.255.0/24
      table 10000 10001
      rspec 10.99.255.10:10.99.0.10:10.99.1.10 10.99.255.20:10.99.0.20:10.99.1.20
"""


# In the order `ifagg --help` lists them.
COMMANDS = {c.name: c for c in (Plan(), Up(), Down(), Check(), Status(), Cleanup(), Monitor(),
                                 Usbnet(), Options(), Hook(), Networkd(), Doctor(), Keygen())}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ifagg", description=DESCRIPTION, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ifupdown-agg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for cmd in COMMANDS.values():
        cmd.add_arguments(sub.add_parser(cmd.name, help=cmd.help, description=cmd.description,
                                         formatter_class=cmd.formatter_class))
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except AggError as err:
        print(f"ifagg: {err}", file=sys.stderr)
        return 1
    except PermissionError as err:
        print(f"ifagg: {err.strerror}: {err.filename or ''} (run as root)", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
