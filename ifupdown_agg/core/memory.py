"""A kernel in memory: ops applied to a copy of an Observed snapshot.

Pure (no netlink, no nft, no /proc), so that the planners' round trips and the
executor's rollback are tested without root. It answers what the lifecycles
ask of kernel.netlink.Kernel (observe, apply_all, port_facts, counters,
forget_neighbour), and it refuses what the kernel refuses, with its errno:
adding what exists (a route set replaces one), deleting what is gone, a route through a
device down or via a gateway off its networks, a bond option the bond's state does not
allow (drivers/net/bonding/bond_options.c). It has the kernel's
side effects: a device that goes takes its routes, rp_filter and ports along; a link taken down
loses its routes; an address that goes takes the routes using it as source; bonding opens a
port it takes and closes one it releases; a USB gadget makes its interface.

Stricter than the kernel where it lets a redundant change pass (a tun or nft table that
exists, a port enslaved to its own bond or released without a master): a plan bug here. Not
modelled: connected and local routes, neighbours, carrier. `MemoryKernel(snapshot, fail_at=k)`
fails the k-th op tried (from 0 over every apply_all): how rollback is tested at each op.
"""

from __future__ import annotations

import copy
import errno
import ipaddress
import os
import re
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from ifupdown_agg.config.types import BOND_MODES
from ifupdown_agg.core.objects import (DEVICE_ALIAS, RTPROT_IFAGG, Address, Bond, BondSettings,
                                       BridgePort, Enslave, LinkAttrs, LinkFacts, LinkInfo,
                                       NftTable, Observed, Route, Rule, SeenRoute, SeenRule,
                                       Spreader, Sysctl, TunDevice, UsbGadget)
from ifupdown_agg.core.ops import Op
from ifupdown_agg.errors import ApplyError

GSO_MAX_SEGS = 65535
CONF = "net/ipv4/conf/"

# bond_options.c: options taken only without ports (NOSLAVES), only while the bond is down
# (IFDOWN; ad_actor_* were in older kernels: a plan passing here passes on all), some modes.
BOND_NOSLAVES = frozenset({"mode", "fail_over_mac"})
BOND_IFDOWN = frozenset({"mode", "ad_lacp_rate", "ad_select", "ad_user_port_key", "lacp_active",
                         "tlb_dynamic_lb", "ad_actor_sys_prio", "ad_actor_system"})
_LACP = ("802.3ad",)
_NO_ARP = ("802.3ad", "balance-tlb", "balance-alb")
BOND_ONLY_IN = {"packets_per_slave": ("balance-rr",), "ad_lacp_rate": _LACP,
                "ad_actor_sys_prio": _LACP, "ad_actor_system": _LACP, "ad_user_port_key": _LACP,
                "primary": ("active-backup", "balance-tlb", "balance-alb"),
                "tlb_dynamic_lb": ("balance-tlb", "balance-alb")}
BOND_NOT_IN = {"arp_interval": _NO_ARP, "arp_validate": _NO_ARP, "arp_missed_max": _NO_ARP}


