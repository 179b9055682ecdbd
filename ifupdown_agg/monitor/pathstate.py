"""What the monitor knows of one path (Path), and a change of its state (Change). Pure.

A path is one peer reached through one of our NICs and one next hop; its state
is UP or DOWN, and an UP path may be drained (out of the data rotation, one
interval short of DOWN). monitor/health.py's Tracker decides the changes."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from ifupdown_agg.monitor.signals import MinWindow

UP, DOWN = "up", "down"
DRAINED, RESUMED = "drained", "resumed"     # a drain's Change states: the path stays UP


def _raw(address: str) -> bytes:
    """A virtual address as the hellos' virt field carries it (4 or 16 bytes)."""
    try:
        if ":" in address:
            return socket.inet_pton(socket.AF_INET6, address)
        return socket.inet_aton(address)
    except OSError:
        return b""


@dataclass
class Path:
    peer: str               # the peer's virtual address
    peer_index: int         # its position in the rspec
    dev: str
    local: str              # our address on dev
    gateway: str            # the peer's address on the link
    tables: Tuple[int, ...]
    state: str = UP
    reason: str = "starting"
    since: float = 0.0
    carrier: bool = True
    last_rx: Optional[float] = None
    first_rx: Optional[float] = None
    peer_seq: int = 0       # the last sequence number we took from the peer here
    heard_by_peer: int = 0  # the last of our sequence numbers the peer reported
    good: int = 0           # consecutive good intervals while down
    flaps: int = 0          # failures in a row, each within FLAP_WINDOW of the last
    last_down: Optional[float] = None
    rejected: Dict[str, int] = field(default_factory=dict)   # why -> count
    restarts: int = 0       # times the peer's sequence began again (it restarted)
    echo_t: int = 0         # the peer's last send time here (its clock, ns)
    echo_rx: int = 0        # when that hello arrived (our monotonic clock, ns)
    rtt_us: Optional[int] = None
    rx_excess_us: Optional[int] = None
    tx_excess_us: Optional[int] = None
    owd: MinWindow = field(default_factory=MinWindow, repr=False)
    wire: int = 3           # the hello version the peer last used here: we answer in it
                            # (an IPv6 path's is 4, the only one there)
    peer_down: bool = False  # the peer's last hello said it has this path out (FLAG_DOWN)
    peer_fast: bool = False  # ... that it has traffic for us (FLAG_FAST): we go fast
    pace: int = 0           # the pace our hellos here say (probe.py, 10 ms); 0: not said
    ask: bool = False       # our hellos here carry FLAG_FAST (monitor/demand.py)
    drained: str = ""       # why the path is out of the data rotation while up ("": it is not)
    drained_at: float = 0.0   # when it was drained
    drain_held: bool = False  # ... because the peer's hellos say FLAG_DRAIN (not our judging)
    peer_drain: bool = False  # the peer's last hello said FLAG_DRAIN
    peer_raw: bytes = field(default=b"", repr=False)    # peer as in the hellos' virt field

    @property
    def key(self) -> Tuple[str, str]:
        return (self.dev, self.gateway)

    def reject(self, why: str) -> None:
        self.rejected[why] = self.rejected.get(why, 0) + 1


@dataclass
class Change:
    path: Path
    state: str
    reason: str
