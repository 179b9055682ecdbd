"""Signed hellos (issue #15): the codec, replay checks, timing, the key file, keygen."""

import os
import stat

import pytest

from ifupdown_agg.cli.main import main as ifagg
from ifupdown_agg.errors import ConfigError
from ifupdown_agg.monitor import keys, probe
from ifupdown_agg.monitor.health import UP, MinWindow, Path, Tracker
from ifupdown_agg.overlay import status

PEER = "10.99.255.20"
K1, K2 = bytes(range(32)), bytes(range(32, 64))


def signer(*ids):
    table = {1: K1, 2: K2}
    return probe.Signer(keys.KeySet(ids[0], {i: table[i] for i in ids}))


def hello(seq=5, heard=3, **kw):
    return probe.Hello(PEER, seq, heard, **kw)


# ---- the codec ---------------------------------------------------------------------------

def test_signed_round_trip_carries_every_field():
    h = probe.Hello(PEER, 2**63 + 5, 2**40, 10**18, 10**17, 1234, 567)
    data = probe.encode(h, signer(1))
    assert len(data) == probe.SIZE
    assert probe.decode(data, signer(1)) == (h, "")


@pytest.mark.parametrize("mangle", ["flip a MAC bit", "flip a field bit", "no MAC", "unknown key id"])
def test_a_badly_signed_hello_is_refused_as_mac(mangle):
    data = bytearray(probe.encode(hello(), signer(1)))
    if mangle == "flip a MAC bit":
        data[-1] ^= 1
    elif mangle == "flip a field bit":
        data[20] ^= 1               # inside seq
    elif mangle == "no MAC":
        data = bytearray(probe.encode(hello()))        # key id 0, zero MAC
    else:
        data = bytearray(probe.encode(hello(), signer(2)))
    assert probe.decode(bytes(data), signer(1)) == (None, "mac")


def test_old_and_malformed_hellos_are_counted_not_crashed_on():
    v1 = b"IFAG\x01\x00\x00\x00" + bytes([10, 99, 255, 20]) + (7).to_bytes(4, "big") * 2
    assert probe.decode(v1, signer(1)) == (None, "version")
    assert probe.decode(probe.encode(hello(), signer(1))[:-1], signer(1)) == (None, "format")
    assert probe.decode(b"", signer(1)) == (None, "format")
    assert probe.decode(b"IFA", None) == (None, "format")


def test_two_keys_during_a_roll():
    old_first, new_first = signer(1, 2), signer(2, 1)
    assert probe.decode(probe.encode(hello(), old_first), new_first)[1] == ""
    assert probe.decode(probe.encode(hello(), new_first), old_first)[1] == ""
    assert probe.decode(probe.encode(hello(), new_first), signer(1))[1] == "mac"


def test_without_a_key_any_well_formed_hello_is_taken():
    assert probe.decode(probe.encode(hello(), signer(1)), probe.Signer(None))[1] == ""
    assert probe.decode(probe.encode(hello()), None)[1] == ""


# ---- sequence numbers on a path ----------------------------------------------------------

def tracker():
    path = Path(PEER, 2, "eth0", "10.99.0.10", "10.99.0.20", (10000,))
    t = Tracker([path], interval=0.05, loss=3, rejoin=4, seq=1000)
    for _ in range(10):
        t.next_seq()
    return t, path


def test_a_replayed_or_stale_hello_changes_nothing_and_is_counted():
    t, p = tracker()
    assert t.receive(p, hello(seq=50, heard=1009), now=1.0) == (True, True)
    for seq in (50, 49, 1):
        assert t.receive(p, hello(seq=seq, heard=1009), now=2.0) == (False, False)
    assert p.rejected == {"replay": 3}
    assert p.last_rx == 1.0 and p.peer_seq == 50


def test_a_hello_claiming_to_have_heard_the_future_is_refused():
    t, p = tracker()
    assert t.receive(p, hello(seq=50, heard=t.seq + 1), now=1.0) == (False, False)
    assert p.rejected == {"replay": 1} and p.last_rx is None


