"""Each path's share of its peer's traffic, following its free capacity. Pure.

A path is one (peer, table). Its base weight is its link rate (Mbit/s, from
`agg-weights` or auto); the controller moves the path's weight between a floor
and that base, once per monitor interval, from the queueing delay our sending
direction meets on the path:

- the local one: the member NIC's root qdisc backlog over its rate;
- the remote one: `tx_excess_us`, the growth of the one-way delay the peer
  measures on our hellos (a bottleneck past our NIC: a switch port, a USB bus).

The larger of the two is the path's delay d. Per path, like a delay-based
congestion controller:

- d above the target (0.75 ms by default): the link is full. If the queue is
  our own (we send close to the link's rate, or, without byte counts, every
  path of the peer is as delayed), the flow's congestion control is the one
  to answer and the weight stays; otherwise other traffic shares the link:
  multiplicative decrease, up to halving per interval at twice the target, so a
  busy link loses its share within a few hundred ms. The overlay takes what is
  free and does not push the other traffic out of its own link.
- d below half the target: the link has room: increase, binary-search style
  (back towards the weight of the last cut quickly, a short plateau there,
  then accelerating probes up to the base).
- in between: hold (the hysteresis band that keeps it from oscillating).

Other traffic's rate on the link, where both counts are known (the bytes the member
NIC's root qdisc took this interval, less what this overlay sent through it), caps
the weight: a path may take at most what the others leave, less a margin. A stream
that does not back off (UDP at half a link) leaves no standing queue for the delay
to see, because the overlay's flow backs off first (its packets on the busy link
arrive late and count as losses): the overlay flow sat at 3x the busy link's free
rate, 266-276 of 500 Mbit/s (bench/results/20261202-cross-paced.md). When the other
traffic goes, a clear path goes straight back to what is measured free.

The weight never goes below the floor while the path is healthy (0.2% of the
peer's healthy base total, at least 1), so the path keeps carrying packets and
keeps being measured. A down path weighs 0; it comes back from 0 by the
increase's probing steps (at 5% of its base, full after 5 intervals).
Fixed weights (`agg-weights W...`) are passed through untouched. Only peers with
traffic are stepped (update's `peers`): an idle peer's share waits as it is.

The weights returned are integers proportional to the wanted shares: a path at
full weight gets its base weight (times an integer factor when a peer's base
weights sum to less than 100, e.g. 1 1 1 from unknown speeds, so that 2% exists); `why`
gives a line per path for `ifagg status`.
Cost: a few dozen float operations per path per interval (~3 us in CPython).

The monitor, each interval: a Signal per path (tx_excess_us from the hellos;
Kernel.qdisc_backlogs() and the NIC's rate; the bytes sent through the member
link from the spreader's counters), update(), the weights into the spreader's
map when they changed, why() into the health file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Hashable, Mapping, Optional, Set, Tuple

from ifupdown_agg.monitor.signals import Signal, delay_of

Key = Tuple[Hashable, Hashable]          # (peer, table)

TARGET_US = 750.0       # excess queueing delay that counts as "the link is full"
# A path at the floor still carries packets (so the spreader's counters and the
# monitor keep seeing it), but every one of them waits in the busy queue and
# arrives late: at 2%, one overlay flow beside a TCP flow on 1 of 3 links got 77-102
# Mbit/s of 400 free; at 0.2%, 340 (bench/results, cross traffic).
FLOOR = 0.002           # of the peer's healthy base total
SELF_UTIL = 0.85        # sending >= this share of the link rate: the queue is ours
MD_MAX = 0.5            # largest cut per interval
LEVEL_SPAN = 24         # a standing queue of target x (1 + this) alone takes the largest cut
STEP_MIN = 0.05         # smallest increase per interval, of the base
STEP_MAX = 0.5          # largest increase per interval, of the base
PLATEAU = 3             # intervals held near the weight of the last cut
RESOLUTION = 100        # a peer's base total below this is scaled up (x an integer)
FREE_MARGIN = 0.05      # of the link rate, left unclaimed beside other traffic
OTHER_NOISE = 0.05      # other traffic below this share of the link counts as none
# A clear path whose link the other traffic leaves at least this free goes straight to
# what is free (the other flow stopped: back in 0.2-0.3 s, not after 0.7-1.2 s of probing).
# Not below it: a greedy flow's dip after a loss is no link set free. Only after other
# traffic was measured: a cut for a queue past our NIC (the hellos') comes back by probing.
JUMP_FREE = 0.4


@dataclass
class PathState:
    base: float
    weight: float
    w_cut: float = 0.0      # the weight before the last cut
    hold: int = 0           # intervals left on the plateau / after a cut
    last_step: float = 0.0
    d_prev: Optional[float] = None     # the delay of the interval before
    remote_prev: Optional[float] = None     # the hellos' delay growth of the interval before
    plateau: int = 0        # intervals to hold when back at the weight of the last cut
    other: Optional[float] = None      # other traffic on the link, Mbit/s (smoothed)
    why: str = "starting: base weight ({share})"


def _delay(sig: Signal, st: "PathState") -> Tuple[Optional[float], str]:
    """The path's delay: the local queue (exact) or the hellos' delay growth, whichever
    is larger; the hellos' as the smaller of two intervals in a row (one late hello, a
    busy host's scheduling, is no queue)."""
    found = delay_of(sig, st.remote_prev)
    st.remote_prev = sig.tx_excess_us
    return found


