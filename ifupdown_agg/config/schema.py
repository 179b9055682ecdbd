"""The option schema: what one row of the option table holds, and how a stanza's
raw text becomes typed values against a table of rows. Every wing defines its
own rows (overlay/options.py, bond/options.py, usb/options.py);
config/registry.py assembles them."""

from __future__ import annotations

import difflib
import textwrap
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

from ifupdown_agg.config import types as T
from ifupdown_agg.errors import ConfigError, Location, TokenError

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
    group: str = "overlay"             # overlay, bond or usbnet: which stanzas it belongs to
    kernel: str = ""                   # bond: the IFLA_BOND_* attribute it sets
    kernel_needs: str = ""             # bond: "down" or "noslaves" if the kernel refuses it otherwise
    modes: Tuple[str, ...] = ()        # bond: the modes it applies to (empty: all)

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
        return "IF_" + self.name.upper().replace("-", "_")


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
