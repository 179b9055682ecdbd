"""Man pages from the option table and the argument parser, so they cannot drift.

    python3 -m ifupdown_agg.cli.manpage --section 8 > ifagg.8
    python3 -m ifupdown_agg.cli.manpage --section 5 > ifupdown-agg.5
"""

from __future__ import annotations

import argparse
import datetime
import os
import textwrap
from typing import List

from ifupdown_agg import __version__
from ifupdown_agg.config.registry import GROUP_TITLES, TABLES_BY_GROUP

SEED = """auto tun0
iface tun0 inet static
    address 10.99.255.10
    netmask 255.255.255.255
    mtu 9000
    fakenet 10.99.255.0/24
    table 10000 10001 10002 10003
    rspec 10.99.255.1:10.3.23.1:10.3.23.1:10.3.23.1 \\
          10.99.255.10:10.99.0.10:10.99.1.10:10.99.2.10:10.3.23.10 \\
          10.99.255.20:10.99.0.20:10.99.1.20:10.99.2.20:10.3.23.20
    pre-up ip tuntap add mode tun tun0
    post-down ip tuntap del mode tun tun0"""


def esc(text: str) -> str:
    """Escape text for roff: backslashes, and a leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def _date() -> str:
    # Reproducible builds: honour SOURCE_DATE_EPOCH.
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or None
    when = datetime.datetime.utcfromtimestamp(epoch) if epoch else datetime.datetime.utcnow()
    return when.strftime("%Y-%m-%d")


def _example(text: str) -> List[str]:
    return [".PP", ".nf", ".RS 4"] + [esc(line) for line in text.splitlines()] + [".RE", ".fi"]


def section5() -> str:
    out = [f'.TH IFUPDOWN-AGG 5 "{_date()}" "ifupdown-agg {__version__}" "File Formats"',
           ".SH NAME", "ifupdown\\-agg \\- interfaces(5) options of ifupdown\\-agg: overlays, bonds, USB links",
           ".SH SYNOPSIS"] + _example(SEED) + [
           ".SH DESCRIPTION",
           "An overlay stanza gives this host a /32 in a fake net on a tun device. Packets to the "
           "fake net are marked per packet by nftables and sent through one routing table per "
           "member link, so one TCP flow can run at nearly the sum of the links. The stanza is the "
           "same on every host but for its address. ifupdown runs the ifupdown\\-agg hooks for "
           "every stanza that has a " + "\\fBfakenet\\fR, \\fBrspec\\fR or \\fBagg\\-\\fR option.",
           ".PP",
           "Bond stanzas take Debian ifenslave's \\fBbond\\-\\fR options and are made through "
           "netlink at pre\\-up and removed at post\\-down; either the bond's stanza "
           "(\\fBbond\\-slaves\\fR) or its ports' (\\fBbond\\-master\\fR) may come up first. When "
           "ifenslave is installed its hooks handle these stanzas and ifupdown\\-agg steps aside.",
           ".PP",
           "USB link stanzas take the \\fBusbnet\\-\\fR options: a gadget stanza makes this host a "
           "USB network adapter (configfs, libcomposite); on the other side, "
           "\\fBusbnet\\-match\\fR names the interface. Carrier race: if the gadget's interface "
           "is up before the host has enumerated the gadget, the host's side stays NO\\-CARRIER "
           "until the gadget's side goes down and up. ifupdown\\-agg waits up to 2 s at pre\\-up "
           "for the host to enumerate the gadget, and bounces the interface once whenever a host "
           "enumerates it later (a cable plugged in after boot, a host that reboots).",
           ".SH OPTIONS"]
    for group, table in TABLES_BY_GROUP.items():
        out.append(f".SS {esc(GROUP_TITLES[group])}")
        for opt in table.values():
            out += [".TP", f"\\fB{esc(opt.name)}\\fR \\fI{esc(opt.vtype.metavar)}\\fR", esc(opt.help)]
            facts = [esc(tag[0].upper() + tag[1:]) + "." for tag in opt.tags]
            facts.append(f"Example: \\fB{esc(opt.name)} {esc(opt.example)}\\fR.")
            facts.append(f"systemd\\-networkd: {esc(opt.networkd)}.")
            out += [".br", " ".join(facts)]
    stanza_files = [f for f in FILES if not any(w in f[0] for w in ("systemd/system", "ifagg\\-*",
                                                                     "networkd/", "rt_protos"))]
    out += _pairs("FILES", stanza_files) + [".SH SEE ALSO", "ifagg(8), interfaces(5), ifup(8), ip\\-rule(8), nft(8), "
            "systemd.netdev(5), systemd.network(5)"]
    return "\n".join(out) + "\n"


BOND_EXAMPLE = """auto bond0
iface bond0 inet static
    address 10.3.23.10/24
    bond-slaves eth1 eth2
    bond-mode 802.3ad
    bond-miimon 100
    bond-lacp-rate fast"""

USB_EXAMPLE = """# the Pi Zero (gadget side)          # the controller (host side)
auto usb0                            allow-hotplug pi1
iface usb0 inet static               iface pi1 inet static
    address 10.3.24.11/24                address 10.3.24.1/24
    usbnet-gadget ncm                    usbnet-match mac 02:1d:6b:00:00:11
    usbnet-host-addr 02:1d:6b:00:00:11"""

ENVIRONMENT = [
    ("IFACE, PHASE, ADDRFAM, MODE", "Set by ifupdown for the hooks; \\fBifagg hook\\fR reads "
     "them (PHASE is pre\\-up, post\\-up, pre\\-down or post\\-down)."),
    ("IF_*", "The stanza's options as ifupdown passes them to the hooks: \\fBIF_RSPEC\\fR for "
     "\\fBrspec\\fR, \\fBIF_BOND_MODE\\fR for \\fBbond\\-mode\\fR, and so on."),
    ("VERBOSITY", "1 when ifup or ifdown runs with \\fB\\-v\\fR: the hook prints every change."),
    ("IFUPDOWN_AGG_STATE_DIR", "The state directory (default \\fI/run/ifupdown\\-agg\\fR)."),
]

FILES = [
    ("/etc/network/interfaces, /etc/network/interfaces.d/",
     "The stanzas (interfaces(5), ifupdown\\-agg(5))."),
    ("/etc/network/if\\-{pre\\-up,up,down,post\\-down}.d/ifupdown\\-agg",
     "The hooks; they run \\fBifagg hook\\fR for stanzas with our options."),
    ("/run/ifupdown\\-agg/", "The state directory: what ifup changed (\\fIIFACE.json\\fR), "
     "the monitor's options, pidfile and health, a pending \\fBtry\\fR."),
    ("/lib/systemd/system/ifupdown\\-agg\\-monitor@.service, ifupdown\\-agg\\-networkd@.service, "
     "ifupdown\\-agg\\-usbgadget@.service",
     "Template units: the link monitor, what networkd cannot do, a USB gadget; none is enabled."),
    ("/lib/udev/rules.d/60\\-ifupdown\\-agg.rules",
     "Puts Realtek RTL8156/RTL8153 adapters into the configuration r8152 drives."),
    ("/usr/lib/systemd/network/98\\-ifupdown\\-agg\\-bond.link",
     "MACAddressPolicy=none for bonds, so a bond keeps its first port's MAC."),
    ("/etc/systemd/network/60\\-ifagg\\-*, 70\\-ifagg\\-IFACE.link",
     "What \\fBifagg networkd\\fR writes: .netdev, .network and .link files."),
    ("/etc/ifupdown\\-agg/networkd/", "The extras the networkd units read."),
    ("/etc/iproute2/rt_protos.d/ifupdown\\-agg.conf",
     "Names route protocol 173, the mark on our routes and rules, \\fBifagg\\fR."),
]

# ifagg's exit codes, as the commands return them.
EXIT_CODES = [
    ("0", "Success. \\fBcheck\\fR: in sync. \\fBtry\\fR, \\fBconfirm\\fR: the change is kept."),
    ("1", "An error (the message names the file, line, option and token of a bad stanza). "
          "\\fBcheck\\fR: drift. \\fBtry\\fR: reverted, or refused. \\fBreload\\fR: a "
          "stanza failed (the others are done)."),
    ("2", "A usage error. \\fBcheck\\fR: an invalid configuration."),
    ("3", "\\fBcheck\\fR: could not look (permissions, a missing tool)."),
]


def _flag(action) -> str:
    """\\fB\\-i\\fR, \\fB\\-\\-interfaces\\fR \\fIFILE\\fR: the option tag with its argument."""
    tag = ", ".join(f"\\fB{esc(o)}\\fR" for o in action.option_strings)
    if action.nargs != 0:
        tag += f" \\fI{esc(action.metavar or action.dest.upper())}\\fR"
    return tag


def _command(name: str, parser, help_text: str) -> List[str]:
    # A command with actions (networkd) lists them below: its first paragraph is enough.
    paras = (parser.description or help_text).strip().split("\n\n")
    if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
        paras = paras[:1]
    out = [".TP", f"\\fB{esc(name)}\\fR", esc(" ".join(paras[0].split()))]
    for para in paras[1:]:
        out += [".IP", esc(" ".join(para.split()))]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {c.dest: c.help for c in action._choices_actions}
            for sub, subparser in action.choices.items():
                out += _command(f"{name} {sub}", subparser, helps.get(sub, ""))
            continue
        if action.help in (argparse.SUPPRESS, None) and not action.option_strings \
                or action.help == argparse.SUPPRESS or action.dest == "help":
            continue
        tag = _flag(action) if action.option_strings else \
            f"\\fI{esc(action.metavar or action.dest.upper())}\\fR"
        text = formatter._expand_help(action) if action.help else ""
        out += [".RS", ".TP", tag, esc(text), ".RE"]
    return out


def _synopsis(parser) -> List[str]:
    out = []
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, cmd in sub.choices.items():
        plain = {a.dest for a in cmd._actions if not a.option_strings and not a.metavar}
        words = [w for w in cmd.format_usage().split()[2:] if w != "[-h]"]
        words = [w.replace(w.strip("[]"), w.strip("[]").upper()) if w.strip("[]") in plain else w
                 for w in words]
        out += [f"\\fBifagg {esc(name)}\\fR " + esc(" ".join(words[1:])), ".br"]
    return out[:-1]


def _pairs(title: str, rows) -> List[str]:
    out = [f".SH {title}"]
    for tag, text in rows:
        out += [".TP", f"\\fB{tag}\\fR", text]
    return out


def _json_section() -> List[str]:
    from ifupdown_agg.cli import schemas
    out = [".SH JSON OUTPUT", "Every \\fB\\-\\-json\\fR output is one JSON object whose "
           f"\\fBversion\\fR is {schemas.VERSION}; a field may be added within a version. "
           "\\fBpython3 \\-m ifupdown_agg.cli.schemas\\fR prints the JSON Schemas."]
    for name, text in schemas.SUMMARY.items():
        out += [".TP", f"\\fB{name} \\-\\-json\\fR", esc(text)]
    return out


def section8() -> str:
    from ifupdown_agg.cli.main import DESCRIPTION, EXAMPLES, build_parser
    parser = build_parser()
    out = [f'.TH IFAGG 8 "{_date()}" "ifupdown-agg {__version__}" "System Administration"',
           ".SH NAME", "ifagg \\- plan, apply, try, check and explain ifupdown\\-agg overlays, "
           "bonds and USB links", ".SH SYNOPSIS"] + _synopsis(parser) + [".SH DESCRIPTION"]
    for para in DESCRIPTION.strip().split("\n\n"):
        out += [".PP", esc(" ".join(para.split()))]
    out.append(".SH COMMANDS")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in sub._choices_actions}
    for name, cmd in sub.choices.items():
        out += _command(name, cmd, helps.get(name, ""))
    out += _pairs("ENVIRONMENT", ENVIRONMENT)
    out += _pairs("FILES", FILES)
    out += _pairs("EXIT STATUS", EXIT_CODES)
    out += _json_section()
    commands = textwrap.dedent(EXAMPLES.split("\n\n")[0]).rstrip()     # not the help's stanza
    out += [".SH EXAMPLES", "The commands:"] + _example(commands)
    out += [".PP", "An overlay stanza, the same on every host but for its address:"] + _example(SEED)
    out += [".PP", "An 802.3ad bond (ifenslave's options):"] + _example(BOND_EXAMPLE)
    out += [".PP", "A USB link between a Pi Zero and its controller:"] + _example(USB_EXAMPLE)
    out += [".SH SEE ALSO", "ifupdown\\-agg(5), interfaces(5), ifup(8), ip\\-rule(8), ip\\-route(8), "
            "nft(8), systemd.netdev(5), systemd.network(5), systemd.link(5)"]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m ifupdown_agg.cli.manpage", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--section", choices=("5", "8"), required=True)
    args = ap.parse_args(argv)
    print(section5() if args.section == "5" else section8(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
