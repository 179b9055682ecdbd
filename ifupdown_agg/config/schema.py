"""The option schema: what one row of the option table holds, and how a stanza's
raw text becomes typed values against a table of rows. Every wing defines its
own rows (overlay/options.py, bond/options.py, usb/options.py);
config/registry.py assembles them."""

from __future__ import annotations

import difflib
import textwrap
from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, FrozenSet, List, Mapping, Optional, Tuple

from ifupdown_agg.config import types as T
from ifupdown_agg.errors import ConfigError, Location, TokenError


class Scope(Enum):
    """Which stanzas a row belongs on."""

    OVERLAY = "overlay"          # an overlay's stanza (iface tunN inet static)
    BOND = "bond"                # a bond's own stanza
    PORT = "port"                # a bond port's stanza (bond-master)
    GADGET = "gadget"            # a USB gadget's stanza (usbnet-gadget)
    USB_HOST = "usb-host"        # the other side of a USB link (usbnet-match)


# The wing (option group, table) of each scope: the man page's sections, groups_of.
WING = {Scope.OVERLAY: "overlay", Scope.BOND: "bond", Scope.PORT: "bond",
        Scope.GADGET: "usbnet", Scope.USB_HOST: "usbnet"}


class Refused(Enum):
    """When the kernel refuses to change a bond attribute (drivers/net/bonding/bond_options.c)."""

    NONE = ""                    # any time
    DOWN = "down"                # only while the bond is down
    NOSLAVES = "noslaves"        # only while it has no slaves


class Carrier(Enum):
    """What carries a row's value when systemd-networkd runs the node instead of ifupdown."""

    NETWORKD = ""                # its networkd keys, in the generated files
    NETWORKD_UNIT = "ifupdown-agg-networkd@IFACE.service"
    MONITOR_UNIT = "ifupdown-agg-monitor@IFACE.service"
    GADGET_UNIT = "ifupdown-agg-usbgadget@IFACE.service"
    NOTHING = "nothing"          # not carried: said in the row's note

    @property
    def unit(self) -> str:
        """Our unit that carries it, or ""."""
        return self.value if self.value.endswith(".service") else ""


@dataclass(frozen=True)
class NetworkdKey:
    """One systemd-networkd key a row is written to, in systemd's spelling."""

    section: str                       # "Bond", without brackets
    key: str                           # "Mode", without "="
    value: str = ""                    # what is written, if not the option's value ("yes")
    refused: Tuple[str, ...] = ()      # values networkd refuses though the kernel takes them
    alternatives: Tuple[str, ...] = () # other keys written instead, by the value's kind
    note: str = ""                     # said after the key ("in each port's .network")

    @property
    def text(self) -> str:
        out = "|".join(f"{k}=" for k in (self.key,) + self.alternatives) + self.value
        if self.refused:
            out += f" (not {', '.join(self.refused)})"
        return out + (f" {self.note}" if self.note else "")


@dataclass(frozen=True)
class Option:
    """One row of the option table. Everything a reader, validator, help text, man page
    or generator needs to know of an option is a typed field here, not prose: `keys`
    and `carrier` say what networkd writes, `netlink` and `refused_unless` what the
    kernel takes, `scope` which stanzas it belongs on. `networkd` renders the keys
    (or the note) as the man page's words."""

    name: str
    vtype: T.ValueType
    help: str
    example: str
    default: Optional[str] = None      # raw text, parsed like user input
    required: bool = False
    scope: FrozenSet[Scope] = frozenset({Scope.OVERLAY})
    keys: Tuple[NetworkdKey, ...] = ()  # where the networkd files carry it
    carrier: Carrier = Carrier.NETWORKD
    note: str = ""                     # what networkd carries otherwise, when it has no keys
    owner: str = "agg"                 # "ifupdown": inet static's own option, read only
    netlink: str = ""                  # bond: the IFLA_BOND_* attribute it sets, lower case
    refused_unless: Refused = Refused.NONE
    modes: Tuple[str, ...] = ()        # bond: the modes it applies to (empty: all)

    @property
    def group(self) -> str:
        """overlay, bond or usbnet: the wing (table) the row belongs to."""
        return WING[min(self.scope, key=list(Scope).index)]

    @property
    def kernel(self) -> str:
        """The old name of `netlink`."""
        return self.netlink

    @property
    def kernel_needs(self) -> str:
        """The old spelling of `refused_unless`: "", "down" or "noslaves"."""
        return self.refused_unless.value

    @property
    def networkd(self) -> str:
        """How networkd carries it, in words: the man page's systemd-networkd line."""
        sections: Dict[str, List[str]] = {}
        for k in self.keys:
            sections.setdefault(k.section, []).append(k.text)
        text = "; ".join(f"[{s}] {' '.join(texts)}" for s, texts in sections.items())
        unit = self.carrier.unit
        if text:
            return f"{unit}; {text}" if unit else text
        return f"({self.note or unit})"

    @property
    def tags(self) -> List[str]:
        """Short facts shown next to the option in --help and the man page."""
        tags = ["required"] if self.required else []
        if self.default is not None and self.owner == "agg":
            tags.append(f"default {self.default}")
        if self.owner == "ifupdown":
            tags.append("inet static's own option")
        if self.owner == "ifenslave":
            tags.append("as ifenslave")
        return tags

    @property
    def env(self) -> str:
        """The variable ifupdown exports for it to hooks."""
        return env_name(self.name)


def env_name(option: str) -> str:
    """The variable ifupdown exports for an option: IF_, upper case, '-' as '_'."""
    return "IF_" + option.upper().replace("-", "_")


OWN_PREFIX = "agg-"
GROUP_PREFIX = {"bond": "bond-", "usbnet": "usbnet-"}


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



def parse_options(iface: str, raw: Mapping[str, RawOption],
                  table: Mapping[str, Option]) -> Dict[str, object]:
    """Typed values for every option in `table`; defaults fill what is absent."""
    known_own = [n for n in table if table[n].owner != "ifupdown"]
    prefixes = tuple({OWN_PREFIX} | {GROUP_PREFIX.get(table[n].group, OWN_PREFIX) for n in table})
    for name, value in raw.items():
        if name.startswith(prefixes) and name not in table:
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



def option_help_lines(table: Mapping[str, Option]) -> List[str]:
    """Plain-text option reference for --help; the man page renders the same table."""
    lines = []
    for opt in table.values():
        tags = opt.tags
        lines.append(f"  {opt.name} {opt.vtype.metavar}" + (f"   [{', '.join(tags)}]" if tags else ""))
        lines += textwrap.wrap(opt.help, 78, initial_indent="      ", subsequent_indent="      ")
        lines.append(f"      example: {opt.name} {opt.example}")
    return lines
