"""The link monitor: takes dead paths out of each peer's rotation, and back in.

One process per overlay stanza, started at post-up and stopped at pre-down (by
systemd as ifupdown-agg-monitor@NAME.service where systemd runs, else as a
plain process with a pidfile), NAME being the stanza's record: tun0 (inet) or
tun0.inet6 (IPv6 hellos, the ip6 table's rotations). Its loop waits on carrier
events and hellos; each change of health rewrites only the affected peers'
rotations at once, and flushes a dead next hop's neighbour entry (segments behind
an INCOMPLETE entry would stall TCP for seconds). Packets never pass through it.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import time
from typing import Dict, List, Optional

from ifupdown_agg.overlay import plan, rotation
from ifupdown_agg.monitor.capacity import Capacity, Counters, member_rates
from ifupdown_agg.monitor import healthfile, learn, logs, probe
from ifupdown_agg.monitor.demand import Pacer, Wakeup
from ifupdown_agg.monitor.keywatch import KeyWatch
from ifupdown_agg.monitor.exchange import Exchange
from ifupdown_agg.monitor.health import DOWN, UP, Change, Tracker
from ifupdown_agg.monitor.paths import paths_from
from ifupdown_agg.monitor.repair import link_back
from ifupdown_agg.kernel import lock
from ifupdown_agg.kernel.linkwatch import LinkWatch, carrier_of
from ifupdown_agg.overlay.model import OverlayConfig
from ifupdown_agg.errors import AggError
# The service half (options file, start, stop) is monitor/service.py.
from ifupdown_agg.monitor.service import _file, _write_json, load_options

LOCK_WAIT = 10.0     # seconds the monitor waits for an ifup/ifdown run holding the lock
log = logging.getLogger("ifupdown-agg")
LEVELS = {DOWN: logging.WARNING, UP: logs.NOTICE}     # of a path's change; others: info
# How often the weights follow the paths' free capacity: often enough that a busy
# link's share falls within a few hundred ms, rarely enough to cost little CPU.
CAPACITY_S = 0.1
CAPACITY_IDLE_S = 2.0   # ... its full step while the overlay sends nothing
HEALTH_IDLE_S = 5.0     # health.json while every peer is idle and nothing changes
# After taking hellos, the monitor waits this share of an interval before it takes the
# next ones (carrier events and its own timers still wake it at once).
COALESCE = 0.1

class Monitor:
    def __init__(self, cfg: OverlayConfig, kernel):
        self.cfg, self.kernel = cfg, kernel
        obs = kernel.observe()
        desired = plan.desired_state(cfg, obs)
        self.weights = {m.table: m.weight for m in desired.members}
        mon = cfg.monitor
        # Our sequence starts at the wall clock in µs, so a restarted monitor goes on
        # above what its peers took from the last run (one step per interval).
        self.name = cfg.key         # tun0, or tun0.inet6: its files, unit and log lines
        self.tracker = Tracker(paths_from(cfg, desired.objects, obs, desired.members),
                               mon.interval_ms / 1000.0,
                               mon.loss, mon.rejoin, seq=time.time_ns() // 1000)
        for path in self.tracker.paths:
            path.since = time.monotonic()
        self.key_file = mon.key_file
        self.keywatch = KeyWatch(mon.key_file, self.name)
        self.signer = probe.Signer(None)
        self._load_keys(first=True)
        self.next_housekeeping = self.next_health = 0.0
        self.rejected = 0           # hellos rejected when health.json was last written
        self.rotation = rotation.for_overlay(cfg, desired.objects, desired.top_run, kernel)
        # Weights that follow each path's free capacity (agg-weights auto only).
        rates = member_rates(desired.members, obs)
        steering = getattr(self.rotation, "steering", None)
        self.capacity = (Capacity(cfg, desired.members, rates, self.tracker.paths, kernel,
                                  steering) if cfg.weights == "auto" else None)
        self.counters = (self.capacity.counters if self.capacity else
                         Counters(steering, cfg.peer_indexes, len(cfg.tables)) if steering else None)
        self.pacer = Pacer(self.tracker, mon.idle_ms / 1000.0, self.counters is not None)
        self.wakeup = Wakeup(steering if self.pacer.on else None, cfg.peer_indexes, log)
        self.last_capacity: Optional[float] = None
        self.last_full: Optional[float] = None      # the controller's last full step
        self.busy = True                            # the counters moved at the last read
        self.step_owed = True   # a path changed state: the controller steps at the next read
        self.sockets = probe.Sockets(mon.port)
        for path in self.tracker.paths:
            self.sockets.open(path.dev, path.local)
        self.learning = learn.Learning(cfg, desired.members, self.sockets,
                                       self.signer.keys is not None)
        self.routed = {v: learn.routed_tables(desired.objects, v) for _, v in cfg.peer_indexes}
        self.restart = False        # hops learned: main() starts a monitor on the new paths
        self.watch = LinkWatch({p.dev for p in self.tracker.paths})
        self.stopping = False
        self.wall_offset = time.time() - time.monotonic()
        self.exchange = Exchange(self.tracker, self.sockets, cfg.address, self.signer)
        self.exchange.learn = self.learning.take if self.learning.wanted else None
        self.next_tick, self.deadline = 0.0, float("inf")
        # CPU seconds by phase (time.process_time around each once-per-interval part;
        # what is left of the process's total is taking hellos), shown in health.json.
        self.cpu: Dict[str, float] = dict.fromkeys(("send", "judge", "capacity", "housekeeping"), 0.0)

    def run(self) -> None:
        now = time.monotonic()
        # A fresh start: every peer gets its full rotation, then what carrier says.
        self._rewrite([i for i, _ in self.cfg.peer_indexes])
        changes: List[Change] = []
        for dev in {p.dev for p in self.tracker.paths}:
            if not carrier_of(dev):
                changes += self.tracker.on_carrier(dev, False, now)
        self._apply(changes)
        self.next_tick = now
        # One epoll for carrier events and every hello socket: hellos are taken as they
        # arrive, dated by the kernel's stamp. After a wake that took hellos, the next
        # COALESCE of an interval waits for carrier events only (a second epoll), so the
        # wakes stay a few per interval however many peers there are.
        pollers = select.epoll(), select.epoll()
        watch_fd = self.watch.fileno()
        self.wake_fd = self.wakeup.ring.fileno() if self.wakeup.ring else -1
        for poller in pollers:
            for fd in [watch_fd] + ([self.wake_fd] if self.wakeup.ring else []):
                poller.register(fd, select.EPOLLIN)
        for fd in self.sockets.filenos():
            pollers[0].register(fd, select.EPOLLIN)
        self.quiet_until = 0.0
        try:
            while not self.stopping:
                self._wake(pollers, watch_fd)
        finally:
            for poller in pollers:
                poller.close()

    def _wake(self, pollers, watch_fd: int) -> None:
        """One wait and what it brought: carrier events, hellos, the tick, a deadline.
        The deadline kept is a lower bound (paths only get later deadlines as hellos
        arrive), recomputed when it is reached and at a tick after a change."""
        wake = min(self.next_tick, self.deadline)
        now = time.monotonic()
        quiet = now < self.quiet_until
        try:
            events = pollers[quiet].poll(max(0.0, (min(wake, self.quiet_until) if quiet else wake) - now))
        except InterruptedError:
            return
        now = time.monotonic()
        tracker, changes, newly = self.tracker, [], False
        read = self.exchange.read
        for fd, _ in events:
            if fd == self.wake_fd:      # a packet for a slow peer: who, the counters say
                self.wakeup.drain()
                self.last_capacity, self.next_tick = None, now
                continue
            if fd != watch_fd:
                newly |= read(fd, now)
                self.quiet_until = now + self.tracker.interval * COALESCE
                continue
            for dev, carrier in self.watch.events():
                if carrier and not any(p.carrier for p in tracker.paths if p.dev == dev):
                    link_back(self)
                changes += tracker.on_carrier(dev, carrier, now)
        if tracker.pending:
            changes += tracker.pending
            tracker.pending = []
        if (tracker.asked or self.pacer.woken) and self.pacer.on:
            # A peer asks for fast hellos, or a path of a slow peer changed: a tick now.
            self.next_tick = min(self.next_tick, now)
        if now >= self.next_tick or now >= self.deadline:
            # Before any path is judged, whatever the quiet time left waiting.
            for fd in self.sockets.filenos():
                newly |= read(fd, now)
            changes += tracker.pending
            tracker.pending = []
            if now >= self.next_tick:
                self._tick(now, changes, newly)
            else:
                changes += tracker.expire(now)
                self._new_deadline(True)
        self._apply(changes)
        if self.learning.fresh:
            self._learned()

    def _learned(self) -> None:
        """Hops learned: route them (recorded, as ifup would), then start over."""
        try:
            with self.locked("learned hops"):
                self.learning.apply(self.kernel)
        except AggError as err:
            log.error("%s: cannot route the learned hops: %s", self.name, err)
            return
        self.restart = self.stopping = True

    def _tick(self, now: float, changes: List[Change], newly: bool) -> None:
        """Once per interval: our hellos out, every path judged, capacity followed."""
        c0 = time.process_time()
        # The counters first: a peer with new traffic gets fast hellos at once.
        self._follow_capacity(now, changes)
        c1 = time.process_time()
        self.exchange.resync()
        if (due := self.pacer.due(now)) is None or due:
            self.exchange.send(due)
        self.wakeup.arm(self.pacer.slowed)
        self.learning.send(self.exchange.encode, self.tracker)
        c2 = time.process_time()
        changes += self.tracker.tick(now, due)
        self._new_deadline()
        c3 = time.process_time()
        self.next_tick = self._next_tick(now)
        if (newly or now >= self.next_housekeeping) and not changes:
            self._housekeeping(now)
        cpu = self.cpu
        cpu["capacity"] += c1 - c0
        cpu["send"] += c2 - c1
        cpu["judge"] += c3 - c2
        cpu["housekeeping"] += time.process_time() - c3

    def _next_tick(self, now: float) -> float:
        """Every interval while a peer is fast. With every peer idle, at the counters'
        pace (half the wakes at 50 ms); or, where the spreader wakes us at a slow peer's
        first packet (demand.Wakeup) and the controller rests, at the idle grid only.
        Peers armed just now get one more read first: a packet sent between this
        tick's read and the arming woke nothing."""
        interval = self.tracker.interval
        if self.pacer.on and not self.pacer.fast:
            if self.wakeup.on and not self.step_owed and not self.pacer.slowed and (
                    self.capacity is None or self.capacity.controller.resting()):
                return max(now + CAPACITY_S, self.pacer.next_grid - interval / 2)
            interval = max(interval, CAPACITY_S)
        late = self.next_tick + interval < now      # a suspend, a load: do not catch up
        return now + interval if late else self.next_tick + interval

    def _new_deadline(self, reached: bool = False) -> None:
        if not (self.tracker.dirty or reached):
            return      # no hello, state or carrier since: the deadline stands
        self.tracker.dirty = False
        deadline = self.tracker.next_deadline()
        self.deadline = float("inf") if deadline is None else deadline

    def _housekeeping(self, now: float) -> None:
        """About once a second: pick up a changed key file (a key roll), and write
        health.json; with every peer idle and no hello rejected since, every HEALTH_IDLE_S."""
        self.next_housekeeping = now + 1.0
        self._load_keys()
        rejected = sum(sum(p.rejected.values()) for p in self.tracker.paths) \
            + sum(self.exchange.stray.values())
        if self.pacer.fast or not self.pacer.on or rejected != self.rejected \
                or now >= self.next_health:
            self.rejected, self.next_health = rejected, now + HEALTH_IDLE_S
            self.write_health()

    def _load_keys(self, first: bool = False) -> None:
        signer = self.keywatch.reload(self.signer, first)
        if signer is not None:
            self.signer = signer
            if hasattr(self, "exchange"):
                self.exchange.set_signer(signer)

    def _follow_capacity(self, now: float, changes: List[Change]) -> None:
        """Every CAPACITY_S: the spreader's counters (which peers have traffic) and the
        controller's step, which waits up to CAPACITY_IDLE_S while nothing is sent;
        peers whose weights moved are rewritten (with health changes, _apply does)."""
        last = self.last_capacity
        if (self.capacity is None and self.counters is None) or (
                last is not None and now - last < CAPACITY_S * 0.95):
            return
        self.last_capacity = now
        counts, quiet = None, False
        if self.counters is not None:
            counts = self.counters.read()
            self.pacer.traffic(self.counters.moved, now)
            busy, self.busy = self.busy, bool(self.counters.moved)
            quiet = not (busy or self.busy or self.step_owed)
        if self.capacity is None or (quiet and self.capacity.controller.resting() and
                                     now - (self.last_full or 0.0) < CAPACITY_IDLE_S):
            return
        self.step_owed = False
        full, self.last_full = self.last_full, now
        active = self.pacer.fast | self.counters.moved if self.pacer.on else None  # traffic
        moved = self.capacity.tick(self.tracker.paths, now - full if full else CAPACITY_S, counts, active)
        if moved and not changes:
            index = {virt: i for i, virt in self.cfg.peer_indexes}
            self._rewrite([index[p] for p in moved])

    def _weights(self, peer: str, tables) -> List[int]:
        live = self.capacity.weights_of(peer) if self.capacity else None
        return [live[t] if live and t in live else self.weights[t] for t in tables]

    def _rewrite(self, peer_indexes) -> List[str]:
        """Write the rotation of these peers in one go; returns peers with no path left."""
        stranded, updates = [], {}
        by_index = {i: virt for i, virt in self.cfg.peer_indexes}
        for index in sorted(set(peer_indexes)):
            # Only the tables that route it (a learned hop not yet known leaves some out).
            tables = [t for t in self.cfg.tables if t in self.routed[by_index[index]]]
            if not tables:
                continue        # no path known at all: no chain (overlay/nft_ruleset.py)
            marks, weights, all_down = self.tracker.rotation(
                by_index[index], tables, self._weights(by_index[index], tables))
            if all_down:
                stranded.append(by_index[index])
            if not any(weights):
                # The controller weighs a path 0 until it is heard (and down ones stay
                # 0): a peer never rotates over nothing, or its packets would be lost
                # and plan/check would see drift right after ifup.
                weights = [self.weights[t] for t in marks]
            updates[index] = (marks, weights)
        try:
            with self.locked("rotation rewrite"):
                self.rotation.write(updates)
        except lock.LockTimeout as err:
            log.warning("%s: rotation not rewritten: %s", self.name, err)
        return stranded

    def locked(self, what: str):
        """The lock of kernel/lock.py, waited for briefly; asked to stop, we give up."""
        return lock.held(f"ifupdown-agg-monitor {self.name} {what}", timeout=LOCK_WAIT,
                         give_up=lambda: self.stopping)

    def _apply(self, changes: List[Change]) -> None:
        if not changes:
            return
        for ch in changes:
            p = ch.path
            # A path lost is a warning, a path back a notice, a drain (health.py) info.
            log.log(LEVELS.get(ch.state, logging.INFO),
                    "%s: path to %s via %s (%s, tables %s) %s: %s", self.name, p.peer,
                    p.dev, p.gateway, " ".join(map(str, p.tables)), ch.state.upper(), ch.reason)
        self.exchange.announce(changes)
        self.pacer.wake(ch.path.peer for ch in changes)
        self.step_owed = True
        stranded = self._rewrite([ch.path.peer_index for ch in changes])
        for peer in stranded:
            log.error("%s: every path to %s is down; it keeps its full rotation so that "
                      "whatever still works carries its traffic", self.name, peer)
        for ch in changes:
            if ch.state == DOWN:
                self.kernel.forget_neighbour(ch.path.dev, ch.path.gateway)
        self.write_health()

    def write_health(self) -> None:
        healthfile.write(self)

    def close(self) -> None:
        self.wakeup.close()
        self.rotation.close()
        self.sockets.close()
        self.watch.close()


