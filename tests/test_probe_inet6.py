"""IPv6 hellos (issue #16): the version 4 codec, what each family's monitor takes, and
the socket layer's addressing (scope id from the NIC, link-local hops, IPV6_FREEBIND)."""

import json
import socket
import sys

import pytest

from ifupdown_agg.monitor import keys, probe
from ifupdown_agg.monitor.exchange import Exchange
from ifupdown_agg.monitor.health import Path, Tracker

PEER6, ME6 = "fd99:ff::20", "fd99:ff::10"
PEER4 = "10.99.255.20"
K1, K2 = bytes(range(32)), bytes(range(32, 64))


def signer(*ids):
    table = {1: K1, 2: K2}
    return probe.Signer(keys.KeySet(ids[0], {i: table[i] for i in ids}))


# ---- the codec ---------------------------------------------------------------------------

def test_an_ipv6_hello_is_version_4_with_a_16_byte_virt_and_carries_every_field():
    h = probe.Hello(PEER6, 2**63 + 5, 2**40, 10**18, 10**17, 1234, 567, probe.FLAG_DOWN)
    data = probe.encode(h, signer(1))
    assert len(data) == probe.SIZE6 == 80 and data[4] == probe.VERSION6 == 4
    assert data[8:24] == socket.inet_pton(socket.AF_INET6, PEER6)
    assert probe.decode(data, signer(1)) == (h, "")
    assert probe.parse6(data, signer(1))[4] == socket.inet_pton(socket.AF_INET6, PEER6)


def test_an_ipv4_hello_is_unchanged():
    data = probe.encode(probe.Hello(PEER4, 5, 3), signer(1))
    assert len(data) == probe.SIZE == 68 and data[4] == probe.VERSION == 3


@pytest.mark.parametrize("mangle", ["flip a MAC bit", "flip a virt bit", "flip a seq bit",
                                    "no MAC", "unknown key id", "signed as version 3"])
def test_a_badly_signed_ipv6_hello_is_refused_as_mac(mangle):
    hello = probe.Hello(PEER6, 5, 3)
    data = bytearray(probe.encode(hello, signer(1)))
    if mangle == "flip a MAC bit":
        data[-1] ^= 1
    elif mangle == "flip a virt bit":
        data[23] ^= 1
    elif mangle == "flip a seq bit":
        data[30] ^= 1
    elif mangle == "no MAC":
        data = bytearray(probe.encode(hello))
    elif mangle == "unknown key id":
        data = bytearray(probe.encode(hello, signer(2)))
    else:
        # The MAC covers the version byte: one made over the same header saying
        # version 3 does not sign a version 4 hello.
        head3 = bytearray(data[:probe.HEAD6_BYTES])
        head3[4] = probe.VERSION
        data = data[:probe.HEAD6_BYTES] + signer(1).mac(1, bytes(head3), probe.VERSION)
    assert probe.decode(bytes(data), signer(1)) == (None, "mac")
    assert probe.parse6(bytes(data), signer(1)) == "mac"


def test_each_family_takes_only_its_own_version_and_says_why_not():
    v3 = probe.encode(probe.Hello(PEER4, 5, 3), signer(1))
    v2 = probe.encode(probe.Hello(PEER4, 5, 3), signer(1), version=probe.HMAC_VERSION)
    v4 = probe.encode(probe.Hello(PEER6, 5, 3), signer(1))
    assert type(probe.parse(v3, signer(1))) is tuple and type(probe.parse(v2, signer(1))) is tuple
    assert probe.parse(v4, signer(1)) == "family"           # an IPv6 hello on an IPv4 path
    assert probe.parse6(v3, signer(1)) == "family"          # and the other way round
    assert probe.parse6(v2, signer(1)) == "family"
    assert type(probe.parse6(v4, signer(1))) is tuple
    assert probe.parse6(v4[:-1], signer(1)) == "format"      # truncated
    assert probe.parse6(b"IFAG\x09" + v4[5:], signer(1)) == "version"
    assert probe.parse6(b"IFAX" + v4[4:], signer(1)) == "format"
    assert probe.parser_for(ME6) is probe.parse6 and probe.parser_for(PEER4) is probe.parse
    assert "family" in probe.REJECT_REASONS


