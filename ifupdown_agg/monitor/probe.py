"""The monitor's hellos: one small signed UDP datagram per path and interval.

Format (version 3, network byte order, 68 bytes):

    "IFAG"  version(1)=3  key id(1)  flags(1)  pace(1)
    virt(4)        the sender's virtual address (16 bytes in version 4)
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
BFD's far end does on a control packet saying Down. FLAG_FAST, the sender has
traffic for the receiver and asks for hellos at the fast interval. FLAG_DRAIN (an
older monitor ignores it), the sender drained this path: the receiver does too.
pace: the sender's interval until its next hello on this path, in 10 ms; 0 (an
older monitor's reserved byte) says nothing, and the receiver assumes its own
interval (monitor/demand.py: idle peers are probed slowly).

Version 2 is the same layout with HMAC-SHA-256/128; both are taken, and each path
is answered in the version the peer last used (a cluster upgrades host by host).
Version 3's keyed BLAKE2s is a MAC by construction and costs 0.8 µs per hello in
CPython against the HMAC's 2.5 µs (bench/results/monitor-cost.md). Version 4 is
version 3 with a 16-byte virt (80 bytes), an inet6 monitor's only one; an inet one
takes 2 and 3. A well-formed hello of the other family's version is counted as
"family" (REJECT_REASONS), an unknown version as "version".

Each socket is bound to one member NIC (SO_BINDTODEVICE) and its address, so a
hello proves that exact link in both directions. An IPv6 socket binds with
IPV6_FREEBIND (a hop address still in DAD cannot be bound otherwise) and every
IPv6 address it binds or sends to carries the NIC's ifindex as its scope id, so
link-local hops (fe80::, written fe80::X%eth1 or not) work the same as global
ones. Hellos leave with TTL (IPv6: hop limit) 255 and are taken only with 255
(the GTSM rule of RFC 5881: a host further away cannot reach us with 255). The
kernel stamps each datagram on arrival (SO_TIMESTAMPNS): the monitor reads
hellos as they arrive (one epoll wait for every socket), and a late reading
still dates a hello by its true arrival.
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
VERSIONS = (HMAC_VERSION, VERSION)     # what an inet monitor takes
VERSION6 = 4            # keyed BLAKE2s-128, 16-byte virt: an inet6 monitor's only one
VERSIONS6 = (VERSION6,)
KNOWN_VERSIONS = VERSIONS + VERSIONS6
FLAG_DOWN, FLAG_FAST, FLAG_DRAIN = 0x01, 0x02, 0x04     # the flags byte, above
PACE_UNIT = 0.01        # seconds per step of the pace byte
MAC_BYTES = 16
_HEAD = struct.Struct("!4sBBBx4sQQQQIi")        # read: the pace is data[PACE_AT]
HEAD_BYTES = _HEAD.size
SIZE = _HEAD.size + MAC_BYTES
_HEAD6 = struct.Struct("!4sBBBx16sQQQQIi")
_OUT, _OUT6 = struct.Struct("!4sBBBB4sQQQQIi"), struct.Struct("!4sBBBB16sQQQQIi")
PACE_AT = 7
HEAD6_BYTES = _HEAD6.size
SIZE6 = _HEAD6.size + MAC_BYTES
_NO_MAC = bytes(MAC_BYTES)
_U64 = (1 << 64) - 1

# Linux values the socket module does not name (include/uapi/linux/in.h, asm-generic/socket.h).
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
IPV6_FREEBIND = getattr(socket, "IPV6_FREEBIND", 78)       # Linux 4.15; IP_FREEBIND before
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
GTSM_TTL = 255
_CMSG_SPACE = socket.CMSG_SPACE(4) + socket.CMSG_SPACE(16)

# Why a datagram was not taken; the counts are shown by `ifagg status` ("source":
# a good hello from an address that is no path's next hop, counted apart; "family": a
# hello of the other address family's version, 2 or 3 on an IPv6 path, 4 on an IPv4 one).
REJECT_REASONS = ("mac", "replay", "ttl", "version", "format", "source", "family")


class Hello(NamedTuple):
    virt: str
    seq: int
    heard: int
    t_send: int = 0
    t_echo: int = 0
    hold_us: int = 0
    excess_us: int = -1
    flags: int = 0
    pace: int = 0


class Signer:
    """Both versions' MACs, keyed once per key: each hello copies a keyed state."""

    def __init__(self, keys: Optional[KeySet]):
        self.keys = keys
        items = list(keys.keys.items()) if keys else []
        self.by_version = {
            VERSION: {kid: hashlib.blake2s(key=k, digest_size=MAC_BYTES) for kid, k in items},
            HMAC_VERSION: {kid: hmac.new(k, digestmod=hashlib.sha256) for kid, k in items}}
        self.by_version[VERSION6] = self.by_version[VERSION]     # the same MAC
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


def plain(address: str) -> str:
    """An address without its zone: fe80::1%eth1 -> fe80::1. The zone is the member
    NIC, which the socket is bound to and whose ifindex every IPv6 address carries."""
    cut = address.find("%")
    return address if cut < 0 else address[:cut]