def test_a_restarted_peer_is_taken_again_once_it_echoes_our_recent_sequence():
    t, p = tracker()
    t.receive(p, hello(seq=10**9, heard=1008), now=1.0)
    # Lower, echoing an old number of ours (a capture): refused.
    assert not t.receive(p, hello(seq=5, heard=1008), now=1.1)[0]
    t.next_seq()
    # Lower, echoing our newest number beyond what the peer reported: a restart.
    assert t.receive(p, hello(seq=6, heard=t.seq), now=1.2)[0]
    assert p.restarts == 1 and p.peer_seq == 6
    # ... and a replay of that one again is refused.
    assert not t.receive(p, hello(seq=6, heard=t.seq), now=1.3)[0]


def test_echoes_of_an_earlier_run_count_as_not_heard():
    t, p = tracker()
    t.receive(p, hello(seq=50, heard=999), now=1.0)     # below our first sequence number
    assert p.heard_by_peer == 0


# ---- timing ------------------------------------------------------------------------------

def test_rtt_and_one_way_excess_from_the_hellos():
    t, p = tracker()
    ms = 1_000_000
    offset = 5_000 * ms         # the peer's clock is 5 s ahead of ours
    # Our hello left at our 100 ms; the peer held it 2 ms; it came back at 110 ms.
    h = hello(seq=51, heard=1009, t_send=108 * ms + offset, t_echo=100 * ms, hold_us=2000,
              excess_us=700)
    t.receive(p, h, now=0.11, rx_ns=110 * ms)
    assert p.rtt_us == 8000 and p.tx_excess_us == 700 and p.rx_excess_us == 0
    # The next one takes 3 ms longer to get here: queueing on the peer's side.
    h2 = hello(seq=52, heard=1010, t_send=158 * ms + offset, excess_us=-1)
    t.receive(p, h2, now=0.163, rx_ns=163 * ms)
    assert p.rx_excess_us == 3000 and p.tx_excess_us is None
    heard, echo, hold, excess = t.hello_fields(p, 170 * ms)
    assert (heard, echo, hold, excess) == (52, 158 * ms + offset, 7000, 3000)


def test_min_window_forgets_after_its_span():
    w = MinWindow(span=10.0, buckets=10)
    assert w.add(0.0, 100) == 0
    assert w.add(5.0, 150) == 50
    assert w.add(10.5, 150) == 0        # the 100 at t=0 left the window


# ---- the key file ------------------------------------------------------------------------

def write(path, text, mode=0o600):
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)
    return str(path)


