"""Next hops learned from hellos ([NIC] in an inet6 rspec, issue #16 item 3) where the
planner cases do not reach: the form and its located errors, the learned file, the
planner with and without it, and the learning rule (a checked hello only, on the NIC of
a learned hop, from a peer of the rspec). Unprivileged."""

import json

import pytest

from ifupdown_agg.config import across
from ifupdown_agg.config.types import parse_rspec
from ifupdown_agg.config.types6 import parse_rspec6
from ifupdown_agg.core import record
from ifupdown_agg.core.objects import LinkInfo, Observed, Route
from ifupdown_agg.errors import TokenError
from ifupdown_agg.monitor import learn, probe
from ifupdown_agg.monitor.exchange import Exchange
from ifupdown_agg.monitor.health import Tracker
from ifupdown_agg.overlay import learned, plan
from ifupdown_agg.overlay.model import overlay_from_options
from ifupdown_agg.config import ifaces_file

from test_probe_inet6 import ME6, PEER6, signer

STANZA = """auto tun0
iface tun0 inet6 static
    address fd99:ff::10
    netmask 128
    fakenet fd99:ff::/64
    table 10000 10001
    rspec [fd99:ff::10]:[eth0]:[eth1] \\
          {peer}
"""
PEER = "[fd99:ff::20]:[eth0]:[eth1]"


def write(tmp_path, peer=PEER):
    path = tmp_path / "interfaces"
    path.write_text(STANZA.format(peer=peer))
    return str(path)


def config(tmp_path, peer=PEER):
    stanza = ifaces_file.read(write(tmp_path, peer)).find("tun0", "inet6")
    return overlay_from_options("tun0", stanza.options, "inet6"), stanza.options


def observed():
    return Observed(links={
        "tun0": LinkInfo("tun0", 2, kind="tun", up=False),
        "eth0": LinkInfo("eth0", 3, up=True, link_local=[("fe80::ff:fe00:10", "")]),
        "eth1": LinkInfo("eth1", 4, up=True, link_local=[("fe80::1", "dadfailed"),
                                                ("fe80::ff:fe01:10", "tentative")])})


# ---- the form ----------------------------------------------------------------------------

def test_a_hop_written_as_a_nic_is_learned_and_mixes_with_written_ones():
    me, peer = parse_rspec6("[fd99:ff::10]:[eth0]:[eth1] [fd99:ff::20]:[fe80::20%eth0]:[eth1]")
    assert (me.hops, me.nics) == (("", ""), ("eth0", "eth1"))
    assert [me.learns(j) for j in (0, 1)] == [True, True]
    assert [peer.learns(j) for j in (0, 1)] == [False, True]
    assert (peer.written(0), peer.written(1)) == ("fe80::20%eth0", "eth1")
    (ula,) = parse_rspec6("[fd99:ff::30]:[fd99::30]:[br-0.1]")
    assert ula.nics == (None, "br-0.1") and ula.learns(1) and not ula.learns(0)


def test_the_form_is_valid_in_a_whole_file(tmp_path):
    assert across.validate(write(tmp_path)).errors == []


@pytest.mark.parametrize("peer,message", [
    ("[fd99:ff::20]:[]:[eth1]", "'[fd99:ff::20]:[]:[eth1]' has empty brackets '[]' (in rspec "
     "entry '[fd99:ff::20]:[]:[eth1]'); write a hop [ADDRESS], [fe80::X%NIC], or [NIC] to "
     "learn it from hellos"),
    ("[fd99:ff::20]:[eth/0]:[eth1]", "'eth/0' is not a NIC name (1 to 15 letters, digits, "
     "'_.+-') nor an IPv6 address (in rspec entry '[fd99:ff::20]:[eth/0]:[eth1]')"),
    ("[fd99:ff::20]:[averyverylongnic0]", "'averyverylongnic0' is not a NIC name (1 to 15 "
     "letters, digits, '_.+-') nor an IPv6 address (in rspec entry "
     "'[fd99:ff::20]:[averyverylongnic0]')"),
    ("[eth9]:[eth0]:[eth1]", "'eth9': the virtual address cannot be learned (in rspec "
     "entry '[eth9]:[eth0]:[eth1]'); the first field is [VIRT], an address of the fake net; "
     "only hops take [NIC]"),
])
def test_bad_learned_forms_are_located(tmp_path, peer, message):
    path = write(tmp_path, peer)
    errors = [str(e).replace(path, "interfaces") for e in across.validate(path).errors]
    assert errors == [f"interfaces:8: tun0: rspec: {message}"]


