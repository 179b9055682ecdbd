"""The monitor's hellos: one small signed UDP datagram per path and interval.

Format (version 3, network byte order, 68 bytes):

    "IFAG"  version(1)=3  key id(1)  flags(1)  reserved(1)=0
    virt(4)        the sender's virtual address
    seq(8)         the sender's sequence number, strictly increasing
    heard(8)       the last of the receiver's sequence numbers heard on this path
    t_send(8)      the sender's monotonic clock at sending, ns
    t_echo(8)      the last t_send the sender received from the receiver on this path
    hold_us(4)     how long the sender held that t_echo before this hello, µs
    excess_us(4)   the sender's measure of the receiver->sender one-way delay excess
                   on this path (signed; -1 unknown), µs
    mac(16)        keyed BLAKE2s-128 (RFC 7693's MAC mode) of everything before
                   it; zero when no key

flags: FLAG_DOWN, the sender has this path out of its rotation (it stopped
hearing us, or its carrier went): the receiver takes the path out at once, as
BFD's far end does on a control packet saying Down.

Version 2 is the same layout with HMAC-SHA-256 truncated to 128 bits. Both are
accepted, and on each path we answer in the version the peer last used, so a
cluster upgrades host by host without a flap. Version 3 exists because BLAKE2s
keyed is a MAC by construction (no inner/outer pass) and costs 0.8 µs per
hello in CPython where the HMAC costs 2.5 µs (bench/results/monitor-cost.md),
at twice per hello (sign, verify) the largest single cost of the monitor.

Each socket is bound to one member NIC (SO_BINDTODEVICE) and its address, so a
hello proves that exact link in both directions. Hellos leave with TTL 255 and
are taken only with TTL 255 (the GTSM rule of RFC 5881: a host further away
cannot reach us with 255). The kernel stamps each datagram on arrival
(SO_TIMESTAMPNS): the monitor reads hellos as they arrive (one epoll wait for
every socket), and a late reading still dates a hello by its true arrival.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import struct
import sys
import time
from typing import Dict, Iterator, NamedTuple, Optional, Tuple

from ifupdown_agg.monitor.keys import KeySet

MAGIC = b"IFAG"
VERSION = 3             # keyed BLAKE2s-128
HMAC_VERSION = 2        # HMAC-SHA-256/128, still taken and answered
VERSIONS = (HMAC_VERSION, VERSION)
FLAG_DOWN = 0x01
MAC_BYTES = 16
_HEAD = struct.Struct("!4sBBBx4sQQQQIi")
HEAD_BYTES = _HEAD.size
SIZE = _HEAD.size + MAC_BYTES
_NO_MAC = bytes(MAC_BYTES)
_U64 = (1 << 64) - 1

# Linux values the socket module does not name (include/uapi/linux/in.h, asm-generic/socket.h).
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
GTSM_TTL = 255
_CMSG_SPACE = socket.CMSG_SPACE(4) + socket.CMSG_SPACE(16)

# Why a datagram was not taken; the counts are shown by `ifagg status` ("source":
# a good hello from an address that is no path's next hop, counted apart).
REJECT_REASONS = ("mac", "replay", "ttl", "version", "format", "source")


class Hello(NamedTuple):
    virt: str
    seq: int
    heard: int
    t_send: int = 0
    t_echo: int = 0
    hold_us: int = 0
    excess_us: int = -1
    flags: int = 0


class Signer:
    """Both versions' MACs, keyed once per key: each hello copies a keyed state."""

    def __init__(self, keys: Optional[KeySet]):
        self.keys = keys
        items = list(keys.keys.items()) if keys else []
        self.by_version = {
            VERSION: {kid: hashlib.blake2s(key=k, digest_size=MAC_BYTES) for kid, k in items},
            HMAC_VERSION: {kid: hmac.new(k, digestmod=hashlib.sha256) for kid, k in items}}
        self.send_id = keys.send_id if keys else 0

    def mac(self, key_id: int, head: bytes, version: int = VERSION) -> Optional[bytes]:
        base = self.by_version[version].get(key_id)
        if base is None:
            return None
        h = base.copy()
        h.update(head)
        return h.digest()[:MAC_BYTES]


def _clamp(hold_us: int, excess_us: int) -> Tuple[int, int]:
    return (hold_us if 0 <= hold_us <= 0xFFFFFFFF else (0 if hold_us < 0 else 0xFFFFFFFF),
            excess_us if -1 <= excess_us <= 0x7FFFFFFF else (-1 if excess_us < 0 else 0x7FFFFFFF))


def encode(h: Hello, signer: Optional[Signer] = None, version: int = VERSION) -> bytes:
    return encode_fields(socket.inet_aton(h.virt), h.seq, h.heard, h.t_send, h.t_echo,
                         h.hold_us, h.excess_us, signer, version, h.flags)


def encode_fields(virt: bytes, seq: int, heard: int, t_send: int, t_echo: int, hold_us: int,
                  excess_us: int, signer: Optional[Signer] = None, version: int = VERSION,
                  flags: int = 0) -> bytes:
    """encode() without building a Hello."""
    kid = signer.send_id if signer else 0
    hold_us, excess_us = _clamp(hold_us, excess_us)
    head = _HEAD.pack(MAGIC, version, kid, flags, virt, seq & _U64, heard & _U64, t_send & _U64,
                      t_echo & _U64, hold_us, excess_us)
    return head + (signer.mac(kid, head, version) if kid else _NO_MAC)


