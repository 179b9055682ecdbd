"""What `ifagg try` and `ifagg reload` share: which stanzas are ours and of which kind,
the records in the state directory, and one stanza brought up or down."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Dict, List, Optional, Tuple

from ifupdown_agg.errors import AggError, ConfigError, Location

OVERLAY, BOND, USB = "overlay", "bond", "usb"


def kind_of(options) -> Optional[str]:
    """overlay, bond or usb for a stanza of ours, None for any other stanza."""
    from ifupdown_agg.config.registry import groups_of
    groups = groups_of(options)
    if "overlay" in groups:
        return OVERLAY
    if "bond" in groups:
        return BOND
    return USB if groups else None


def ours(path: str, names: List[str], only_auto: bool = False) -> List[Tuple[str, str]]:
    """(name, kind) of NAMES (every stanza of ours when empty; with only_auto, those marked
    auto or allow-*). A named stanza that is not in the file, or not ours, is an error."""
    from ifupdown_agg.config import ifaces_file
    parsed = ifaces_file.read(path)
    in_file = in_file_of(parsed)
    if names:
        for name in names:
            if in_file.get(name) is None:
                raise ConfigError(f"{name}: no stanza with ifupdown-agg options",
                                  location=Location(path))
        return [(name, in_file[name]) for name in names]
    marked = set(parsed.auto).union(*parsed.allow.values()) if only_auto else None
    return [(name, kind) for name, kind in in_file.items()
            if kind and (marked is None or name.partition(".")[0] in marked)]


def in_file_of(parsed) -> Dict[str, Optional[str]]:
    """Stanza name -> kind (None: not ours), in file order. An inet6 overlay stanza is
    NAME.inet6, as its record and `ifagg up|down NAME.inet6` name it; other families
    are not ours."""
    out: Dict[str, Optional[str]] = {s.name: kind_of(s.options)
                                     for s in parsed.stanzas if s.family == "inet"}
    # After every inet stanza: an inet6 one comes up on the device its inet one made.
    out.update((f"{s.name}.inet6", OVERLAY) for s in parsed.stanzas
               if s.family == "inet6" and kind_of(s.options) == OVERLAY)
    return out


def changing(what: str):
    """The lock every run that changes the system holds, where cli/common has it
    (issue #13's kernel/lock.py); without it, nothing to hold."""
    from ifupdown_agg.cli import common
    hold = getattr(common, "changing", None)
    return hold(what) if hold else contextlib.nullcontext()


def refuse_conflicts(name: str, kind: str, path: str) -> None:
    """An overlay that conflicts with another stanza of the file is refused (issue #13's
    config/across.py, where cli/common has it), as `ifagg up` refuses it."""
    from ifupdown_agg.cli import common
    refuse = getattr(common, "refuse_conflicts", None)
    if refuse and kind == OVERLAY:
        refuse(name.partition(".")[0], path)


def state_dir() -> str:
    from ifupdown_agg.core import record
    return record.STATE_DIR


def records() -> Dict[str, list]:
    """Every record in the state directory: stanza name -> the ops it made."""
    from ifupdown_agg.core import record
    out: Dict[str, list] = {}
    try:
        entries = sorted(os.listdir(state_dir()))
    except FileNotFoundError:
        return out
    for entry in entries:
        if not entry.endswith(".json") or entry.startswith("."):
            continue
        try:
            with open(os.path.join(state_dir(), entry)) as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "made" in data and data.get("iface") == entry[:-5]:
            out[data["iface"]] = record.load(data["iface"])
    return out


def recorded_kind(made: list) -> str:
    from ifupdown_agg.core.objects import Bond, BondSettings, Enslave, UsbGadget, BridgePort
    if any(isinstance(op.obj, (Bond, BondSettings, Enslave)) for op in made):
        return BOND
    if made and all(isinstance(op.obj, (UsbGadget, BridgePort)) for op in made):
        return USB
    return OVERLAY


def up(name: str, kind: str, interfaces: str, kernel, executor) -> list:
    """One stanza brought to its configuration, as `ifagg up` does (a USB link's: its
    gadget made, or replaced when its settings changed, and its bridge joined); returns
    the ops run."""
    from ifupdown_agg.cli.common import say
    if kind == BOND:
        from ifupdown_agg.bond import lifecycle as bond
        from ifupdown_agg.config import ifaces_file
        raw = ifaces_file.read(interfaces).find(name).options
        return bond.up(name, raw, kernel, executor, say, interfaces)
    if kind == OVERLAY:
        from ifupdown_agg.overlay import lifecycle as overlay
        refuse_conflicts(name, kind, interfaces)
        return overlay.up(overlay.from_file(name, interfaces), kernel, executor)[0]
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.usb import converge
    return converge.up(name, ifaces_file.read(interfaces).find(name).options, kernel,
                       executor, say)


def down(name: str, kind: str, kernel, executor) -> list:
    """Undo a stanza's record, as `ifagg down` does."""
    if kind == BOND:
        from ifupdown_agg.bond import lifecycle as bond
        return bond.down(name, kernel, executor)
    if kind == OVERLAY:
        from ifupdown_agg.overlay import lifecycle as overlay
        iface, _, family = name.partition(".")         # tun0.inet6: tun0's inet6 record
        return overlay.down(iface, kernel, executor, family=family or "inet")
    raise AggError(f"{name}: a USB link's record is undone by ifdown (or `ifagg usbnet down`)")
