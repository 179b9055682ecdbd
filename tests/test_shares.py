"""The share controller (monitor/shares.py) on a simulated network. Pure, no clock.

A fluid model in 10 ms steps: three 200 Mbit/s links with a 20 ms tail-drop
queue each (tbf-like); one greedy overlay flow (AIMD on losses, a loss where
its packets meet a full queue) spread by the controller's weights; other
traffic on link 0 only: a greedy TCP-like flow, or a 100 Mbit/s UDP stream.
The controller runs every 100 ms on what the monitor would read: the queue
as our NIC's backlog, or as the peer-reported delay growth of the hellos.
Times below are simulated; nothing measures the wall clock.
"""

import random

from ifupdown_agg.monitor.shares import ShareController, Signal

STEP, TICK = 0.01, 10            # 10 ms steps, the controller every 10 steps
PEER = "198.19.255.20"


class Net:
    def __init__(self, rates, weights=None, fixed=False, signal="local", seed=7, jitter_us=0.0,
                 app_limit=2000.0, counts=True):
        self.rates = rates
        self.keys = [(PEER, 10000 + i) for i in range(len(rates))]
        self.ctl = ShareController({k: (weights or rates)[i] for i, k in enumerate(self.keys)}, fixed)
        self.weights = self.ctl.weights()
        self.q = [0.0] * len(rates)                         # bytes queued per link
        self.qmax = [r * 1e6 / 8 * 0.02 for r in rates]
        self.rate, self.cross, self.cross_kind = 50.0, 0.0, None
        self.sent = [0.0] * len(rates)
        self.took = [0.0] * len(rates)       # bytes each link's queue took in, every sender's
        self.signal, self.rnd, self.t = signal, random.Random(seed), 0.0
        self.jitter = jitter_us          # noise on the hellos' delay (a busy host's scheduling)
        self.app_limit = app_limit       # the most the overlay's application offers, Mbit/s
        self.counts = counts             # the qdisc's byte counts are read (other traffic known)
        self.trace = []          # per tick: (t, shares, overlay Mbit/s per link, cross Mbit/s)
        self.up = {k: True for k in self.keys}
        self._acc = [0.0] * (len(rates) + 1)

    def _aimd(self, rate, lost, ceiling):
        return rate * 0.7 if lost else min(ceiling, rate + 15.0)

    def step(self, kind):
        if kind != self.cross_kind:
            self.cross_kind, self.cross = kind, (100.0 if kind == "udp" else 10.0 if kind else 0.0)
        total = sum(self.weights.values())
        share = [self.weights[k] / total if self.up[k] else 0.0 for k in self.keys]
        lost_overlay = lost_cross = False
        for i, cap in enumerate(self.rates):
            ours = self.rate * share[i]
            other = self.cross if i == 0 else 0.0
            arriving = ours + other
            self.sent[i] += ours * 1e6 / 8 * STEP
            q0 = self.q[i]
            self.q[i] += (arriving - cap) * 1e6 / 8 * STEP
            if self.q[i] > self.qmax[i]:                   # tail drop, shared by arrivals
                self.q[i] = self.qmax[i]
                lost_overlay |= self.rnd.random() < ours / arriving
                lost_cross |= other > 0 and self.rnd.random() < other / arriving
            self.q[i] = max(0.0, self.q[i])
            # The link sends at its rate while a queue is left, shared in proportion.
            out = cap if self.q[i] > 0 else min(cap, arriving)
            self.took[i] += self.q[i] - q0 + out * 1e6 / 8 * STEP
            self._acc[i] += out * ours / arriving if arriving else 0.0
            if i == 0:
                self._acc[-1] += out * other / arriving if arriving else 0.0
        self.rate = self._aimd(self.rate, lost_overlay, self.app_limit)
        if kind == "tcp":
            self.cross = self._aimd(self.cross, lost_cross, 2000.0)

    def run(self, seconds, kind=None):
        for _ in range(int(round(seconds / STEP / TICK))):       # bounded
            for _ in range(TICK):
                self.step(kind)
            self.t += STEP * TICK
            self.tick()

    def tick(self):
        signals = {}
        for i, k in enumerate(self.keys):
            if self.signal == "local":
                signals[k] = Signal(backlog_bytes=int(self.q[i]), nic_rate_mbps=self.rates[i],
                                    sent_bytes=int(self.sent[i]),
                                    link_bytes=int(self.took[i]) if self.counts else None)
            else:                    # a bottleneck past our NIC: only the hellos see it
                noise = self.rnd.random() * self.jitter
                # Our NIC's qdisc sees only our own packets: nothing else shares it.
                signals[k] = Signal(tx_excess_us=self.q[i] * 8 / self.rates[i] + noise,
                                    sent_bytes=int(self.sent[i]), nic_rate_mbps=self.rates[i],
                                    link_bytes=int(self.sent[i]) if self.counts else None)
        self.weights = self.ctl.update(self.up, signals, STEP * TICK)
        self.sent = [0.0] * len(self.rates)
        self.took = [0.0] * len(self.rates)
        shares = self.ctl.shares()
        self.trace.append((round(self.t, 2), [shares[k] for k in self.keys],
                           [a / TICK for a in self._acc[:-1]], self._acc[-1] / TICK))
        self._acc = [0.0] * (len(self.rates) + 1)

    def between(self, start, end):
        return [row for row in self.trace if start < row[0] <= end + 1e-9]


