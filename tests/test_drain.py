"""A drained path (monitor/health.py): out of the data rotation one interval before it
would be down, back at the first hello that clears it, and told to the peer with
FLAG_DRAIN. On a fake clock, through Tracker.take as the hellos reach it."""

import pytest

from ifupdown_agg.monitor import probe
from ifupdown_agg.monitor.exchange import Exchange
from ifupdown_agg.monitor.health import DOWN, DRAINED, RESUMED, UP, Path, Tracker

from test_probe_auth import STANZA

PEER = "10.99.255.20"
IV = 0.05


def tracker(loss=3):
    paths = [Path(PEER, 1, "eth0", "10.99.0.10", "10.99.0.20", (10000,)),
             Path(PEER, 1, "eth1", "10.99.1.10", "10.99.1.20", (10001,))]
    return Tracker(paths, interval=IV, loss=loss, rejoin=4, seq=1000)


def hello(t, path, now, flags=0, seq=None):
    """An authentic hello from the peer on `path` (what the codec passed on); True if taken."""
    if seq is None:
        path.sent_by_peer = getattr(path, "sent_by_peer", 0) + 1
        seq = path.sent_by_peer
    f = (None, 3, 0, flags, path.peer_raw, seq, t.seq, 0, 0, 0, -1)
    return t.take(path, f, now, 0, 5)[0]


def pending(t):
    out, t.pending = [(c.path.dev, c.state) for c in t.pending], []
    return out


def healthy(t, until=1.0):
    """Both paths heard every interval until `until`; returns the last time."""
    now = 0.0
    while now < until - 1e-9:
        now = round(now + IV, 6)
        t.next_seq()
        for p in t.paths:
            hello(t, p, now)
        assert t.tick(now) == []
    return now


def states(changes):
    return [(c.path.dev, c.state) for c in changes]


def test_a_silent_path_is_drained_one_interval_before_it_is_down():
    t = tracker()
    now = healthy(t)
    eth0, eth1 = t.paths
    drain_at = now + t._limit(IV, 2)
    assert t.expire(drain_at - 0.002) == []
    hello(t, eth0, drain_at)       # eth0 is heard throughout
    assert states(t.expire(drain_at + 0.001)) == [("eth1", DRAINED)]
    assert eth1.state == UP and eth1.drained.startswith("no probe from 10.99.1.20 for ")
    # Out of the rotation, not down: the peer keeps its other path.
    assert t.rotation(PEER, [10000, 10001], [1, 1]) == ([10000], [1], False)
    later = t.expire(now + t.silence_limit + 0.001)      # (eth0 drains from its report:
    assert [c.state for c in later if c.path is eth1] == [DOWN]     # we send nothing here)
    assert eth1.drained == "" and eth1.flaps == 0


def test_a_drained_path_comes_back_at_its_first_hello_undamped():
    t = tracker()
    now = healthy(t)
    eth1 = t.paths[1]
    hello(t, t.paths[0], now + 0.11)
    assert states(t.expire(now + 0.11)) == [("eth1", DRAINED)]
    assert hello(t, eth1, now + 0.12)
    assert pending(t) == [("eth1", RESUMED)]
    assert eth1.drained == "" and eth1.state == UP and eth1.flaps == 0 and eth1.good == 0
    assert t.rotation(PEER, [10000, 10001], [1, 1]) == ([10000, 10001], [1, 1], False)


def test_the_peers_report_of_us_drains_too():
    t = tracker()
    now = healthy(t)
    eth0 = t.paths[0]
    last = t.seq            # the peer hears nothing of ours after this one
    for i in range(1, 4):
        now = round(now + IV, 6)
        t.next_seq()
        for p in t.paths:
            f = (None, 3, 0, 0, p.peer_raw, 1000 + i, last if p is eth0 else t.seq, 0, 0, 0, -1)
            t.take(p, f, now, 0, 5)
        changes = t.tick(now)
        if changes:
            break
    assert states(changes) == [("eth0", DRAINED)] and i == 3
    assert "has not heard our probes" in eth0.drained


def test_the_peers_flag_drains_ours_until_it_falls():
    t = tracker()
    now = healthy(t)
    eth1 = t.paths[1]
    assert hello(t, eth1, now + 0.01, flags=probe.FLAG_DRAIN)
    assert pending(t) == [("eth1", DRAINED)]
    assert eth1.drain_held and "10.99.1.20 drained it" in eth1.drained
    # Its hellos still come, with the flag: it stays drained, at a tick too.
    assert hello(t, eth1, now + 0.03, flags=probe.FLAG_DRAIN) and pending(t) == []
    assert t.tick(now + 0.04) == []
    assert t.rotation(PEER, [10000, 10001], [1, 1])[0] == [10000]
    assert hello(t, eth1, now + 0.05)
    assert pending(t) == [("eth1", RESUMED)]
    assert not eth1.drain_held and eth1.drained == ""


