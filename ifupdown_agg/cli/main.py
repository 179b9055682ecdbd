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
from ifupdown_agg.cli.reload import Reload
from ifupdown_agg.cli.status import Status
from ifupdown_agg.cli.try_ import Confirm, Try
from ifupdown_agg.cli.updown import Down, Up
from ifupdown_agg.cli.usbnet import Usbnet

DESCRIPTION = """\
Aggregate several NICs into one fast pipe between hosts.

An overlay stanza in /etc/network/interfaces gives every host a /32 in a
"fake net" on a tun device; packets to the fake net are spread per packet
over the member NICs (a BPF tc program by default, nftables marks where it
cannot load; one routing table per NIC), so even one TCP flow runs faster
than any single NIC. The same file makes 802.3ad bonds (ifenslave's bond-*
options) and USB gadget links (usbnet-*). ifupdown runs ifagg's hook at
ifup/ifdown; the commands below inspect and drive the same code.
"""

EXAMPLES = """\
  ifagg plan tun0                 what `ifup tun0` would change, as a dry run
  ifagg up tun0 && ifagg status   bring tun0 up without ifupdown, show the links
  ifagg try tun0                  apply, keep only after `ifagg confirm` or Enter (else revert in 120 s)
  ifagg try --timeout 30 bond0    the same for a bond, with 30 s to confirm
  ifagg reload -a                 apply changed stanzas, leave the others, remove deleted ones
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
                                 Usbnet(), Options(), Hook(), Networkd(), Doctor())}
# issue #17: try, confirm, reload (kept on their own line for merges)
COMMANDS.update((c.name, c) for c in (Try(), Confirm(), Reload()))
COMMANDS[Keygen.name] = Keygen()    # issue #15


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ifagg", description=DESCRIPTION, epilog="examples:\n" + EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ifupdown-agg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for cmd in COMMANDS.values():
        cmd.add_arguments(sub.add_parser(cmd.name, help=cmd.help, description=cmd.description,
                                         epilog=cmd.epilog, formatter_class=cmd.formatter_class))
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        parser.print_help()     # `ifagg` alone: the help
        return 0
    args = parser.parse_args(argv)
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
    except ImportError as err:      # ModuleNotFoundError too
        print(f"ifagg: {missing_module(err.name)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130          # Ctrl-C (status --watch): quietly, as a shell does
    except OSError as err:
        print(f"ifagg: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except Exception as err:    # never a traceback: one line, and what to do
        print(f"ifagg: internal error in '{args.command}' ({type(err).__name__}: {err}); "
              "nothing more was changed; please report it with `ifagg --version`", file=sys.stderr)
        return 1


# The Python modules ifagg needs, and the Debian packages that have them.
DEBIAN_PACKAGES = {"pyroute2": "python3-pyroute2", "netaddr": "python3-netaddr",
                   "nftables": "python3-nftables", "configobj": "python3-configobj",
                   "jinja2": "python3-jinja2", "dbus_next": "python3-dbus-next"}


def missing_module(name: Optional[str]) -> str:
    """One line for a missing dependency: the module and the Debian package."""
    top = (name or "").split(".")[0]
    package = DEBIAN_PACKAGES.get(top)
    if package is None:
        return f"this Python ({sys.executable}) has no module {name!r}"
    others = " ".join(DEBIAN_PACKAGES.values())
    return (f"this Python ({sys.executable}) has no module {top!r}: install Debian's "
            f"{package} (all of them: apt install {others}) and run /usr/bin/python3")
