"""Our native configuration file for networkd nodes (configobj, INI-like).

    networkd-version = 252          # optional: the networkd to write for
    [tun0]                          # one section per overlay device
    address = 10.99.255.10          # every key is a stanza option of the table
    fakenet = 10.99.255.0/24
    table = 10000 10001
    rspec = 10.99.255.10:10.99.0.10:10.99.1.10 10.99.255.20:10.99.0.20:10.99.1.20
        [[members]]                 # NIC = ADDRESS/PREFIX [gateway GW] [mtu N]
        eth0 = 10.99.0.10/24
        eth1 = 10.99.1.10/24
        [[member-dropins]]          # optional: NIC = the admin's own .network file,
        eth1 = 10-uplink.network    # extended by a drop-in instead of replaced
    [tun0.inet6]                    # optional: the same device's inet6 overlay (dual stack)
    address = fd99:ff::10
    fakenet = fd99:ff::/64
    table = 10000 10001
    rspec = [fd99:ff::10]:[fd99:0::10]:[fd99:1::10] [fd99:ff::20]:[fd99:0::20]:[fd99:1::20]
        [[members]]                 # the hops' IPv6 addresses (or beside [tun0]'s)
        eth0 = fd99:0::10/64

Values go through the same option table and model as a stanza; a list
written with commas is read as the same words separated by spaces.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ifupdown_agg.errors import ConfigError, Location
from ifupdown_agg.overlay.options import OPTIONS
from ifupdown_agg.config.schema import RawOption

from ifupdown_agg.networkd.members import MemberNic, parse_entry

SUBSECTIONS = ("members", "member-dropins")
TOP_KEYS = ("networkd-version",)
INET6 = ".inet6"                    # [tun0.inet6]: tun0's inet6 overlay


@dataclass
class NativeOverlay:
    iface: str
    raw: Dict[str, RawOption]
    members: Dict[str, MemberNic] = field(default_factory=dict)
    location: Optional[Location] = None
    family: str = "inet"            # inet6 for a [IFACE.inet6] section


@dataclass
class NativeFile:
    path: str
    overlays: List[NativeOverlay]
    networkd_version: Optional[int] = None


def _text(value) -> str:
    return " ".join(value) if isinstance(value, (list, tuple)) else str(value)


def _line_index(source) -> Dict[tuple, int]:
    """(section path, key) -> line, for error messages; configobj keeps no lines."""
    lines: Dict[tuple, int] = {}
    stack: List[str] = []
    header = re.compile(r"^\s*(\[+)\s*([^\]]+?)\s*\]+\s*(#.*)?$")
    key = re.compile(r"^\s*([^=#\s][^=]*?)\s*=")
    if isinstance(source, str):
        with open(source, encoding="utf-8", errors="replace") as fh:
            source = fh.readlines()
    for number, line in enumerate(source, 1):
        m = header.match(line)
        if m:
            depth = len(m.group(1))
            stack = stack[:depth - 1] + [m.group(2)]
            lines.setdefault((tuple(stack), None), number)
            continue
        m = key.match(line)
        if m:
            lines.setdefault((tuple(stack), m.group(1)), number)
    return lines


class _Where:
    """The Location of a section or key of the file, for error messages."""

    def __init__(self, path: str, lines: Dict[tuple, int]):
        self.path, self.lines = path, lines

    def __call__(self, section: tuple, name: Optional[str] = None) -> Location:
        lines = self.lines
        return Location(self.path, lines.get((section, name)) or lines.get((section, None)))


def _parse(path: str, text: Optional[str]):
    """The file as configobj reads it; its errors become located ConfigErrors."""
    from configobj import ConfigObj, ConfigObjError
    try:
        return ConfigObj(text.splitlines() if text is not None else path,
                         file_error=text is None, interpolation=False, encoding="utf-8")
    except (OSError, IOError) as err:
        raise ConfigError(f"cannot read: {getattr(err, 'strerror', None) or err}",
                          location=Location(path)) from None
    except ConfigObjError as err:
        line = getattr(err, "line_number", None)
        raise ConfigError(f"not a valid configuration file: {err.msg if hasattr(err, 'msg') else err}",
                          location=Location(path, line)) from None


def _version(conf, where: _Where) -> Optional[int]:
    """The top-level settings: only networkd-version, a number."""
    version = None
    for name in conf.scalars:
        if name not in TOP_KEYS:
            raise ConfigError(f"unknown setting outside an overlay section (known: "
                              f"{', '.join(TOP_KEYS)}; overlay options go in [IFACE])",
                              option=name, location=where((), name))
        text = _text(conf[name]).strip()
        if not text.isdigit():
            raise ConfigError(f"'{text}' is not a systemd version number", option=name,
                              location=where((), name))
        version = int(text)
    return version


def _raw_options(iface: str, section, where: _Where) -> Dict[str, RawOption]:
    """An overlay section's keys as stanza options; unknown keys and subsections refused."""
    raw: Dict[str, RawOption] = {}
    for name in section.scalars:
        loc = where((iface,), name)
        if name not in OPTIONS:
            near = difflib.get_close_matches(name, list(OPTIONS) + list(SUBSECTIONS), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ConfigError(f"unknown option{hint}", iface=iface, option=name, location=loc)
        text = _text(section[name])
        raw[name] = RawOption(" ".join(text.split()), loc,
                              {tok: loc.line or 0 for tok in text.split()})
    for sub in section.sections:
        if sub not in SUBSECTIONS:
            near = difflib.get_close_matches(sub, SUBSECTIONS, n=1)
            hint = f"; did you mean '[[{near[0]}]]'?" if near else ""
            raise ConfigError(f"unknown subsection [[{sub}]]{hint}", iface=iface,
                              location=where((iface, sub)))
    return raw


def _add_dropins(ov: NativeOverlay, dropins, where: _Where, iface: str) -> None:
    """[[member-dropins]] of section `iface`: each names a member's own .network file."""
    for nic in dropins.scalars if dropins else ():
        target = _text(dropins[nic]).strip()
        loc = where((iface, "member-dropins"), nic)
        if nic not in ov.members:
            raise ConfigError("a drop-in needs the NIC's addresses in [[members]] too",
                              iface=iface, option=nic, location=loc)
        if "/" in target or not target.endswith(".network"):
            raise ConfigError(f"'{target}' is not a .network file name (such as "
                              "10-eth1.network)", iface=iface, option=nic, location=loc)
        ov.members[nic].dropin = target


def _overlay(name: str, section, where: _Where) -> NativeOverlay:
    iface, family = name, "inet"
    if name.endswith(INET6):
        iface, family = name[:-len(INET6)], "inet6"
    ov = NativeOverlay(iface, _raw_options(name, section, where), location=where((name,)),
                       family=family)
    members = section.get("members", {})
    for nic in members.scalars if members else ():
        ov.members[nic] = parse_entry(nic, _text(members[nic]), where((name, "members"), nic))
    _add_dropins(ov, section.get("member-dropins", {}), where, name)
    return ov


def read(path: str, text: Optional[str] = None) -> NativeFile:
    """Read the file at `path`, or `text` as if it were that file."""
    conf = _parse(path, text)
    where = _Where(path, _line_index(text.splitlines(True) if text is not None else path))
    version = _version(conf, where)
    overlays = [_overlay(iface, conf[iface], where) for iface in conf.sections]
    return NativeFile(path, overlays, version)