def pack_virt(address: str) -> bytes:
    """A virtual address as the hellos carry it: 4 bytes (IPv4) or 16 (IPv6)."""
    address = plain(address)
    if ":" in address:
        return socket.inet_pton(socket.AF_INET6, address)
    return socket.inet_aton(address)


def unpack_virt(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


def version_for(virt: str) -> int:
    """The version a monitor of this virtual address's family sends first."""
    return VERSION6 if ":" in virt else VERSION


def encode(h: Hello, signer: Optional[Signer] = None, version: Optional[int] = None) -> bytes:
    """With no version: 3 for an IPv4 virt, 4 for an IPv6 one."""
    return encode_fields(pack_virt(h.virt), h.seq, h.heard, h.t_send, h.t_echo,
                         h.hold_us, h.excess_us, signer,
                         version_for(h.virt) if version is None else version, h.flags, h.pace)


def encode_fields(virt: bytes, seq: int, heard: int, t_send: int, t_echo: int, hold_us: int,
                  excess_us: int, signer: Optional[Signer] = None, version: int = VERSION,
                  flags: int = 0, pace: int = 0) -> bytes:
    """encode() without building a Hello; `virt` is 16 bytes for version 4, else 4."""
    kid = signer.send_id if signer else 0
    hold_us, excess_us = _clamp(hold_us, excess_us)
    head = (_OUT6 if version == VERSION6 else _OUT).pack(
        MAGIC, version, kid, flags, pace, virt, seq & _U64, heard & _U64, t_send & _U64,
        t_echo & _U64, hold_us, excess_us)
    return head + (signer.mac(kid, head, version) if kid else _NO_MAC)


class Encoder:
    """The sender's hot path: one hello's bytes from its fields, signed, with the
    key's state and the struct looked up once (rebuilt when the keys change). An
    IPv6 virt makes version 4 hellos whatever version is asked for (the only one
    an inet6 monitor speaks)."""

    def __init__(self, virt: str, signer: Signer):
        self.virt = pack_virt(virt)
        self.v6 = len(self.virt) == 16
        self.kid = signer.send_id
        mine = VERSIONS6 if self.v6 else VERSIONS
        self.base = {v: signer.by_version[v].get(self.kid) for v in mine} if self.kid else {}
        self.pack = (_OUT6 if self.v6 else _OUT).pack

    def __call__(self, version: int, flags: int, seq: int, heard: int, t_send: int, t_echo: int,
                 hold_us: int, excess_us: int, pace: int = 0) -> bytes:
        if not (0 <= hold_us <= 0xFFFFFFFF and -1 <= excess_us <= 0x7FFFFFFF):
            hold_us, excess_us = _clamp(hold_us, excess_us)
        if self.v6:
            version = VERSION6
        head = self.pack(MAGIC, version, self.kid, flags, pace, self.virt, seq & _U64, heard & _U64,
                         t_send, t_echo, hold_us, excess_us)
        base = self.base.get(version)
        if base is None:
            return head + _NO_MAC
        h = base.copy()
        h.update(head)
        return head + h.digest()[:MAC_BYTES]


def _why(data: bytes, mine: Tuple[int, ...] = VERSIONS) -> str:
    if len(data) < 5 or data[:4] != MAGIC:
        return "format"
    if data[4] in mine:
        return "format"
    if data[4] in KNOWN_VERSIONS:
        return "family"     # the other family's hello: 4 on an IPv4 path, 2 or 3 on IPv6
    return "version"


def parse(data: bytes, signer: Optional[Signer] = None):
    """The inet receiver's hot path: the header's fields as unpacked (magic, version,
    key id, flags, virt as 4 bytes, seq, heard, t_send, t_echo, hold_us, excess_us)
    if the datagram is a well-formed, rightly signed version 2 or 3 hello, else why
    not (a str)."""
    if len(data) != SIZE or data[:4] != MAGIC or data[4] not in VERSIONS:
        return _why(data, VERSIONS)
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


def parse6(data: bytes, signer: Optional[Signer] = None):
    """parse() for an inet6 monitor: version 4 only, virt as 16 bytes (written out
    again rather than shared: one call less per hello on either hot path)."""
    if len(data) != SIZE6 or data[:4] != MAGIC or data[4] != VERSION6:
        return _why(data, VERSIONS6)
    f = _HEAD6.unpack_from(data)
    if signer is not None and signer.keys is not None:
        base = signer.by_version[VERSION6].get(f[2])
        if base is None:
            return "mac"
        h = base.copy()
        h.update(data[:HEAD6_BYTES])
        if not hmac.compare_digest(h.digest()[:MAC_BYTES], data[HEAD6_BYTES:]):
            return "mac"
    return f


def parser_for(virt: str):
    """The parse of a monitor whose own virtual address is `virt`."""
    return parse6 if ":" in virt else parse


def decode(data: bytes, signer: Optional[Signer] = None) -> Tuple[Optional[Hello], str]:
    """(hello, "") or (None, why): "format", "version" (an older monitor) or "mac".
    Either family's versions (2 and 3 with an IPv4 virt, 4 with an IPv6 one).
    With keys, a hello must carry a known key id and its right MAC; without,
    any well-formed hello is taken (the monitor is unauthenticated)."""
    f = (parse6 if len(data) > 4 and data[4] == VERSION6 else parse)(data, signer)
    if isinstance(f, str):
        return None, f
    _, _, _, flags, virt, seq, heard, t_send, t_echo, hold, excess = f
    return Hello(unpack_virt(virt), seq, heard, t_send, t_echo, hold, excess, flags,
                 data[PACE_AT]), ""


def _ancillary(ancdata) -> Tuple[int, int]:
    """(TTL or IPv6 hop limit, kernel arrival time in CLOCK_REALTIME ns) from recvmsg's
    control data."""
    ttl, stamp = -1, 0
    for level, kind, value in ancdata:
        if ((level == socket.IPPROTO_IP and kind == socket.IP_TTL)
                or (level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT)) and len(value) >= 4:
            ttl = int.from_bytes(value[:4], sys.byteorder)
        elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            # struct timespec: two longs (8 bytes each on 64-bit, 4 on 32-bit ARM).
            fmt = "=qq" if len(value) >= 16 else "=ii"
            sec, nsec = struct.unpack(fmt, value[:struct.calcsize(fmt)])
            stamp = sec * 1_000_000_000 + nsec
    return ttl, stamp


class Sockets:
    """One bound UDP socket per member NIC: opened with (NIC, our address on it), sent
    on with (NIC, the peer's address). The family is the local address's; an IPv6
    address is bound and sent to with the NIC's ifindex as its scope id, so a
    link-local hop (fe80::, with or without its %zone) works like a global one."""

    def __init__(self, port: int):
        self.port = port
        self.by_dev: Dict[str, socket.socket] = {}
        self.dev_of: Dict[int, str] = {}
        self.scope: Dict[str, int] = {}         # dev -> ifindex, for the IPv6 sockets
        self.extra: Dict[int, socket.socket] = {}   # fd -> a listen_any socket

    def open(self, dev: str, local: str) -> None:
        if dev in self.by_dev:
            return
        local = plain(local)
        v6 = ":" in local
        sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
            # Probes must not wait behind a bulk transfer in the NIC's queue.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, 6)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            if v6:
                index = socket.if_nametoindex(dev)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, GTSM_TTL)
                # The learning hellos to ff02::1 (monitor/learn.py) leave with 255 too.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, GTSM_TTL)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
                _freebind6(sock)
                sock.bind((local, self.port, 0, index))
                self.scope[dev] = index
            else:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, GTSM_TTL)
                sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
                sock.bind((local, self.port))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.by_dev[dev] = sock
        self.dev_of[sock.fileno()] = dev

    def listen_any(self, dev: str) -> None:
        """A socket on `dev` bound to `::`: it takes the hellos sent to ff02::1 there
        (a socket bound to our unicast address does not), for learned hops."""
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
            sock.bind(("::", self.port, 0, 0))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.extra[sock.fileno()] = sock
        self.dev_of[sock.fileno()] = dev

    def socket_of(self, fileno: int) -> socket.socket:
        return self.extra.get(fileno) or self.by_dev[self.dev_of[fileno]]

    def address(self, dev: str, peer: str) -> tuple:
        """Where a hello to `peer` through `dev` goes: the sendto address."""
        index = self.scope.get(dev)
        if index is None:
            return (peer, self.port)
        return (plain(peer), self.port, 0, index)

    def send(self, dev: str, peer: str, payload: bytes) -> None:
        try:
            self.by_dev[dev].sendto(payload, self.address(dev, peer))
        except OSError:
            pass    # a dead link refuses or drops; the missing answer says so

    def receive(self, fileno: int) -> Iterator[Tuple[str, str, bytes, int, int]]:
        """(dev, source address without its zone, payload, TTL or hop limit, arrival
        in CLOCK_MONOTONIC ns) for every datagram waiting on a socket."""
        dev = self.dev_of[fileno]
        sock = self.socket_of(fileno)
        offset = time.time_ns() - time.monotonic_ns()
        for _ in range(4096):       # bounded: the rest waits for the next interval
            try:
                data, anc, _, addr = sock.recvmsg(128, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            ttl, stamp = _ancillary(anc)
            yield (dev, plain(addr[0]), data, ttl,
                   (stamp - offset) if stamp else time.monotonic_ns())

    def filenos(self):
        return list(self.dev_of)

    def close(self) -> None:
        for sock in list(self.by_dev.values()) + list(self.extra.values()):
            sock.close()
        for held in (self.by_dev, self.extra, self.dev_of, self.scope):
            held.clear()


def _freebind6(sock: socket.socket) -> None:
    """Bind before the address is usable: a hop address in DAD (tentative) cannot be
    bound otherwise, and ifup may well start the monitor within DAD's second."""
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
    except OSError:
        sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)     # before Linux 4.15
