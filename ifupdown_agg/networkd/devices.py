"""Bonds, USB links and bridges from interfaces(5) stanzas, for networkd and udev.

Each stanza is read with the same option table (bond_plan and usbnet validate
it as ifup would). A row's typed networkd fields decide where it goes:

  keys [Bond] Key=         a key of the bond's .netdev; its `refused` values are
                           ones systemd-networkd refuses (an error here)
  no keys                  not carried: a comment in the file and a note
  keys [Network] ...       the bond's ports, bond-primary, usbnet-bridge: the
                           ports' and links' .network files
  Carrier.GADGET_UNIT      our gadget unit's extras file

Only stanzas using our bond-* or usbnet-* options, the bonds their ports name and
the bridges usbnet-bridge names are read; everything else is the admin's.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ifupdown_agg.config import ifaces_file, types as T
from ifupdown_agg.bond.plan import BOND_TABLE, bond_from_options
from ifupdown_agg.errors import ConfigError, Location
from ifupdown_agg.config.registry import ALL_OPTIONS, TABLES_BY_GROUP, groups_of
from ifupdown_agg.config.schema import Carrier, parse_options
from ifupdown_agg.usb.lifecycle import gadget_spec

from ifupdown_agg.networkd import members as M

USBNET_TABLE = TABLES_BY_GROUP["usbnet"]
BOND_LINK = "/usr/lib/systemd/network/98-ifupdown-agg-bond.link"   # shipped by the package
# Stanza commands that only make or remove the device: the .netdev does that.
DEVICE_COMMAND = re.compile(r"^ip (link (add|del|delete) |tuntap (add|del) )")
# inet static's own lines that a .network carries: the rows ifupdown owns, and gateway.
CARRIED = tuple(n for n, o in ALL_OPTIONS.items() if o.owner == "ifupdown") + ("gateway",)


@dataclass
class Role:
    """One link's .network beyond an overlay member's routes."""

    name: str
    origin: str
    about: List[str] = field(default_factory=list)
    nic: Optional[M.MemberNic] = None       # addresses, gateway, mtu of its inet static stanza
    dhcp: bool = False
    bond: Optional[str] = None
    primary: bool = False
    bridge: Optional[str] = None
    optional: bool = False                  # a USB link: present only while plugged
    comments: List[str] = field(default_factory=list)
    ignored: List[str] = field(default_factory=list)    # its stanza's lines networkd never sees


@dataclass
class NetDev:
    name: str
    kind: str
    origin: str
    about: List[str] = field(default_factory=list)
    section: str = ""
    keys: List[Tuple[str, str]] = field(default_factory=list)
    comments: List[str] = field(default_factory=list)


@dataclass
class UsbLink:
    """A .link file: udev names the device that matches after the stanza."""

    name: str
    kind: str                # mac, serial, path
    value: str
    origin: str


@dataclass
class Gadget:
    name: str
    origin: str
    options: List[Tuple[str, str]]          # the gadget unit's rows, as written


@dataclass
class Devices:
    roles: Dict[str, Role] = field(default_factory=dict)
    netdevs: Dict[str, NetDev] = field(default_factory=dict)
    links: Dict[str, UsbLink] = field(default_factory=dict)
    gadgets: Dict[str, Gadget] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    read: set = field(default_factory=set, repr=False)  # stanzas already read (by id)

    def __bool__(self) -> bool:
        return bool(self.roles or self.netdevs or self.links)


# ---- value formatting, from the table row ----------------------------------------------

def networkd_key(name: str) -> Optional[Tuple[str, str, Tuple[str, ...]]]:
    """(section, key, refused values) of a row written to exactly one key, as its value."""
    keys = ALL_OPTIONS[name].keys
    if len(keys) != 1 or keys[0].value or keys[0].alternatives or keys[0].note:
        return None
    return keys[0].section, keys[0].key, keys[0].refused


def networkd_value(name: str, key: str, value: object) -> str:
    """A parsed value in systemd's spelling: time spans with their unit, booleans as yes/no."""
    vtype = ALL_OPTIONS[name].vtype
    if vtype is T.SECONDS_MS:
        return f"{value}ms"
    if key.endswith("Sec"):
        return f"{value}s"          # ifenslave's other intervals are in seconds
    if vtype is T.BIT:
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    return str(value)


