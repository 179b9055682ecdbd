"""Batched hellos (monitor/mmsg.py): one sendmmsg per member NIC's socket, one datagram
per path, TTL / hop limit 255, IPv4 and IPv6 link-local; sendto where the batch is off,
and a hello the kernel refuses (a firewall's EPERM) costs only that one."""

import json
import socket
import sys

import pytest

from ifupdown_agg.monitor import mmsg

# Run inside a namespace: "recv ADDR..." prints one line per datagram taken on a socket
# bound to each address; "send VIRT LOCAL MODE PEER..." sends one interval's hellos.
SCRIPT = r"""
import json, sys, time
from ifupdown_agg.monitor import mmsg, probe
from ifupdown_agg.monitor.exchange import Exchange
from ifupdown_agg.monitor.health import Path, Tracker
role, args = sys.argv[1], sys.argv[2:]
if role == "recv":
    socks = []
    for addr in args:
        s = probe.Sockets(7431)
        s.open("eth0", addr)
        socks.append((addr, s))
    print("ready", flush=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for addr, s in socks:
            for fd in s.filenos():
                for dev, source, data, ttl, _ in s.receive(fd):
                    hello, why = probe.decode(data)
                    print(json.dumps({"local": addr, "source": source, "ttl": ttl, "why": why,
                                      "virt": hello.virt if hello else None,
                                      "seq": hello.seq if hello else None}), flush=True)
        time.sleep(0.02)
    sys.exit(0)
virt, local, mode, peers = args[0], args[1], args[2], args[3:]
if mode == "off":
    mmsg.SENDMMSG = None            # as where libc has no sendmmsg
socks = probe.Sockets(7431)
socks.open("eth0", local)
wire = probe.VERSION6 if ":" in virt else probe.VERSION
paths = [Path("198.19.0.2" if wire == probe.VERSION else "fd99:ff::2", 1, "eth0", local, p,
              (10000 + i,), wire=wire) for i, p in enumerate(peers)]
tracker = Tracker(paths, 0.05, 3, 10, seq=1000)
ex = Exchange(tracker, socks, virt, probe.Signer(None))
counts = []
if ex.batches:
    batch, out = ex.batches[0]
    send = batch.send
    batch.send = lambda payloads, fallback: counts.append(send(payloads, fallback))
ex.send()
print(json.dumps({"batched": ex.batches is not None, "sendmmsg_sent": counts,
                  "usable": [b.usable for b, _ in ex.batches or []], "seq": tracker.seq}))
"""


def test_a_sockaddr_is_the_kernels_layout():
    four = mmsg.sockaddr(("198.18.0.2", 7431))
    assert len(four) == 16 and four[2:4] == (7431).to_bytes(2, "big")
    assert four[4:8] == socket.inet_aton("198.18.0.2") and four[8:] == bytes(8)
    six = mmsg.sockaddr(("fe80::2", 7431, 0, 5))
    assert len(six) == 28 and six[8:24] == socket.inet_pton(socket.AF_INET6, "fe80::2")
    assert int.from_bytes(six[24:], sys.byteorder) == 5
    assert int.from_bytes(six[:2], sys.byteorder) == socket.AF_INET6


def test_a_stand_in_socket_gets_no_batch_and_every_hello_goes_by_the_fallback():
    batch = mmsg.Batch(object(), [("10.0.0.2", 7431), ("10.0.0.3", 7431)], 68)
    tried = []
    assert not batch.usable
    assert batch.send([bytes(68), bytes(68)], tried.append) == 0 and tried == [0, 1]


def test_one_path_on_a_socket_goes_by_sendto_and_so_does_a_hello_of_another_size():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        one = mmsg.Batch(sock, [("10.0.0.2", 7431)], 68)
        two = mmsg.Batch(sock, [("10.0.0.2", 7431), ("10.0.0.3", 7431)], 68)
        tried = []
        assert not one.usable and one.send([bytes(68)], tried.append) == 0 and tried == [0]
        assert two.usable == (mmsg.SENDMMSG is not None)
        assert two.send([bytes(68), bytes(80)], tried.append) == 0 and tried == [0, 0, 1]


