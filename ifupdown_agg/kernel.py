"""The kernel edge: the only module that talks netlink, nftables and /proc/sys.

It uses the part of pyroute2 that 0.7.2 (Debian bookworm) and 0.9.x share:
IPRoute().link/addr/route/rule, get_* dumps and link_lookup, all in the
caller's own network namespace (never pyroute2's NetNS, which forks in 0.9).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import struct
from typing import Dict, List, Optional

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from . import nft_ruleset
from .errors import ApplyError
from .kobjects import (DEVICE_ALIAS, NFT_PREFIX, RTPROT_IFAGG, Address, KObject, LinkAttrs, LinkInfo,
                       NftTable, Observed, Op, Route, Rule, SeenRoute, SeenRule, Sysctl,
                       TunDevice)

# pyroute2 0.7 does not know RTAX_CC_ALGO (metric 16, the route's congctl);
# 0.9 does. The table is compiled on first use, so extending it here is enough.
if "RTAX_CC_ALGO" not in [nla[0] for nla in rtmsg.metrics.nla_map]:
    rtmsg.metrics.nla_map = tuple(rtmsg.metrics.nla_map) + (("RTAX_CC_ALGO", "asciiz"),)

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_UP = 0x1
RTN_UNICAST = 1
PROC_SYS = "/proc/sys"


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


class Nft:
    """libnftables through Debian's python3-nftables; each cmd() is one transaction."""

    def __init__(self):
        try:
            import nftables
        except ImportError:
            raise ApplyError("the Python nftables module is missing: apt install python3-nftables") from None
        self._nft = nftables.Nftables()

    def run(self, script: str) -> str:
        rc, out, err = self._nft.cmd(script)
        if rc != 0:
            raise ApplyError(f"nft refused the change: {err.strip()}")
        return out

    def our_tables(self) -> Dict[str, NftTable]:
        tables = {}
        for line in self.run("list tables ip").splitlines():
            name = line.split()[-1] if line.startswith("table ip ") else ""
            if name.startswith(NFT_PREFIX):
                listing = self.run(f"list table ip {name}")
                tables[name] = NftTable(name, nft_ruleset.digest_from_listing(listing), listing)
        return tables

    def counters(self, name: str) -> Dict[str, Dict[str, int]]:
        """Packets and bytes of every named counter of our table."""
        self._nft.set_json_output(True)
        try:
            data = json.loads(self.run(f"list counters table ip {name}"))
        finally:
            self._nft.set_json_output(False)
        return {c["counter"]["name"]: {"packets": c["counter"]["packets"],
                                       "bytes": c["counter"]["bytes"]}
                for c in data.get("nftables", []) if "counter" in c}


