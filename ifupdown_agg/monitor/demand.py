"""Hellos on demand: a peer the overlay carries nothing to or from is probed slowly.

BFD's Demand mode (RFC 5880 section 6.6) stops the periodic packets while something
else vouches for the path. Ours keeps them, at agg-probe-idle-interval (1 s) instead
of agg-probe-interval (50 ms), to a peer with no traffic either way: at 32 peers x 4
links that is most of the monitor's cost (bench/results/). A peer goes fast again at
our next tick, on both sides, when

- the overlay sends to it: the BPF spreader's counters for its paths moved (read
  with the capacity controller's, every daemon.CAPACITY_S while a peer is fast).
  With every peer slow the monitor reads them only at the idle grid: a slow peer
  is armed in the spreader, whose first packet to it wakes the monitor through a
  ring (Wakeup; kernel/bpf_ring.py), so it goes fast at once, not at a tick;
- it asks: its hellos carry FLAG_FAST because it has traffic for us;

and it stays fast while one of its paths is down or drained or has not been heard, or while
it runs a monitor that does not say its pace (an older one expects every hello).
Fast lasts HOLD_S past the last traffic, so a flow's pauses do not flap the pace.

What idle costs: a path that dies while its peer is idle is found within `loss`
idle intervals (3 s), or within `loss` fast intervals of the first packets for
that peer (each side counts its silence from the peer's first fast hello, in
monitor/health.py), where a path that dies under traffic is found in 150 ms.
Without the BPF spreader (agg-spread nft) there are no counters: every peer
stays fast.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Set

from ifupdown_agg.monitor import probe
from ifupdown_agg.monitor.health import UP, Path, Tracker

HOLD_S = 2.0


def pace_byte(seconds: float) -> int:
    """A pace as the hellos carry it (probe.py: 10 ms steps), 0 where it cannot be said:
    rounded up, so a receiver never expects hellos sooner than they come."""
    steps = -int(-round(seconds / probe.PACE_UNIT, 6) // 1)
    return steps if 1 <= steps <= 255 else 0


class Pacer:
    def __init__(self, tracker: Tracker, idle_s: float, counted: bool = True):
        """`idle_s`: agg-probe-idle-interval; `counted`: whether traffic is seen (the BPF
        spreader's counters). Without both, every peer is always fast."""
        self.tracker = tracker
        fast = tracker.interval
        self.fast_pace, self.idle_pace = pace_byte(fast), pace_byte(max(idle_s, fast))
        self.on = counted and self.fast_pace > 0 and self.idle_pace > self.fast_pace
        self.idle = self.idle_pace * probe.PACE_UNIT if self.on else fast
        tracker.slowest = self.idle
        self.paths_of: Dict[str, List[Path]] = {}
        for path in tracker.paths:
            self.paths_of.setdefault(path.peer, []).append(path)
            path.pace = self.fast_pace
        self.busy_until: Dict[str, float] = {}      # peer -> fast until (its traffic)
        self.fast: Set[str] = set(self.paths_of)     # looked at every tick
        self.woken: Set[str] = set()                # slow peers to look at, at the next tick
        self.slowed: Set[str] = set()               # went slow at the last due(): to arm
        self.next_grid = 0.0

    def traffic(self, peers: Iterable[str], now: float) -> None:
        """The overlay carried something to or from these peers just now."""
        until = now + HOLD_S
        for peer in peers:
            self.busy_until[peer] = until
            self.woken.add(peer)

    def wake(self, peers: Iterable[str]) -> None:
        """A path of these peers changed state: look at them at the next tick."""
        self.woken.update(peers)

    def due(self, now: float) -> Optional[Set[str]]:
        """At a tick: the peers whose hellos go out now (None: every one). Sets each
        path's pace and FLAG_FAST (Path.pace, Path.ask) for the hellos. A slow peer is
        looked at only when something happened to it (traffic, a path's state, its
        FLAG_FAST, wake()) and on the grid of idle intervals its hellos keep."""
        if not self.on:
            return None
        half = self.tracker.interval / 2
        grid = now >= self.next_grid - half
        if grid:
            # Every slow peer's hellos go on one grid: one sendmmsg per NIC, and one wake
            # at the far end, not one per peer. The next point after the one we are at
            # (a tick may come up to half an interval early for it).
            self.next_grid = (int((now + half) / self.idle) + 1) * self.idle
            look = set(self.paths_of)
        else:
            look = self.fast | self.woken | self.tracker.asked
        self.woken.clear()
        self.tracker.asked.clear()
        self.slowed = set()
        out = set()
        for peer in look:
            paths = self.paths_of.get(peer)
            if paths is None:
                continue
            # A path down or drained (health.py) is probed fast until it is settled.
            ask = self.busy_until.get(peer, 0.0) > now or any(
                p.state != UP or p.drained for p in paths)
            if ask or self._held_fast(paths, now):
                if peer not in self.fast:
                    self.fast.add(peer)
                    self.tracker.our_fast_since[peer] = now
                pace = self.fast_pace
                out.add(peer)
            else:
                if peer in self.fast or grid:
                    out.add(peer)       # the first slow hello goes at once: it says the pace
                if peer in self.fast:
                    self.slowed.add(peer)
                self.fast.discard(peer)
                pace = self.idle_pace
            for p in paths:
                p.pace, p.ask = pace, ask
        return out

    def _held_fast(self, paths: List[Path], now: float) -> bool:
        """Whether the peer keeps us fast: it asks, or a path is not yet heard, or it
        does not say its pace (an older monitor)."""
        said = self.tracker.peer_said.get(paths[0].peer, 0)
        if not said:
            return True
        for p in paths:
            if p.last_rx is None or (p.peer_fast and now - p.last_rx < HOLD_S):
                return True
        return False

    def state(self) -> Dict[str, int]:
        """peer -> the interval our hellos to it run at now, ms (health.json)."""
        return {peer: int(round(paths[0].pace * probe.PACE_UNIT * 1000)) if paths[0].pace
                else int(self.tracker.interval * 1000) for peer, paths in self.paths_of.items()}


class Wakeup:
    """The spreader's wake ring, and the arming of slow peers in it (monitor/daemon.py
    polls it with the hello sockets). `ring` is None where there is none (no BPF
    spreader, an object built before the ring, a refused mmap); `on` is False then
    and after a failed write: the counters are read every daemon.CAPACITY_S, as
    before the ring."""

    def __init__(self, steering, peer_indexes, log):
        self.steering, self.log = steering, log
        self.ring = steering.wake_ring() if hasattr(steering, "wake_ring") else None
        self.on = self.ring is not None
        self.slot = {virt: i for i, virt in peer_indexes}
        self.wakes = 0          # how often the ring woke us (health.json)

    def arm(self, peers: Iterable[str]) -> None:
        slots = [self.slot[p] for p in peers if p in self.slot]
        if not self.on or not slots:
            return
        try:
            self.steering.arm(slots)
        except OSError as err:
            self.log.warning("cannot arm the spreader's wake-up (%s): reading its counters "
                             "every 100 ms instead", err)
            self.on = False

    def drain(self) -> None:
        if self.ring is not None and self.ring.drain():
            self.wakes += 1

    def close(self) -> None:
        if self.ring is not None:
            self.ring.close()
            self.ring = None
            self.on = False
