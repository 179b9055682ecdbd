"""The registry: every wing's option rows in one place. It sits above the
wings (it imports their rows); the wings never import it. The IF_* reader,
the CLI's option listing, the man page and the networkd generator read it."""

from __future__ import annotations

from typing import Dict, List, Mapping

from ifupdown_agg.bond.options import BOND_TABLE
from ifupdown_agg.config.schema import GROUP_PREFIX, OWN_PREFIX, Option, RawOption
from ifupdown_agg.errors import Location
from ifupdown_agg.overlay.options import OPTIONS
from ifupdown_agg.usb.options import USBNET_TABLE

GROUP_TITLES = {"overlay": "Overlay (iface tunN inet static)",
                "bond": "Bonds, as ifenslave reads them (on the bond's stanza, or bond-master "
                        "on a port's)",
                "usbnet": "USB links (a gadget's stanza, or the other side's)"}

TABLES_BY_GROUP: Dict[str, Dict[str, Option]] = {
    "overlay": OPTIONS,
    "bond": BOND_TABLE,
    "usbnet": USBNET_TABLE,
}

ALL_OPTIONS: Dict[str, Option] = {name: opt for table in TABLES_BY_GROUP.values()
                                  for name, opt in table.items()}

# Options whose presence in a stanza makes it ours, per group.
TRIGGERS = ("fakenet", "rspec")



def is_ours(names) -> bool:
    """An overlay stanza."""
    return any(n in TRIGGERS or n.startswith(OWN_PREFIX) for n in names)


def groups_of(names) -> List[str]:
    """Which of our option groups a stanza uses: overlay, bond, usbnet."""
    names = list(names)
    found = ["overlay"] if is_ours(names) else []
    found += [g for g, prefix in GROUP_PREFIX.items() if any(n.startswith(prefix) for n in names)]
    return found



def env_options(env: Mapping[str, str], table: Mapping[str, Option] = ALL_OPTIONS
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