def test_an_inet_rspec_refuses_a_learned_hop():
    with pytest.raises(TokenError) as err:
        parse_rspec("10.99.255.10:10.99.0.10 10.99.255.20:[eth1]")
    assert err.value.token == "[eth1]"
    assert "only an inet6 stanza's rspec takes it" in err.value.reason


# ---- the learned file ----------------------------------------------------------------------

def test_the_learned_file_round_trips_and_a_bad_one_is_empty(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))
    hops = {("fd99:ff::20", "eth0"): "fe80::ff:fe00:20", ("fd99:ff::30", "eth1"): "fe80::3"}
    learned.save("tun0.inet6", hops)
    assert learned.path_for("tun0.inet6") == str(tmp_path / "tun0.inet6.learned.json")
    assert learned.load("tun0.inet6") == hops
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tun0.inet6.learned.json"]
    (tmp_path / "tun0.inet6.learned.json").write_text('{"version": 1, "hops": [{"virt": 1}, '
                                                      '{"virt": "a", "dev": "b", "hop": "c"}]}')
    assert learned.load("tun0.inet6") == {("a", "b"): "c"}
    (tmp_path / "tun0.inet6.learned.json").write_text("{not json")
    assert learned.load("tun0.inet6") == {}
    learned.remove("tun0.inet6")
    learned.remove("tun0.inet6")        # twice: already gone is fine
    assert learned.load("tun0.inet6") == {}


# ---- the planner -----------------------------------------------------------------------------

def _routes(desired):
    return sorted((o.table, o.dst, o.dev, o.gateway) for o in desired.objects
                  if isinstance(o, Route) and o.table != plan.MAIN_TABLE)


def test_the_planner_reads_the_learned_file_when_not_given_hops(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))
    cfg, raw = config(tmp_path)
    none = plan.desired_state(cfg, observed(), raw)
    assert _routes(none) == []
    assert [m.local for m in none.members] == ["fe80::ff:fe00:10", "fe80::ff:fe01:10"]
    assert sum("not yet known" in n for n in none.notes) == 2
    learned.save(cfg.key, {(PEER6, "eth1"): "fe80::ff:fe01:20"})
    half = plan.desired_state(cfg, observed(), raw)
    assert _routes(half) == [(10001, "fd99:ff::20/128", "eth1", "fe80::ff:fe01:20")]
    nft = next(o for o in half.objects if getattr(o, "script", None))
    assert "map { 0 : 10001 }" in nft.script and "p1_t10000" in nft.script
    # Given hops win over the file (the monitor plans with what it just learned).
    given = plan.desired_state(cfg, observed(), raw, {(PEER6, "eth0"): "fe80::2"})
    assert _routes(given) == [(10000, "fd99:ff::20/128", "eth0", "fe80::2")]


def test_a_written_hop_beside_a_learned_one_routes_at_once(tmp_path):
    cfg, raw = config(tmp_path, "[fd99:ff::20]:[fe80::20%eth0]:[eth1]")
    desired = plan.desired_state(cfg, observed(), raw, {})
    assert _routes(desired) == [(10000, "fd99:ff::20/128", "eth0", "fe80::20")]


# ---- the learning rule -----------------------------------------------------------------------

WANTED = {(PEER6, "eth0"), (PEER6, "eth1")}


@pytest.mark.parametrize("dev,source,virt,why", [
    ("eth1", "fe80::20", PEER6, None),
    ("eth1", "fe80::20", ME6, "our own"),
    ("eth2", "fe80::20", PEER6, "fd99:ff::20 has no learned hop on eth2"),
    ("eth1", "fe80::20", "fd99:ff::30", "fd99:ff::30 has no learned hop on eth1"),
    ("eth1", "fd99:1::20", PEER6, "source fd99:1::20 is not link-local"),
    ("eth0", "fe80::ff:fe00:20", PEER6, "known"),
])
def test_the_learning_rule(dev, source, virt, why):
    known = {(PEER6, "eth0"): "fe80::ff:fe00:20"}
    assert learn.accept(WANTED, known, ME6, dev, source, virt) == why


