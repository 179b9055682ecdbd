"""Where overlays and their member NICs come from: interfaces(5), our native file, the kernel.

Every source ends as the same Source: the overlay validated by the model
(ifupdown_agg.overlay.Loaded) and the NICs that may carry it.
"""

from __future__ import annotations

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


@dataclass
class Sources:
    overlays: List[Source]
    networkd_version: Optional[int] = None
    notes: List[str] = field(default_factory=list)
    devices: Optional[D.Devices] = None           # bonds, USB links, bridges (interfaces(5))


def from_interfaces(path: str) -> Sources:
    parsed = ifaces_file.read(path)
    overlays, nics, notes6 = [], {}, []
    for stanza in parsed.stanzas:
        if stanza.family == "inet" and is_ours(stanza.options):
            overlays.append(stanza)
        elif stanza.family == "inet6" and is_ours(stanza.options):
            notes6.append(f"{stanza.name}: its inet6 overlay stanza is not carried: the "
                          "networkd files are IPv4 only (an IPv6 overlay needs ifupdown)")
        else:
            nic = M.from_stanza(stanza)
            if nic is not None:
                nics[nic.name] = nic
    out = Sources([], notes=notes6, devices=D.from_interfaces(path, parsed))
    if not overlays and not out.devices:
        out.notes.append(f"{path} has no overlay, bond or usbnet stanza: every file of ours "
                         "goes away")
    for stanza in overlays:
        notes = []
        for kind, cmd in stanza.commands:
            if any(cmd.startswith(c) for c in DEVICE_COMMANDS):
                notes.append(f"{stanza.name}: '{kind} {cmd}' is not carried: the .netdev "
                             "makes the device")
            else:
                notes.append(f"{stanza.name}: '{kind} {cmd}' is not carried: networkd runs "
                             "no commands; move it to a unit")
        loaded = overlay.from_raw(stanza.name, stanza.options)
        out.overlays.append(Source(loaded, {n: v for n, v in nics.items() if n != stanza.name},
                                   path, notes))
    return out


def from_native(path: str) -> Sources:
    nf = native.read(path)
    out = Sources([], nf.networkd_version)
    if not nf.overlays:
        out.notes.append(f"{path} has no overlay section: every file of ours goes away")
    for ov in nf.overlays:
        loaded = overlay.from_raw(ov.iface, ov.raw)
        out.overlays.append(Source(loaded, dict(ov.members), path))
    return out


def with_kernel_nics(sources: Sources, kernel) -> Sources:
    """--from-kernel: NICs and addresses as this node has them now; written ones win."""
    obs = kernel.observe()
    for src in sources.overlays:
        live = M.from_observed(obs, skip=[s.loaded.cfg.iface for s in sources.overlays])
        live.update(src.nics)
        src.nics = live
    return sources