@pytest.fixture(scope="module")
def pair():
    from lab.cluster import Lab
    with Lab("mm") as lab:
        a, b = lab.host("a"), lab.host("b")
        lab.segment([(a, "eth0", "198.18.61.10"), (b, "eth0", "198.18.61.20")])
        for n in (21, 22):
            b.run(["ip", "addr", "add", f"198.18.61.{n}/24", "dev", "eth0"])
        for h, ns in ((a, (10,)), (b, (20, 21, 22))):
            for n in ns:
                h.run(["ip", "-6", "addr", "add", f"fe80::{n}/64", "dev", "eth0", "nodad"])
        yield lab


def exchange(lab, sender_args, receive):
    a, b = lab.hosts["a"], lab.hosts["b"]
    env = ["env", f"PYTHONPATH={lab.repo}", sys.executable, "-c", SCRIPT]
    receiver = b.popen(env + ["recv"] + receive)
    try:
        assert receiver.stdout.readline().strip() == "ready"
        sender = a.run(env + ["send"] + sender_args)
        out, err = receiver.communicate(timeout=30)
    finally:
        receiver.kill()
        receiver.wait(timeout=10)
    got = [json.loads(line) for line in out.splitlines()]
    return json.loads(sender.stdout), got


FOUR = ("198.19.0.1", "198.18.61.10", ["198.18.61.20", "198.18.61.21", "198.18.61.22"])
SIX = ("fd99:ff::1", "fe80::10", ["fe80::20", "fe80::21%eth0", "fe80::22"])


@pytest.mark.root
@pytest.mark.parametrize("family", [FOUR, SIX], ids=["inet", "inet6-link-local"])
@pytest.mark.parametrize("mode", ["batched", "off"])
def test_one_hello_per_path_arrives_with_ttl_255(pair, family, mode):
    virt, local, peers = family
    sent, got = exchange(pair, [virt, local, mode] + peers, [p.split("%")[0] for p in peers])
    if mode == "batched":
        assert sent["batched"] and sent["usable"] == [True] and sent["sendmmsg_sent"] == [3]
    else:
        assert not sent["batched"]
    assert sorted(g["local"] for g in got) == sorted(p.split("%")[0] for p in peers)
    assert all(g["ttl"] == 255 and g["why"] == "" and g["virt"] == virt
               and g["source"] == local and g["seq"] == sent["seq"] for g in got)


@pytest.mark.root
def test_a_refused_hello_costs_only_itself(pair):
    a = pair.hosts["a"]
    a.sh("nft add table inet h15t && nft add chain inet h15t out '{ type filter hook output "
         "priority 0; }' && nft add rule inet h15t out ip daddr 198.18.61.21 drop")
    try:
        sent, got = exchange(pair, list(FOUR[:2]) + ["batched"] + FOUR[2], FOUR[2])
    finally:
        a.run(["nft", "delete", "table", "inet", "h15t"])
    # sendmmsg sent the first, stopped at the refused one, and went on after it.
    assert sent["usable"] == [True] and sent["sendmmsg_sent"] == [2]
    assert sorted(g["local"] for g in got) == ["198.18.61.20", "198.18.61.22"]


def test_some_of_a_batch_go_in_one_call_to_their_own_addresses_only():
    """send_some (the peers probed now, monitor/demand.py), on loopback sockets."""
    receivers = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    try:
        for r in receivers:
            r.bind(("127.0.0.1", 0))
            r.settimeout(2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            batch = mmsg.Batch(sock, [r.getsockname() for r in receivers], 4)
            if not batch.usable:
                pytest.skip("no sendmmsg here")
            tried = []
            for subset in ([0, 2], [1, 2], [0, 2]):
                payloads = [b"h%02dx" % i for i in subset]     # 4 bytes each
                assert batch.send_some(subset, payloads, tried.append) == len(subset)
                for i, payload in zip(subset, payloads):
                    assert receivers[i].recv(16) == payload
            receivers[0].setblocking(False)
            receivers[1].setblocking(False)
            with pytest.raises(BlockingIOError):
                receivers[0].recv(16)       # nothing more than its two
            assert tried == []
    finally:
        for r in receivers:
            r.close()
