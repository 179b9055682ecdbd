"""Where overlays and their member NICs come from: interfaces(5), our native file, the kernel.

Every source ends as the same Source: the overlay validated by the model
(ifupdown_agg.overlay.Loaded), its inet6 stanza's beside it when the device has
one (dual stack), and the NICs that may carry it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ifupdown_agg.config import ifaces_file
from ifupdown_agg.overlay import lifecycle as overlay

from ifupdown_agg.config.registry import is_ours

from ifupdown_agg.networkd import devices as D
from ifupdown_agg.networkd import members as M
from ifupdown_agg.networkd import native

# Stanza lines of an overlay that networkd makes unnecessary.
DEVICE_COMMANDS = ("ip tuntap add", "ip tuntap del")


@dataclass
class Source:
    loaded: overlay.Loaded
    nics: Dict[str, M.MemberNic]
    origin: str                                   # file the overlay came from
    notes: List[str] = field(default_factory=list)
    inet6: Optional[overlay.Loaded] = None        # the same device's inet6 overlay


@dataclass
class Sources:
    overlays: List[Source]
    networkd_version: Optional[int] = None
    notes: List[str] = field(default_factory=list)
    devices: Optional[D.Devices] = None           # bonds, USB links, bridges (interfaces(5))


def _commands_notes(stanza) -> List[str]:
    notes = []
    for kind, cmd in stanza.commands:
        if any(cmd.startswith(c) for c in DEVICE_COMMANDS):
            notes.append(f"{stanza.name}: '{kind} {cmd}' is not carried: the .netdev "
                         "makes the device")
        else:
            notes.append(f"{stanza.name}: '{kind} {cmd}' is not carried: networkd runs "
                         "no commands; move it to a unit")
    return notes


def carried(iface: str, raw, family: str = "inet", notes: Optional[List[str]] = None):
    """overlay.from_raw, less what networkd cannot keep: agg-rto-min. 252 has no key
    for a locked rto_min, and a route of ours replacing networkd's fake-net route does
    not last: on its next reconfiguration networkd adds its own beside it (two routes
    to the fake net, measured). So the fake net keeps the kernel's 200 ms there."""
    loaded = overlay.from_raw(iface, raw, family)
    if loaded.cfg.rto_min is None:
        return loaded
    if notes is not None and "agg-rto-min" in raw:
        notes.append(f"{iface}: agg-rto-min {loaded.cfg.rto_min} is not carried: networkd "
                     "has no key for it and re-adds its own route to the fake net")
    return overlay.Loaded(dataclasses.replace(loaded.cfg, rto_min=None), loaded.raw)


def _inet6_of(name: str, stanzas6: Dict[str, object], notes: List[str]):
    """The inet6 overlay stanza of a device with an inet one, validated by the model."""
    stanza = stanzas6.pop(name, None)
    if stanza is None:
        return None
    notes += [n.replace(f"{name}: ", f"{name} (inet6): ", 1) for n in _commands_notes(stanza)]
    return carried(name, stanza.options, "inet6", notes)


def from_interfaces(path: str) -> Sources:
    parsed = ifaces_file.read(path)
    overlays, nics, stanzas6 = [], {}, {}
    for stanza in parsed.stanzas:
        if stanza.family == "inet" and is_ours(stanza.options):
            overlays.append(stanza)
        elif stanza.family == "inet6" and is_ours(stanza.options):
            stanzas6[stanza.name] = stanza
        else:
            nic = M.from_stanza(stanza)
            if nic is not None:
                M.merge(nics, nic)
    out = Sources([], devices=D.from_interfaces(path, parsed))
    if not overlays and not out.devices:
        out.notes.append(f"{path} has no overlay, bond or usbnet stanza: every file of ours "
                         "goes away")
    for stanza in overlays:
        notes = _commands_notes(stanza)
        loaded = carried(stanza.name, stanza.options, notes=notes)
        inet6 = _inet6_of(stanza.name, stanzas6, notes)
        out.overlays.append(Source(loaded, {n: v for n, v in nics.items() if n != stanza.name},
                                   path, notes, inet6))
    out.notes += [f"{name}: its inet6 overlay stanza is not carried: networkd gets an IPv6 "
                  "overlay only beside an inet one of the same device (dual stack)"
                  for name in stanzas6]
    return out


def from_native(path: str) -> Sources:
    nf = native.read(path)
    out = Sources([], nf.networkd_version)
    if not nf.overlays:
        out.notes.append(f"{path} has no overlay section: every file of ours goes away")
    inet6 = {ov.iface: ov for ov in nf.overlays if ov.family == "inet6"}
    for ov in nf.overlays:
        if ov.family != "inet":
            continue
        loaded = carried(ov.iface, ov.raw, notes=out.notes)
        src = Source(loaded, dict(ov.members), path)
        six = inet6.pop(ov.iface, None)
        if six is not None:
            src.inet6 = carried(ov.iface, six.raw, "inet6", out.notes)
            for nic in six.members.values():
                M.merge(src.nics, nic)
        out.overlays.append(src)
    out.notes += [f"{name}: its [{name}.inet6] section is not carried: networkd gets an "
                  f"IPv6 overlay only beside an inet one ([{name}])" for name in inet6]
    return out


def with_kernel_nics(sources: Sources, kernel) -> Sources:
    """--from-kernel: NICs and addresses as this node has them now; written ones win."""
    obs = kernel.observe()
    for src in sources.overlays:
        live = M.from_observed(obs, skip=[s.loaded.cfg.iface for s in sources.overlays])
        live.update(src.nics)
        src.nics = live
    return sources
