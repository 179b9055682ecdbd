"""Which paths a monitor watches: one per (peer, member NIC, next hop) of its stanza."""

from __future__ import annotations

import socket
from typing import Dict, List

from ifupdown_agg.core.objects import Observed, Route
from ifupdown_agg.monitor import probe
from ifupdown_agg.monitor.health import Path
from ifupdown_agg.overlay import plan
from ifupdown_agg.overlay.model import OverlayConfig


def _canonical(address: str) -> str:
    """An address as recvmsg reports a source (fd99:0::20 -> fd99::20), zone dropped."""
    address = probe.plain(address)
    if ":" not in address:
        return address
    return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, address))


def paths_from(cfg: OverlayConfig, desired_objects, obs: Observed, members=()) -> List[Path]:
    """One Path per (peer, NIC, next hop), with the tables that use it. Our end is our
    hop on that NIC: a table's member there (tables routed through another NIC, to a
    host that has one hop for all, have their member elsewhere), else the NIC's first
    address of the overlay's family and of the next hop's scope (link-local or not)."""
    index = {virt: i for i, virt in cfg.peer_indexes}
    v6 = cfg.family == "inet6"
    grouped: Dict[tuple, List[int]] = {}
    for obj in desired_objects:
        if isinstance(obj, Route) and obj.table != plan.MAIN_TABLE:
            grouped.setdefault((obj.dst.split("/")[0], obj.dev, _canonical(obj.gateway)),
                               []).append(obj.table)
    paths = []
    for (peer, dev, gateway), tables in grouped.items():
        local = next((m.local for t in tables for m in members if m.table == t and m.dev == dev),
                     None) or next((m.local for m in members if m.dev == dev), None) \
            or _address_on(obs, dev, v6, gateway)
        paths.append(Path(peer, index[peer], dev, _canonical(local), gateway, tuple(tables),
                          wire=probe.version_for(cfg.address)))
    return paths


def _address_on(obs: Observed, dev: str, v6: bool, gateway: str) -> str:
    link_local = gateway.lower().startswith("fe80:")
    return next((a for a, plen in obs.links[dev].addrs
                 if (":" in a) == v6 and plen < (128 if v6 else 32)
                 and (not v6 or a.lower().startswith("fe80:") == link_local)), "")
