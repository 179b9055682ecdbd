"""The kernel edge: the only module that talks netlink, nftables and /proc/sys.

It uses the part of pyroute2 that 0.7.2 (Debian bookworm) and 0.9.x share:
IPRoute().link/addr/route/rule, get_* dumps and link_lookup, all in the
caller's own network namespace (never pyroute2's NetNS, which forks in 0.9).
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Dict, List, Optional, Sequence, Tuple

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from ifupdown_agg.kernel.nft import Nft
from ifupdown_agg.kernel import tun as tundev
from ifupdown_agg.kernel import bpf, configfs, files, netdev
from ifupdown_agg.kernel.route_batch import RouteBatch, route_metrics
from ifupdown_agg.kernel.qdisc_dump import QdiscDump, QdiscStats
from ifupdown_agg.errors import ApplyError
from ifupdown_agg.core.objects import (DEVICE_ALIAS, RTPROT_IFAGG, Address, Bond,
                                       BondSettings, BridgePort, Enslave, LinkAttrs, LinkInfo, NftTable,
                                       Observed, Route, Rule, SeenRoute, SeenRule, Spreader,
                                       Sysctl, TunDevice, UsbGadget, nft_family)
from ifupdown_agg.core.ops import Op
from ifupdown_agg.config.types import BOND_MODES

# pyroute2 0.7 does not know RTAX_CC_ALGO (metric 16, the route's congctl);
# 0.9 does. The table is compiled on first use, so extending it here is enough.
if "RTAX_CC_ALGO" not in [nla[0] for nla in rtmsg.metrics.nla_map]:
    rtmsg.metrics.nla_map = tuple(rtmsg.metrics.nla_map) + (("RTAX_CC_ALGO", "asciiz"),)

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
BOND_PREFIX = "IFLA_BOND_"
RTN_UNICAST = 1
TC_H_ROOT = 0xFFFFFFFF
PROC_SYS = "/proc/sys"


class Kernel:
    """Observe and change the kernel state of the current network namespace."""

    def __init__(self):
        self.ipr = IPRoute()
        self._nft: Optional[Nft] = None
        self._indexes: Dict[str, int] = {}     # from the last observe(); one lookup per device
        self._routes: Optional[RouteBatch] = None
        self._qdiscs: Optional[QdiscDump] = None

    def close(self) -> None:
        self.ipr.close()
        for sock in (self._routes, self._qdiscs):
            if sock is not None:
                sock.close()

    @property
    def nft(self) -> Nft:
        if self._nft is None:
            self._nft = Nft()
        return self._nft

    # ---- observation -------------------------------------------------------------------

    def observe(self) -> Observed:
        """The namespace's links, addresses, routes, fwmark rules, shapers, our nft
        tables and rp_filter, and each addressed link's speed and raw USB facts.
        Judging them (bus shares, bond mode names) is the wings' business."""
        obs = Observed()
        names = self._observe_links(obs)
        for family in (socket.AF_INET, socket.AF_INET6):     # IPv4 first, as before IPv6
            for msg in self.ipr.get_addr(family=family):
                name = names.get(msg["index"])
                addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
                if name:        # IFA_FLAGS holds all 32 bits of the flags; msg's the low 8
                    netdev.file_address(obs.links[name], addr, msg["prefixlen"],
                                        msg.get_attr("IFA_FLAGS") or msg["flags"])
        self._observe_routing(obs, names)
        clsact = set()
        for msg in self.ipr.get_qdiscs():
            if msg.get_attr("TCA_KIND") == "clsact" and names.get(msg["index"]):
                clsact.add(names[msg["index"]])
            # A tbf at the root is what the link carries, whatever its speed says.
            if msg["parent"] == TC_H_ROOT and msg.get_attr("TCA_KIND") == "tbf":
                opts = msg.get_attr("TCA_OPTIONS")
                parms = opts.get_attr("TCA_TBF_PARMS") if opts else None
                name = names.get(msg["index"])
                if parms and parms.get("rate") and name:
                    obs.links[name].shaped = int(parms["rate"] * 8 // 1_000_000)
        obs.nft = self.nft.our_tables()
        bpf.observe_into(obs, sorted(clsact), names)
        files.observe_into(obs)
        return obs

    def _observe_links(self, obs: Observed) -> Dict[int, str]:
        """Fill obs.links; the names by ifindex."""
        names: Dict[int, str] = {}
        masters: Dict[str, int] = {}
        for msg in self.ipr.get_links():
            name = msg.get_attr("IFLA_IFNAME")
            names[msg["index"]] = name
            self._indexes[name] = msg["index"]
            info = msg.get_attr("IFLA_LINKINFO")
            kind = (info.get_attr("IFLA_INFO_KIND") or "") if info else ""
            obs.links[name] = LinkInfo(
                name=name, index=msg["index"], kind=kind,
                alias=msg.get_attr("IFLA_IFALIAS") or "",
                up=bool(msg["flags"] & IFF_UP),
                carrier=bool(msg["flags"] & IFF_LOWER_UP),
                gso_max_segs=msg.get_attr("IFLA_GSO_MAX_SEGS"), mtu=msg.get_attr("IFLA_MTU"),
                bond=self._bond_attrs(info) if kind == "bond" else None)
            if msg.get_attr("IFLA_MASTER"):
                masters[name] = msg.get_attr("IFLA_MASTER")
        for name, index in masters.items():
            obs.links[name].master = names.get(index)
        for link in obs.links.values():
            if link.bond and link.bond.get("primary") is not None:
                link.bond["primary"] = names.get(link.bond["primary"])
        return names

    def _observe_routing(self, obs: Observed, names: Dict[int, str]) -> None:
        for msg in self._routes_of_both():
            if msg["type"] != RTN_UNICAST:
                continue
            obs.routes.append(SeenRoute(Route(
                table=msg.get_attr("RTA_TABLE") or msg["table"],
                dst=f"{msg.get_attr('RTA_DST') or _ANY[msg['family']]}/{msg['dst_len']}",
                dev=names.get(msg.get_attr("RTA_OIF"), ""),
                gateway=msg.get_attr("RTA_GATEWAY"),
                prefsrc=msg.get_attr("RTA_PREFSRC"),
                **route_metrics(msg.get_attr("RTA_METRICS")),
            ), msg["proto"]))
        for family in (socket.AF_INET, socket.AF_INET6):
            for msg in self.ipr.get_rules(family=family):
                fwmark = msg.get_attr("FRA_FWMARK")
                if fwmark is None:
                    continue    # only fwmark rules can collide with ours
                obs.rules.append(SeenRule(Rule(
                    priority=msg.get_attr("FRA_PRIORITY") or 0, fwmark=fwmark,
                    table=msg.get_attr("FRA_TABLE") or msg["table"],
                    family=6 if family == socket.AF_INET6 else 4),
                    msg.get_attr("FRA_PROTOCOL") or 0))

    def _routes_of_both(self):
        """IPv4 routes, and IPv6 ones but the kernel's local table (neither ours nor in the way)."""
        yield from self.ipr.get_routes(family=socket.AF_INET)
        for msg in self.ipr.get_routes(family=socket.AF_INET6):
            if msg["proto"] == RTPROT_IFAGG or (msg.get_attr("RTA_TABLE") or msg["table"]) != 255:
                yield msg

    @staticmethod
    def _bond_attrs(info) -> Dict[str, object]:
        """A bond's IFLA_INFO_DATA by kernel name (miimon, ad_lacp_rate, ...)."""
        data = info.get_attr("IFLA_INFO_DATA")
        out: Dict[str, object] = {}
        for nla in (data["attrs"] if data else ()):
            key, value = nla[0], nla[1]
            if not key.startswith(BOND_PREFIX) or key == "IFLA_BOND_AD_INFO":
                continue
            key = key[len(BOND_PREFIX):].lower()
            if key == "arp_ip_target":
                value = tuple(value) if isinstance(value, (list, tuple)) else (value,)
            elif key == "ad_actor_system" and isinstance(value, str):
                value = value.lower()
            out[key] = value
        out.setdefault("arp_ip_target", ())
        return out

    # ---- changes -----------------------------------------------------------------------

    def apply(self, op: Op) -> None:
        try:
            self._apply(op)
        except NetlinkError as err:
            if _already_gone(op, err.code):
                return
            reason = os.strerror(err.code) if err.code else str(err)
            raise ApplyError(f"{op.describe()}: {reason}") from None
        except OSError as err:
            if _already_gone(op, err.errno):
                return
            raise ApplyError(f"{op.describe()}: {err.strerror}") from None

    def _index(self, name: str) -> int:
        if name not in self._indexes:
            found = self.ipr.link_lookup(ifname=name)
            if not found:
                raise OSError(errno.ENODEV, f"no device {name}")
            self._indexes[name] = found[0]
        return self._indexes[name]

    def _apply(self, op: Op) -> None:
        obj, add = op.obj, op.action != "del"
        if isinstance(obj, TunDevice):
            if add:
                tundev.create(obj.name, DEVICE_ALIAS)
            else:
                tundev.delete(obj.name)
            self._indexes.pop(obj.name, None)
        elif isinstance(obj, LinkAttrs):
            attrs = {}
            if obj.up is not None:
                attrs["state"] = "up" if obj.up else "down"
            if obj.gso_max_segs is not None:
                attrs["gso_max_segs"] = obj.gso_max_segs
            if obj.mtu is not None:
                attrs["mtu"] = obj.mtu
            if attrs:
                self.ipr.link("set", index=self._index(obj.name), **attrs)
        elif isinstance(obj, Bond):
            if add:
                self.ipr.link("add", ifname=obj.name, kind="bond",
                              IFLA_BOND_MODE=BOND_MODES.index(obj.mode))
                self.ipr.link("set", index=self._index(obj.name), ifalias=DEVICE_ALIAS)
            else:
                self.ipr.link("del", index=self._index(obj.name))
                self._indexes.pop(obj.name, None)
        elif isinstance(obj, BondSettings):
            attrs = {BOND_PREFIX + k.upper(): self._bond_value(k, v) for k, v in obj.values}
            self.ipr.link("set", index=self._index(obj.name), kind="bond", **attrs)
        elif isinstance(obj, (Enslave, BridgePort)):
            self._port(obj, add)
        elif isinstance(obj, UsbGadget):
            configfs.apply(obj, add)
        elif isinstance(obj, Address):
            self.ipr.addr("add" if add else "del", index=self._index(obj.dev),
                          address=obj.address, prefixlen=obj.prefixlen)
        elif isinstance(obj, Route):
            code = self._batch.run([self._route_args(op)])[0]
            if code:
                raise ApplyError(f"{op.describe()}: {self._route_error(obj, code)}")
        elif isinstance(obj, Rule):
            self.ipr.rule("add" if add else "del", priority=obj.priority, fwmark=obj.fwmark,
                          table=obj.table, protocol=RTPROT_IFAGG, family=_AF[obj.family])
        elif isinstance(obj, NftTable):
            if op.action == "add":
                self.nft.run(obj.script)
            elif op.action == "set":
                self.nft.run(f"delete table {nft_family(obj.name)} {obj.name}\n{obj.script}")
            else:
                self.nft.run(f"delete table {nft_family(obj.name)} {obj.name}")
        elif isinstance(obj, Spreader):
            bpf.apply(op.action, obj, op.old, self._index)
        elif isinstance(obj, Sysctl):
            with open(os.path.join(PROC_SYS, obj.path), "w") as fh:
                fh.write(obj.value)
        else:
            raise TypeError(obj)

    def _port(self, obj, add: bool) -> None:
        if isinstance(obj, BridgePort):
            # A bridge takes a port as it is, up or down: no flap.
            self.ipr.link("set", index=self._index(obj.port),
                          master=self._index(obj.bridge) if add else 0)
            return
        slave = self._index(obj.slave)
        if add:
            # The bonding driver refuses a port that is up; it brings it up itself.
            self.ipr.link("set", index=slave, state="down")
            self.ipr.link("set", index=slave, master=self._index(obj.master))
        else:
            self.ipr.link("set", index=slave, master=0)

    def _bond_value(self, key: str, value):
        if key == "primary":
            return self._index(value) if value else 0
        if key == "ad_actor_system":
            return bytes.fromhex(value.replace(":", ""))
        if key == "arp_ip_target":
            return list(value)
        return value

    def port_facts(self, names: Sequence[str], wait: float = 2.0, touch: bool = True):
        """Driver, speed, duplex and carrier of ports about to be enslaved.

        A port that is down reports no duplex through most drivers: it is brought
        up for the reading (up to `wait` seconds for carrier) and down again."""
        import time
        from ifupdown_agg.kernel import ethtool
        raised = []
        for name in (names if touch else ()):
            if not self.ipr.get_links(self._index(name))[0]["flags"] & IFF_UP:
                self.ipr.link("set", index=self._index(name), state="up")
                raised.append(name)
        try:
            facts = {n: ethtool.port_facts(n) for n in names}
            deadline = time.monotonic() + (wait if touch else 0)
            while any(f.duplex != "full" and not f.carrier for f in facts.values()) \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
                facts = {n: ethtool.port_facts(n) for n in names}
        finally:
            for name in raised:
                self.ipr.link("set", index=self._index(name), state="down")
        return facts

    def apply_all(self, ops: Sequence[Op]) -> Tuple[List[Op], Optional[ApplyError]]:
        """Apply in order until one fails: (the ops done, the error or None).

        Runs of routes go to the kernel in batches; every route still gets its own
        answer, so `done` is exact even when a batch fails part way."""
        done: List[Op] = []
        i = 0
        while i < len(ops):
            j = i
            while j < len(ops) and isinstance(ops[j].obj, Route) and ops[j].action != "set":
                j += 1
            if j == i:
                try:
                    self.apply(ops[i])
                except ApplyError as err:
                    return done, err
                done.append(ops[i])
                i += 1
                continue
            run = ops[i:j]
            try:
                codes = self._batch.run([self._route_args(op) for op in run])
            except OSError as err:
                return done, ApplyError(f"{run[0].describe()}: {err.strerror}")
            failed = None
            for op, code in zip(run, codes):
                if code == 0 or _already_gone(op, code):
                    done.append(op)
                elif failed is None:
                    failed = ApplyError(f"{op.describe()}: {self._route_error(op.obj, code)}")
            if failed:
                return done, failed
            i = j
        return done, None

    @property
    def _batch(self) -> RouteBatch:
        if self._routes is None:
            self._routes = RouteBatch()
        return self._routes

    def _route_args(self, op: Op) -> tuple:
        r = op.obj
        addr, plen = r.dst.split("/")
        if op.action == "del":
            return (False, r.table, addr, int(plen), RTPROT_IFAGG)
        # A set replaces the route in one step: never a moment without it.
        return (True, r.table, addr, int(plen), RTPROT_IFAGG, self._index(r.dev),
                r.gateway, r.prefsrc, r.congctl, r.reordering, r.rto_min, op.action == "set")

    @staticmethod
    def _route_error(r: Route, code: int) -> str:
        reason = os.strerror(code)
        if r.congctl and code in (errno.EINVAL, errno.ENOENT):
            reason += (f" (is congestion control '{r.congctl}' known to this kernel? "
                       "see /proc/sys/net/ipv4/tcp_available_congestion_control)")
        return reason

    def counters(self, nft_table: str) -> Dict[str, Dict[str, int]]:
        return self.nft.counters(nft_table)

    def qdisc_stats(self, devs) -> Dict[str, Optional[QdiscStats]]:
        """Each NIC's root qdisc backlog and bytes sent, from one dump (the monitor reads
        them every interval; a dump for one device costs what one for all does)."""
        index = {}
        for dev in devs:
            try:
                index[self._index(dev)] = dev
            except OSError:
                pass        # gone: nothing to read
        out: Dict[str, Optional[QdiscStats]] = dict.fromkeys(devs)
        if self._qdiscs is None:
            self._qdiscs = QdiscDump()      # read by hand: pyroute2's parsing cost 2.5 ms
        for ifindex, stats in self._qdiscs.root_stats(index).items():
            out[index[ifindex]] = stats
        return out

    def steering(self, dev: str) -> "bpf.Steering":
        """The BPF spreader's maps on `dev`, open for writes (the monitor's)."""
        return bpf.Steering(dev, self._index)

    def forget_neighbour(self, dev: str, address: str) -> None:
        """Drop a neighbour entry, so packets queued for a dead link's next hop go."""
        try:
            self.ipr.neigh("del", dst=address, ifindex=self._index(dev),
                           family=_AF[6 if ":" in address else 4])
        except (NetlinkError, OSError):
            pass    # already gone, or the device with it


# What the kernel answers when asked to delete something that is not there (a route:
# ESRCH, a rule or an address: ENOENT, a device: ENODEV). The goal of a del is met.
_GONE = (errno.ENOENT, errno.ESRCH, errno.ENODEV)
_AF = {4: socket.AF_INET, 6: socket.AF_INET6}
_ANY = {socket.AF_INET: "0.0.0.0", socket.AF_INET6: "::"}


def _already_gone(op: Op, code) -> bool:
    return op.action == "del" and code is not None and abs(code) in _GONE
