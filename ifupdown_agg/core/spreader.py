"""The overlay's BPF spreader as plain data: a program on the overlay device's
egress and, per peer, the paths it rotates over.

Kept apart from objects.py only for size; objects.py lists it among the kinds.
A path is (member NIC, the peer's next hop on it, run): the run is its weight,
bytes per rotation, as the config gives it. The map keeps that base run beside
the live one, which the link monitor moves as paths fail or fill up; a
spreader compares by its base runs, and `live` (not compared) is what the
kernel rotates with now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Tuple

SPREADER_PRIO = 173       # the tc filter priority that marks the filter as ours
MAX_PATHS = 8             # per peer; the program's arrays are this long
MAX_PEERS = 256

Path = Tuple[str, str, int]                 # (member NIC, gateway, run bytes)
Peer = Tuple[str, int, Tuple[Path, ...]]    # (virtual address, slot, paths)
Meter = Tuple[str, int]                     # (member NIC, its rate in Mbit/s)


def _peers(value) -> Tuple[Peer, ...]:
    return tuple((str(virt), int(slot), tuple((str(d), str(g), int(r)) for d, g, r in paths))
                 for virt, slot, paths in value)


@dataclass(frozen=True)
class Spreader:
    dev: str
    peers: Tuple[Peer, ...] = ()
    pace: int = 0       # Mbit/s: every packet takes the pacing hop (kernel/hop.py); 0 = none
    program: str = field(default="", compare=False)     # the object file it was loaded from
    live: Tuple[Peer, ...] = field(default=(), compare=False)   # the runs in use (observed)
    live_pace: int = field(default=0, compare=False)    # the tbf's rate now (the monitor's)
    # Member NICs whose egress keeps a virtual queue of all their traffic (kernel/meters.py):
    # the rotation skips a path queued well above the least-queued one.
    meters: Tuple[Meter, ...] = ()
    # GSO packets built elsewhere (forwarded, a tunnel to a peer) leave whole on one path:
    # no segmenting hop (overlay/spread.py whole_gso: fast members).
    whole_gso: bool = False

    def __post_init__(self):
        object.__setattr__(self, "peers", _peers(self.peers))   # from JSON lists
        object.__setattr__(self, "live", _peers(self.live))
        object.__setattr__(self, "meters", tuple((str(d), int(r)) for d, r in self.meters))

    def key(self):
        return ("spreader", self.dev)

    def layout(self) -> Tuple:
        """What the config decides: peers and their paths, without the live runs."""
        return tuple((virt, slot, tuple((d, g) for d, g, _ in paths))
                     for virt, slot, paths in self.peers)

    def describe(self) -> str:
        paths = sum(len(p[2]) for p in self.peers)
        paced = f", paced at {self.pace} Mbit/s" if self.pace else ""
        metered = f", queues metered on {', '.join(d for d, _ in self.meters)}" if self.meters else ""
        whole = ", forwarded GSO packets whole" if self.whole_gso else ""
        return (f"tc filter add dev {self.dev} egress prio {SPREADER_PRIO} bpf da obj "
                f"spread.bpf.o  # {len(self.peers)} peer(s), {paths} path(s){paced}{metered}{whole}")