def test_without_a_key_any_well_formed_ipv6_hello_is_taken():
    data = probe.encode(probe.Hello(PEER6, 5, 3), signer(1))
    assert probe.decode(data, probe.Signer(None))[1] == ""
    assert probe.decode(probe.encode(probe.Hello(PEER6, 5, 3)), None)[1] == ""


def test_the_encoder_makes_version_4_for_an_ipv6_virt_whatever_the_path_asked():
    s = signer(1)
    enc = probe.Encoder(ME6, s)
    fields = (0, 7, 6, 10**9, 10**8, 250, -1)
    for asked in (probe.VERSION, probe.HMAC_VERSION, probe.VERSION6):
        assert enc(asked, *fields) == probe.encode_fields(
            socket.inet_pton(socket.AF_INET6, ME6), 7, 6, 10**9, 10**8, 250, -1, s,
            probe.VERSION6, 0)
    assert probe.decode(enc(3, *fields), s)[0] == probe.Hello(ME6, 7, 6, 10**9, 10**8, 250, -1)
    unsigned = probe.Encoder(ME6, probe.Signer(None))(4, *fields)
    assert unsigned[-probe.MAC_BYTES:] == bytes(probe.MAC_BYTES)


def test_zones_are_dropped_from_addresses():
    assert probe.plain("fe80::1%eth1") == "fe80::1"
    assert probe.plain("fd99::1") == "fd99::1" and probe.plain("10.0.0.1") == "10.0.0.1"
    assert probe.pack_virt("fe80::1%eth1") == socket.inet_pton(socket.AF_INET6, "fe80::1")


# ---- an IPv6 path's hellos, through the exchange -----------------------------------------

class FakeSockets:
    """probe.Sockets' surface without sockets: what was sent, to where."""

    def __init__(self, port=7431, index=7):
        self.port, self.index, self.sent = port, index, []
        self.by_dev = {"eth1": self}
        self.dev_of = {99: "eth1"}

    def address(self, dev, peer):
        return (probe.plain(peer), self.port, 0, self.index)

    def sendto(self, payload, addr):
        self.sent.append((payload, addr))

    def recvmsg(self, *_):
        raise BlockingIOError


def exchange(s=None):
    path = Path(PEER6, 1, "eth1", "fe80::10", "fe80::20", (10001,), wire=probe.VERSION6)
    tracker = Tracker([path], interval=0.05, loss=3, rejoin=4, seq=1000)
    socks = FakeSockets()
    return Exchange(tracker, socks, ME6, s or signer(1)), tracker, path, socks


def test_hellos_go_to_the_link_local_peer_with_the_nics_scope_and_verify_there():
    ex, tracker, path, socks = exchange()
    ex.send()
    (payload, addr), = socks.sent
    assert addr == ("fe80::20", 7431, 0, 7)
    hello, why = probe.decode(payload, signer(1))
    assert why == "" and hello.virt == ME6 and payload[4] == probe.VERSION6


def test_a_peers_ipv6_hello_is_taken_and_a_v3_one_is_counted_as_family():
    ex, tracker, path, _ = exchange()
    tracker.next_seq()
    good = probe.encode(probe.Hello(PEER6, 50, tracker.seq), signer(1))
    assert ex.take("eth1", "fe80::20", good, probe.GTSM_TTL, 1.0, 0) is True
    assert path.peer_seq == 50 and path.wire == probe.VERSION6
    ipv4 = probe.encode(probe.Hello(PEER4, 51, tracker.seq), signer(1))
    ex.take("eth1", "fe80::20", ipv4, probe.GTSM_TTL, 1.1, 0)
    other_virt = probe.encode(probe.Hello("fd99:ff::30", 52, tracker.seq), signer(1))
    ex.take("eth1", "fe80::20", other_virt, probe.GTSM_TTL, 1.2, 0)
    low = probe.encode(probe.Hello(PEER6, 53, tracker.seq), signer(1))
    ex.take("eth1", "fe80::20", low, 64, 1.3, 0)
    ex.take("eth1", "fe80::99", low, probe.GTSM_TTL, 1.4, 0)
    assert path.rejected == {"family": 1, "format": 1, "ttl": 1}
    assert ex.stray == {"source": 1} and path.peer_seq == 50