class Encoder:
    """The sender's hot path: one hello's bytes from its fields, signed, with the
    key's state and the struct looked up once (rebuilt when the keys change)."""

    def __init__(self, virt: str, signer: Signer):
        self.virt = socket.inet_aton(virt)
        self.kid = signer.send_id
        self.base = {v: signer.by_version[v].get(self.kid) for v in VERSIONS} if self.kid else {}

    def __call__(self, version: int, flags: int, seq: int, heard: int, t_send: int, t_echo: int,
                 hold_us: int, excess_us: int) -> bytes:
        if not (0 <= hold_us <= 0xFFFFFFFF and -1 <= excess_us <= 0x7FFFFFFF):
            hold_us, excess_us = _clamp(hold_us, excess_us)
        head = _HEAD.pack(MAGIC, version, self.kid, flags, self.virt, seq & _U64, heard & _U64,
                          t_send, t_echo, hold_us, excess_us)
        base = self.base.get(version)
        if base is None:
            return head + _NO_MAC
        h = base.copy()
        h.update(head)
        return head + h.digest()[:MAC_BYTES]


def _why(data: bytes) -> str:
    if len(data) < 5 or data[:4] != MAGIC:
        return "format"
    if data[4] not in VERSIONS:
        return "version"
    return "format"


def parse(data: bytes, signer: Optional[Signer] = None):
    """The receiver's hot path: the header's fields as unpacked (magic, version, key
    id, flags, virt as 4 bytes, seq, heard, t_send, t_echo, hold_us, excess_us) if
    the datagram is a well-formed, rightly signed hello, else why not (a str)."""
    if len(data) != SIZE or data[:4] != MAGIC or data[4] not in VERSIONS:
        return _why(data)
    f = _HEAD.unpack_from(data)
    if signer is not None and signer.keys is not None:
        base = signer.by_version[f[1]].get(f[2])
        if base is None:
            return "mac"
        h = base.copy()
        h.update(data[:HEAD_BYTES])
        if not hmac.compare_digest(h.digest()[:MAC_BYTES], data[HEAD_BYTES:]):
            return "mac"
    return f


def decode(data: bytes, signer: Optional[Signer] = None) -> Tuple[Optional[Hello], str]:
    """(hello, "") or (None, why): "format", "version" (an older monitor) or "mac".
    With keys, a hello must carry a known key id and its right MAC; without,
    any well-formed hello is taken (the monitor is unauthenticated)."""
    f = parse(data, signer)
    if isinstance(f, str):
        return None, f
    _, _, _, flags, virt, seq, heard, t_send, t_echo, hold, excess = f
    return Hello(socket.inet_ntoa(virt), seq, heard, t_send, t_echo, hold, excess, flags), ""


def _ancillary(ancdata) -> Tuple[int, int]:
    """(TTL, kernel arrival time in CLOCK_REALTIME ns) from recvmsg's control data."""
    ttl, stamp = -1, 0
    for level, kind, value in ancdata:
        if level == socket.IPPROTO_IP and kind == socket.IP_TTL and len(value) >= 4:
            ttl = int.from_bytes(value[:4], sys.byteorder)
        elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            # struct timespec: two longs (8 bytes each on 64-bit, 4 on 32-bit ARM).
            fmt = "=qq" if len(value) >= 16 else "=ii"
            sec, nsec = struct.unpack(fmt, value[:struct.calcsize(fmt)])
            stamp = sec * 1_000_000_000 + nsec
    return ttl, stamp


class Sockets:
    """One bound UDP socket per (NIC, local address)."""

    def __init__(self, port: int):
        self.port = port
        self.by_dev: Dict[str, socket.socket] = {}
        self.dev_of: Dict[int, str] = {}

    def open(self, dev: str, local: str) -> None:
        if dev in self.by_dev:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
        # Probes must not wait behind a bulk transfer in the NIC's queue.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, 6)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, GTSM_TTL)
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind((local, self.port))
        sock.setblocking(False)
        self.by_dev[dev] = sock
        self.dev_of[sock.fileno()] = dev

    def send(self, dev: str, gateway: str, payload: bytes) -> None:
        try:
            self.by_dev[dev].sendto(payload, (gateway, self.port))
        except OSError:
            pass    # a dead link refuses or drops; the missing answer says so

    def receive(self, fileno: int) -> Iterator[Tuple[str, str, bytes, int, int]]:
        """(dev, source address, payload, TTL, arrival in CLOCK_MONOTONIC ns) for
        every datagram waiting on a socket."""
        dev = self.dev_of[fileno]
        sock = self.by_dev[dev]
        offset = time.time_ns() - time.monotonic_ns()
        for _ in range(4096):       # bounded: the rest waits for the next interval
            try:
                data, anc, _, (source, _) = sock.recvmsg(128, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            ttl, stamp = _ancillary(anc)
            yield dev, source, data, ttl, (stamp - offset) if stamp else time.monotonic_ns()

    def filenos(self):
        return list(self.dev_of)

    def close(self) -> None:
        for sock in self.by_dev.values():
            sock.close()
        self.by_dev.clear()
        self.dev_of.clear()
