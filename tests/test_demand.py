"""Hellos on demand (monitor/demand.py) and the paces they say (monitor/health.py), on a
fake clock: an idle peer is probed slowly, traffic or its request brings the fast pace
back at once, and every silence limit follows the pace the peer said."""

import pytest

from ifupdown_agg.monitor import probe
import logging

from ifupdown_agg.monitor.demand import HOLD_S, Pacer, Wakeup, pace_byte
from ifupdown_agg.monitor.health import DOWN, DRAINED, UP, Path, Tracker

A, B = "10.99.255.20", "10.99.255.30"
FAST, IDLE = 0.05, 1.0


def setup(counted=True, idle=IDLE):
    paths = [Path(A, 1, "eth0", "10.99.0.10", "10.99.0.20", (10000,)),
             Path(A, 1, "eth1", "10.99.1.10", "10.99.1.20", (10001,)),
             Path(B, 2, "eth0", "10.99.0.10", "10.99.0.30", (10000,)),
             Path(B, 2, "eth1", "10.99.1.10", "10.99.1.30", (10001,))]
    t = Tracker(paths, interval=FAST, loss=3, rejoin=4, seq=1000)
    return t, Pacer(t, idle, counted)


def hello(t, path, now, pace=100, flags=0, heard=None):
    """A hello from the peer on `path`, saying `pace` (10 ms steps)."""
    path.peer_seq_sent = getattr(path, "peer_seq_sent", 0) + 1
    f = (None, 3, 0, flags, path.peer_raw, path.peer_seq_sent,
         t.seq if heard is None else heard, 0, 0, 0, -1)
    assert t.take(path, f, now, 0, pace)[0]


def tick(t, pacer, now, answer=(), pace=100):
    """One interval: our hellos to the peers due, the answers of `answer`, judging."""
    due = pacer.due(now)
    t.next_seq()
    for p in t.paths:
        if p.peer in answer:
            hello(t, p, now + 0.001, pace)
    return due, t.tick(now + 0.002, due)


@pytest.mark.parametrize("seconds,byte", [(0.05, 5), (1.0, 100), (0.055, 6), (2.55, 255),
                                          (0.01, 1), (2.56, 0), (10.0, 0)])
def test_the_pace_byte_rounds_up_and_says_nothing_beyond_its_range(seconds, byte):
    assert pace_byte(seconds) == byte


def test_an_idle_peer_that_says_its_pace_goes_slow_on_a_shared_grid():
    t, pacer = setup()
    now = 10.0
    due, _ = tick(t, pacer, now, answer={A, B})
    assert due == {A, B} and all(p.pace == 5 for p in t.paths)
    slow_sends = {A: 0, B: 0}
    for i in range(1, 60):      # 3 s: the first slow hello at once, then one a second
        due, changes = tick(t, pacer, now + i * FAST, answer={A, B} if i % 20 == 0 else ())
        assert changes == []
        for peer in due:
            slow_sends[peer] += 1
    assert slow_sends == {A: 3, B: 3} or slow_sends == {A: 4, B: 4}
    assert all(p.pace == 100 and not p.ask for p in t.paths)
    assert pacer.state() == {A: 1000, B: 1000}


def test_traffic_brings_the_fast_pace_back_at_the_next_tick_and_asks_the_peer():
    t, pacer = setup()
    now = 10.0
    for i in range(30):
        tick(t, pacer, now + i * FAST, answer={A, B} if i % 20 == 0 else ())
    assert A not in pacer.fast
    now += 30 * FAST
    pacer.traffic([A], now)
    due, _ = tick(t, pacer, now)
    assert A in due and B not in due
    assert all(p.pace == 5 and p.ask for p in t.paths if p.peer == A)
    assert t.our_fast_since[A] == now
    # Still fast HOLD_S later without more traffic? No: slow again after HOLD_S.
    due, _ = tick(t, pacer, now + HOLD_S + FAST, answer={A, B})
    assert all(p.pace == 100 for p in t.paths if p.peer == A)