def direction_changes(values, swing=1e-9):
    """How often a sequence turns from rising to falling or back by more than `swing`
    from its last extreme (smaller wiggles are not counted)."""
    changes, last, ext = 0, 0, values[0]
    for v in values[1:]:
        d = (v > ext + swing) - (v < ext - swing)
        if d and last and d != last:
            changes += 1
        if d:
            last, ext = d, v
        elif (v - ext) * last > 0:
            ext = v                     # still going the same way
    return changes


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs)


def _check_busy_then_clear(net):
    net.run(5)
    assert all(abs(s - 1 / 3) < 0.02 for s in net.trace[-1][1])          # clear: rates rule
    net.run(10, "tcp")
    busy = net.between(5, 15)
    assert busy[4][1][0] < 0.10               # cut within 5 intervals (500 ms simulated)
    assert min(row[1][0] for row in busy) >= 0.0015                        # never 0: measured
    steady = net.between(8, 15)
    assert direction_changes([row[1][0] for row in steady]) <= 4          # no oscillation
    assert mean(row[3] for row in steady) >= 0.9 * 200                    # the other flow keeps its link
    assert mean(sum(row[2]) for row in steady) >= 0.9 * 400               # we keep links 1 and 2
    net.run(10)
    clear = net.between(15, 25)
    assert clear[7][1][0] > 0.30              # back within 8 intervals
    assert direction_changes([row[1][0] for row in net.between(18, 25)]) == 0
    assert mean(sum(row[2]) for row in net.between(18, 25)) >= 0.9 * 600


def test_a_busy_link_loses_its_share_and_gets_it_back_local_queue():
    _check_busy_then_clear(Net([200, 200, 200]))


def test_the_same_from_the_hellos_alone():
    # No local backlog and no byte counts: the path delay growth decides, against the
    # peer's least delayed path.
    _check_busy_then_clear(Net([200, 200, 200], signal="hellos"))


def test_a_udp_stream_at_half_the_link_keeps_its_rate_and_we_take_the_rest():
    net = Net([200, 200, 200])
    net.run(3)
    net.run(22, "udp")
    steady = net.between(8, 25)
    assert mean(row[3] for row in steady) >= 0.9 * 100                    # UDP delivered
    assert mean(sum(row[2]) for row in steady) >= 0.85 * 500
    assert min(row[1][0] for row in steady) >= 0.0015
    # Around the balance the weight probes and backs off, by small steps: no swings of
    # more than 5 points of share, and the share stays within 40% of its mean.
    shares = [row[1][0] for row in steady]
    assert direction_changes(shares, swing=0.05) <= 2
    assert max(shares) <= 1.4 * mean(shares) and min(shares) >= 0.6 * mean(shares)
    assert abs(mean(row[2][0] for row in steady) - 100) <= 15      # we fill what UDP leaves


def test_unequal_links_keep_their_rate_weights_under_their_own_queues():
    net = Net([100, 250, 250])
    net.run(10)
    for row in net.between(2, 10):
        assert [round(s, 2) for s in row[1]] == [0.17, 0.42, 0.42]
    assert mean(sum(row[2]) for row in net.between(2, 10)) >= 0.9 * 600


