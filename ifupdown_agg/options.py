"""The one option table.

Every stanza option ifupdown-agg reads is defined here once: its type, default,
help, an example and the systemd-networkd key it maps to. The IF_* reader, the
interfaces(5) reader, validation, --help, the man pages and networkd_gen all
read this table; nothing else lists options.
"""

from __future__ import annotations

import difflib
import textwrap
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

from . import optiontypes as T
from .errors import ConfigError, Location, TokenError


@dataclass(frozen=True)
class Option:
    name: str
    vtype: T.ValueType
    help: str
    example: str
    default: Optional[str] = None      # raw text, parsed like user input
    required: bool = False
    networkd: str = ""                 # "[Section] Key=" or how networkd_gen carries it
    owner: str = "agg"                 # "ifupdown": inet static's own option, read only

    @property
    def tags(self) -> List[str]:
        """Short facts shown next to the option in --help and the man page."""
        tags = ["required"] if self.required else []
        if self.default is not None and self.owner == "agg":
            tags.append(f"default {self.default}")
        if self.owner == "ifupdown":
            tags.append("inet static's own option")
        return tags

    @property
    def env(self) -> str:
        """The variable ifupdown exports for it to hooks."""
        return "IF_" + self.name.upper().replace("-", "_")


OVERLAY_OPTIONS: Tuple[Option, ...] = (
    Option(
        "address", T.ADDRESS, owner="ifupdown", required=True,
        help="This host's virtual address in the fake net: a /32 held by the "
             "overlay device. ifupdown's inet static method assigns it; the hook "
             "finds this host's rspec entry by it.",
        example="10.99.255.10", networkd="[Address] Address=ADDRESS/32"),
    Option(
        "netmask", T.NETMASK, owner="ifupdown", default="32",
        help="Must be 255.255.255.255 (or 32): a wider mask makes the kernel add "
             "its own route for the fake net, which would hide the overlay route.",
        example="255.255.255.255", networkd="(part of [Address] Address=)"),
    Option(
        "mtu", T.MTU, owner="ifupdown",
        help="MTU of the overlay device. Packets leave through the member NICs, "
             "so their MTU is what bounds the path.",
        example="9000", networkd="[Link] MTUBytes="),
    Option(
        "fakenet", T.CIDR, required=True,
        help="The overlay's network. Packets to it are spread per packet over "
             "the member links; it is routed on the overlay device with this "
             "host's address as source.",
        example="10.99.255.0/24", networkd="[Route] Destination= (Scope=link, PreferredSource=)"),
    Option(
        "table", T.TABLES, required=True,
        help="One routing table per member link, in rspec hop order. Each table "
             "holds a /32 route to every peer through that peer's next hop, and "
             "an ip rule sends packets whose firewall mark equals the table ID "
             "to it. The IDs must not be used by anything else.",
        example="10000 10001 10002 10003",
        networkd="[RoutingPolicyRule] Table= FirewallMark=; [Route] Table="),
    Option(
        "rspec", T.RSPEC, required=True,
        help="Every host of the overlay, as VIRT:HOP1:HOP2..., where HOPn is that "
             "host's address on the link of the n-th table. A host with fewer hops "
             "than tables reuses its hops in order. The same rspec is written on "
             "every host; each finds its own entry by its address.",
        example="10.99.255.10:10.99.0.10:10.99.1.10 10.99.255.20:10.99.0.20:10.99.1.20",
        networkd="[Route] Gateway= Table= (one per peer and table)"),
    Option(
        "agg-weights", T.WEIGHTS, default="auto",
        help="Share of packets per table, in table order. 'auto' takes each "
             "member NIC's rate: its link speed, or the rate of a tbf root qdisc "
             "on it if that is lower; links of unknown speed count as equal. "
             "Packets are interleaved by smooth weighted round robin.",
        example="1000 2500 2500", networkd="(nftables map, in the generated ruleset)"),
    Option(
        "agg-congctl", T.CONGCTL, default="cubic",
        help="TCP congestion control set on the overlay route, for flows over the "
             "overlay only. Per-packet spreading reorders packets; BBR and other "
             "delay-based algorithms read that as loss and collapse, cubic does not.",
        example="cubic", networkd="[Route] TCPCongestionControlAlgorithm="),
    Option(
        "agg-reordering", T.REORDERING, default="none",
        help="The reordering metric of the overlay route: how many packets TCP "
             "expects to arrive out of order before it assumes loss.",
        example="32", networkd="(no networkd key: set by ifupdown-agg-networkd@IFACE.service)"),
    Option(
        "agg-gso-max-segs", T.GSO_SEGS, default="auto",
        help="GSO segment limit of the overlay device. A GSO super-packet gets "
             "one mark, so this decides how many segments go down one link in a "
             "row. 'auto' keeps such a run under about 60 microseconds on the "
             "slowest member link: 1 segment up to 200 Mbit/s, 5 at 1 Gbit/s, 12 "
             "at 2.5 Gbit/s (measured: at 4x200 Mbit/s, 1 gives 94% of the links' "
             "sum where 8 gives 72%); 8 when no link speed is known. Fewer "
             "segments cost more CPU per byte.",
        example="8", networkd="(set by ifupdown-agg-networkd@IFACE.service: auto needs live link rates)"),
    Option(
        "agg-rule-priority", T.PRIORITY, default="7000",
        help="Priority of the fwmark rules, which must come before the main "
             "table's rule (32766).",
        example="7000", networkd="[RoutingPolicyRule] Priority="),
    Option(
        "agg-monitor", T.ON_OFF, default="on",
        help="Run the link monitor while the overlay is up: a path (peer, link) "
             "leaves that peer's rotation when its NIC loses carrier or its probes "
             "go unanswered, and rejoins when it is healthy again.",
        example="on", networkd="(ifupdown-agg-monitor@IFACE.service)"),
    Option(
        "agg-probe-interval", T.MILLISECONDS, default="100",
        help="How often the monitor probes every path, in milliseconds. Peers "
             "running the monitor answer; a peer that never answers is watched "
             "by carrier only.",
        example="100", networkd="(ifupdown-agg-monitor@IFACE.service)"),
    Option(
        "agg-probe-loss", T.PROBES, default="3",
        help="Probe intervals without an answer before a path is taken out of "
             "the rotation. A silent failure is noticed after interval x loss.",
        example="3", networkd="(ifupdown-agg-monitor@IFACE.service)"),
    Option(
        "agg-probe-rejoin", T.PROBES, default="10",
        help="Consecutive good probe intervals before a failed path rejoins the "
             "rotation, so a flapping link does not.",
        example="10", networkd="(ifupdown-agg-monitor@IFACE.service)"),
    Option(
        "agg-probe-port", T.PORT, default="7431",
        help="UDP port of the monitor's probes, on the member links' addresses.",
        example="7431", networkd="(ifupdown-agg-monitor@IFACE.service)"),
)

