"""Man pages from the option table and the argument parser, so they cannot drift.

    python3 -m ifupdown_agg.cli.manpage --section 8 > ifagg.8
    python3 -m ifupdown_agg.cli.manpage --section 5 > ifupdown-agg.5
"""

from __future__ import annotations

import argparse
import datetime
import os
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
    out += [".SH FILES", ".TP", "/run/ifupdown\\-agg/", "What ifup changed, as JSON, and the link "
            "monitor's pidfile and health.", ".SH SEE ALSO", "ifagg(8), interfaces(5), ifup(8), nft(8)"]
    return "\n".join(out) + "\n"


def section8() -> str:
    from ifupdown_agg.cli.main import DESCRIPTION, EXAMPLES, build_parser
    parser = build_parser()
    out = [f'.TH IFAGG 8 "{_date()}" "ifupdown-agg {__version__}" "System Administration"',
           ".SH NAME", "ifagg \\- inspect and drive ifupdown\\-agg overlays",
           ".SH SYNOPSIS", "\\fBifagg\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR]",
           ".SH DESCRIPTION"]
    for para in DESCRIPTION.strip().split("\n\n"):
        out += [".PP", esc(" ".join(para.split()))]
    out.append(".SH COMMANDS")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in sub._choices_actions}
    for name, cmd in sub.choices.items():
        usage = " ".join(w for w in cmd.format_usage().split()[3:] if w != "[-h]")
        out += [".TP", f"\\fB{name}\\fR {esc(usage)}", esc(cmd.description or helps.get(name, ""))]
        for action in cmd._actions:
            if action.option_strings and action.dest != "help":
                out += [".RS", ".TP", f"\\fB{esc(', '.join(action.option_strings))}\\fR",
                        esc((action.help or "").replace("%(default)s", str(action.default))), ".RE"]
    out += [".SH EXAMPLES"] + _example(EXAMPLES.strip())
    out += [".SH FILES", ".TP", "/etc/network/if-{pre-up,up,down,post-down}.d/ifupdown\\-agg",
            "The hooks; they run \\fBifagg hook\\fR for overlay stanzas.", ".TP",
            "/run/ifupdown\\-agg/", "State: what ifup changed, the monitor's pidfile and health.",
            ".TP", "/etc/iproute2/rt_protos.d/ifupdown\\-agg.conf",
            "Names route protocol 173, the mark on our routes and rules, \\fBifagg\\fR.",
            ".SH EXIT STATUS", "0 on success; 1 on an error; 2 on a usage error. "
            "\\fBcheck\\fR: 0 in sync, 1 drift, 2 invalid configuration, 3 could not look "
            "(permissions, a missing tool).",
            ".SH SEE ALSO", "ifupdown\\-agg(5), interfaces(5), ifup(8), ip\\-rule(8), nft(8)"]
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