def test_a_peer_asking_or_a_path_down_or_drained_or_an_older_peer_keeps_us_fast():
    t, pacer = setup()
    now = 10.0
    for i in range(30):
        tick(t, pacer, now + i * FAST, answer={A, B} if i % 20 == 0 else ())
    now += 30 * FAST
    hello(t, t.paths[0], now, flags=probe.FLAG_FAST)        # A asks
    due, _ = tick(t, pacer, now + 0.01)
    assert A in due and A in pacer.fast and not t.paths[0].ask
    t.paths[2].state = DOWN                                 # a path to B is down
    pacer.wake([B])
    due, _ = tick(t, pacer, now + 0.06)
    assert B in due and t.paths[3].ask
    t.paths[2].state = UP
    t.paths[2].drained = "no probe for 2100 ms"             # drained: in doubt too
    pacer.wake([B])
    due, _ = tick(t, pacer, now + 0.065)
    assert B in due and t.paths[3].ask
    t.paths[2].drained = ""
    hello(t, t.paths[3], now + 0.07, pace=0)               # B is an older monitor now
    due, _ = tick(t, pacer, now + 0.11)
    assert B in due and B in pacer.fast


@pytest.mark.parametrize("counted,idle", [(False, IDLE), (True, FAST), (True, 0.01)])
def test_without_counters_or_a_slower_idle_pace_every_peer_stays_fast(counted, idle):
    t, pacer = setup(counted, idle)
    assert not pacer.on and pacer.due(1.0) is None
    assert all(p.pace == 5 for p in t.paths)


def test_the_silence_limit_follows_the_pace_the_peer_said():
    t, _ = setup()
    t.next_seq()
    for p in t.paths[:2]:
        hello(t, p, 1.0, pace=100)
    t.tick(1.0)
    assert t.expire(2.05) == []                             # 1.05 s: within 1 x 1 s + 0.1
    # 2.9 s: within 3 x 1 s + 0.1, but past 2 x 1 s + 0.1: drained, not down
    assert {(c.path.dev, c.state) for c in t.expire(3.9)} == {("eth0", DRAINED), ("eth1", DRAINED)}
    assert {(c.path.dev, c.state) for c in t.expire(4.2)} == {("eth0", DOWN), ("eth1", DOWN)}


def test_when_the_peers_pace_falls_a_path_that_died_idle_is_found_at_the_fast_pace():
    t, _ = setup()
    t.next_seq()
    for p in t.paths[:2]:
        hello(t, p, 1.0, pace=100)
    # At 1.5 s the peer goes fast; only eth0's hellos arrive (eth1 died while idle).
    for i in range(4):
        hello(t, t.paths[0], 1.5 + i * FAST, pace=5)
    assert t.peer_fast_since[A] == 1.5
    deadline = t.next_deadline()        # the drain's: 2 fast intervals and a tenth
    assert deadline == pytest.approx(1.5 + 2 * FAST + FAST / 10, abs=1e-3)
    assert [(c.path.dev, c.state) for c in t.expire(deadline)] == [("eth1", DRAINED)]
    assert t.next_deadline() == pytest.approx(1.5 + 3 * FAST + FAST / 10, abs=1e-3)
    changes = t.expire(1.5 + 0.16)
    assert [(c.path.dev, c.state) for c in changes] == [("eth1", DOWN)]


def test_the_peers_report_of_us_is_judged_against_the_slower_pace_and_our_fall():
    t, pacer = setup()
    path = t.paths[0]
    path.pace = 100                     # we probe A every second
    hello(t, path, 1.0, pace=100)
    seq = t.next_seq()
    t.tick(1.0)                         # our hello `seq` left at 1.0
    hello(t, path, 2.0, pace=100, heard=seq)
    assert t._fault(path, 2.5) is None
    hello(t, path, 3.9, pace=100, heard=seq)     # the peer still reports 1.0's hello
    assert t._fault(path, 3.95) is None     # within 3 x 1 s + 25 ms of 1.0
    hello(t, path, 4.1, pace=100, heard=seq)
    assert "has not heard our probes" in (t._fault(path, 4.1) or "")
    # Had our pace just fallen, the report is judged from then.
    t.our_fast_since[A] = 4.0
    assert t._fault(path, 4.1) is None