def test_fixed_weights_are_untouched():
    net = Net([200, 200, 200], weights=[1, 3, 2], fixed=True)
    net.run(5, "tcp")
    assert all(row[1] == [1 / 6, 3 / 6, 2 / 6] for row in net.trace)
    assert net.ctl.weights() == {net.keys[0]: 1, net.keys[1]: 3, net.keys[2]: 2}
    assert set(net.ctl.why().values()) == {"fixed weight (agg-weights)"}


def test_never_zero_while_healthy_and_zero_when_down():
    keys = [(PEER, 1), (PEER, 2), ("other", 1)]
    ctl = ShareController({keys[0]: 1, keys[1]: 1, keys[2]: 1})   # auto gave equal weights
    hot = Signal(backlog_bytes=10 ** 6, nic_rate_mbps=100, sent_bytes=0)   # 80 ms, not ours
    for _ in range(50):
        w = ctl.update({k: True for k in keys}, {k: hot for k in keys}, 0.1)
    assert all(v >= 1 for v in w.values())
    w = ctl.update({keys[0]: False, keys[1]: True, keys[2]: True}, {keys[1]: hot}, 0.1)
    assert w[keys[0]] == 0 and w[keys[1]] >= 1
    assert ctl.why()[keys[0]] == "down: no share"
    w = ctl.update({k: True for k in keys}, {}, 0.1)
    back = [w[keys[0]]]
    for _ in range(5):
        back.append(ctl.update({k: True for k in keys}, {}, 0.1)[keys[0]])
    # A rejoin is gradual: a small share first, growing to its base in a few intervals.
    assert 1 <= back[0] < back[1] < back[2] < back[3] <= back[4] == back[5] == 50   # base x 50


def test_why_tells_the_delay_and_the_share():
    keys = [(PEER, 1), (PEER, 2)]
    ctl = ShareController({keys[0]: 200, keys[1]: 200})
    ctl.update({k: True for k in keys}, {keys[0]: Signal(tx_excess_us=2100), keys[1]: Signal(0)}, 0.1)
    why = ctl.why()
    assert why[keys[0]] == "path delay +2.1 ms: share cut to 49%"
    assert why[keys[1]] == "clear: base weight (51%)"
    ctl.update({k: True for k in keys}, {keys[0]: Signal(backlog_bytes=50_000, nic_rate_mbps=200,
                                                          sent_bytes=2_400_000)}, 0.1)
    assert ctl.why()[keys[0]].startswith("local queue +2.0 ms is our own (sending 192 of 200 Mbit/s)")
    assert ctl.why()[keys[1]] == "no delay signal: base weight"


def test_rebase_keeps_state_and_bounds_it():
    keys = [(PEER, 1), (PEER, 2)]
    ctl = ShareController({keys[0]: 200, keys[1]: 200})
    hot = Signal(tx_excess_us=20_000, sent_bytes=0)
    for _ in range(3):
        ctl.update({k: True for k in keys}, {keys[0]: hot, keys[1]: Signal(0)}, 0.1)
    cut = ctl.paths[keys[0]].weight
    assert cut < 100
    ctl.rebase({keys[0]: 200, keys[1]: 50, (PEER, 3): 100})     # link 2 renegotiated down
    assert ctl.paths[keys[0]].weight == cut and ctl.paths[keys[1]].weight == 50
    assert ctl.why()[keys[1]].startswith("link rate changed: base weight 50")
    assert not ctl.why()[keys[0]].startswith("link rate changed")     # its base stayed
    assert ctl.weights()[(PEER, 3)] > 0
    ctl.rebase({keys[0]: 200})
    assert list(ctl.weights()) == [keys[0]]


def test_without_byte_counts_only_a_path_more_delayed_than_the_others_is_cut():
    keys = [(PEER, 1), (PEER, 2), (PEER, 3)]
    ctl = ShareController({k: 200 for k in keys})
    up = {k: True for k in keys}
    ctl.update(up, {k: Signal(tx_excess_us=5000) for k in keys}, 0.1)     # our own queues
    assert set(ctl.weights().values()) == {200}      # full weight: the base
    assert ctl.why()[keys[0]] == "path delay +5.0 ms is our own (every path as delayed): share kept at 33%"
    ctl.update(up, {keys[0]: Signal(tx_excess_us=9000), keys[1]: Signal(tx_excess_us=1000),
                    keys[2]: Signal(tx_excess_us=1000)}, 0.1)
    w = ctl.weights()
    assert w[keys[0]] < w[keys[1]] == w[keys[2]] == 200