def free_share(sig: Signal, st: "PathState", dt: float) -> Optional[float]:
    """The fraction of the link's rate that other traffic leaves us, less the margin;
    None where it is not known. Other traffic counts at once when it grows, and by
    halves when it shrinks (one interval's dip is not a link set free)."""
    rate = sig.nic_rate_mbps
    if sig.link_bytes is None or sig.sent_bytes is None or not rate or dt <= 0:
        st.other = None
        return None
    other = max(0.0, (sig.link_bytes - sig.sent_bytes) * 8.0 / dt / 1e6)
    st.other = other if st.other is None or other >= st.other else (st.other + other) / 2
    if st.other < OTHER_NOISE * rate:
        return 1.0
    return max(0.0, 1.0 - st.other / rate - FREE_MARGIN)


def _ms(us: float) -> str:
    return f"{us / 1000:.1f} ms"


# The why lines a path keeps while nothing moves (_settled writes them as update() does).
CLEAR_WHY = "clear: base weight ({share})"
UNKNOWN_WHY = "no delay signal: base weight"
DOWN_WHY = "down: no share"
_NO_SIGNAL = Signal()       # read only


class ShareController:
    """The weights of every path of an overlay; update() once per interval."""

    settle = True       # skip the steps of a peer where nothing moved (_settled); tests: off

    def __init__(self, base: Mapping[Key, int], fixed: bool = False, target_us: float = TARGET_US):
        self.fixed = fixed
        self.target = target_us
        self.paths: Dict[Key, PathState] = {k: PathState(float(b), float(b)) for k, b in base.items()}
        self.up: Dict[Key, bool] = {k: True for k in base}
        self.waiting: Set[Hashable] = set()     # peers whose steps wait (update's `peers`)
        self._by_peer: Optional[Dict[Hashable, list]] = None     # _peers()
        if fixed:
            for st in self.paths.values():
                st.why = "fixed weight (agg-weights)"

    def rebase(self, base: Mapping[Key, int]) -> None:
        """New base weights (a link renegotiated, a peer added or removed): a known path
        keeps its state, bounded by its new base; a new one starts at its base."""
        self._by_peer = None
        for key in list(self.paths):
            if key not in base:
                del self.paths[key]
                self.up.pop(key, None)
        for key, b in base.items():
            st = self.paths.get(key)
            if st is None:
                self.paths[key] = PathState(float(b), float(b))
                self.up[key] = True
                if self.fixed:
                    self.paths[key].why = "fixed weight (agg-weights)"
            elif st.base != b:
                st.base, st.weight = float(b), min(st.weight, float(b))
                if not self.fixed:
                    st.why = f"link rate changed: base weight {b} ({{share}})"

    # ---- the interval ----------------------------------------------------------------------

    def update(self, up: Mapping[Key, bool], signals: Mapping[Key, Signal],
               dt: float, peers: Optional[Set[Hashable]] = None) -> Dict[Key, int]:
        """New integer weights from each path's health and this interval's signals.
        `peers`: the ones to step (None: all), the only ones whose weights are returned.
        The others carry nothing: their shares have no traffic of theirs to follow and
        wait as they are; a peer that steps again starts its delays afresh (the last
        ones it saw are intervals old)."""
        for key, st in self.paths.items():
            was, now = self.up.get(key, True), bool(up.get(key, True))
            if now and not was:
                # Gradual rejoin (issue #15): from nothing, by the probing steps below
                # (5, 15, 35, 75, 100% of the base over 5 intervals), so a path that
                # passes hellos but drops data costs a flow a small share, not 1/N.
                self.paths[key] = st = PathState(st.base, 0.0)
                st.why = "back up: share rising to {share}"
            self.up[key] = now
        if self.fixed:
            return self.weights()
        for peer, keys in self._peers().items():
            if peers is not None and peer not in peers:
                self.waiting.add(peer)
                continue
            if peer in self.waiting:
                self.waiting.discard(peer)
                for k in keys:
                    self.paths[k].d_prev = self.paths[k].remote_prev = None
            if self.settle and self._settled(keys, signals, dt):
                continue
            healthy = [k for k in keys if self.up[k]]
            floor = FLOOR * sum(self.paths[k].base for k in healthy)
            delays = {k: _delay(signals.get(k, Signal()), self.paths[k]) for k in healthy}
            known = [d for d, _ in delays.values() if d is not None]
            least = min(known) if known else 0.0
            for k in keys:
                st = self.paths[k]
                if not self.up[k]:
                    st.why = DOWN_WHY
                    continue
                d, source = delays[k]
                self._step(st, d, source, least, signals.get(k, Signal()), dt, min(floor, st.base))
                st.d_prev = d
        return self.weights(peers)

    def _step(self, st: PathState, d: Optional[float], source: str, least: float,
              sig: Signal, dt: float, floor: float) -> None:
        self._delay_step(st, d, source, least, sig, dt, floor)
        rate = sig.nic_rate_mbps or 0.0
        beside = st.other is not None and st.other >= OTHER_NOISE * rate    # until now
        free = free_share(sig, st, dt)
        if free is None:
            return
        cap = max(floor, st.base * min(1.0, free))
        if st.weight > cap:
            st.weight, st.last_step = cap, 0.0      # probes above it start small again
            st.why = (f"other traffic {st.other:.0f} Mbit/s of {sig.nic_rate_mbps:.0f}: "
                      "share capped at {share}")
        elif beside and free >= JUMP_FREE and st.weight < cap and (d is None or d <= self.target / 2):
            st.weight, st.hold, st.last_step = cap, 0, 0.0
            st.why = (f"other traffic {st.other:.0f} Mbit/s of {sig.nic_rate_mbps:.0f}: "
                      "share back to {share}")

    def _delay_step(self, st: PathState, d: Optional[float], source: str, least: float,
                    sig: Signal, dt: float, floor: float) -> None:
        if d is None:
            self._increase(st)
            st.why = UNKNOWN_WHY if st.weight >= st.base else "no delay signal: share rising to {share}"
            return
        if d > self.target:
            own = self._own_queue(st, d, least, sig, dt)
            if own:
                st.why = f"{source} +{_ms(d)} is our own ({own}): share kept at {{share}}"
                return
            before = st.weight
            cut = self._cut(st, d, sig, dt)
            st.weight = max(floor, st.weight * (1.0 - cut))
            if st.weight < before:
                st.w_cut, st.hold, st.last_step = before, 1, 0.0
                # A mild cut well above the floor: near a balance, linger there.
                st.plateau = PLATEAU if cut < MD_MAX and st.weight > 2 * floor else 0
            st.why = f"{source} +{_ms(d)}: " + ("share at the floor ({share}), kept for measuring"
                                                 if st.weight <= floor else "share cut to {share}")
            return
        if d > self.target / 2:
            st.why = f"{source} +{_ms(d)}: share held at {{share}}"
            return
        self._increase(st)
        st.why = (CLEAR_WHY if st.weight >= st.base else
                  f"{source} +{_ms(d)}: share rising to {{share}}")

    def _settled(self, keys, signals: Mapping[Key, Signal], dt: float) -> bool:
        """One peer's step where nothing moved: True, with its memory written, where
        update() provably leaves every weight and `why` of these paths as they are;
        False, nothing written, where it has to run.

        Nothing moved: every path up as before (or down as before, already told so),
        at its base weight with no hold pending, no queue on its NIC, nothing sent or
        taken there, other traffic measured none (or not measured, as the step would
        find) and its delay within half the target. Then update() takes the "clear"
        branch: _increase keeps a path at its base, free_share finds the link free
        (cap = base) and nothing is below the cap to jump. Paths are judged per peer
        (the floor and the least delay are per peer, and unused on this branch). What
        update() still changes is its memory of this interval (the delays of the
        interval before, the why line): written here the same way, so the next busy
        interval meets the state it would have met (tests/test_shares.py checks it).
        Why: at 32 x 4 the idle controller cost ~3 µs a path, ten times a second."""
        half, todo = self.target / 2, []
        for k in keys:
            st = self.paths[k]
            if not self.up[k]:
                if st.why != DOWN_WHY:
                    return False
                continue
            sig = signals.get(k) or _NO_SIGNAL
            if (st.weight != st.base or st.hold or sig.backlog_bytes or sig.sent_bytes
                    or sig.link_bytes):
                return False
            counted = (sig.link_bytes is not None and sig.sent_bytes is not None
                       and bool(sig.nic_rate_mbps) and dt > 0)
            if st.other != (0.0 if counted else None):      # what free_share would leave
                return False
            d = delay_of(sig, st.remote_prev)[0]
            if d is not None and d > half:
                return False
            todo.append((st, d, sig.tx_excess_us))
        for st, d, remote in todo:
            st.remote_prev, st.d_prev = remote, d
            st.why = UNKNOWN_WHY if d is None else CLEAR_WHY
        return True

    def _cut(self, st: PathState, d: float, sig: Signal, dt: float) -> float:
        """The fraction of the weight to take away: a part for the standing queue above
        the target, and a part for its growth this interval (the arrivals over the
        link's rate, as a fraction of it), scaled to what we send there when known."""
        level = MD_MAX * min(1.0, (d - self.target) / (LEVEL_SPAN * self.target))
        growth = 0.0
        if st.d_prev is not None and dt > 0:
            growth = max(0.0, (d - st.d_prev) / (dt * 1e6))
        if sig.sent_bytes and dt > 0:
            growth *= st.base / max(sig.sent_bytes * 8.0 / dt / 1e6, 0.05 * st.base)
        return min(MD_MAX, level + min(growth, MD_MAX / 2))

    def _own_queue(self, st: PathState, d: float, least: float, sig: Signal, dt: float) -> str:
        """Why a full queue is this overlay's own, or '' when other traffic shares it."""
        if sig.sent_bytes is not None and dt > 0:
            mbps = sig.sent_bytes * 8.0 / dt / 1e6
            if mbps >= SELF_UTIL * st.base:
                return f"sending {mbps:.0f} of {st.base:.0f} Mbit/s"
            return ""
        if d - least <= self.target:
            return "every path as delayed"
        return ""

    @staticmethod
    def _increase(st: PathState) -> None:
        if st.hold > 0:
            st.hold -= 1
            return
        if st.weight >= st.base:
            st.weight = st.base
            return
        if st.w_cut and st.weight < 0.95 * st.w_cut:
            # back towards the weight of the last cut quickly, probes restart small after
            st.weight = min(st.base, st.weight + max(STEP_MIN * st.base, (st.w_cut - st.weight) / 2))
            st.last_step = 0.0
            if st.weight >= 0.95 * st.w_cut:
                st.hold, st.plateau = st.plateau, 0
            return
        step = min(STEP_MAX * st.base, max(STEP_MIN * st.base, 2 * st.last_step))
        st.weight = min(st.base, st.weight + step)
        st.last_step = step

    # ---- reading ---------------------------------------------------------------------------

    def _peers(self) -> Dict[Hashable, list]:
        """peer -> its paths' keys (kept until the paths change: rebase())."""
        if self._by_peer is None:
            self._by_peer = {}
            for key in self.paths:
                self._by_peer.setdefault(key[0], []).append(key)
        return self._by_peer

    def weights(self, peers: Optional[Set[Hashable]] = None) -> Dict[Key, int]:
        """Integers in each peer's proportions, the base at full weight; 0 only for a down
        path; fixed: as given. `peers`: only theirs (None: every peer's)."""
        if self.fixed:
            return {k: (int(st.base) if self.up[k] else 0) for k, st in self.paths.items()}
        out: Dict[Key, int] = {}
        for peer, keys in self._peers().items():
            if peers is not None and peer not in peers:
                continue
            total = sum(self.paths[k].base for k in keys) or 1.0
            scale = max(1, math.ceil(RESOLUTION / total))     # an integer: base stays base
            for k in keys:
                w = self.paths[k].weight
                out[k] = max(1, int(round(w * scale))) if self.up[k] else 0
        return out

    def resting(self) -> bool:
        """Every path that is up at its base weight with no hold pending, or whose peer
        waits: a step with nothing moving changes nothing (the monitor then steps
        seldom while idle)."""
        return self.fixed or all(st.weight >= st.base and not st.hold
                                 for k, st in self.paths.items()
                                 if self.up[k] and k[0] not in self.waiting)

    def shares(self) -> Dict[Key, float]:
        """Each path's fraction of its peer's traffic."""
        weights = self.weights()
        out: Dict[Key, float] = {}
        for keys in self._peers().values():
            total = sum(weights[k] for k in keys)
            for k in keys:
                out[k] = weights[k] / total if total else 0.0
        return out

    def why(self) -> Dict[Key, str]:
        """One line per path, e.g. 'local queue +2.1 ms: share cut to 12%'; a waiting
        (idle) peer's says it is as of its last step."""
        shares, idle = self.shares(), " (idle: as of its last traffic)"
        return {k: st.why.format(share=f"{shares[k]:.0%}") + (idle if k[0] in self.waiting else "")
                for k, st in self.paths.items()}
