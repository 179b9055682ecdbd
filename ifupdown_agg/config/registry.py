"""The registry: every wing's option rows in one place. It sits above the
wings (it imports their rows); the wings never import it. The IF_* reader,
the CLI's option listing, the man page and the networkd generator read it."""

from __future__ import annotations

from typing import Dict, List, Mapping

from ifupdown_agg.bond.options import BOND_TABLE
from ifupdown_agg.config.schema import GROUP_PREFIX, OWN_PREFIX, Option, RawOption, env_name
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

# Options whose presence in a stanza makes it ours, besides the prefixes below.
TRIGGERS = ("fakenet", "rspec")
# Every prefix of our option names: a stanza with one of them is ours.
PREFIXES = (OWN_PREFIX,) + tuple(GROUP_PREFIX.values())


def hook_patterns() -> List[str]:
    """The grep patterns of the shell hook (debian/ifupdown-agg.if-up) that call us: an
    exported variable of a trigger, or one with one of our prefixes."""
    return [f"^{env_name(t)}=" for t in TRIGGERS] + [f"^{env_name(p)}" for p in PREFIXES]



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
    """Options from the IF_* variables ifupdown exports to hooks, found by their rows.

    A variable with one of our prefixes that names no row (IF_AGG_WEIGHT) is kept
    under the option name it spells, so that validation says "unknown option; did
    you mean"; every other variable (IF_PRE_UP, IF_GATEWAY) is not ours and is left.
    """
    by_env = {opt.env: opt.name for opt in table.values()}
    ours = tuple(env_name(p) for p in PREFIXES)
    out: Dict[str, RawOption] = {}
    for var, text in env.items():
        name = by_env.get(var)
        if name is None and var.startswith(ours):
            name = var[len("IF_"):].lower().replace("_", "-")
        if name is not None:
            out[name] = RawOption(text, Location(variable=var))
    return out