def test_changing_cross_traffic_every_5_s_for_60_s():
    net = Net([200, 200, 200])
    for k in range(12):                       # off, on, off, ... 5 s each
        net.run(5, "tcp" if k % 2 else None)
    for k in range(1, 12):
        period = net.between(5 * k, 5 * k + 5)
        if k % 2:
            assert period[4][1][0] < 0.10, k      # cut within 5 intervals
        else:
            assert period[7][1][0] > 0.30, k      # back within 8
        assert min(row[1][0] for row in period) >= 0.0015
        assert direction_changes([row[1][0] for row in period[10:]], swing=0.05) <= 2


def test_noisy_hellos_on_clear_links_cost_little_share():
    # Up to 2 ms of scheduling noise on every hello, no cross traffic, a flow of 300 Mbit/s
    # that fills no link (so no queue counts as "our own"): small, short cuts only.
    net = Net([200, 200, 200], signal="hellos", jitter_us=2000, app_limit=300)
    net.run(10)
    rows = net.between(1, 10)
    assert all(min(row[1]) >= 0.2 for row in rows)
    assert mean(sum(row[2]) for row in rows) >= 0.95 * 300


def test_other_traffic_on_our_nic_caps_the_share_and_its_end_lifts_it_at_once():
    # The member NIC's qdisc took 2.5 MB in 100 ms (200 Mbit/s), of which 1.25 MB were ours:
    # other traffic at 100 of 200 Mbit/s leaves us half the link, less the margin.
    keys = [(PEER, 1), (PEER, 2)]
    ctl = ShareController({k: 200 for k in keys})
    up = {k: True for k in keys}
    busy = Signal(backlog_bytes=0, nic_rate_mbps=200, sent_bytes=1_250_000, link_bytes=2_500_000)
    clear = Signal(backlog_bytes=0, nic_rate_mbps=200, sent_bytes=1_250_000, link_bytes=1_250_000)
    w = ctl.update(up, {keys[0]: busy, keys[1]: clear}, 0.1)
    assert w[keys[0]] == 90 and w[keys[1]] == 200
    assert ctl.why()[keys[0]] == "other traffic 100 Mbit/s of 200: share capped at 31%"
    # Gone: the estimate halves each interval (100 -> 50 -> 25 -> 12.5 -> 6, below the noise).
    seen = [ctl.update(up, {k: clear for k in keys}, 0.1)[keys[0]] for _ in range(4)]
    assert seen == [140, 165, 178, 200]
    assert ctl.why()[keys[0]] == "other traffic 6 Mbit/s of 200: share back to 50%"
    ctl.update(up, {k: clear for k in keys}, 0.1)
    assert ctl.why()[keys[0]] == "clear: base weight (50%)"


def test_a_greedy_neighbours_dip_is_no_link_set_free():
    # Other traffic at 190 of 200 Mbit/s dips to 130 for one interval (its loss): no jump.
    keys = [(PEER, 1), (PEER, 2)]
    ctl = ShareController({k: 200 for k in keys})
    up = {k: True for k in keys}
    def sig(other_mbps):
        return Signal(backlog_bytes=0, nic_rate_mbps=200, sent_bytes=10_000,
                      link_bytes=10_000 + int(other_mbps * 1e6 / 8 * 0.1))
    for _ in range(3):
        w = ctl.update(up, {keys[0]: sig(190), keys[1]: sig(0)}, 0.1)
    assert w[keys[0]] == 1                      # the floor: nothing is free
    w = ctl.update(up, {keys[0]: sig(130), keys[1]: sig(0)}, 0.1)
    assert w[keys[0]] <= 20                     # at most the probe's small step


def test_a_queue_past_our_nic_comes_back_by_probing_not_at_once():
    # Our NIC sees only our own bytes (the bottleneck is a switch port): after a cut by the
    # hellos' delay, the share rises step by step, it does not jump to the base.
    keys = [(PEER, 1), (PEER, 2)]
    ctl = ShareController({k: 200 for k in keys})
    up = {k: True for k in keys}
    own = dict(nic_rate_mbps=200, sent_bytes=500_000, link_bytes=500_000)
    for _ in range(3):
        ctl.update(up, {keys[0]: Signal(tx_excess_us=20_000, **own), keys[1]: Signal(0, **own)}, 0.1)
    cut = ctl.paths[keys[0]].weight
    after = [ctl.update(up, {keys[0]: Signal(0, **own), keys[1]: Signal(0, **own)}, 0.1)[keys[0]]
             for _ in range(2)]
    assert cut <= after[0] < after[1] < 100        # held one interval after the cut, then probes