def test_a_hop_limit_in_the_control_data_counts_as_the_ttl():
    from ifupdown_agg.monitor.exchange import ancillary
    hop = (socket.IPPROTO_IPV6, probe.IPV6_HOPLIMIT, (255).to_bytes(4, sys.byteorder))
    assert ancillary([hop]) == (255, 0)
    assert probe._ancillary([hop]) == (255, 0)


# ---- real sockets between two namespaces -------------------------------------------------

# python3 - ROLE DEV LOCAL PEER: "recv" waits (bounded) for one hello and prints what came,
# "send" sends hellos until told to stop (bounded); "bind" binds a tentative address.
SCRIPT = r"""
import errno, json, socket, subprocess, sys, time
from ifupdown_agg.monitor import probe
role, dev, local, peer = sys.argv[1:5]
if role == "bind":
    flags = subprocess.run(["ip", "-6", "addr", "show", "dev", dev], capture_output=True,
                           text=True).stdout
    bare = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        bare.bind((local, 7431, 0, socket.if_nametoindex(dev)))
        plain_bind = "ok"
    except OSError as err:
        plain_bind = errno.errorcode[err.errno]
    bare.close()
    socks = probe.Sockets(7431)
    socks.open(dev, local)
    print(json.dumps({"tentative": "tentative" in flags, "plain_bind": plain_bind,
                      "bound": socks.by_dev[dev].getsockname()[:2]}))
    sys.exit(0)
socks = probe.Sockets(7431)
socks.open(dev, local)
print(json.dumps({"address": socks.address(dev, peer), "index": socket.if_nametoindex(dev),
                  "sockname": list(socks.by_dev[dev].getsockname())}), flush=True)
deadline = time.monotonic() + 10
fd = socks.filenos()[0]
while time.monotonic() < deadline:
    if role == "send":
        socks.send(dev, peer, probe.encode(probe.Hello("fd99:ff::10", 1, 0)))
    for got in socks.receive(fd):
        d, source, data, ttl, _ = got
        print(json.dumps({"dev": d, "source": source, "ttl": ttl,
                          "hello": probe.decode(data)[0]._asdict()}), flush=True)
        sys.exit(0)
    time.sleep(0.05)
sys.exit(3)
"""


@pytest.fixture(scope="module")
def pair():
    from lab.cluster import Lab
    with Lab("p6") as lab:
        a, b = lab.host("a"), lab.host("b")
        lab.segment([(a, "eth0", "198.18.60.10"), (b, "eth0", "198.18.60.20")])
        for h, n in ((a, 10), (b, 20)):
            h.run(["ip", "-6", "addr", "add", f"fe80::{n}/64", "dev", "eth0", "nodad"])
        yield lab


def run(lab, host, *args):
    return host.popen(["env", f"PYTHONPATH={lab.repo}", sys.executable, "-c", SCRIPT] + list(args))


@pytest.mark.root
@pytest.mark.parametrize("local_b", ["fe80::20", "fe80::20%eth0"])
def test_hellos_cross_a_link_local_hop_with_the_scope_from_the_nic(pair, local_b):
    a, b = pair.hosts["a"], pair.hosts["b"]
    receiver = run(pair, b, "recv", "eth0", local_b, "fe80::10")
    sender = run(pair, a, "send", "eth0", "fe80::10", "fe80::20%eth0")
    try:
        out, err = receiver.communicate(timeout=30)
    finally:
        sender.kill()
        sent_out, _ = sender.communicate(timeout=10)
    assert receiver.returncode == 0, err
    opened, got = (json.loads(line) for line in out.splitlines())
    assert opened["sockname"][0] == "fe80::20" and opened["sockname"][3] == opened["index"]
    assert opened["address"] == ["fe80::10", 7431, 0, opened["index"]]
    sent = json.loads(sent_out.splitlines()[0])
    assert sent["address"] == ["fe80::20", 7431, 0, sent["index"]]
    # The source comes without its zone (the path's key), with hop limit 255.
    assert got["dev"] == "eth0" and got["source"] == "fe80::10" and got["ttl"] == 255
    assert got["hello"]["virt"] == "fd99:ff::10"


