"""`ifagg reload`: ifreload -a semantics for our stanzas.

Every changed stanza is brought to its configuration, an unchanged one is not
touched (its plan is empty, so nothing is sent to the kernel and nothing flaps),
and a stanza that was removed from the file but still has a record in the state
directory is taken down.
"""

from __future__ import annotations

import argparse
from typing import List, Tuple

from ifupdown_agg.cli import stanzas
from ifupdown_agg.cli.common import Command, add_source, executor, say
from ifupdown_agg.errors import AggError


def targets(args) -> Tuple[List[Tuple[str, str]], List[Tuple[str, str]]]:
    """(stanzas to bring up, records to take down), as (name, kind)."""
    from ifupdown_agg.config import ifaces_file
    in_file = stanzas.in_file_of(ifaces_file.read(args.interfaces))
    recorded = stanzas.records()
    if args.all:
        ups = stanzas.ours(args.interfaces, [], only_auto=True)
        gone = [n for n in recorded if not in_file.get(n)]
    else:
        ups = stanzas.ours(args.interfaces, [n for n in args.iface if in_file.get(n)])
        gone = [n for n in args.iface if not in_file.get(n)]
        unknown = [n for n in gone if n not in recorded]
        if unknown:
            raise AggError(f"reload: {', '.join(unknown)}: neither a stanza of ours in "
                           f"{args.interfaces} nor up")
    return ups, [(n, stanzas.recorded_kind(recorded[n])) for n in gone]


class Reload(Command):
    name = "reload"
    help = "apply changed stanzas, leave unchanged ones, take removed ones down"
    formatter_class = argparse.RawDescriptionHelpFormatter
    description = """\
Like ifupdown2's ifreload -a: bring every changed stanza of ours to its
configuration, leave unchanged ones untouched (nothing is sent to the kernel for
them, so they do not flap), and take down stanzas that were removed from the
file but are still up. -a takes the stanzas marked auto or allow-*; named
stanzas limit it to those. USB link stanzas are left to ifup and ifdown.

Nothing is reverted: on a host reached over the network, `ifagg try -a` first.
Exit 1 if any stanza failed (the others are done)."""
    epilog = """\
examples:
  ifagg reload -a               after editing /etc/network/interfaces
  ifagg reload -a -v            the same, printing each change as it is made
  ifagg reload tun0 bond0       only these two stanzas"""

    def add_arguments(self, p) -> None:
        p.add_argument("iface", nargs="*", metavar="STANZA", help="stanzas to reload")
        p.add_argument("-a", "--all", action="store_true",
                       help="every stanza of ours marked auto or allow-*, and every removed one")
        add_source(p)
        p.add_argument("-v", "--verbose", action="store_true", help="print each change as it is made")

    def run(self, args) -> int:
        if bool(args.iface) == bool(args.all):
            raise AggError("reload: name the stanzas, or -a for all of them (not both)")
        ups, gone = targets(args)
        with stanzas.changing("ifagg reload"):
            failed = _reload(args, ups, gone)
        if failed:
            raise AggError("reload: failed: " + ", ".join(failed))
        return 0


def _reload(args, ups, gone) -> List[str]:
    """Removed stanzas down first (one may free what a changed one needs), then the rest up;
    the names of those that failed."""
    from ifupdown_agg.kernel.netlink import Kernel
    kernel = Kernel()
    failed: List[str] = []
    try:
        ex = executor(kernel, args.verbose)
        for name, kind in gone:
            if kind == stanzas.USB:
                print(f"{name}: removed from the file: a USB link's record, left to ifdown")
                continue
            failed += _one(name, lambda: stanzas.down(name, kind, kernel, ex),
                           "removed from the file: {} object(s) taken down",
                           "removed from the file: nothing left to take down")
        for name, kind in ups:
            if kind == stanzas.USB:
                print(f"{name}: a USB link stanza: left to ifup/ifdown")
                continue
            old = _monitor_options(name) if kind == stanzas.OVERLAY else None
            done = _one(name, lambda: stanzas.up(name, kind, args.interfaces, kernel, ex),
                        "changed, {} change(s)", None)
            failed += _monitor_follows(name, args.interfaces, old) if done is None else done
    finally:
        kernel.close()
    return failed


def _one(name: str, action, done: str, nothing) -> List[str]:
    """Run one stanza's action; its name if it failed. NOTHING None: say nothing when the
    action changed nothing (the caller says it)."""
    try:
        ops = action()
    except AggError as err:
        say(f"{name}: {err}")
        return [name]
    if ops or nothing is not None:
        print(f"{name}: " + (done.format(len(ops)) if ops else nothing))
    return [] if ops or nothing is not None else None


def _monitor_options(name: str):
    from ifupdown_agg.monitor import service as monitor
    raw = monitor.load_options(name)
    return None if raw is None else {k: v.text for k, v in raw.items()}


def _monitor_follows(name: str, interfaces: str, old) -> List[str]:
    """A stanza whose kernel objects are in sync may still have new monitor options
    (agg-probe-*): the monitor restarts with them; otherwise the stanza is unchanged."""
    from ifupdown_agg.overlay import lifecycle as overlay
    if old is None:
        print(f"{name}: unchanged")
        return []
    loaded = overlay.from_file(name, interfaces)
    if {k: v.text for k, v in loaded.raw.items()} == old:
        print(f"{name}: unchanged")
        return []
    overlay.keep_monitor(loaded, restart=True)
    print(f"{name}: changed, the link monitor restarted with the new options")
    return []