# ---- idle intervals: the settled step against the full one --------------------------------

def _pair_of_controllers():
    keys = [(p, t) for p in ("a", "b", "c") for t in (1, 2, 3)]
    base = {k: (100, 200, 300)[k[1] - 1] for k in keys}
    settling, full = ShareController(base), ShareController(base)
    full.settle = False
    return keys, settling, full


def _idle_or_busy(rnd, key, busy):
    """An interval's signal: idle (no queue, nothing sent, hellos' delay small noise,
    with or without byte counts), or busy in one of the ways the controller reacts to."""
    counted = key[1] != 3
    idle = Signal(tx_excess_us=rnd.choice([None, 0, rnd.randint(0, 300)]), backlog_bytes=0,
                  nic_rate_mbps=1000, sent_bytes=0 if counted else None,
                  link_bytes=0 if counted else None)
    if not busy:
        return idle
    kind = rnd.choice(["queue", "hellos", "other", "ours"])
    if kind == "queue":
        return Signal(backlog_bytes=rnd.randint(0, 400_000), nic_rate_mbps=1000, sent_bytes=0,
                      link_bytes=rnd.randint(0, 5_000_000))
    if kind == "hellos":
        return Signal(tx_excess_us=rnd.randint(200, 20_000), nic_rate_mbps=1000)
    if kind == "other":
        return Signal(backlog_bytes=0, nic_rate_mbps=1000, sent_bytes=100_000,
                      link_bytes=100_000 + rnd.randint(0, 12_000_000))
    return Signal(backlog_bytes=100_000, nic_rate_mbps=1000, sent_bytes=12_000_000,
                  link_bytes=12_000_000)