@pytest.mark.parametrize("phase", [0.0, 0.01, 0.024, 0.026, 0.049])
def test_slow_hellos_go_once_per_idle_interval_whatever_the_ticks_phase(phase):
    t, pacer = setup()
    now = 10.0 - 0.5 + phase
    tick(t, pacer, now, answer={A, B})
    sends = []
    for i in range(1, 201):     # 10 s of 50 ms ticks
        due, changes = tick(t, pacer, now + i * FAST, answer={A, B} if i % 20 == 0 else ())
        assert changes == []
        if A in due:
            sends.append(now + i * FAST)
    gaps = [b - a for a, b in zip(sends[1:], sends[2:])]
    assert len(sends) in (10, 11) and all(0.9 < g < 1.1 for g in gaps), sends


def test_a_path_not_yet_heard_is_judged_from_the_peers_first_hello_not_from_our_start():
    """A tick right after the peer's first hello on one path (a FLAG_FAST wakes us at
    once) must not take its other path down for the silence before the peer started."""
    t, _ = setup()
    t.next_seq()
    for p in t.paths:
        p.since = 0.0                       # we started at 0; the peer starts at 5
    hello(t, t.paths[0], 5.0, pace=5)       # eth0 first; eth1's is a few ms behind
    assert t.tick(5.001) == []
    hello(t, t.paths[1], 5.004, pace=5)
    assert t.tick(5.05) == []
    quiet = Tracker([Path(A, 1, "eth0", "10.99.0.10", "10.99.0.20", (10000,)),
                     Path(A, 1, "eth1", "10.99.1.10", "10.99.1.20", (10001,))],
                    interval=FAST, loss=3, rejoin=4, seq=1000)
    quiet.next_seq()
    for p in quiet.paths:
        p.since = 0.0
    hello(quiet, quiet.paths[0], 5.0, pace=5)
    assert quiet.tick(5.1) == []
    hello(quiet, quiet.paths[0], 5.15, pace=5)
    down = quiet.tick(5.2)                  # eth1 silent 200 ms > 3 x 50 ms + 5 ms
    assert [(c.path.dev, c.state) for c in down] == [("eth1", DOWN)]


def test_a_peer_is_listed_to_be_armed_once_at_the_tick_it_goes_slow():
    t, pacer = setup()
    now, slowed = 10.0, []
    for i in range(60):
        tick(t, pacer, now + i * FAST, answer={A, B} if i % 20 == 0 else ())
        slowed.append(set(pacer.slowed))
    assert [s for s in slowed if s] == [{A, B}]
    pacer.traffic([A], now + 3.0)               # A busy, then idle again: listed again
    for i in range(60, 120):
        tick(t, pacer, now + i * FAST, answer={A, B} if i % 20 == 0 else ())
        slowed.append(set(pacer.slowed))
    assert [s for s in slowed if s] == [{A, B}, {A}]


class FakeRing:
    def __init__(self):
        self.held, self.closed = 0, False

    def drain(self):
        held, self.held = self.held, 0
        return bool(held)

    def close(self):
        self.closed = True


class FakeSteering:
    def __init__(self, fail=False, ring=True):
        self.armed, self.fail, self.ring = [], fail, FakeRing() if ring else None

    def wake_ring(self):
        return self.ring

    def arm(self, slots):
        if self.fail:
            raise OSError(1, "Operation not permitted")
        self.armed.append(sorted(slots))


def test_the_wakeup_arms_the_peers_slots_and_counts_the_rings_wakes():
    steering = FakeSteering()
    wake = Wakeup(steering, [(1, A), (2, B)], logging.getLogger("test"))
    assert wake.on
    wake.arm({A, B, "10.99.255.99"})            # not a peer of ours: no slot
    wake.arm(set())                             # nothing to write
    assert steering.armed == [[1, 2]]
    wake.drain()
    steering.ring.held = 1
    wake.drain()
    assert wake.wakes == 1
    wake.close()
    assert steering.ring.closed and not wake.on


@pytest.mark.parametrize("steering", [None, object(), FakeSteering(ring=False)])
def test_without_a_wake_ring_the_wakeup_is_off_and_arms_nothing(steering):
    wake = Wakeup(steering, [(1, A)], logging.getLogger("test"))
    assert not wake.on
    wake.arm({A})
    wake.drain()
    assert wake.wakes == 0


def test_a_failed_arming_turns_the_wakeup_off_with_a_warning(caplog):
    wake = Wakeup(FakeSteering(fail=True), [(1, A)], logging.getLogger("test"))
    with caplog.at_level(logging.WARNING):
        wake.arm({A})
    assert not wake.on and "every 100 ms instead" in caplog.text
