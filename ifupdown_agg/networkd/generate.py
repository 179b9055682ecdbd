"""From overlays to networkd's files: the objects come from plan.desired_state.

The generator never decides a route itself. It builds a kernel snapshot that
holds only the member NICs' addresses, asks the planner for the overlay's
objects, and sorts them by who can make them: networkd (.netdev, .network,
drop-ins) or our unit (the extras file, read by `ifagg networkd post-apply`).
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import jinja2

from ifupdown_agg.overlay import plan
from ifupdown_agg.errors import ConfigError
from ifupdown_agg.core.objects import RTPROT_IFAGG, Address, Route, Rule, Sysctl
from ifupdown_agg.overlay.options import OPTIONS

from ifupdown_agg.networkd import (EXTRAS_DIR, GADGET_UNIT, GADGET_UNIT_PATH, LINK_PREFIX,
                                   NETWORK_DIR, PREFIX, UNIT, UNIT_PATH, WANTS_DIR)
from ifupdown_agg.networkd.devices import Devices
from ifupdown_agg.networkd.members import MemberNic, synthetic_observed
from ifupdown_agg.networkd.sources import Source, Sources
from ifupdown_agg.networkd.versions import BOOKWORM, Features

NETWORK_SEARCH = ("etc/systemd/network", "run/systemd/network", "usr/lib/systemd/network",
                  "lib/systemd/network")


@dataclass
class Tree:
    """Files relative to the root: text for files, a target for symlinks."""

    files: Dict[str, str] = field(default_factory=dict)
    links: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    devices: Dict[str, str] = field(default_factory=dict)     # overlay's netdev file -> device
    optional: List[str] = field(default_factory=list)         # links not to wait for (USB)


@dataclass
class OverlayObjects:
    """One overlay's desired objects, sorted by where they are written."""

    address: Address
    fakenet_route: Route
    routes_by_dev: Dict[str, List[Route]]
    rules: List[Rule]
    loose_devs: List[str]
    notes: List[str] = field(default_factory=list)


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ifupdown_agg.networkd", "templates"),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, autoescape=False)


def extras_path(iface: str, prefix: str = PREFIX) -> str:
    return f"{EXTRAS_DIR}/{prefix}{iface}.conf"


def gadget_path(iface: str) -> str:
    """The gadget unit's extras file (ExecStart= reads /etc/ifupdown-agg/networkd/%i.usbnet)."""
    return f"{EXTRAS_DIR}/{iface}.usbnet"


def link_path(iface: str) -> str:
    return f"{NETWORK_DIR}/{LINK_PREFIX}{iface}.link"


MATCH = {"mac": ("with MAC {}", "MACAddress={}"),
         "serial": ("with USB serial number {}", "Property=ID_SERIAL_SHORT={}"),
         "path": ("at udev ID_PATH {}", "Path={}")}


def link_files(devs: Devices) -> Dict[str, str]:
    """The .link files that name USB links (`ifagg networkd links` writes only these)."""
    env = _env()
    out = {}
    for name, link in sorted(devs.links.items()):
        what, match = MATCH[link.kind]
        out[link_path(name)] = env.get_template("usb.link.j2").render(
            link=link, origin=link.origin, what=what.format(link.value),
            match=match.format(link.value), link_prefix=LINK_PREFIX)
    return out


def member_value(nic: MemberNic) -> str:
    """A NIC as a native [[members]] value."""
    words = list(nic.addresses)
    if nic.gateway:
        words += ["gateway", nic.gateway]
    if nic.mtu:
        words += ["mtu", str(nic.mtu)]
    return " ".join(words)


def overlay_objects(src: Source, loaded=None) -> OverlayObjects:
    """The objects of the source's inet overlay, or of `loaded` (its inet6 one)."""
    loaded = loaded or src.loaded
    cfg, raw = loaded.cfg, loaded.raw
    have = {cidr.split("/")[0] for nic in src.nics.values() for cidr in nic.addresses}
    obs, notes = synthetic_observed(src.nics.values()), []
    if plan.learns(cfg) or any(cfg.me.learns(j) for j in range(len(cfg.me.hops))):
        token = next(e.written(j) for e in cfg.rspec for j in range(len(e.hops)) if e.learns(j))
        raise ConfigError(
            f"hop [{token}] is learned from hellos, and networkd has static routes only (the "
            "monitor routes what it learns through the ifupdown hook); write the hop as "
            "[fe80::X%NIC] for networkd", iface=cfg.iface, option="rspec", token=token,
            location=raw["rspec"].locate(token) if "rspec" in raw else None)
    for i, table in enumerate(cfg.tables):
        hop = cfg.me.hop_for(i)
        if cfg.me.nic_at(cfg.me.index_for(i)) is not None:
            notes += _own_link_local(cfg, cfg.me.index_for(i), table, src, obs, raw)
        elif hop not in have:
            where = raw["rspec"].locate(hop) if "rspec" in raw else None
            how = ("(iface ethN inet static / address {}/24), a [[members]] entry in the "
                   "native file, or run on the node with --from-kernel" if cfg.family == "inet"
                   else "(iface ethN inet6 static / address {}/64) or a [[members]] entry in "
                   "the native file (--from-kernel reads IPv4 addresses only)")
            raise ConfigError(
                f"this host's hop {hop} for table {table} is on no known NIC; give that NIC's "
                f"stanza {how.format(hop)}",
                iface=cfg.iface, option="rspec", token=hop, location=where)
    desired = plan.desired_state(cfg, obs, raw)
    by_dev: Dict[str, List[Route]] = {}
    rules, loose, address, main = [], [], None, None
    for obj in desired.objects:
        if isinstance(obj, Address):
            address = obj
        elif isinstance(obj, Route) and obj.table == plan.MAIN_TABLE:
            main = obj
        elif isinstance(obj, Route):
            by_dev.setdefault(obj.dev, []).append(obj)
        elif isinstance(obj, Rule):
            rules.append(obj)
        elif isinstance(obj, Sysctl):
            loose.append(obj.path.split("/")[3])
    assert address is not None and main is not None
    return OverlayObjects(address, main, by_dev, rules, loose, list(dict.fromkeys(notes)))