def test_a_settled_interval_leaves_exactly_what_the_full_update_leaves():
    rnd = random.Random(15)
    keys, settling, full = _pair_of_controllers()
    settled = []
    original = settling._settled
    settling._settled = lambda *a: settled.append(original(*a)) or settled[-1]
    for tick in range(3000):                            # bounded
        phase = (tick // 40) % 4                       # idle 120 ticks, busy 40, and again
        up = {k: not (phase == 2 and k == ("b", 2) and tick % 7 < 3) for k in keys}
        signals = {k: _idle_or_busy(rnd, k, phase == 1 and rnd.random() < 0.3) for k in keys
                   if rnd.random() < 0.97}
        dt = rnd.choice([0.1, 0.095, 0.13])
        assert settling.update(up, signals, dt) == full.update(up, signals, dt)
        assert settling.why() == full.why()
        assert {k: vars(st) for k, st in settling.paths.items()} == \
            {k: vars(st) for k, st in full.paths.items()}        # the memory, field by field
    assert settled.count(True) > 1000 and settled.count(False) > 500


def test_a_busy_interval_after_idle_ones_still_cuts():
    keys, settling, full = _pair_of_controllers()
    up = {k: True for k in keys}
    idle = {k: Signal(tx_excess_us=20, backlog_bytes=0, nic_rate_mbps=1000, sent_bytes=0,
                      link_bytes=0) for k in keys}
    for _ in range(50):
        before = settling.update(up, idle, 0.1)
        assert before == full.update(up, idle, 0.1)
    assert all(settling._settled([k], idle, 0.1) for k in keys)       # it was settled
    # Another sender's queue of 2.4 ms on a's first link: cut at once, as without settling.
    busy = dict(idle)
    busy[("a", 1)] = Signal(backlog_bytes=300_000, nic_rate_mbps=1000, sent_bytes=0,
                            link_bytes=3_000_000)
    after = settling.update(up, busy, 0.1)
    assert after == full.update(up, busy, 0.1)
    assert after[("a", 1)] < before[("a", 1)] and after[("a", 2)] == before[("a", 2)]


def test_resting_while_every_path_is_up_at_its_base_and_not_while_one_climbs_back():
    """resting() lets the monitor step seldom while idle; a path that rejoins climbs
    from nothing over several steps, and until it is back the controller is not resting."""
    keys = [(PEER, 10000), (PEER, 10001)]
    ctl = ShareController({k: 100 for k in keys})
    idle = {k: Signal(backlog_bytes=0, nic_rate_mbps=200, sent_bytes=0, link_bytes=0) for k in keys}
    ctl.update({k: True for k in keys}, idle, 0.1)
    assert ctl.resting()
    ctl.update({keys[0]: True, keys[1]: False}, idle, 0.1)
    assert ctl.resting()                        # a down path does not count
    ctl.update({k: True for k in keys}, idle, 0.1)
    assert not ctl.resting()                    # back up: its share rises from nothing
    for _ in range(20):                         # bounded
        if ctl.resting():
            break
        ctl.update({k: True for k in keys}, idle, 0.1)
    assert ctl.resting() and ctl.weights()[keys[0]] == ctl.weights()[keys[1]]
    assert ShareController({k: 100 for k in keys}, fixed=True).resting()


# ---- peers with no traffic wait: update(..., peers) -----------------------------------------

def test_a_waiting_peer_keeps_its_state_and_the_stepped_ones_step_as_alone():
    """Only the peers given are stepped: their weights are what a controller of theirs
    alone gives; a waiting peer's state is left as it was, field by field, and it does
    not keep the controller from resting."""
    a, b = [("a", t) for t in (1, 2)], [("b", t) for t in (1, 2)]
    both, alone = ShareController({k: 100 for k in a + b}), ShareController({k: 100 for k in a})
    busy = {k: Signal(backlog_bytes=300_000, nic_rate_mbps=1000, sent_bytes=0, link_bytes=3_000_000)
            for k in a + b}
    both.update({k: True for k in a + b}, busy, 0.1)           # both cut once
    alone.update({k: True for k in a}, busy, 0.1)
    frozen = {k: dict(vars(both.paths[k])) for k in b}
    for _ in range(5):
        w = both.update({k: True for k in a + b}, busy, 0.1, peers={"a"})
        assert {k: w[k] for k in a} == alone.update({k: True for k in a}, busy, 0.1)
    assert {k: vars(both.paths[k]) for k in b} == frozen
    idle = {k: Signal(backlog_bytes=0, nic_rate_mbps=1000, sent_bytes=0, link_bytes=0) for k in a}
    for _ in range(30):                                          # bounded
        both.update({k: True for k in a + b}, idle, 0.1, peers={"a"})
    assert both.resting() and not both.paths[b[0]].weight >= 100     # b waits below its base
    # Its status line says it is as of b's last step; a's is current.
    why = both.why()
    assert why[b[0]].endswith(" (idle: as of its last traffic)") and "idle" not in why[a[0]]


def test_a_peer_that_steps_again_starts_its_delays_afresh():
    keys = [("a", 1)]
    ctl = ShareController({keys[0]: 100})
    ctl.update({keys[0]: True}, {keys[0]: Signal(tx_excess_us=100, nic_rate_mbps=1000)}, 0.1)
    assert ctl.paths[keys[0]].remote_prev == 100
    ctl.update({keys[0]: True}, {}, 0.1, peers=set())
    assert ctl.paths[keys[0]].remote_prev == 100                 # waiting: untouched
    ctl.update({keys[0]: True}, {keys[0]: Signal(tx_excess_us=900, nic_rate_mbps=1000)}, 0.1)
    assert ctl.paths[keys[0]].d_prev == 900                      # not min(900, 100) from before


def test_capacity_rebase_follows_a_changed_rate_only():
    from types import SimpleNamespace as NS
    from ifupdown_agg.monitor.capacity import Capacity
    members = [NS(table=10, dev="eth0", weight=300), NS(table=11, dev="eth1", weight=300)]
    paths = [NS(peer=PEER, tables=(10,)), NS(peer=PEER, tables=(11,))]
    cap = Capacity(NS(tables=[10, 11], weights="auto", peer_indexes=[]), members,
                   {"eth0": 300, "eth1": 300}, paths, kernel=None)
    assert cap.rebase(members, {"eth0": 300, "eth1": 300}, paths) == []
    slower = [members[0], NS(table=11, dev="eth1", weight=100)]
    assert cap.rebase(slower, {"eth0": 300, "eth1": 100}, paths) == [
        "eth1 came back at 100 Mbit/s (was 300 Mbit/s)"]
    assert cap.rate["eth1"] == 100
    assert cap.shares() == {(PEER, 10): 0.75, (PEER, 11): 0.25}
    assert cap.rebase(slower, {"eth0": 300, "eth1": None}, paths) == [
        "eth1 came back at an unknown rate (was 100 Mbit/s)"]