def test_learnable_pairs_follow_the_position_of_the_link(tmp_path):
    cfg, _ = config(tmp_path, "[fd99:ff::20]:[fe80::20%eth0]:[eth1] [fd99:ff::30]:[eth0]")
    assert learn.learnable(cfg, ["eth0", "eth1"]) == {("fd99:ff::20", "eth1"),
                                                      ("fd99:ff::30", "eth0")}


class FakeSockets:
    def __init__(self):
        self.by_dev, self.dev_of, self.extra, self.sent = {}, {}, {}, []

    def open(self, dev, local):
        self.by_dev[dev] = self
        self.dev_of[len(self.dev_of) + 10] = dev

    def listen_any(self, dev):
        self.extra[len(self.dev_of) + 10] = self
        self.dev_of[len(self.dev_of) + 10] = dev

    def address(self, dev, peer):
        return (peer, 7431, 0, 3 if dev == "eth0" else 4)

    def sendto(self, payload, addr):
        self.sent.append((payload, addr))

    def recvmsg(self, *_):
        raise BlockingIOError


def learning(tmp_path, monkeypatch, keyed=True):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))
    cfg, raw = config(tmp_path)
    desired = plan.desired_state(cfg, observed(), raw, {})
    socks = FakeSockets()
    lrn = learn.Learning(cfg, desired.members, socks, keyed)
    tracker = Tracker([], interval=0.05, loss=3, rejoin=4, seq=1000)
    ex = Exchange(tracker, socks, ME6, signer(1) if keyed else probe.Signer(None))
    ex.learn = lrn.take
    return lrn, ex, tracker, socks


def test_learning_multicasts_on_each_nic_and_learns_from_signed_hellos_only(tmp_path, monkeypatch):
    lrn, ex, tracker, socks = learning(tmp_path, monkeypatch)
    assert lrn.devs == ["eth0", "eth1"] and len(socks.extra) == 2
    lrn.send(ex.encode, tracker)
    assert [addr for _, addr in socks.sent] == [("ff02::1", 7431, 0, 3), ("ff02::1", 7431, 0, 4)]
    hello, why = probe.decode(socks.sent[0][0], signer(1))
    assert why == "" and hello.virt == ME6 and hello.seq == tracker.seq
    mcast = next(iter(socks.extra))
    forged = probe.encode(probe.Hello(PEER6, 5, 0), signer(2))         # a key we lack
    unsigned = probe.encode(probe.Hello(PEER6, 6, 0))
    low = probe.encode(probe.Hello(PEER6, 7, 0), signer(1))
    for data, ttl in ((forged, 255), (unsigned, 255), (low, 64)):
        ex.take_learning("eth0", "fe80::ff:fe00:20", data, ttl, 1.0, 0)
    assert lrn.learned == {} and not lrn.fresh
    good = probe.encode(probe.Hello(PEER6, 8, 0), signer(1))
    assert mcast in ex.extra    # exchange.read hands its datagrams to take_learning
    ex.take_learning("eth0", "fe80::ff:fe00:20", good, 255, 1.0, 0)
    assert lrn.learned == {(PEER6, "eth0"): "fe80::ff:fe00:20"} and lrn.fresh
    # A replay of that hello from another source teaches nothing.
    ex.take_learning("eth0", "fe80::66", good, 255, 1.1, 0)
    assert lrn.learned == {(PEER6, "eth0"): "fe80::ff:fe00:20"}
    assert lrn.ignored == {"replay": 1}
    # A unicast hello from no path of ours teaches too (the peer learned us first).
    tracker.next_seq()
    uni = probe.encode(probe.Hello(PEER6, 9, tracker.seq), signer(1))
    ex.take("eth1", "fe80::ff:fe01:20", uni, 255, 1.2, 0)
    assert lrn.learned[(PEER6, "eth1")] == "fe80::ff:fe01:20"


def test_without_a_key_learning_goes_on_with_a_warning(tmp_path, monkeypatch, caplog):
    lrn, ex, _, _ = learning(tmp_path, monkeypatch, keyed=False)
    ex.take_learning("eth1", "fe80::ff:fe01:20", probe.encode(probe.Hello(PEER6, 3, 0)),
                     255, 1.0, 0)
    assert lrn.learned == {(PEER6, "eth1"): "fe80::ff:fe01:20"}
    assert "UNAUTHENTICATED" in caplog.text