def _own_link_local(cfg, j: int, table: int, src: Source, obs, raw) -> List[str]:
    """This host's link-local hop j: its NIC must be a known member. An address its
    stanza does not set is taken for the one the kernel makes there (EUI-64, from the MAC;
    networkd keeps it), with a note: `ifagg networkd apply` checks the live NIC."""
    hop, nic, token = cfg.me.hops[j], cfg.me.nic_at(j), cfg.me.written(j)
    if nic not in src.nics:
        where = raw["rspec"].locate(token) if "rspec" in raw else None
        raise ConfigError(
            f"this host's hop {token} for table {table} names {nic}, which has no stanza here; "
            f"give it one (iface {nic} inet6 static / address {hop}/64) or a [[members]] entry",
            iface=cfg.iface, option="rspec", token=token, location=where)
    link = obs.links[nic]
    if any(addr == hop for addr, _ in link.link_local):
        return []
    link.link_local.append((hop, ""))
    return [f"{nic}: this host's hop {token} is no address of its stanza: it must be the "
            f"link-local address the kernel makes on {nic} (EUI-64, from its MAC); `ifagg "
            "networkd apply` checks it"]


def _shadowing(root: str, nic: str, prefix: str) -> Optional[str]:
    """An admin's .network that sorts before ours and matches the NIC by name."""
    ours = f"{prefix}{nic}.network"
    for d in NETWORK_SEARCH:
        path = os.path.join(root, d)
        try:
            names = sorted(os.listdir(path))
        except OSError:
            continue
        for name in names:
            if not name.endswith(".network") or name.startswith(prefix) or name >= ours:
                continue
            try:
                with open(os.path.join(path, name), encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except OSError:
                continue
            for line in text.splitlines():
                key, _, value = line.strip().partition("=")
                if key.strip() == "Name" and any(fnmatch.fnmatch(nic, pat)
                                                 for pat in value.split()):
                    return os.path.join("/", d, name)
    return None


@dataclass
class _Members:
    """What the overlays say about each member NIC, for its .network file."""
    routes: Dict[str, List[Tuple[str, Route]]] = field(default_factory=dict)
    info: Dict[str, MemberNic] = field(default_factory=dict)
    loose: Dict[str, bool] = field(default_factory=dict)


def _overlay_files(tree: Tree, env, src: Source, version: int, feats: Features, prefix: str,
                   used_tables: Dict[int, str], members: _Members) -> None:
    """One overlay's .netdev, .network and extras files, and its members' routes."""
    cfg = src.loaded.cfg
    tree.notes += src.notes
    for t in cfg.tables:
        if t in used_tables:
            raise ConfigError(f"table {t} is also used by {used_tables[t]}",
                              iface=cfg.iface, option="table")
        used_tables[t] = cfg.iface
    objs = overlay_objects(src)
    six = src.inet6
    objs6 = overlay_objects(src, six) if six is not None else None
    tree.notes += objs.notes + (objs6.notes if objs6 else [])
    if six is not None and six.cfg.tables != cfg.tables:
        raise ConfigError("the inet6 stanza's 'table' must be the inet one's (one fwmark "
                          "names one member link in both families)", iface=cfg.iface,
                          option="table", location=six.raw["table"].location)
    common = dict(version=version, origin=src.origin, iface=cfg.iface, cfg=cfg,
                  proto=RTPROT_IFAGG, feats=feats, unit=UNIT.replace("@", f"@{cfg.iface}"),
                  objs6=objs6, cfg6=six.cfg if six else None)
    netdev = f"{NETWORK_DIR}/{prefix}{cfg.iface}.netdev"
    tree.files[netdev] = env.get_template("overlay.netdev.j2").render(**common)
    tree.devices[netdev] = cfg.iface
    tree.files[f"{NETWORK_DIR}/{prefix}{cfg.iface}.network"] = env.get_template(
        "overlay.network.j2").render(objs=objs, **common)
    for dev, routes in [*objs.routes_by_dev.items(), *(objs6.routes_by_dev.items()
                                                       if objs6 else [])]:
        members.routes.setdefault(dev, []).extend((cfg.iface, r) for r in routes)
        members.info.setdefault(dev, src.nics[dev])
    for dev in objs.loose_devs:
        members.loose[dev] = True
        members.info.setdefault(dev, src.nics[dev])
    unit_members = sorted(set(objs.routes_by_dev) | set(objs6.routes_by_dev if objs6 else ()))
    tree.files[extras_path(cfg.iface, prefix)] = env.get_template("extras.conf.j2").render(
        options=_options(src.loaded.raw), options6=_options(six.raw) if six else [],
        members=[(d, member_value(src.nics[d])) for d in unit_members],
        dropins=[(d, src.nics[d].dropin) for d in unit_members if src.nics[d].dropin],
        objs=objs, **common)
    unit = UNIT.replace("@", f"@{cfg.iface}")
    tree.links[f"{WANTS_DIR}/{unit}"] = UNIT_PATH


def _options(raw) -> List[Tuple[str, str]]:
    return [(name, " ".join(raw[name].text.split())) for name in OPTIONS if name in raw]


def _device_files(tree: Tree, env, devs: Devices, version: int, prefix: str) -> None:
    """The bonds' and other devices' .netdev files, .link files and USB gadgets."""
    tree.notes += devs.notes
    for name, dev in sorted(devs.netdevs.items()):
        netdev = f"{NETWORK_DIR}/{prefix}{name}.netdev"
        if netdev in tree.files:
            raise ConfigError(f"is an overlay device and a {dev.kind}", iface=name)
        tree.files[netdev] = env.get_template("device.netdev.j2").render(
            dev=dev, origin=dev.origin, version=version)
    tree.files.update(link_files(devs))
    for name, gadget in sorted(devs.gadgets.items()):
        tree.files[gadget_path(name)] = env.get_template("gadget.usbnet.j2").render(
            gadget=gadget, origin=gadget.origin, network=f"{prefix}{name}.network")
        tree.links[f"{WANTS_DIR}/{GADGET_UNIT.replace('@', f'@{name}')}"] = GADGET_UNIT_PATH
    tree.optional = sorted(n for n, role in devs.roles.items() if role.optional)


def _member_file(tree: Tree, env, dev: str, ctx: Dict[str, object], prefix: str,
                 root: str) -> None:
    """A member's drop-in (when it names one) or its own .network file."""
    nic, role = ctx["nic"], ctx["role"]
    if nic is not None and nic.dropin:
        path = f"{NETWORK_DIR}/{nic.dropin}.d/{prefix}{dev}.conf"
        tree.files[path] = env.get_template("member-dropin.conf.j2").render(**ctx)
        return
    shadow = _shadowing(root, dev, prefix)
    if shadow:
        tree.notes.append(f"{dev}: {shadow} sorts before {prefix}{dev}.network and matches "
                          f"{dev}, so networkd would ignore ours; name it in "
                          "[[member-dropins]] (native file) or remove it")
    for line in (role.ignored if role else nic.ignored):
        tree.notes.append(f"{dev}: '{line}' is not carried to {prefix}{dev}.network")
    tree.files[f"{NETWORK_DIR}/{prefix}{dev}.network"] = env.get_template(
        "member.network.j2").render(**ctx)


def generate(sources: Sources, version: Optional[int] = None, prefix: str = PREFIX,
             root: str = "/") -> Tree:
    version = version or sources.networkd_version or BOOKWORM
    feats = Features(version)
    env = _env()
    tree = Tree(notes=list(sources.notes))
    members = _Members()
    used_tables: Dict[int, str] = {}
    for src in sources.overlays:
        _overlay_files(tree, env, src, version, feats, prefix, used_tables, members)
    devs = sources.devices or Devices()
    _device_files(tree, env, devs, version, prefix)

    overlay_origins = sorted({s.origin for s in sources.overlays})
    for dev in sorted(set(members.info) | set(devs.roles)):
        role = devs.roles.get(dev)
        member = dev in members.info
        nic = members.info[dev] if member else role.nic
        origins = sorted(set(overlay_origins if member else []) | ({role.origin} if role else set()))
        ctx = dict(version=version, name=dev, nic=nic, role=role, member=member,
                   routes=members.routes.get(dev, []), proto=RTPROT_IFAGG,
                   loose=members.loose.get(dev, False), feats=feats, origins=origins)
        _member_file(tree, env, dev, ctx, prefix, root)
    return tree