class Kernel:
    """Observe and change the kernel state of the current network namespace."""

    def __init__(self):
        self.ipr = IPRoute()
        self._nft: Optional[Nft] = None

    def close(self) -> None:
        self.ipr.close()

    @property
    def nft(self) -> Nft:
        if self._nft is None:
            self._nft = Nft()
        return self._nft

    # ---- observation -------------------------------------------------------------------

    def observe(self) -> Observed:
        obs = Observed()
        names: Dict[int, str] = {}
        for msg in self.ipr.get_links():
            name = msg.get_attr("IFLA_IFNAME")
            names[msg["index"]] = name
            info = msg.get_attr("IFLA_LINKINFO")
            obs.links[name] = LinkInfo(
                name=name, index=msg["index"],
                kind=(info.get_attr("IFLA_INFO_KIND") or "") if info else "",
                alias=msg.get_attr("IFLA_IFALIAS") or "",
                up=bool(msg["flags"] & IFF_UP),
                gso_max_segs=msg.get_attr("IFLA_GSO_MAX_SEGS"))
        for msg in self.ipr.get_addr(family=socket.AF_INET):
            name = names.get(msg["index"])
            if name:
                addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
                obs.links[name].addrs.append((addr, msg["prefixlen"]))
        for msg in self.ipr.get_routes(family=socket.AF_INET):
            if msg["type"] != RTN_UNICAST:
                continue
            metrics = msg.get_attr("RTA_METRICS")
            obs.routes.append(SeenRoute(Route(
                table=msg.get_attr("RTA_TABLE") or msg["table"],
                dst=f"{msg.get_attr('RTA_DST') or '0.0.0.0'}/{msg['dst_len']}",
                dev=names.get(msg.get_attr("RTA_OIF"), ""),
                gateway=msg.get_attr("RTA_GATEWAY"),
                prefsrc=msg.get_attr("RTA_PREFSRC"),
                congctl=metrics.get_attr("RTAX_CC_ALGO") if metrics else None,
                reordering=metrics.get_attr("RTAX_REORDERING") if metrics else None,
            ), msg["proto"]))
        for msg in self.ipr.get_rules(family=socket.AF_INET):
            fwmark = msg.get_attr("FRA_FWMARK")
            if fwmark is None:
                continue    # only fwmark rules can collide with ours
            obs.rules.append(SeenRule(Rule(
                priority=msg.get_attr("FRA_PRIORITY") or 0, fwmark=fwmark,
                table=msg.get_attr("FRA_TABLE") or msg["table"]),
                msg.get_attr("FRA_PROTOCOL") or 0))
        obs.nft = self.nft.our_tables()
        for dev in ["all"] + [n for n, li in obs.links.items() if li.addrs]:
            path = f"net/ipv4/conf/{dev}/rp_filter"
            value = _read(os.path.join(PROC_SYS, path))
            if value is not None:
                obs.sysctls[path] = value
            if dev != "all":
                speed = _read(f"/sys/class/net/{dev}/speed")
                if speed and speed.lstrip("-").isdigit() and int(speed) > 0:
                    obs.links[dev].speed = int(speed)
        return obs

    # ---- changes -----------------------------------------------------------------------

    def apply(self, op: Op) -> None:
        try:
            self._apply(op)
        except NetlinkError as err:
            reason = os.strerror(err.code) if err.code else str(err)
            if isinstance(op.obj, Route) and op.obj.congctl and err.code in (errno.EINVAL, errno.ENOENT):
                reason += (f" (is congestion control '{op.obj.congctl}' known to this kernel? "
                           "see /proc/sys/net/ipv4/tcp_available_congestion_control)")
            raise ApplyError(f"{op.describe()}: {reason}") from None
        except OSError as err:
            raise ApplyError(f"{op.describe()}: {err.strerror}") from None

    def _index(self, name: str) -> int:
        found = self.ipr.link_lookup(ifname=name)
        if not found:
            raise OSError(errno.ENODEV, f"no device {name}")
        return found[0]

    def _apply(self, op: Op) -> None:
        obj, add = op.obj, op.action != "del"
        if isinstance(obj, TunDevice):
            if add:
                self._create_tun(obj.name)
            else:
                self.ipr.link("del", index=self._index(obj.name))
        elif isinstance(obj, LinkAttrs):
            attrs = {}
            if obj.up is not None:
                attrs["state"] = "up" if obj.up else "down"
            if obj.gso_max_segs is not None:
                attrs["gso_max_segs"] = obj.gso_max_segs
            if attrs:
                self.ipr.link("set", index=self._index(obj.name), **attrs)
        elif isinstance(obj, Address):
            self.ipr.addr("add" if add else "del", index=self._index(obj.dev),
                          address=obj.address, prefixlen=obj.prefixlen)
        elif isinstance(obj, Route):
            self._route(obj, add)
        elif isinstance(obj, Rule):
            self.ipr.rule("add" if add else "del", priority=obj.priority, fwmark=obj.fwmark,
                          table=obj.table, protocol=RTPROT_IFAGG)
        elif isinstance(obj, NftTable):
            if op.action == "add":
                self.nft.run(obj.script)
            elif op.action == "set":
                self.nft.run(f"delete table ip {obj.name}\n{obj.script}")
            else:
                self.nft.run(f"delete table ip {obj.name}")
        elif isinstance(obj, Sysctl):
            with open(os.path.join(PROC_SYS, obj.path), "w") as fh:
                fh.write(obj.value)
        else:
            raise TypeError(obj)

    def _route(self, r: Route, add: bool) -> None:
        addr, plen = r.dst.split("/")
        args = dict(table=r.table, dst=addr, dst_len=int(plen), proto=RTPROT_IFAGG)
        if add:
            args["oif"] = self._index(r.dev)
            if r.gateway:
                args["gateway"] = r.gateway
            if r.prefsrc:
                args["prefsrc"] = r.prefsrc
            metrics = {}
            if r.congctl:
                metrics["RTAX_CC_ALGO"] = r.congctl
            if r.reordering is not None:
                metrics["RTAX_REORDERING"] = r.reordering
            if metrics:
                args["metrics"] = metrics
        self.ipr.route("add" if add else "del", **args)

    def _create_tun(self, name: str) -> None:
        # The ioctl pair `ip tuntap add` uses; pyroute2's tuntap support differs
        # between 0.7 and 0.9.
        fd = os.open("/dev/net/tun", os.O_RDWR)
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
            fcntl.ioctl(fd, TUNSETPERSIST, 1)
        finally:
            os.close(fd)
        self.ipr.link("set", index=self._index(name), ifalias=DEVICE_ALIAS)

    def counters(self, nft_table: str) -> Dict[str, Dict[str, int]]:
        return self.nft.counters(nft_table)

    def forget_neighbour(self, dev: str, address: str) -> None:
        """Drop a neighbour entry, so packets queued for a dead link's next hop go."""
        try:
            self.ipr.neigh("del", dst=address, ifindex=self._index(dev))
        except (NetlinkError, OSError):
            pass    # already gone, or the device with it