def test_keygen_writes_an_owner_only_key_and_refuses_to_overwrite(tmp_path, capsys):
    path = str(tmp_path / "etc" / "probe.key")
    assert ifagg(["keygen", path]) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = keys.load(path)
    assert first.send_id == 1 and len(first.send_key) == 32
    assert ifagg(["keygen", path]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert keys.load(path) == first
    assert ifagg(["keygen", "--force", "--id", "7", path]) == 0
    again = keys.load(path)
    assert again.send_id == 7 and again.send_key != first.send_key
    assert not [f for f in os.listdir(tmp_path / "etc") if f.startswith(".")]


def test_a_key_file_others_can_read_is_refused_naming_file_and_option(tmp_path):
    path = write(tmp_path / "k", f"1 {K1.hex()}\n", 0o644)
    with pytest.raises(ConfigError) as err:
        keys.load(path, "tun0")
    text = str(err.value)
    assert text.startswith(f"{path}: tun0: agg-probe-key-file: ") and "0644" in text
    assert "chmod 600" in text


def test_missing_key_file(tmp_path):
    path = str(tmp_path / "none")
    assert keys.load(path) is None
    with pytest.raises(ConfigError, match="no such key file"):
        keys.load(path, required=True)


@pytest.mark.parametrize("text,why", [
    (f"1 {K1.hex()[:-2]}\n", "31 bytes"),
    (f"0 {K1.hex()}\n", "not a number from 1 to 255"),
    (f"1 {K1.hex()}\n1 {K2.hex()}\n", "listed twice"),
    ("# nothing\n", "holds no key"),
    ("1 zz\n", "not hex"),
    (f"1 {K1.hex()} extra\n", "two fields"),
])
def test_a_malformed_key_file_is_refused_with_its_line(tmp_path, text, why):
    path = write(tmp_path / "k", text)
    with pytest.raises(ConfigError, match=why) as err:
        keys.load(path)
    assert str(err.value).startswith(path)


def test_two_keys_the_first_signs(tmp_path):
    path = write(tmp_path / "k", f"{keys.HEADER}2 {K2.hex()}  # new\n1 {K1.hex()}\n")
    ks = keys.load(path)
    assert ks.send_id == 2 and ks.keys == {1: K1, 2: K2}


# ---- status ------------------------------------------------------------------------------

def test_status_shows_rejected_hellos_and_an_unauthenticated_monitor():
    st = {"iface": "tun0", "up": True, "address": "10.99.255.10", "fakenet": "10.99.255.0/24",
          "monitor": {"running": True, "interval_ms": 50, "loss": 3, "rejoin": 10,
                      "authenticated": False, "key_file": keys.DEFAULT_PATH,
                      "rejected_stray": {"mac": 2}},
          "links": [], "notes": [],
          "peers": [{"peer": PEER, "probed": True, "paths": [
              {"table": 10000, "dev": "eth0", "via": "10.99.0.20", "health": UP, "since": None,
               "reason": "starting", "weight": 1, "rotation_share": 1.0, "packets": 0,
               "bytes": 0, "rejected": {"mac": 4, "replay": 2, "ttl": 1}}]}]}
    text = status.render(st)
    assert "[rejected: 4 bad MAC, 2 replay, 1 TTL < 255]" in text
    assert "UNAUTHENTICATED" in text and "no known path: 2 bad MAC" in text


# ---- at ifup -----------------------------------------------------------------------------

STANZA = """\
iface tun0 inet static
    address 10.99.255.10
    netmask 255.255.255.255
    fakenet 10.99.255.0/24
    table 10000 10001
    rspec 10.99.255.10:10.99.0.10:10.99.1.10 10.99.255.20:10.99.0.20:10.99.1.20
"""


def loaded(tmp_path, key_line=""):
    from ifupdown_agg.overlay import lifecycle
    path = tmp_path / "interfaces"
    path.write_text(STANZA + (f"    agg-probe-key-file {key_line}\n" if key_line else ""))
    return lifecycle, lifecycle.from_file("tun0", str(path))


def test_ifup_refuses_a_readable_key_file_before_changing_anything(tmp_path):
    key = write(tmp_path / "probe.key", f"1 {K1.hex()}\n", 0o640)
    lifecycle, ld = loaded(tmp_path, key)
    with pytest.raises(ConfigError) as err:
        lifecycle.up(ld, kernel=None, executor=None)     # refused before the kernel is touched
    text = str(err.value)
    assert text.startswith(f"{key}: tun0: agg-probe-key-file: group or others may read it")
    assert f"(set by {tmp_path / 'interfaces'}:7)" in text


def test_ifup_requires_a_key_file_it_names_but_only_warns_for_the_default(tmp_path, capsys):
    lifecycle, ld = loaded(tmp_path, str(tmp_path / "missing.key"))
    with pytest.raises(ConfigError, match="no such key file"):
        lifecycle.check_probe_key(ld)
    lifecycle, ld = loaded(tmp_path)
    if os.path.exists(keys.DEFAULT_PATH):
        pytest.skip(f"{keys.DEFAULT_PATH} exists on this machine")
    lifecycle.check_probe_key(ld)
    assert "warning: the link monitor is unauthenticated" in capsys.readouterr().err