class _Refused(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def _verb(op: Op) -> str:
    """"add", "del" or "set", whether Op.action is a string or an Enum of them."""
    return str(getattr(op.action, "value", op.action))


def _batched(op: Op) -> bool:
    """Kernel.apply_all sends runs of these in one batch, each with its own answer."""
    return isinstance(op.obj, Route) and _verb(op) != "set"


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _normalised(obs: Observed) -> Observed:
    """What the real observe() returns: address pairs as tuples, bonds with arp_ip_target."""
    for link in obs.links.values():
        link.addrs = [tuple(a) for a in link.addrs]
        if link.bond is not None:
            link.bond = {k: _hashable(v) for k, v in link.bond.items()}
            link.bond.setdefault("arp_ip_target", ())
    obs._routes_by_key = obs._rule_set = None
    return obs


def kernel_objects(obs: Observed) -> FrozenSet[object]:
    """A snapshot as a set of what the plans read and change, to compare two snapshots.

    A plain link's up/down is left out: no plan reads it, and bonding opens a
    port it takes and closes one it releases."""
    items: set = set()
    for link in obs.links.values():
        up = link.up if link.kind in ("tun", "bond") else None
        items.add(("link", link.name, link.kind, link.alias, up, link.gso_max_segs, link.mtu,
                   link.master))
        if link.bond is not None:
            items.add(("bond", link.name, frozenset((k, _hashable(v)) for k, v in link.bond.items())))
        items.update(Address(link.name, a, p) for a, p in link.addrs)
    items.update(obs.routes)
    items.update(obs.rules)
    items.update(obs.nft.values())
    items.update(obs.spreaders.values())
    items.update(Sysctl(p, v) for p, v in obs.sysctls.items())
    return frozenset(items)


class MemoryKernel:
    """Observe and change a kernel that lives in a dict."""

    def __init__(self, snapshot: Observed, fail_at: Optional[int] = None,
                 facts: Optional[Mapping[str, LinkFacts]] = None):
        self.state = _normalised(copy.deepcopy(snapshot))
        self.fail_at = fail_at
        self.attempts = 0                       # ops tried, over every apply_all
        self.injected: Optional[Op] = None      # the op fail_at made fail
        self.facts = dict(facts or {})
        self.counter_values: Dict[str, Dict[str, Dict[str, int]]] = {}
        self.forgotten: List[Tuple[str, str]] = []
        self.gadgets: Dict[str, UsbGadget] = {}    # configfs, beside Observed: by interface

    def close(self) -> None:
        pass

    # ---- what the lifecycles ask -------------------------------------------------------

    def observe(self) -> Observed:
        obs = copy.deepcopy(self.state)
        for link in obs.links.values():
            primary = (link.bond or {}).get("primary")
            if primary is not None and getattr(obs.links.get(primary), "master", None) != link.name:
                del link.bond["primary"]    # reported only while it is a port of the bond
        return obs

    def port_facts(self, names: Sequence[str], wait: float = 2.0, touch: bool = True):
        for name in names:
            if name not in self.state.links:
                raise OSError(errno.ENODEV, f"no device {name}")
        links = self.state.links
        return {n: self.facts.get(n) or LinkFacts(n, driver="memory", duplex="full",
                                                  speed_mbps=links[n].speed, carrier=True)
                for n in names}

    def counters(self, nft_table: str) -> Dict[str, Dict[str, int]]:
        table = self.state.nft.get(nft_table)
        if table is None:
            raise ApplyError(f"nft refused the change: {os.strerror(errno.ENOENT)}")
        names = re.findall(r"^\s*counter (\S+) \{", table.script, re.M)
        zero = {n: {"packets": 0, "bytes": 0} for n in names}
        return {**zero, **self.counter_values.get(nft_table, {})}

    def forget_neighbour(self, dev: str, address: str) -> None:
        self.forgotten.append((dev, address))

    # ---- changes -----------------------------------------------------------------------

    def apply_all(self, ops: Sequence[Op]) -> Tuple[List[Op], Optional[ApplyError]]:
        """As Kernel.apply_all: stop at the first failure, except that the rest of a
        batch of routes still goes (so `done` may hold routes after the failed one)."""
        done: List[Op] = []
        err: Optional[ApplyError] = None
        failed_in_batch = False
        for op in ops:
            if err is not None and not (failed_in_batch and _batched(op)):
                break
            try:
                self.apply(op)
            except ApplyError as e:
                if err is None:
                    err, failed_in_batch = e, _batched(op)
                continue
            done.append(op)
        return done, err

    def apply(self, op: Op) -> None:
        """One op, all or nothing."""
        handler = _HANDLERS.get(type(op.obj))
        if handler is None:
            raise TypeError(op.obj)     # as Kernel._apply does: not a kernel object
        tried, self.attempts = self.attempts, self.attempts + 1
        if tried == self.fail_at:
            self.injected = op
            raise ApplyError(f"{op.describe()}: injected failure (op {tried})")
        try:
            handler(self, op.obj, _verb(op))
        except _Refused as refused:
            raise ApplyError(f"{op.describe()}: {os.strerror(refused.code)}") from None

    # ---- devices -----------------------------------------------------------------------

    def _link(self, name: str) -> LinkInfo:
        link = self.state.links.get(name)
        if link is None:
            raise _Refused(errno.ENODEV)
        return link

    def _new_device(self, name: str, kind: str, bond: Optional[dict] = None) -> None:
        if name in self.state.links:
            raise _Refused(errno.EEXIST)
        index = max((li.index for li in self.state.links.values()), default=1) + 1
        self.state.links[name] = LinkInfo(name, index, kind=kind, alias=DEVICE_ALIAS,
                                          gso_max_segs=GSO_MAX_SEGS, mtu=1500, bond=bond)
        self.state.sysctls[f"{CONF}{name}/rp_filter"] = self.state.sysctls.get(CONF + "default/rp_filter", "0")

    def _drop_device(self, name: str) -> None:
        del self.state.links[name]
        self.state.spreaders.pop(name, None)
        self._drop_routes(lambda r: r.dev == name)
        for link in self.state.links.values():
            if link.master == name:
                self._release(link)
        mine = f"{CONF}{name}/"
        self.state.sysctls = {p: v for p, v in self.state.sysctls.items() if not p.startswith(mine)}

    def _drop_routes(self, dies) -> None:
        self.state.routes = [s for s in self.state.routes if not dies(s.route)]

    def _set_down(self, link: LinkInfo) -> None:
        if link.up:
            self._drop_routes(lambda r: r.dev == link.name)   # IPv4 flushes them
        link.up = False

    def _release(self, port: LinkInfo) -> None:
        port.master = None
        self._set_down(port)        # bonding closes a port it lets go

    def _tun(self, obj: TunDevice, verb: str) -> None:
        if verb != "del":
            self._new_device(obj.name, "tun")
        elif self._link(obj.name).kind != "tun":
            raise _Refused(errno.EINVAL)
        else:
            self._drop_device(obj.name)

    def _link_attrs(self, obj: LinkAttrs, verb: str) -> None:
        if obj.up is None and obj.gso_max_segs is None and obj.mtu is None:
            return      # Kernel._apply sends nothing
        link = self._link(obj.name)
        if obj.gso_max_segs is not None and not 0 <= obj.gso_max_segs <= GSO_MAX_SEGS:
            raise _Refused(errno.EINVAL)
        link.gso_max_segs = link.gso_max_segs if obj.gso_max_segs is None else obj.gso_max_segs
        link.mtu = link.mtu if obj.mtu is None else obj.mtu
        if obj.up is False:
            self._set_down(link)
        elif obj.up:
            link.up = True

    # ---- addresses, routes, rules, nft, sysctls ----------------------------------------

    def _address(self, obj: Address, verb: str) -> None:
        link = self._link(obj.dev)
        pair = (obj.address, obj.prefixlen)
        if verb == "del":
            if pair not in link.addrs:
                raise _Refused(errno.EADDRNOTAVAIL)
            link.addrs.remove(pair)
            if not self._local(obj.address):
                self._drop_routes(lambda r: r.prefsrc == obj.address)
        elif any(a == obj.address for a, _ in link.addrs):
            raise _Refused(errno.EEXIST)
        else:
            link.addrs.append(pair)

    def _local(self, address: str) -> bool:
        return any(a == address for li in self.state.links.values() for a, _ in li.addrs)

    def _route(self, obj: Route, verb: str) -> None:
        routes = self.state.routes
        if verb == "del":
            ours = [s for s in routes if s.route.key() == obj.key() and s.proto == RTPROT_IFAGG]
            if not ours:
                raise _Refused(errno.ESRCH)
            routes.remove(ours[0])
            return
        if verb == "add" and any(s.route.key() == obj.key() for s in routes):
            raise _Refused(errno.EEXIST)    # a set replaces it, as NLM_F_REPLACE does
        link = self._link(obj.dev)
        if not link.up:
            raise _Refused(errno.ENETDOWN)
        if obj.gateway and not _on_link(link, obj.gateway):
            raise _Refused(errno.EINVAL)        # "Nexthop has invalid gateway"
        if obj.prefsrc and not self._local(obj.prefsrc):
            raise _Refused(errno.EINVAL)        # "Invalid prefsrc address"
        routes[:] = [s for s in routes if s.route.key() != obj.key()] + [SeenRoute(obj, RTPROT_IFAGG)]

    def _rule(self, obj: Rule, verb: str) -> None:
        rules = self.state.rules
        if verb == "del":
            ours = [s for s in rules if s.rule == obj and s.proto == RTPROT_IFAGG]
            if not ours:
                raise _Refused(errno.ENOENT)
            rules.remove(ours[0])
        elif any(s.rule == obj for s in rules):
            raise _Refused(errno.EEXIST)
        else:
            rules.append(SeenRule(obj, RTPROT_IFAGG))

    def _nft(self, obj, verb: str) -> None:     # an NftTable by name, or a Spreader by device
        tables, name = ((self.state.nft, obj.name) if isinstance(obj, NftTable)
                        else (self.state.spreaders, self._link(obj.dev).name))
        gone_ok = verb == "del" and getattr(obj, "meters", ())  # bpf.detach sweeps its meters
        if (verb == "add") == (name in tables) and not gone_ok:
            raise _Refused(errno.EEXIST if verb == "add" else errno.ENOENT)
        if verb == "del":
            tables.pop(name, None)
        else:
            tables[name] = obj

    def _sysctl(self, obj: Sysctl, verb: str) -> None:
        if obj.path not in self.state.sysctls:
            raise _Refused(errno.ENOENT)
        self.state.sysctls[obj.path] = obj.value

    # ---- bonds -------------------------------------------------------------------------

    def _bond(self, obj: Bond, verb: str) -> None:
        if verb == "del":
            self._link(obj.name)
            self._drop_device(obj.name)
            return
        if obj.mode not in BOND_MODES:
            raise _Refused(errno.EINVAL)
        self._new_device(obj.name, "bond", {"mode": BOND_MODES.index(obj.mode),
                                            "arp_ip_target": ()})

    def _bond_settings(self, obj: BondSettings, verb: str) -> None:
        link = self._link(obj.name)
        if link.kind != "bond":
            raise _Refused(errno.EOPNOTSUPP)
        values = dict(obj.values)
        mode = values.get("mode", link.bond.get("mode"))
        ports = any(li.master == obj.name for li in self.state.links.values())
        for key, value in obj.values:
            code = self._bond_refusal(key, value, mode, ports, link.up)
            if code:
                raise _Refused(code)
        for key, value in obj.values:
            if value is None:
                link.bond.pop(key, None)    # only primary gets here: no primary
            else:
                link.bond[key] = value

    def _bond_refusal(self, key: str, value, mode, ports: bool, up: bool) -> int:
        if value is None and key != "primary":
            return errno.EINVAL     # no value to put back: the kernel has no "unset"
        if key == "mode" and not (isinstance(value, int) and 0 <= value < len(BOND_MODES)):
            return errno.EINVAL
        name = BOND_MODES[mode] if isinstance(mode, int) and 0 <= mode < len(BOND_MODES) else None
        if name in BOND_NOT_IN.get(key, ()) or name not in BOND_ONLY_IN.get(key, (name,)):
            return errno.EACCES
        if key in BOND_NOSLAVES and ports:
            return errno.ENOTEMPTY
        if key in BOND_IFDOWN and up:
            return errno.EBUSY
        if key == "primary" and value and value not in self.state.links:
            return errno.ENODEV
        return 0

    def _enslave(self, obj, verb: str) -> None:      # an Enslave or a BridgePort
        bridge = isinstance(obj, BridgePort)
        name, master = (obj.port, obj.bridge) if bridge else (obj.slave, obj.master)
        port = self._link(name)
        if verb == "del":
            if port.master != master:
                raise _Refused(errno.ENOENT)
            port.master = None      # a bridge leaves the port's up/down alone; bonding
            if not bridge:          # closes a port it lets go
                self._set_down(port)
            return
        if self._link(master).kind != ("bridge" if bridge else "bond"):
            raise _Refused(errno.EOPNOTSUPP)
        if port.master is not None:
            raise _Refused(errno.EEXIST if port.master == master else errno.EBUSY)
        if not bridge:
            self._set_down(port)    # Kernel._apply takes it down first
        port.master, port.up = master, port.up or not bridge    # and bonding opens it

    def _usb_gadget(self, obj: UsbGadget, verb: str) -> None:
        there = obj.iface in self.gadgets
        if there != (verb == "del"):
            raise _Refused(errno.EEXIST if there else errno.ENOENT)
        if there:
            if self.gadgets.pop(obj.iface) and obj.iface in self.state.links:
                self._drop_device(obj.iface)
        else:
            self._new_device(obj.iface, "")     # a name taken is refused, as gadget_up refuses it
            self.gadgets[obj.iface], self.state.links[obj.iface].alias = obj, ""


def _on_link(link: LinkInfo, gateway: str) -> bool:
    """A gateway must be on one of the device's networks, or IPv6 link-local (on each link)."""
    ip = ipaddress.ip_address(gateway)
    return (ip.version == 6 and ip.is_link_local) or any(
        ip in ipaddress.ip_network(f"{a}/{p}", strict=False) for a, p in link.addrs)


_HANDLERS = {TunDevice: MemoryKernel._tun, LinkAttrs: MemoryKernel._link_attrs,
             Address: MemoryKernel._address, Route: MemoryKernel._route,
             Rule: MemoryKernel._rule, NftTable: MemoryKernel._nft, Spreader: MemoryKernel._nft,
             Sysctl: MemoryKernel._sysctl, Bond: MemoryKernel._bond,
             BondSettings: MemoryKernel._bond_settings, Enslave: MemoryKernel._enslave,
             BridgePort: MemoryKernel._enslave, UsbGadget: MemoryKernel._usb_gadget}