def test_what_is_learned_is_kept_and_routed_through_the_record(tmp_path, monkeypatch):
    from ifupdown_agg.core.memory import MemoryKernel
    lrn, ex, _, _ = learning(tmp_path, monkeypatch)
    ex.take_learning("eth1", "fe80::ff:fe01:20", probe.encode(probe.Hello(PEER6, 3, 0),
                                                              signer(1)), 255, 1.0, 0)
    kernel = MemoryKernel(observed())
    lrn.apply(kernel)
    assert not lrn.fresh
    data = json.loads((tmp_path / "tun0.inet6.learned.json").read_text())
    assert data["hops"] == [{"virt": PEER6, "dev": "eth1", "hop": "fe80::ff:fe01:20"}]
    made = [op.obj for op in record.load("tun0.inet6")]
    assert Route(10001, "fd99:ff::20/128", "eth1", gateway="fe80::ff:fe01:20") in made


def test_networkd_refuses_a_learned_hop_located(tmp_path):
    from ifupdown_agg.errors import ConfigError
    from ifupdown_agg.networkd import generate, sources
    (tmp_path / "interfaces").write_text("""\
iface eth0 inet static
    address 10.99.0.10/24

iface tun0 inet static
    address 10.99.255.10
    netmask 255.255.255.255
    fakenet 10.99.255.0/24
    table 10000
    rspec 10.99.255.10:10.99.0.10 10.99.255.20:10.99.0.20

iface tun0 inet6 static
    address fd99:ff::10
    netmask 128
    fakenet fd99:ff::/64
    table 10000
    rspec [fd99:ff::10]:[fe80::10%eth0] [fd99:ff::20]:[eth0]
""")
    path = str(tmp_path / "interfaces")
    with pytest.raises(ConfigError) as err:
        generate.generate(sources.from_interfaces(path))
    assert str(err.value).replace(path, "interfaces") == (
        "interfaces:16: tun0: rspec: hop [eth0] is learned from hellos, and networkd has static "
        "routes only (the monitor routes what it learns through the ifupdown hook); write the "
        "hop as [fe80::X%NIC] for networkd (token 'eth0')")


def test_all_learned_no_multicast_but_a_moved_hop_is_learned_again(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))
    cfg, raw = config(tmp_path)
    known = {(PEER6, "eth0"): "fe80::ff:fe00:20", (PEER6, "eth1"): "fe80::ff:fe01:20"}
    learned.save(cfg.key, known)
    desired = plan.desired_state(cfg, observed(), raw)
    socks = FakeSockets()
    lrn = learn.Learning(cfg, desired.members, socks, True)
    tracker = Tracker([], interval=0.05, loss=3, rejoin=4, seq=1000)
    lrn.send(probe.Encoder(ME6, signer(1)), tracker)
    assert lrn.devs == [] and socks.sent == []
    assert len(socks.extra) == 2        # still listening on ff02::1: a rebooted peer greets
    lrn.take("eth1", "fe80::77", probe.parse6(probe.encode(probe.Hello(PEER6, 4, 0),
                                                             signer(1)), signer(1)))
    assert lrn.learned[(PEER6, "eth1")] == "fe80::77" and lrn.fresh


def test_status_shows_a_hop_not_yet_learned_as_learning(tmp_path, monkeypatch):
    from ifupdown_agg.core.memory import MemoryKernel
    from ifupdown_agg.overlay import status
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))
    path = write(tmp_path)
    cfg, _ = config(tmp_path)
    learned.save(cfg.key, {(PEER6, "eth0"): "fe80::ff:fe00:20"})
    st = status.collect(MemoryKernel(observed()), "tun0.inet6", path)
    (peer,) = st["peers"]
    assert [(r["dev"], r["via"], r["health"]) for r in peer["paths"]] == [
        ("eth0", "fe80::ff:fe00:20", "unmonitored"), ("eth1", None, "learning")]
    assert any("not yet known" in n for n in st["notes"])
    text = status.render(st)
    assert "eth1       -                learning" in text, text