OPTIONS: Dict[str, Option] = {opt.name: opt for opt in OVERLAY_OPTIONS}

# Options whose presence in a stanza makes it ours.
TRIGGERS = ("fakenet", "rspec")
OWN_PREFIX = "agg-"


@dataclass
class RawOption:
    """An option's text as written, and where; `lines` maps each token to its line."""

    text: str
    location: Location
    token_lines: Dict[str, int] = field(default_factory=dict)

    def locate(self, token: str) -> Location:
        line = self.token_lines.get(token)
        if line is None:
            for tok, tline in self.token_lines.items():
                if token and token in tok:
                    line = tline
                    break
        if line is None or self.location.file is None:
            return self.location
        return Location(self.location.file, line)


def is_ours(names) -> bool:
    return any(n in TRIGGERS or n.startswith(OWN_PREFIX) for n in names)


def parse_options(iface: str, raw: Mapping[str, RawOption],
                  table: Mapping[str, Option] = OPTIONS) -> Dict[str, object]:
    """Typed values for every option in `table`; defaults fill what is absent."""
    known_own = [n for n in table if table[n].owner == "agg"]
    for name, value in raw.items():
        if name.startswith(OWN_PREFIX) and name not in table:
            near = difflib.get_close_matches(name, known_own, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ConfigError(f"unknown option{hint}", iface=iface, option=name,
                              location=value.location)
    out: Dict[str, object] = {}
    for name, opt in table.items():
        value = raw.get(name)
        if value is None:
            if opt.required:
                where = next(iter(raw.values())).location if raw else None
                raise ConfigError(f"missing; {opt.help.split('.')[0].lower()} "
                                  f"(example: {opt.name} {opt.example})",
                                  iface=iface, option=name,
                                  location=Location(where.file) if where else None)
            out[name] = None if opt.default is None else opt.vtype.parse(opt.default)
            continue
        try:
            out[name] = opt.vtype.parse(value.text)
        except TokenError as err:
            raise ConfigError(err.reason, iface=iface, option=name, token=err.token,
                              location=value.locate(err.token)) from None
    return out


def env_options(env: Mapping[str, str], table: Mapping[str, Option] = OPTIONS
                ) -> Dict[str, RawOption]:
    """Options from the IF_* variables ifupdown exports to hooks."""
    by_env = {opt.env: opt.name for opt in table.values()}
    out: Dict[str, RawOption] = {}
    for var, text in env.items():
        if not var.startswith("IF_"):
            continue
        name = by_env.get(var) or var[3:].lower().replace("_", "-")
        out[name] = RawOption(text, Location(variable=var))
    return out


def option_help_lines(table: Mapping[str, Option] = OPTIONS) -> List[str]:
    """Plain-text option reference for --help; the man page renders the same table."""
    lines = []
    for opt in table.values():
        tags = opt.tags
        lines.append(f"  {opt.name} {opt.vtype.metavar}" + (f"   [{', '.join(tags)}]" if tags else ""))
        lines += textwrap.wrap(opt.help, 78, initial_indent="      ", subsequent_indent="      ")
        lines.append(f"      example: {opt.name} {opt.example}")
    return lines
