"""Path health: when a (peer, link) path leaves and rejoins the rotation. Pure.

A path is one peer reached through one of our NICs and one next hop; several
tables may share it (a host with one NIC). Two signals decide:

- carrier: our NIC losing carrier takes its paths down at once;
- hellos: every interval each side sends a hello on every path, carrying its
  own sequence number and the last one it heard from the other side. A path
  is down when nothing arrived for `loss` intervals (the way in is broken) or
  the peer's hellos say it has not heard us for `loss` intervals (the way out
  is). A peer that never sent a hello runs no monitor: carrier alone decides.

Only hellos that passed the codec's checks (TTL 255, version, MAC) get here,
and this module drops what is not newer than the last one taken on the path
(a replay), so a forged or replayed hello never changes a path's state. A
peer that restarted with a lower sequence number is taken again once its
hello echoes one of our own recent sequence numbers, which no old capture can.

One interval before that (`loss` - 1 of them, where `loss` is 3 or more) a path
is drained: it leaves the data rotation but is not down, keeps its hellos and
comes back at the first one on it that clears it, undamped (a silence that only
restarts, as when the peer's pace falls, does not end a drain). Most of a silent
failure's cost comes while the path is still in the rotation (a quarter of a
flow's segments and retransmissions lost for ~150 ms stall it), so a drain at
100 ms cuts it, and a late hello under load costs a moment of 1/N of the rate,
not a rejoin. Hellos say a drain (FLAG_DRAIN) and the far end drains on its rising
edge until it falls, as with FLAG_DOWN.

A down path rejoins after `rejoin` consecutive good intervals; a path that
fails again within FLAP_WINDOW seconds of its last failure waits twice as
long each time (up to 2**MAX_DAMPING times).

Each hello also carries timing (for the capacity controller): the sender's
send time, an echo of the last send time it received from us with how long it
held it, and its measure of the one-way delay excess in our direction. Per
path that gives rtt_us, rx_excess_us (peer -> us: arrival minus peer send
time, minus the minimum of that over the last ~10 s: queueing growth, the
clock offset cancels) and tx_excess_us (the peer's rx_excess_us for us -> peer).

Each hello says the sender's pace, its interval until its next hello (an idle
peer is probed slowly, monitor/demand.py): a path's silence limit is `loss` of
the peer's paces, counted from the last hello or, when the peer's pace fell,
from the first hello at the new pace, whichever is later; so a path that died
while its peer was idle is found `loss` fast intervals after the peer went fast.
The peer's report of our hellos is judged likewise, by when we sent the one it
reported (or when our own pace fell) against `loss` of the slower pace.

A hello's FLAG_DOWN says the peer has the path out of its rotation: on the
first such hello (its rising edge) we take the path out at once instead of
waiting `loss` intervals for the peer's reports to show it (BFD's far end
acting on the Down state); the path then rejoins by the usual rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

# The path's state is its own module; these names are taken from here too.
from ifupdown_agg.monitor.pathstate import (  # noqa: F401
    DOWN, DRAINED, RESUMED, UP, Change, MinWindow, Path, _raw)

FLAP_WINDOW = 30.0
MAX_DAMPING = 4


@dataclass
class Tracker:
    paths: List[Path]
    interval: float
    loss: int
    rejoin: int
    seq: int = 0            # our last sequence number; start it above any earlier run's
    probed_peers: set = field(default_factory=set)

    def __post_init__(self):
        self._by_key: Dict[Tuple[str, str], Path] = {p.key: p for p in self.paths}
        self.first_seq = self.seq + 1
        # Changes found while taking hellos (a peer saying it took a path out), for the
        # monitor to apply at once.
        self.pending: List[Change] = []
        for p in self.paths:
            p.peer_raw = _raw(p.peer)
        self.peer_pace: Dict[str, float] = {}       # peer -> its last said pace, seconds
        self.peer_said: Dict[str, int] = {}         # peer -> ... as it came (0: not said)
        self.peer_fast_since: Dict[str, float] = {}  # peer -> when its pace last fell
        self.our_fast_since: Dict[str, float] = {}   # peer -> when our pace to it fell
        self.sent_at: Dict[int, float] = {}         # our sequence number -> its tick
        self.slowest = self.interval                # the slowest pace we may send at
        self.asked: set = set()     # peers whose FLAG_FAST rose, or that stopped saying a pace
        self.dirty = True           # something next_deadline() reads changed since it was asked
        # Intervals of silence after which an up path is drained (0: never; a drain one
        # interval short of a loss of 2 would take a path out at every late hello).
        self.drain_after = self.loss - 1 if self.loss >= 3 else 0

    def path_for(self, dev: str, source: str) -> Optional[Path]:
        return self._by_key.get((dev, source))

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _stale(self, path: Path, seq: int, heard: int) -> bool:
        """Whether an authentic hello must not be taken (a replay)."""
        if heard > self.seq:
            return True             # it claims to have heard what we never sent
        if seq > path.peer_seq:
            return False
        # Not newer than the last one taken: a replay, or a peer that restarted
        # lower. Only the latter can echo our recent numbers beyond what it reported.
        recent = max(self.first_seq, self.seq - (self.loss + 1) * self._ratio())
        if path.peer_seq and heard >= recent and heard > path.heard_by_peer:
            path.restarts += 1
            return False
        return True

    def _ratio(self) -> int:
        return max(1, round(self.slowest / self.interval))

    def receive(self, path: Path, hello, now: float, rx_ns: int = 0) -> Tuple[bool, bool]:
        """Take a hello (probe.Hello) that passed the codec's checks unless it is stale.
        Returns (taken, first hello from this peer)."""
        virt = _raw(hello.virt)
        return self.take(path, (None, path.wire, 0, getattr(hello, "flags", 0), virt, hello.seq,
                                hello.heard, hello.t_send, hello.t_echo, hello.hold_us,
                                hello.excess_us), now, rx_ns, getattr(hello, "pace", 0))

    def take(self, path: Path, f: tuple, now: float, rx_ns: int = 0, pace: int = 0
             ) -> Tuple[bool, bool]:
        """receive() on the codec's fields (probe.parse: magic, version, key id, flags,
        virt, seq, heard, t_send, t_echo, hold_us, excess_us) and the pace byte: the
        monitor's hot path."""
        _, version, _, flags, virt, seq, heard, t_send, t_echo, hold_us, excess_us = f
        if virt != path.peer_raw:
            path.reject("format")
            return False, False
        if self._stale(path, seq, heard):
            path.reject("replay")
            return False, False
        new = self.on_hello(path, seq, heard, now)
        path.wire = version
        if flags & 2 and not path.peer_fast:
            self.asked.add(path.peer)
        path.peer_fast = bool(flags & 2)
        if self.peer_said.get(path.peer) != pace:
            self._paced(path.peer, pace, now)
        down = bool(flags & 1)
        if down and not path.peer_down and path.state == UP:
            self.pending.append(self._set(path, DOWN, f"{path.gateway} took this path out of "
                                          "its rotation (it stopped hearing us)", now))
        path.peer_down = down
        if path.drained or flags & 4 or path.peer_drain:
            self._drain_flag(path, bool(flags & 4), now)
        if rx_ns and t_send:
            if t_echo:
                rtt = rx_ns - t_echo - hold_us * 1000
                if 0 <= rtt < 10_000_000_000:
                    path.rtt_us = rtt // 1000
            path.rx_excess_us = path.owd.add(now, rx_ns - t_send) // 1000
            path.tx_excess_us = excess_us if excess_us >= 0 else None
            path.echo_t, path.echo_rx = t_send, rx_ns
        return True, new

    def on_hello(self, path: Path, peer_seq: int, heard: int, now: float) -> bool:
        """Record a hello's sequence numbers; True if it is the first from this peer."""
        new = path.peer not in self.probed_peers
        if new:
            self.probed_peers.add(path.peer)
            self.peer_fast_since.setdefault(path.peer, now)     # its other paths: from now
        if path.first_rx is None:
            path.first_rx = now
        path.last_rx = now
        self.dirty = True
        path.peer_seq = peer_seq
        # An echo of an earlier run of ours counts as not heard.
        path.heard_by_peer = heard if heard >= self.first_seq else 0
        return new

    def _drain_flag(self, path: Path, said: bool, now: float) -> None:
        """A hello on a path that is drained, or says FLAG_DRAIN or said it last: its
        rising edge drains ours, its fall ends a drain it held, and a drain of our own
        ends as soon as our judging clears it (this hello may have)."""
        rising, path.peer_drain = said and not path.peer_drain, said
        if path.state != UP:
            return
        if rising and not path.drained:
            path.drain_held = True
            self.pending.append(self._drained(path, f"{path.gateway} drained it (it has "
                                                    "not heard us for a while)", now))
        elif path.drained and not (path.drain_held and said):
            held, path.drain_held = path.drain_held, False  # the flag fell, or the drain is ours
            why = self._judge(path, now)[1]
            if held and why:
                path.drained, self.dirty = why, True    # ours now: our reason, not the peer's
            self.pending += self._drain(path, why, now)

    def _drained(self, path: Path, why: str, now: float) -> "Change":
        path.drained, path.drained_at, self.dirty = why, now, True
        return Change(path, DRAINED, why)

    def _drain(self, path: Path, why: Optional[str], now: float) -> List["Change"]:
        """An up path's drain as judged (`why`: the judging's reason, None: clear); one
        the peer's flag holds waits for the flag to fall (_drain_flag). Only a hello on
        the path ends a drain: a silence that restarts because the peer's pace fell
        (idle to fast) is no news of the path."""
        if why and not path.drained:
            return [self._drained(path, why, now)]
        if not why and path.drained and not path.drain_held and \
                path.last_rx is not None and path.last_rx > path.drained_at:
            was, path.drained, self.dirty = path.drained, "", True
            return [Change(path, RESUMED, f"heard again (was drained: {was})")]
        return []

    def _paced(self, peer: str, pace: int, now: float) -> None:
        """The peer's pace changed: a faster one is counted from now on every path."""
        seconds = pace * 0.01 if pace else self.interval
        if seconds < self.peer_pace.get(peer, self.interval):
            self.peer_fast_since[peer] = now
        if not pace:
            self.asked.add(peer)        # an older monitor now: it expects every hello
        self.peer_said[peer], self.peer_pace[peer] = pace, seconds

    def _limit(self, pace: float, loss: int = 0) -> float:
        """Seconds without a hello after which a path is down at this pace: `loss` of
        them (the tracker's), and a tenth of one for the sender's timer (BFD's
        detection time)."""
        return (loss or self.loss) * pace + pace / 10

    def _silent_since(self, path: Path) -> float:
        """Since when a path's silence counts: its last hello, or when the peer's pace fell
        (or, for a path never heard, when the peer was first heard on another)."""
        since = path.last_rx if path.last_rx is not None else path.since
        fell = self.peer_fast_since.get(path.peer)
        return fell if fell is not None and fell > since else since

    @staticmethod
    def hello_fields(path: Path, now_ns: int) -> Tuple[int, int, int, int]:
        """What our next hello on `path` carries: (heard, t_echo, hold_us, excess_us)."""
        hold = (now_ns - path.echo_rx) // 1000 if path.echo_t else 0
        excess = path.rx_excess_us if path.rx_excess_us is not None else -1
        return path.peer_seq, path.echo_t, hold, excess

    def on_carrier(self, dev: str, carrier: bool, now: float) -> List[Change]:
        changes = []
        for path in self.paths:
            if path.dev != dev or path.carrier == carrier:
                continue
            path.carrier = carrier
            self.dirty = True
            if not carrier and path.state == UP:
                changes.append(self._set(path, DOWN, f"carrier lost on {dev}", now))
            if carrier:
                path.good = 0
        return changes

    def _fault(self, path: Path, now: float) -> Optional[str]:
        """Why the path is down now, or None."""
        return self._judge(path, now)[0]

    def _judge(self, path: Path, now: float) -> Tuple[Optional[str], Optional[str]]:
        """(why the path is down, why it is drained), each None where it is not: the
        same two tests, silence and the peer's report of our hellos, against `loss`
        and `drain_after` intervals."""
        if not path.carrier:
            return f"no carrier on {path.dev}", None
        if path.peer not in self.probed_peers:
            return None, None
        peer_pace = self.peer_pace.get(path.peer, self.interval)
        quiet = now - self._silent_since(path)
        drain, drained = self.drain_after or self.loss, None
        if quiet > self._limit(peer_pace, drain):
            drained = f"no probe from {path.gateway} for {int(quiet * 1000)} ms"
            if quiet > self._limit(peer_pace):
                return drained, drained
        slower = max(peer_pace, path.pace * 0.01 or self.interval)
        if path.heard_by_peer == 0:
            # The peer has never heard us here: a fault only once it has been
            # talking for longer than the loss window (both monitors start at
            # their own time).
            if path.first_rx is not None and now - path.first_rx > self.loss * slower + self.interval:
                return f"{path.gateway} has never heard our probes", drained
            return None, drained
        # Since we sent the hello it reported (a tick's worth of ours per step
        # where that was not noted), or since our pace fell.
        sent = self.sent_at.get(path.heard_by_peer)
        if sent is None:
            sent = now - (self.seq - path.heard_by_peer) * self.interval
        fell = self.our_fast_since.get(path.peer)
        if fell is not None and fell > sent:
            sent = fell
        unheard = now - sent - self.interval / 2
        if unheard > drain * slower:
            why = f"{path.gateway} has not heard our probes for {int((now - sent) * 1000)} ms"
            return (why if unheard > self.loss * slower else None), drained or why
        return None, drained

    @property
    def silence_limit(self) -> float:
        """Seconds without a hello after which a path is down at our own interval."""
        return self._limit(self.interval)

    def next_deadline(self) -> Optional[float]:
        """When the first path that is up goes silent for too long, unless a hello comes."""
        pace, fell, loss, own = self.peer_pace, self.peer_fast_since, self.loss, self.interval
        drain = self.drain_after or loss
        best = None
        for p in self.paths:        # _silent_since and _limit, inline: every tick, every path
            if p.state == UP and p.last_rx is not None and p.carrier:
                since, f, q = p.last_rx, fell.get(p.peer), pace.get(p.peer, own)
                t = (f if f is not None and f > since else since) + (
                    loss if p.drained else drain) * q + q / 10
                if best is None or t < best:
                    best = t
        return None if best is None else best + 1e-4

    def expire(self, now: float) -> List[Change]:
        """Between ticks: take down (or drain) the paths that are up and at fault."""
        changes = []
        for path in self.paths:
            if path.state == UP:
                changes += self._judged_up(path, now)
        return changes

    def _judged_up(self, path: Path, now: float) -> List[Change]:
        fault, drain = self._judge(path, now)
        return [self._set(path, DOWN, fault, now)] if fault else self._drain(path, drain, now)

    def needed(self, path: Path) -> int:
        """Good intervals a down path needs to rejoin: more for a flapping one."""
        return self.rejoin << min(path.flaps, MAX_DAMPING)

    def tick(self, now: float, peers: Optional[set] = None) -> List[Change]:
        """Evaluate every path (of `peers`, those just sent hellos, if given) once per
        interval, after the hellos went out; silence is found between ticks too."""
        sent = self.sent_at
        sent.setdefault(self.seq, now)      # a tick that sent nothing keeps the last send's time
        if len(sent) > 512:         # 25 s of ticks at 50 ms; older reports are faults anyway
            for old in sorted(sent)[:256]:
                del sent[old]
        changes = []
        for path in self.paths:
            if peers is not None and path.peer not in peers:
                continue
            if path.state == UP:
                changes += self._judged_up(path, now)
            elif path.state == DOWN:
                path.good = 0 if self._fault(path, now) else path.good + 1
                if path.good >= self.needed(path):
                    damped = f" (damped: failed {path.flaps + 1} times in a row)" if path.flaps else ""
                    changes.append(self._set(path, UP, f"healthy for {path.good} intervals{damped}", now))
        return changes

    def _set(self, path: Path, state: str, reason: str, now: float) -> Change:
        path.state, path.reason, path.since, path.good = state, reason, now, 0
        path.drained, path.drain_held, self.dirty = "", False, True
        if state == DOWN:
            recent = path.last_down is not None and now - path.last_down < FLAP_WINDOW
            path.flaps = path.flaps + 1 if recent else 0
            path.last_down = now
            if path.heard_by_peer:
                # The peer's report of our probes restarts when the path comes back.
                path.heard_by_peer = self.seq
        return Change(path, state, reason)

    def rotation(self, peer: str, tables: Sequence[int], weights: Sequence[int]
                 ) -> Tuple[List[int], List[int], bool]:
        """(tables, weights) to use for `peer`, and whether all of its paths are down.
        Drained paths are left out too, unless only they are left."""
        mine = [p for p in self.paths if p.peer == peer]
        down_tables = {t for p in mine if p.state == DOWN for t in p.tables}
        drained = {t for p in mine if p.state == UP and p.drained for t in p.tables}
        keep = [(t, w) for t, w in zip(tables, weights) if t not in down_tables]
        keep = [(t, w) for t, w in keep if t not in drained] or keep
        if not keep:
            return list(tables), list(weights), True
        return [t for t, _ in keep], [w for _, w in keep], False
