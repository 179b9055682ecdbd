"""The path health state machine, on a fake clock."""

from ifupdown_agg.monitor import probe
from ifupdown_agg.monitor.health import DOWN, DRAINED, UP, Path, Tracker

PEER = "10.99.255.20"


def tracker(loss=3, rejoin=4):
    paths = [Path(PEER, 2, "eth0", "10.99.0.10", "10.99.0.20", (10000,)),
             Path(PEER, 2, "eth1", "10.99.1.10", "10.99.1.20", (10001,)),
             Path("10.99.255.1", 0, "eth3", "10.3.23.10", "10.3.23.1", (10000, 10001))]
    return Tracker(paths, interval=0.1, loss=loss, rejoin=rejoin)


def run(t, seconds, now, answering):
    """Tick for `seconds`; every path in `answering` gets a hello each interval."""
    changes = []
    for _ in range(int(round(seconds / t.interval))):
        now += t.interval
        seq = t.next_seq()
        for p in t.paths:
            if p.key in answering:
                t.on_hello(p, peer_seq=seq, heard=seq, now=now)
        changes += t.tick(now)
    return changes, now


def test_carrier_loss_takes_paths_down_at_once_and_rotation_shrinks():
    t = tracker()
    changes = t.on_carrier("eth1", False, now=1.0)
    assert [(c.path.dev, c.state) for c in changes] == [("eth1", DOWN)]
    assert changes[0].reason == "carrier lost on eth1"
    assert t.rotation(PEER, [10000, 10001], [1, 1]) == ([10000], [1], False)
    # The other peer does not use eth1: its rotation is untouched.
    assert t.rotation("10.99.255.1", [10000, 10001], [1, 1]) == ([10000, 10001], [1, 1], False)


def test_silent_failure_is_seen_after_loss_intervals_and_heals_with_hysteresis():
    t = tracker(loss=3, rejoin=4)
    both = {("eth0", "10.99.0.20"), ("eth1", "10.99.1.20")}
    changes, now = run(t, 1.0, 0.0, both)
    assert changes == []
    changes, now = run(t, 0.5, now, {("eth0", "10.99.0.20")})
    # Drained (out of the data rotation) one interval before it is down.
    assert [(c.path.dev, c.state) for c in changes] == [("eth1", DRAINED), ("eth1", DOWN)]
    assert changes[1].reason.startswith("no probe from 10.99.1.20 for ")
    changes, now = run(t, 0.3, now, both)       # not yet: hysteresis
    assert changes == []
    changes, now = run(t, 0.2, now, both)
    assert [(c.path.dev, c.state) for c in changes] == [("eth1", UP)]


def test_one_way_loss_is_seen_from_the_peers_reports():
    t = tracker(loss=3)
    run(t, 0.5, 0.0, {("eth0", "10.99.0.20"), ("eth1", "10.99.1.20")})
    now = 0.5
    for _ in range(6):      # hellos still arrive, but the peer stopped hearing us
        now += 0.1
        seq = t.next_seq()
        t.on_hello(t.paths[0], peer_seq=seq, heard=5, now=now)
        t.on_hello(t.paths[1], peer_seq=seq, heard=seq, now=now)
        changes = t.tick(now)
        if changes:
            break
    assert changes and changes[0].path.dev == "eth0" and "has not heard our probes" in changes[0].reason


def test_a_peer_without_a_monitor_is_judged_by_carrier_only():
    t = tracker()
    changes, _ = run(t, 2.0, 0.0, set())
    assert changes == []            # nobody answers, nobody is declared dead


def test_all_paths_down_keeps_the_full_rotation():
    t = tracker()
    t.on_carrier("eth0", False, 1.0)
    t.on_carrier("eth1", False, 1.0)
    assert t.rotation(PEER, [10000, 10001], [1, 3]) == ([10000, 10001], [1, 3], True)


def test_hello_round_trip_and_junk():
    hello = probe.Hello("10.99.255.10", 7, 6, 123, 45, 6, 7)
    assert probe.decode(probe.encode(hello)) == (hello, "")
    assert probe.decode(b"junk") == (None, "format")
    assert probe.decode(b"XXXX" + probe.encode(hello)[4:]) == (None, "format")


def test_a_flapping_path_waits_longer_each_time_to_rejoin():
    t = tracker(loss=3, rejoin=4)
    both = {("eth0", "10.99.0.20"), ("eth1", "10.99.1.20")}
    _, now = run(t, 1.0, 0.0, both)
    waits = []
    for _ in range(3):
        t.on_carrier("eth1", False, now)
        t.on_carrier("eth1", True, now)
        for n in range(1, 200):             # bounded
            _, now = run(t, 0.1, now, both)
            if t.paths[1].state == UP:
                waits.append(n)
                break
    assert waits == [4, 8, 16]
    assert "damped" in t.paths[1].reason


def test_monitors_starting_at_different_times_do_not_fail_paths():
    t = tracker()
    now = 0.0
    for _ in range(30):         # we probe alone for 3 s, then the peer starts and hears us
        now += 0.1
        t.next_seq()
        assert t.tick(now) == []
    for k in range(30):
        now += 0.1
        seq = t.next_seq()
        for p in t.paths[:2]:
            t.on_hello(p, peer_seq=k + 1, heard=0 if k < 2 else seq - 1, now=now)
        assert t.tick(now) == []


def test_between_ticks_a_silent_path_is_taken_down_at_its_deadline():
    t = tracker(loss=3)
    both = {("eth0", "10.99.0.20"), ("eth1", "10.99.1.20")}
    _, now = run(t, 1.0, 0.0, both)
    t.on_hello(t.paths[0], peer_seq=t.seq, heard=t.seq, now=now + 0.05)
    drain = t.next_deadline()           # eth1 was heard last at `now`: first its drain
    assert abs(drain - (now + t._limit(t.interval, t.drain_after))) < 1e-3
    assert t.expire(drain - 0.01) == []
    assert [(c.path.dev, c.state) for c in t.expire(drain)] == [("eth1", DRAINED)]
    t.on_hello(t.paths[0], peer_seq=t.seq + 1, heard=t.seq, now=now + 0.2)
    deadline = t.next_deadline()
    assert abs(deadline - (now + t.silence_limit)) < 1e-3
    eth1 = t.paths[1]       # (eth0's report of us ages too: we send nothing here)
    assert [c for c in t.expire(deadline - 0.01) if c.path is eth1] == []
    changes = t.expire(deadline)
    assert [(c.path.dev, c.state) for c in changes if c.path is eth1] == [("eth1", DOWN)]
    assert t.next_deadline() > deadline                         # only eth0 is left to watch
