"""Forged, replayed and low-TTL hellos from an attacker on a shared segment (issue #15).

Hosts a and b run the overlay over two links: a point-to-point one (eth0) and
one bridged segment (eth1) shared with an attacker m. The bridge forgets MACs
at once (ageing 0), so it floods like a hub and m sees the hellos between a
and b. m spoofs b's address towards a: hellos in the right format with no MAC,
with a MAC made with another key, replays of b's real hellos, and b's real
hellos again with TTL 64. None may change a path's state, each is counted; and
while m keeps saying "I hear you", a real silent failure is still found.
"""

import os
import sys
import time

import pytest

from lab.cluster import Lab, wait_for

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]

VIRT = {"a": "198.19.255.10", "b": "198.19.255.20"}
ADDR = {"a": ("198.18.40.10", "198.18.41.10"), "b": ("198.18.40.20", "198.18.41.20")}
ATTACKER = "198.18.41.66"
KEY = "1 " + "5a" * 32 + "\n"
STANZA = """\
auto tun0
iface tun0 inet static
    address {address}
    netmask 255.255.255.255
    fakenet 198.19.255.0/24
    table 10000 10001
    rspec {a} {b}
    agg-probe-interval 100
    agg-probe-key-file {key}
"""
# The attacker: python3 - SRC DST PORT VIRT SECONDS (bounded by SECONDS).
ATTACK = r"""
import os, socket, struct, sys, time
from ifupdown_agg.monitor import keys, probe
src, dst, port, virt, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
raw.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth1")
sniff = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
sniff.bind(("eth1", 0)); sniff.setblocking(False)
wrong = probe.Signer(keys.KeySet(1, {1: os.urandom(32)}))
def send(payload, ttl=255):
    udp = struct.pack("!HHHH", port, port, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, ttl, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    raw.sendto(ip + udp, (dst, 0))
sent, captured, n = {"forged": 0, "wrongkey": 0, "replay": 0, "ttl": 0}, [], 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    n += 1
    for _ in range(64):
        try:
            pkt = sniff.recv(2048)
        except BlockingIOError:
            break
        if pkt[9] == 17 and pkt[12:16] == socket.inet_aton(src) and pkt[16:20] == socket.inet_aton(dst):
            captured.append(pkt[28:])
    lie = probe.Hello(virt, 2**62 + n, 2**62, time.monotonic_ns(), 0, 0, 0)
    send(probe.encode(lie)); sent["forged"] += 1              # no MAC, "I hear you"
    send(probe.encode(lie, wrong)); sent["wrongkey"] += 1     # another key
    if captured:
        send(captured[0]); sent["replay"] += 1               # the oldest real hello again
        send(captured[-1], ttl=64); sent["ttl"] += 1         # a real one, from further away
    time.sleep(0.02)
print(sent, flush=True)
"""
SILENT_DROP = ("nft add table netdev test_drop && nft 'add chain netdev test_drop drop_all "
               "{ type filter hook ingress device eth1 priority 0 ; policy drop ; }'")


@pytest.fixture(scope="module")
def cluster():
    with Lab("pa") as lab:
        a, b, m = lab.host("a"), lab.host("b"), lab.host("m")
        lab.segment([(a, "eth0", ADDR["a"][0]), (b, "eth0", ADDR["b"][0])])
        lab.segment([(a, "eth1", ADDR["a"][1]), (b, "eth1", ADDR["b"][1]), (m, "eth1", ATTACKER)])
        from lab.cluster import _run
        _run(["ip", "-n", lab.switches[0], "link", "set", "br0", "type", "bridge", "ageing_time", "0"])
        m.run(["ip", "link", "set", "eth1", "promisc", "on"])
        rspec = {h: ":".join((VIRT[h],) + ADDR[h]) for h in "ab"}
        for h in (a, b):
            key = os.path.join(h.dir, "probe.key")
            with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fh:
                fh.write(KEY)
            h.write_interfaces(STANZA.format(address=VIRT[h.name], key=key, **rspec))
        for h in (a, b):
            h.ifup("tun0")
        yield lab
        for h in (a, b):
            h.ifdown("tun0", check=False)


def path_row(host, peer, dev):
    for p in host.status("tun0")["peers"]:
        if p["peer"] == peer:
            return next(r for r in p["paths"] if r["dev"] == dev)
    raise AssertionError(peer)


def attack(lab, seconds):
    m = lab.hosts["m"]
    proc = m.popen(["env", f"PYTHONPATH={lab.repo}", sys.executable, "-c", ATTACK, ADDR["b"][1],
                    ADDR["a"][1], "7431", VIRT["b"], str(seconds)])
    lab._procs.append(proc)
    return proc


def test_forged_replayed_and_low_ttl_hellos_change_nothing_and_are_counted(cluster):
    a = cluster.hosts["a"]
    assert wait_for(lambda: all(p["probed"] for p in a.status("tun0")["peers"]))
    st = a.status("tun0")
    assert st["monitor"]["authenticated"] is True
    before = path_row(a, VIRT["b"], "eth1")
    assert before["health"] == "up", before["reason"]
    out, err = attack(cluster, 3.0).communicate(timeout=30)
    assert "'replay'" in out, err
    time.sleep(1.2)                         # health.json is rewritten every second
    after = path_row(a, VIRT["b"], "eth1")
    assert (after["health"], after["since"], after["reason"]) == \
        (before["health"], before["since"], before["reason"])
    rejected = after["rejected"]
    assert rejected.get("mac", 0) >= 20 and rejected.get("replay", 0) >= 5 \
        and rejected.get("ttl", 0) >= 5, rejected
    assert "rejected:" in a.ifagg("status", "tun0", check=False).stdout


def test_a_real_failure_is_found_while_the_attacker_says_i_hear_you(cluster):
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    proc = attack(cluster, 6.0)
    try:
        b.sh(SILENT_DROP)                   # b hears nothing on eth1; carrier stays up
        assert wait_for(lambda: path_row(a, VIRT["b"], "eth1")["health"] == "down", 5.0)
        # From b's authentic hellos: its FLAG_DOWN (sent at once), or its reports of our
        # sequence numbers; never from the attacker's "I hear you".
        reason = path_row(a, VIRT["b"], "eth1")["reason"]
        assert "took this path out" in reason or "has not heard our probes" in reason
        assert path_row(a, VIRT["b"], "eth0")["health"] == "up"
    finally:
        b.sh("nft delete table netdev test_drop", check=False)
        proc.communicate(timeout=30)
    assert wait_for(lambda: path_row(a, VIRT["b"], "eth1")["health"] == "up")


def test_ifdown_leaves_nothing(cluster):
    for name in "ab":
        h = cluster.hosts[name]
        h.ifdown("tun0")
        assert h.our_objects() == []
