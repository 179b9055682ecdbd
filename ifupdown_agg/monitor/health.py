"""Path health: when a (peer, link) path leaves and rejoins the rotation. Pure.

A path is one peer reached through one of our NICs and one next hop; several
tables may share it (a host with one NIC). Two signals decide:

- carrier: our NIC losing carrier takes its paths down at once;
- probes: every interval each side sends a hello on every path, carrying its
  own sequence number and the last one it heard from the other side. A path
  is down when nothing arrived for `loss` intervals (the way in is broken) or
  the peer's hellos say it has not heard us for `loss` intervals (the way out
  is). A peer that never sent a hello runs no monitor: carrier alone decides.

A down path rejoins after `rejoin` consecutive good intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

UP, DOWN = "up", "down"


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
    peer_seq: int = 0       # the last sequence number we heard from the peer here
    heard_by_peer: int = 0  # the last of our sequence numbers the peer reported
    good: int = 0           # consecutive good intervals while down

    @property
    def key(self) -> Tuple[str, str]:
        return (self.dev, self.gateway)


@dataclass
class Change:
    path: Path
    state: str
    reason: str


@dataclass
class Tracker:
    paths: List[Path]
    interval: float
    loss: int
    rejoin: int
    seq: int = 0
    probed_peers: set = field(default_factory=set)

    def __post_init__(self):
        self._by_key: Dict[Tuple[str, str], Path] = {p.key: p for p in self.paths}

    def path_for(self, dev: str, source: str) -> Optional[Path]:
        return self._by_key.get((dev, source))

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def on_hello(self, path: Path, peer_seq: int, heard: int, now: float) -> bool:
        """Record a hello; True if it is the first from this peer."""
        new = path.peer not in self.probed_peers
        self.probed_peers.add(path.peer)
        if path.first_rx is None:
            path.first_rx = now
        path.last_rx = now
        path.peer_seq = peer_seq
        path.heard_by_peer = heard
        return new

    def on_carrier(self, dev: str, carrier: bool, now: float) -> List[Change]:
        changes = []
        for path in self.paths:
            if path.dev != dev or path.carrier == carrier:
                continue
            path.carrier = carrier
            if not carrier and path.state == UP:
                changes.append(self._set(path, DOWN, f"carrier lost on {dev}", now))
            if carrier:
                path.good = 0
        return changes

    def _fault(self, path: Path, now: float) -> Optional[str]:
        if not path.carrier:
            return f"no carrier on {path.dev}"
        if path.peer not in self.probed_peers:
            return None
        window = self.loss * self.interval
        silent_since = path.last_rx if path.last_rx is not None else path.since
        if now - silent_since > window + self.interval / 2:
            return f"no probe from {path.gateway} for {int((now - silent_since) * 1000)} ms"
        if path.heard_by_peer == 0:
            # The peer has never heard us here: a fault only once it has been
            # talking for longer than the loss window (both monitors start at
            # their own time).
            if path.first_rx is not None and now - path.first_rx > window + self.interval:
                return f"{path.gateway} has never heard our probes"
            return None
        if self.seq - path.heard_by_peer > self.loss + 1:
            return f"{path.gateway} has not heard our probes for {self.seq - path.heard_by_peer} intervals"
        return None

    def tick(self, now: float) -> List[Change]:
        """Evaluate every path once per interval, after the hellos went out."""
        changes = []
        for path in self.paths:
            fault = self._fault(path, now)
            if path.state == UP and fault:
                changes.append(self._set(path, DOWN, fault, now))
            elif path.state == DOWN:
                path.good = 0 if fault else path.good + 1
                if path.good >= self.rejoin:
                    changes.append(self._set(path, UP, f"healthy for {path.good} intervals", now))
        return changes

    def _set(self, path: Path, state: str, reason: str, now: float) -> Change:
        path.state, path.reason, path.since, path.good = state, reason, now, 0
        if state == DOWN and path.heard_by_peer:
            # The peer's report of our probes restarts when the path comes back.
            path.heard_by_peer = self.seq
        return Change(path, state, reason)

    def rotation(self, peer: str, tables: Sequence[int], weights: Sequence[int]
                 ) -> Tuple[List[int], List[int], bool]:
        """(tables, weights) to use for `peer`, and whether all of its paths are down."""
        down_tables = {t for p in self.paths if p.peer == peer and p.state == DOWN for t in p.tables}
        keep = [(t, w) for t, w in zip(tables, weights) if t not in down_tables]
        if not keep:
            return list(tables), list(weights), True
        return [t for t, _ in keep], [w for _, w in keep], False