# ---- reading the stanzas ---------------------------------------------------------------

def _loc(stanza, option: str) -> Optional[Location]:
    raw = stanza.options.get(option)
    return raw.location if raw else stanza.location


def _not_carried(stanza, extra: Tuple[str, ...] = ()) -> List[str]:
    """Stanza lines networkd will not see, for notes; ours and inet static's are carried."""
    lines = [n for n in stanza.options
             if n not in ALL_OPTIONS and n not in CARRIED and n not in extra]
    lines += [f"{kind} {cmd}" for kind, cmd in stanza.commands
              if not DEVICE_COMMAND.match(cmd)]
    return lines


def _role_for(stanza, origin: str, devs: Devices) -> Role:
    """The link's Role, with what its own stanza gives a .network (read once per stanza)."""
    role = devs.roles.get(stanza.name)
    if role is None:
        role = devs.roles[stanza.name] = Role(stanza.name, origin)
    if id(stanza) in devs.read:
        return role
    devs.read.add(id(stanza))
    if stanza.family != "inet":
        devs.notes.append(f"{stanza.name}: the {stanza.family} stanza's addresses are not "
                          "carried (only inet static and inet dhcp are)")
        return role
    if stanza.method == "static":
        role.nic = M.from_stanza(stanza)
    elif stanza.method == "dhcp":
        role.dhcp = True
    role.ignored += _not_carried(stanza)
    for kind, cmd in stanza.commands:
        if DEVICE_COMMAND.match(cmd):
            devs.notes.append(f"{stanza.name}: '{kind} {cmd}' is not carried: the .netdev "
                              "makes the device")
    return role


def from_interfaces(path: str, parsed: Optional[ifaces_file.InterfacesFile] = None) -> Devices:
    """Every bond, port, USB link and bridge the file describes with our options."""
    parsed = parsed or ifaces_file.read(path)
    devs = Devices()
    by_name: Dict[str, List] = {}
    for stanza in parsed.stanzas:
        by_name.setdefault(stanza.name, []).append(stanza)
    ours = [s for s in parsed.stanzas
            if {"bond", "usbnet"} & set(groups_of(s.options)) and "overlay" not in groups_of(s.options)]
    _bonds(path, ours, by_name, devs)
    _usbnet(path, ours, by_name, devs)
    return devs


def usb_links(path: str) -> Devices:
    """Only the usbnet-match stanzas (`ifagg networkd links`): nothing else is read."""
    parsed = ifaces_file.read(path)
    devs = Devices()
    ours = [s for s in parsed.stanzas if "usbnet-match" in s.options]
    _usbnet(path, ours, {}, devs, links_only=True)
    return devs


def _stanza_named(by_name, name: str):
    for stanza in by_name.get(name, []):
        if stanza.family == "inet":
            return stanza
    return (by_name.get(name) or [None])[0]


