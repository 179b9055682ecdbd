"""Tunnels that ride on the overlay (flannel's VXLAN, any UDP or IP tunnel): the MTU
they may use, and the notes `plan`, `status` and `check` give about them.

Pure: the tunnel devices come from kernel/tunnels.py as Tunnel rows. A tunnel
rides on the overlay when its local address is the overlay's, its remote is a
peer's virtual address, or it is bound to the overlay device (VXLAN `dev`).
Its packets leave a member NIC whole, so the largest one the overlay carries
is the smallest member NIC's MTU; a tunnel device's own MTU is that less its
encapsulation (VXLAN over IPv4: 50 bytes, which is what flannel subtracts
from the interface it is given).
"""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence

from ifupdown_agg.core.tunnel import Tunnel

def carried_mtu(member_mtus: Sequence[Optional[int]]) -> Optional[int]:
    """The largest packet the overlay carries to a peer: the smallest member NIC's MTU."""
    known = [m for m in member_mtus if m]
    return min(known) if known else None


def riding(tunnels: Iterable[Tunnel], iface: str, address: str, peers: Iterable[str]) -> List[Tunnel]:
    peers = set(peers)
    return [t for t in tunnels
            if t.local == address or t.remote in peers or t.link == iface]


def _what(t: Tunnel) -> str:
    extra = [f"VNI {t.vni}" if t.vni is not None else "", f"port {t.port}" if t.port else ""]
    return f"{t.name} ({', '.join([t.kind] + [e for e in extra if e])})"


def notes(iface: str, tunnels: Sequence[Tunnel], carried: Optional[int], spread: str) -> List[str]:
    """Plan and status notes for the tunnels riding on the overlay."""
    out = []
    for t in tunnels:
        room = f"; its MTU may be at most {carried - t.overhead()}" if carried else ""
        how = ("its GSO packets take the spreader's segmenting hop and are spread segment by "
               "segment, like the overlay's own" if spread == "bpf" else
               "with agg-spread nft each of its GSO packets gets one mark and leaves whole "
               "on one link (agg-spread bpf spreads it per segment)")
        out.append(f"{_what(t)} rides on {iface}: {how}{room}. Inner TCP sees reordering across "
                   f"the links; cubic tolerates it, the overlay sets its own congestion control "
                   f"only on its routes, not on the tunnel's (README: Kubernetes)")
    return out


def oversize(iface: str, tunnels: Sequence[Tunnel], carried: Optional[int]) -> List[str]:
    """`check`'s warnings: a riding tunnel whose packets exceed what the overlay carries."""
    if not carried:
        return []
    return [f"warning: {_what(t)} rides on {iface} with MTU {t.mtu}: its packets are up to "
            f"{t.mtu + t.overhead()} bytes, above the {carried} the overlay carries (the smallest "
            f"member NIC's MTU); set its MTU to {carried - t.overhead()} (flannel: give it "
            f"--flannel-iface {iface})"
            for t in tunnels if t.mtu + t.overhead() > carried]


def judge(cfg, desired, obs, found: Iterable[Tunnel]):
    """(what a tunnel may send, the riding tunnels, notes, check's warnings) for an
    overlay config, its desired state and an Observed snapshot."""
    carried = carried_mtu([obs.links[m.dev].mtu for m in desired.members if m.dev in obs.links])
    ride = riding(found, cfg.iface, cfg.address, [virt for _, virt in cfg.peer_indexes])
    return carried, ride, notes(cfg.iface, ride, carried, desired.spread), \
        oversize(cfg.iface, ride, carried)
