"""The monitor's hellos: one small signed UDP datagram per path and interval.

Format (version 2, network byte order, 68 bytes):

    "IFAG"  version(1)=2  key id(1)  flags(1)=0  reserved(1)=0
    virt(4)        the sender's virtual address
    seq(8)         the sender's sequence number, strictly increasing
    heard(8)       the last of the receiver's sequence numbers heard on this path
    t_send(8)      the sender's monotonic clock at sending, ns
    t_echo(8)      the last t_send the sender received from the receiver on this path
    hold_us(4)     how long the sender held that t_echo before this hello, µs
    excess_us(4)   the sender's measure of the receiver->sender one-way delay excess
                   on this path (signed; -1 unknown), µs
    mac(16)        HMAC-SHA-256 of everything before it, truncated; zero when no key

Each socket is bound to one member NIC (SO_BINDTODEVICE) and its address, so a
hello proves that exact link in both directions. Hellos leave with TTL 255 and
are taken only with TTL 255 (the GTSM rule of RFC 5881: a host further away
cannot reach us with 255). The kernel stamps each datagram on arrival
(SO_TIMESTAMPNS), so hellos read once per interval still carry their true
arrival time.
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
VERSION = 2
MAC_BYTES = 16
_HEAD = struct.Struct("!4sBBBx4sQQQQIi")
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


class Signer:
    """HMAC-SHA-256 with each key's inner and outer pads computed once."""

    def __init__(self, keys: Optional[KeySet]):
        self.keys = keys
        self._macs = {kid: hmac.new(k, digestmod=hashlib.sha256)
                      for kid, k in (keys.keys.items() if keys else ())}
        self.send_id = keys.send_id if keys else 0

    def mac(self, key_id: int, head: bytes) -> Optional[bytes]:
        base = self._macs.get(key_id)
        if base is None:
            return None
        h = base.copy()
        h.update(head)
        return h.digest()[:MAC_BYTES]


def encode(h: Hello, signer: Optional[Signer] = None) -> bytes:
    return encode_fields(socket.inet_aton(h.virt), h.seq, h.heard, h.t_send, h.t_echo,
                         h.hold_us, h.excess_us, signer)


def encode_fields(virt: bytes, seq: int, heard: int, t_send: int, t_echo: int, hold_us: int,
                  excess_us: int, signer: Optional[Signer] = None) -> bytes:
    """encode() without building a Hello: the sender's loop, once per path and interval."""
    kid = signer.send_id if signer else 0
    head = _HEAD.pack(MAGIC, VERSION, kid, 0, virt, seq & _U64, heard & _U64, t_send & _U64,
                      t_echo & _U64, hold_us if 0 <= hold_us <= 0xFFFFFFFF else
                      (0 if hold_us < 0 else 0xFFFFFFFF),
                      excess_us if -1 <= excess_us <= 0x7FFFFFFF else
                      (-1 if excess_us < 0 else 0x7FFFFFFF))
    return head + (signer.mac(kid, head) if kid else _NO_MAC)


def decode(data: bytes, signer: Optional[Signer] = None) -> Tuple[Optional[Hello], str]:
    """(hello, "") or (None, why): "format", "version" (an older monitor) or "mac".
    With keys, a hello must carry a known key id and its right MAC; without,
    any well-formed hello is taken (the monitor is unauthenticated)."""
    if len(data) < 5 or data[:4] != MAGIC:
        return None, "format"
    if data[4] != VERSION:
        return None, "version"
    if len(data) != SIZE:
        return None, "format"
    head, mac = data[:_HEAD.size], data[_HEAD.size:]
    _, _, kid, _, virt, seq, heard, t_send, t_echo, hold, excess = _HEAD.unpack(head)
    if signer is not None and signer.keys is not None:
        want = signer.mac(kid, head) if kid else None
        if want is None or not hmac.compare_digest(want, mac):
            return None, "mac"
    return Hello(socket.inet_ntoa(virt), seq, heard, t_send, t_echo, hold, excess), ""


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