@pytest.mark.root
def test_a_hop_address_still_in_dad_is_bound_all_the_same(pair):
    a = pair.hosts["a"]
    # Without nodad the address is tentative for about a second: bound at once.
    a.run(["ip", "-6", "addr", "add", "fd99:60::10/64", "dev", "eth0"])
    proc = run(pair, a, "bind", "eth0", "fd99:60::10", "")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    found = json.loads(out)
    if not found["tentative"]:
        pytest.skip("DAD ended before the bind (a slow start); nothing to show")
    assert found["plain_bind"] == "EADDRNOTAVAIL"       # what IPV6_FREEBIND avoids
    assert found["bound"] == ["fd99:60::10", 7431]


def test_the_ipv4_socket_address_has_no_scope():
    socks = probe.Sockets(7431)
    assert socks.address("eth0", "10.0.0.2") == ("10.0.0.2", 7431)
    socks.scope["eth1"] = 5
    assert socks.address("eth1", "fe80::2%eth1") == ("fe80::2", 7431, 0, 5)
    assert socks.address("eth1", "fd99::2") == ("fd99::2", 7431, 0, 5)


# ---- which paths an inet6 stanza's monitor watches ---------------------------------------

STANZA6 = """\
iface tun0 inet6 static
    address fd99:ff::10
    netmask 128
    fakenet fd99:ff::/64
    table 10000 10001
    rspec [fd99:ff::10]:[fd99:0::10]:[fd99:1::10] [fd99:ff::20]:[fd99:0::20]:[fd99:1::20] \\
          [fd99:ff::1]:[fd99:1::1]
"""


def test_an_inet6_stanzas_paths_are_bound_to_our_ipv6_hop_on_each_nic(tmp_path):
    from ifupdown_agg.core.objects import LinkInfo, Observed, Route
    from ifupdown_agg.monitor.paths import paths_from
    from ifupdown_agg.overlay import lifecycle
    from ifupdown_agg.overlay.plan import Member
    path = tmp_path / "interfaces"
    path.write_text(STANZA6)
    cfg = lifecycle.from_file("tun0.inet6", str(path)).cfg
    obs = Observed(links={
        "eth0": LinkInfo("eth0", 2, addrs=[("fe80::a", 64), ("fd99::10", 64)]),
        "eth1": LinkInfo("eth1", 3, addrs=[("fe80::b", 64), ("fd99:1::10", 64)])})
    members = [Member(10000, "eth0", "fd99:0::10", 1), Member(10001, "eth1", "fd99:1::10", 1)]
    routes = [Route(10000, "fd99:ff::20/128", "eth0", "fd99:0::20"),
              Route(10001, "fd99:ff::20/128", "eth1", "fd99:1::20"),
              # The one-hop gateway: both tables through eth1, the NIC of its hop.
              Route(10000, "fd99:ff::1/128", "eth1", "fd99:1::1"),
              Route(10001, "fd99:ff::1/128", "eth1", "fd99:1::1")]
    got = {(p.peer, p.dev): (p.local, p.gateway, p.tables, p.wire)
           for p in paths_from(cfg, routes, obs, members)}
    assert got == {
        ("fd99:ff::20", "eth0"): ("fd99::10", "fd99::20", (10000,), 4),
        ("fd99:ff::20", "eth1"): ("fd99:1::10", "fd99:1::20", (10001,), 4),
        ("fd99:ff::1", "eth1"): ("fd99:1::10", "fd99:1::1", (10000, 10001), 4)}
    # Without members, the NIC's address of the next hop's scope: link-local for fe80::.
    bare = paths_from(cfg, [Route(10000, "fd99:ff::20/128", "eth1", "fe80::20")], obs)
    assert [(p.local, p.gateway) for p in bare] == [("fe80::b", "fe80::20")]