def _bonds(origin: str, ours, by_name, devs: Devices) -> None:
    bonds: Dict[str, Tuple[object, object]] = {}        # name -> (BondConfig, stanza)
    ports: Dict[str, Tuple[str, object, str]] = {}      # port -> (bond, stanza, option)
    port_stanzas = []
    for stanza in ours:
        if "bond" not in groups_of(stanza.options):
            continue
        cfg, port = bond_from_options(stanza.name, stanza.options)
        if cfg is not None:
            if cfg.name in bonds:
                raise ConfigError("a second stanza configures this bond", iface=cfg.name,
                                  location=stanza.location)
            bonds[cfg.name] = (cfg, stanza)
        else:
            port_stanzas.append((stanza, port))
    for stanza, port in port_stanzas:
        if port.master not in bonds:
            master = _stanza_named(by_name, port.master)
            if master is None:
                raise ConfigError(
                    f"no 'iface {port.master}' stanza in {origin}: networkd makes a bond only "
                    "from its .netdev, which is written from the bond's own stanza (bond-mode, "
                    "bond-miimon, ...)", iface=stanza.name, option="bond-master",
                    token=port.master, location=_loc(stanza, "bond-master"))
            cfg = bond_from_options(port.master, master.options)[0]
            if cfg is None:
                raise ConfigError(f"{port.master} is itself a port (bond-master), not a bond",
                                  iface=stanza.name, option="bond-master", token=port.master,
                                  location=_loc(stanza, "bond-master"))
            bonds[port.master] = (cfg, master)
    for name, (cfg, stanza) in sorted(bonds.items()):
        for port in cfg.slaves:
            if port in ports:
                raise ConfigError(f"'{port}' is already a port of {ports[port][0]}",
                                  iface=name, option="bond-slaves", token=port,
                                  location=stanza.options["bond-slaves"].locate(port))
            ports[port] = (name, stanza, "bond-slaves")
    for stanza, port in port_stanzas:
        earlier = ports.get(stanza.name)
        if earlier and earlier[0] != port.master:
            raise ConfigError(f"is already a port of {earlier[0]} (its bond-slaves)",
                              iface=stanza.name, option="bond-master", token=port.master,
                              location=_loc(stanza, "bond-master"))
        ports[stanza.name] = (port.master, stanza, "bond-master")
    for name, (cfg, stanza) in sorted(bonds.items()):
        _bond_files(origin, cfg, stanza, ports, by_name, devs)


def _bond_netdev(name: str, origin: str) -> NetDev:
    return NetDev(name, "bond", origin, section="Bond", about=[
        f"{name}: the bond, from its stanza's bond-* options (ifenslave's); its ports join",
        f"it from their own .network files (Bond={name}). It takes its first port's MAC, as",
        f"with ifenslave, because the package's {os.path.basename(BOND_LINK)}",
        f"({os.path.dirname(BOND_LINK)}) sorts before systemd's 99-default.link."])


def _bond_keys(dev: NetDev, raw, values, ignored, devs: Devices) -> None:
    """The [Bond] keys of the options networkd takes; a note for those it does not."""
    name = dev.name
    for opt_name, opt in BOND_TABLE.items():
        if opt_name not in raw or opt_name in ignored or values[opt_name] is None:
            continue
        text = " ".join(raw[opt_name].text.split())
        found = networkd_key(opt_name)
        if found and found[0] == "Bond":
            _, key, refused = found
            value = values[opt_name]
            if value in refused:
                raise ConfigError(
                    f"systemd-networkd cannot take [Bond] {key}={value} (as its 252 parser "
                    f"says; the kernel can); choose another {opt_name}, or leave this bond "
                    "to ifupdown", iface=name, option=opt_name, token=str(value),
                    location=raw[opt_name].locate(str(value)))
            dev.keys.append((key, networkd_value(opt_name, key, value)))
        elif not opt.keys:
            dev.comments.append(f"not carried: {opt_name} {text} {opt.networkd}")
            devs.notes.append(f"{name}: {opt_name} {text} is not carried to networkd "
                              f"{opt.networkd}")


def _bond_port(name: str, port: str, origin: str, ports, by_name, devs: Devices,
               primary) -> None:
    """The port's role: in the bond, no addresses of its own, maybe the primary."""
    _, where, option = ports[port]
    port_stanza = where if option == "bond-master" else _stanza_named(by_name, port)
    if port_stanza is not None and port_stanza.name == port:
        prole = _role_for(port_stanza, origin, devs)
        if prole.nic is not None or prole.dhcp:
            raise ConfigError(f"a port of {name} has no addresses of its own; put them "
                              f"on {name}'s stanza", iface=port,
                              location=_loc(port_stanza, "address"))
        if "bond-preflight" in port_stanza.options:
            text = port_stanza.options["bond-preflight"].text.strip()
            prole.comments.append(f"not carried: bond-preflight {text} "
                                  f"{BOND_TABLE['bond-preflight'].networkd}")
    else:
        prole = devs.roles.setdefault(port, Role(port, origin))
    prole.bond = name
    prole.primary = port == primary
    how = "its bond-master" if option == "bond-master" else f"{name}'s bond-slaves"
    prole.about.append(f"{port}: a port of {name} ({how}).")