def test_a_held_drain_our_judging_keeps_says_our_reason_once_the_flag_falls():
    t = tracker()
    now = healthy(t)
    eth1 = t.paths[1]
    last = t.seq            # the peer hears nothing of ours on eth1 after this one

    def stale_hello(at, flags):
        eth1.sent_by_peer += 1
        f = (None, 3, 0, flags, eth1.peer_raw, eth1.sent_by_peer, last, 0, 0, 0, -1)
        return t.take(eth1, f, at, 0, 5)[0]

    assert stale_hello(now + 0.01, probe.FLAG_DRAIN)
    assert pending(t) == [("eth1", DRAINED)] and "drained it" in eth1.drained
    for i in range(1, 4):
        now = round(now + IV, 6)
        t.next_seq()
        hello(t, t.paths[0], now)
        assert stale_hello(now, probe.FLAG_DRAIN) and t.tick(now) == []
    # The peer's flag falls while it still does not hear us: drained, for our reason.
    assert stale_hello(now + 0.01, 0) and pending(t) == []
    assert not eth1.drain_held and "has not heard our probes" in eth1.drained
    assert t.rotation(PEER, [10000, 10001], [1, 1])[0] == [10000]
    # It hears us again: back.
    assert hello(t, eth1, now + 0.02)
    assert pending(t) == [("eth1", RESUMED)] and eth1.drained == ""


def test_both_ends_drained_come_back_when_the_link_heals():
    """One end drained by its own judging, the other by the first's flag: no end waits
    for the other, so healing cannot deadlock."""
    t = tracker()
    now = healthy(t)
    eth1 = t.paths[1]
    hello(t, t.paths[0], now + 0.11)
    assert states(t.expire(now + 0.11)) == [("eth1", DRAINED)]       # our own judging
    # The peer drained it too and says so; ours stays our own.
    assert hello(t, eth1, now + 0.12, flags=probe.FLAG_DRAIN)
    assert pending(t) == [("eth1", RESUMED)]        # heard: our own drain is over
    assert eth1.drained == ""
    # Its flag still up is no new edge: we stay in; when it falls nothing changes.
    assert hello(t, eth1, now + 0.13, flags=probe.FLAG_DRAIN) and pending(t) == []
    assert hello(t, eth1, now + 0.14) and pending(t) == []


def test_a_replayed_drain_flag_changes_nothing():
    t = tracker()
    now = healthy(t)
    eth1 = t.paths[1]
    assert not hello(t, eth1, now + 0.01, flags=probe.FLAG_DRAIN, seq=eth1.peer_seq)
    assert pending(t) == [] and eth1.drained == "" and eth1.rejected == {"replay": 1}


def test_down_clears_a_drain_and_the_rejoin_is_the_usual_one():
    t = tracker()
    now = healthy(t)
    eth1 = t.paths[1]
    assert hello(t, eth1, now + 0.01, flags=probe.FLAG_DRAIN)
    assert hello(t, eth1, now + 0.02, flags=probe.FLAG_DRAIN | probe.FLAG_DOWN)
    assert pending(t) == [("eth1", DRAINED), ("eth1", DOWN)]
    assert eth1.drained == "" and not eth1.drain_held
    assert t.rotation(PEER, [10000, 10001], [1, 1])[0] == [10000]


def test_only_drained_paths_left_keep_the_rotation():
    t = tracker()
    now = healthy(t)
    assert states(t.expire(now + 0.11)) == [("eth0", DRAINED), ("eth1", DRAINED)]
    assert t.rotation(PEER, [10000, 10001], [1, 2]) == ([10000, 10001], [1, 2], False)
    t.on_carrier("eth0", False, now + 0.12)
    assert t.rotation(PEER, [10000, 10001], [1, 2]) == ([10001], [2], False)


@pytest.mark.parametrize("loss", [1, 2])
def test_a_loss_below_3_never_drains(loss):
    t = tracker(loss)
    now = healthy(t)
    assert t.drain_after == 0
    changes = t.expire(now + t._limit(IV, loss) - 0.001)
    assert changes == [] and t.next_deadline() == pytest.approx(now + t.silence_limit, abs=1e-3)


class FakeSockets:
    def __init__(self):
        self.sent = []
        self.by_dev = {d: self for d in ("eth0", "eth1")}
        self.dev_of = {}

    def sendto(self, payload, addr):
        self.sent.append((addr, payload))

    def address(self, dev, gateway):
        return (gateway, 7431)