def main(name: str) -> int:
    """Monitor one overlay stanza: NAME is its record, tun0 (inet) or tun0.inet6."""
    stop_requested = []

    def stop_signal(signum, frame):
        stop_requested.append(signum)
        if monitor_ref:
            monitor_ref[0].stopping = True
    monitor_ref: List[Monitor] = []
    # First of all, so an ifdown right after ifup ends us cleanly.
    signal.signal(signal.SIGTERM, stop_signal)
    signal.signal(signal.SIGINT, stop_signal)

    from ifupdown_agg.overlay import lifecycle as overlay
    from ifupdown_agg.kernel.netlink import Kernel

    logs.setup(log)     # one line per event with its priority: monitor/logs.py
    raw = load_options(name)
    if raw is None:
        log.error("%s: not up (no %s)", name, _file(name, "options.json"))
        return 1
    iface, family = overlay.split_key(name)
    cfg = overlay.from_raw(iface, raw, family).cfg
    kernel = Kernel()
    try:
        seqs: Dict = {}             # what the last one learned from (against replays)
        for _ in range(10_000):     # a new monitor after each learning (monitor/learn.py)
            mon = Monitor(cfg, kernel)
            mon.learning.seqs = seqs      # one dict for every monitor of this run
            monitor_ref[:] = [mon]
            mon.stopping = bool(stop_requested)
            with open(_file(name, "monitor.pid"), "w") as fh:
                fh.write(f"{os.getpid()}\n")
            keyset = mon.signer.keys
            log.info("%s: monitoring %d path(s) to %d peer(s), probes every %d ms, down after "
                     "%d lost, %s", name, len(mon.tracker.paths), len(cfg.peers),
                     cfg.monitor.interval_ms, cfg.monitor.loss, f"hellos signed with key "
                     f"{keyset.send_id} of {keyset.path}" if keyset else "hellos UNAUTHENTICATED")
            mon.write_health()
            try:
                if not mon.stopping:
                    mon.run()
            finally:
                mon.close()
            if not mon.restart or stop_requested:
                break
    finally:
        kernel.close()
        for suffix in ("monitor.pid", "health.json"):
            try:
                os.unlink(_file(name, suffix))
            except FileNotFoundError:
                pass
        log.info("%s: monitor stopped", name)
    return 0