def _bond_files(origin: str, cfg, stanza, ports, by_name, devs: Devices) -> None:
    name = cfg.name
    raw = stanza.options
    values = parse_options(name, raw, BOND_TABLE)
    mine = sorted(p for p, (bond, _, _) in ports.items() if bond == name)
    dev = _bond_netdev(name, origin)
    ignored = {line.split()[0]: line for line in cfg.ignored}
    for note in cfg.ignored:
        devs.notes.append(f"{name}: {note}")
        dev.comments.append(note)
    _bond_keys(dev, raw, values, ignored, devs)
    if not dev.keys:
        dev.comments.insert(0, "no bond-* settings: the kernel's defaults (mode balance-rr)")
    primary = values["bond-primary"] if "bond-primary" not in ignored else None
    if primary and primary not in mine:
        raise ConfigError(f"'{primary}' is not a port of {name} (its bond-slaves, or a stanza "
                          f"with bond-master {name}); networkd marks the primary in the "
                          "port's .network", iface=name, option="bond-primary", token=primary,
                          location=_loc(stanza, "bond-primary"))
    devs.netdevs[name] = dev
    role = _role_for(stanza, origin, devs)
    role.about.append(f"{name}: the bond's own addresses (its ports: {' '.join(mine) or 'none'}).")
    for port in mine:
        _bond_port(name, port, origin, ports, by_name, devs, primary)


def _usbnet(origin: str, ours, by_name, devs: Devices, links_only: bool = False) -> None:
    bridges: Dict[str, Tuple[object, str]] = {}
    for stanza in ours:
        if "usbnet" not in groups_of(stanza.options):
            continue
        raw = stanza.options
        name = stanza.name
        spec = gadget_spec(name, raw)            # validates the gadget's rows as ifup does
        values = parse_options(name, raw, USBNET_TABLE)
        role = _role_for(stanza, origin, devs)
        if spec is not None:
            rows = [(n, " ".join(raw[n].text.split())) for n, opt in USBNET_TABLE.items()
                    if n in raw and opt.carrier is Carrier.GADGET_UNIT]
            devs.gadgets[name] = Gadget(name, origin, rows)
            role.optional = True
            role.about.append(f"{name}: a USB gadget link; ifupdown-agg-usbgadget@{name}.service "
                              "makes the gadget")
            role.about.append("before systemd-networkd starts.")
        if values["usbnet-match"]:
            kind, value = values["usbnet-match"]
            for other in devs.links.values():
                if (other.kind, other.value) == (kind, value):
                    raise ConfigError(f"{other.name} already matches {kind} {value}; one "
                                      "device can have one name", iface=name,
                                      option="usbnet-match", token=value,
                                      location=raw["usbnet-match"].locate(value))
            devs.links[name] = UsbLink(name, kind, value, origin)
            role.optional = True
            role.about.append(f"{name}: the host side of a USB link, named by its .link file.")
        if values["usbnet-bridge"] and not links_only:
            role.bridge = values["usbnet-bridge"]
            bridges.setdefault(role.bridge, (stanza, name))
            if not role.about:
                role.about.append(f"{name}: a port of the bridge {role.bridge}.")
    for bridge, (stanza, port) in sorted(bridges.items()):
        own = _stanza_named(by_name, bridge)
        if own is None:
            raise ConfigError(
                f"no 'iface {bridge}' stanza in {origin}: networkd adds a link only to a "
                "bridge it makes from a .netdev, which is written from the bridge's stanza",
                iface=port, option="usbnet-bridge", token=bridge,
                location=_loc(stanza, "usbnet-bridge"))
        if bridge in devs.netdevs:
            raise ConfigError(f"is a {devs.netdevs[bridge].kind}, not a bridge", iface=port,
                              option="usbnet-bridge", token=bridge,
                              location=_loc(stanza, "usbnet-bridge"))
        members = sorted(r.name for r in devs.roles.values() if r.bridge == bridge)
        devs.netdevs[bridge] = NetDev(bridge, "bridge", origin, about=[
            f"{bridge}: the bridge its ports' usbnet-bridge names; networkd makes it."])
        role = _role_for(own, origin, devs)
        role.about.append(f"{bridge}: the bridge's own addresses; ports {' '.join(members)}.")