def test_our_hellos_say_our_own_drains_only_and_a_drain_is_told_at_once():
    t = tracker()
    now = healthy(t)
    socks = FakeSockets()
    ex = Exchange(t, socks, "10.99.255.10", probe.Signer(None), batched=False)
    eth0, eth1 = t.paths
    changes = t.expire(now + 0.11)          # both drained by our judging
    hello(t, eth0, now + 0.115, flags=probe.FLAG_DRAIN)    # eth0 back (the peer's flag: no edge)
    changes += t.pending
    t.pending = []
    ex.announce(changes)
    told = {addr[0]: probe.decode(p)[0].flags for addr, p in socks.sent}
    assert told == {"10.99.0.20": probe.FLAG_DRAIN | probe.FLAG_FAST,
                    "10.99.1.20": probe.FLAG_DRAIN | probe.FLAG_FAST}
    socks.sent.clear()
    ex.send()
    flags = {addr[0]: probe.decode(p)[0].flags for addr, p in socks.sent}
    assert flags == {"10.99.0.20": 0, "10.99.1.20": probe.FLAG_DRAIN}
    # A drain the peer's flag holds is not said back to it.
    eth1.drain_held = True
    socks.sent.clear()
    ex.send()
    assert {addr[0]: probe.decode(p)[0].flags for addr, p in socks.sent}["10.99.1.20"] == 0


def test_status_shows_a_drained_path_with_its_reason_and_no_share(tmp_path, monkeypatch):
    from ifupdown_agg.core import record
    from ifupdown_agg.core.memory import MemoryKernel
    from ifupdown_agg.core.objects import LinkInfo, Observed
    from ifupdown_agg.overlay import status
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))
    interfaces = tmp_path / "interfaces"
    interfaces.write_text(STANZA)        # test_probe_auth's: 10.99.255.10 and PEER, eth0 and eth1
    obs = Observed(links={"tun0": LinkInfo("tun0", 2, kind="tun", up=True),
                          "eth0": LinkInfo("eth0", 3, up=True, addrs=[("10.99.0.10", 24)]),
                          "eth1": LinkInfo("eth1", 4, up=True, addrs=[("10.99.1.10", 24)])})
    why = "no probe from 10.99.1.20 for 106 ms"
    health = {"probed_peers": [PEER], "paths": [
        {"peer": PEER, "dev": "eth0", "tables": [10000], "state": "up", "reason": "starting",
         "drained": None},
        {"peer": PEER, "dev": "eth1", "tables": [10001], "state": "up", "reason": "starting",
         "drained": why}]}
    monkeypatch.setattr(status.monitor, "load_health", lambda iface: health)
    st = status.collect(MemoryKernel(obs), "tun0", str(interfaces))
    rows = {r["dev"]: r for p in st["peers"] if p["peer"] == PEER for r in p["paths"]}
    assert (rows["eth0"]["health"], rows["eth1"]["health"]) == ("up", "drained")
    assert rows["eth1"]["reason"] == why
    assert (rows["eth0"]["rotation_share"], rows["eth1"]["rotation_share"]) == (1.0, 0.0)
    assert "drained" in status.render(st) and why in status.render(st)


def test_a_pace_that_falls_does_not_end_a_drain_only_a_hello_on_the_path_does():
    """An idle peer's path drained on its slow silence stays drained when the peer goes
    fast (its silence restarts, but nothing came on it), and goes down at the fast
    limit from then; were it back in the rotation, the first packets would be lost."""
    t = tracker()
    eth0, eth1 = t.paths
    for p in t.paths:
        p.pace = 100                        # we probe slowly too (monitor/demand.py)
        t.take(p, (None, 3, 0, 0, p.peer_raw, 1, t.next_seq(), 0, 0, 0, -1), 1.0, 0, 100)
    t.tick(1.0)
    assert states(t.expire(3.2)) == [("eth0", DRAINED), ("eth1", DRAINED)]   # 2 x 1 s + 0.1
    seq = t.next_seq()
    t.tick(3.29)                            # our hello `seq`
    t.take(eth0, (None, 3, 0, 0, eth0.peer_raw, 2, seq, 0, 0, 0, -1), 3.3, 0, 5)
    assert pending(t) == [("eth0", RESUMED)]    # the peer went fast; only eth0 is heard
    t.our_fast_since[PEER] = 3.3            # and so did we: its report restarts too
    for p in t.paths:
        p.pace = 5
    assert t.tick(3.35) == [] and eth1.drained           # eth1's silence restarted at 3.3
    t.take(eth0, (None, 3, 0, 0, eth0.peer_raw, 3, seq, 0, 0, 0, -1), 3.44, 0, 5)
    later = t.expire(3.3 + t._limit(IV) + 0.001)
    assert [c.state for c in later if c.path is eth1] == [DOWN]
