"""What several `ifagg` subcommands share: the -i option, stanza lookups, the executor."""

from __future__ import annotations

import argparse
import sys
from typing import List


class Command:
    """One subcommand: its name and help, its arguments, and what it runs."""
    name = ""
    help = ""
    description = None
    epilog = None                   # examples, kept as written (RawDescriptionHelpFormatter)
    formatter_class = argparse.HelpFormatter

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        pass

    def run(self, args) -> int:
        raise NotImplementedError


def add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--interfaces", default="/etc/network/interfaces", metavar="FILE",
                   help="interfaces(5) file to read (default: %(default)s)")


def overlay_names(path: str, names: List[str]) -> List[str]:
    """NAMES, or every overlay stanza in the file when none are given."""
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.config.registry import is_ours
    if names:
        return names
    # An inet6 overlay stanza is NAME.inet6, as its record is named.
    return [s.name if s.family == "inet" else f"{s.name}.inet6" for s in ifaces_file.read(path).stanzas
            if s.family in ("inet", "inet6") and is_ours(s.options)]


def executor(kernel, verbose: bool):
    from ifupdown_agg.core.executor import RealExecutor
    progress = (lambda n, t, op: print(f"[{n}/{t}] {op.describe()}")) if verbose else None
    return RealExecutor(kernel, progress)


def bond_stanza(args):
    """The stanza's options if IFACE is a bond's or a port's stanza, else None."""
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.config.registry import groups_of
    stanza = ifaces_file.read(args.interfaces).find(args.iface)
    if stanza is not None and "bond" in groups_of(stanza.options) \
            and "overlay" not in groups_of(stanza.options):
        return stanza.options
    return None


def log_line(msg: str, priority: str = "") -> None:
    """One event, once, with its priority: on stderr, which under systemd is the journal
    (the "<N>" prefix gives the priority there); otherwise also to syslog. The priority
    is err for an error, warning for a "warning:" line, notice for the rest. The journal
    and syslog get an event of several lines as one line; a terminal gets them as written."""
    from ifupdown_agg.kernel import journal
    if not priority:
        priority = "warning" if "warning:" in msg else "notice"
    level = journal.PRIORITIES.get(priority, 5)
    if journal.stderr_is_journal():
        print(f"<{level}>ifupdown-agg: {journal.one_line(msg)}", file=sys.stderr)
        return
    print(f"ifupdown-agg: {msg}", file=sys.stderr)
    journal.to_syslog("ifupdown-agg", level, journal.one_line(msg))


def say(msg: str) -> None:
    print(f"ifagg: {msg}", file=sys.stderr)


def refuse_conflicts(iface: str, path: str) -> None:
    """Raise when IFACE's stanza conflicts with another of the file (config/across.py):
    shared table IDs, overlapping fake nets, one probe port, a bond's port as member."""
    from ifupdown_agg.config import across
    from ifupdown_agg.errors import ConfigError
    found = across.conflicts_for(iface, path)
    if found:
        first = found[0]
        more = "".join(f"\n{err}" for err in found[1:])
        raise ConfigError(first.reason + more, iface=first.iface, option=first.option,
                          location=first.location)


def changing(what: str):
    """The lock every run that changes the system holds (kernel/lock.py): `with
    changing("ifagg up tun0"):` around the observe-plan-apply of a command."""
    from ifupdown_agg.kernel import lock
    return lock.held(what, say=say)
