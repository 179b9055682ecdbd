"""Every hello of one member NIC's socket in one sendmmsg(2), through ctypes.

Why: at 32 peers x 4 links and 50 ms the monitor sends 2560 hellos a second, one
sendto() each, and sending was its largest cost (bench/results/20261203T1431Z-monitor-cost.md).
Python's socket module has no sendmmsg; libc has (glibc 2.14, Linux 3.0). One call per
socket saves, per hello, the syscall's entry and exit and CPython's handling of the
arguments (the address tuple parsed each time); the kernel's own work per datagram stays,
and in the lab that is most of it (bench/results/20261204T1850Z-monitor-batched.md).
A Batch holds, per socket, the arrays sendmmsg reads (mmsghdr, iovec, sockaddr_in or
sockaddr_in6 with the NIC's ifindex as scope id, one slot per hello), built once per
path set; each interval only the hellos' bytes are copied in. Where libc or ctypes lacks
it, SENDMMSG is None and the caller keeps sendto.
"""

from __future__ import annotations

import errno
import socket
import struct
from typing import Callable, List, Optional, Sequence, Tuple

try:
    import ctypes
    _libc = ctypes.CDLL(None, use_errno=True)
    SENDMMSG = _libc.sendmmsg
except (ImportError, OSError, AttributeError):      # no ctypes, no libc, an old libc
    ctypes = None       # type: ignore[assignment]
    SENDMMSG = None

# The errors that say sendmmsg itself is unusable here (an old kernel, a seccomp filter
# answering ENOSYS, a closed socket): the batch turns itself off and the caller's sendto
# goes on. Any other error (EPERM from a firewall, ENETUNREACH) is one hello's.
_UNUSABLE = {errno.ENOSYS, errno.EFAULT, errno.ENOTSOCK, errno.EBADF}

if SENDMMSG is not None:
    class _Iovec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

    class _Msghdr(ctypes.Structure):        # struct msghdr, glibc's layout
        _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                    ("iov", ctypes.POINTER(_Iovec)), ("iovlen", ctypes.c_size_t),
                    ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                    ("flags", ctypes.c_int)]

    class _Mmsghdr(ctypes.Structure):
        _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]

    SENDMMSG.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    SENDMMSG.restype = ctypes.c_int


def sockaddr(address: tuple) -> bytes:
    """The kernel's sockaddr for a sendto address: (ip, port) or, IPv6, (ip, port,
    flowinfo, scope id)."""
    if len(address) == 4:
        ip, port, flow, scope = address
        return (struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", port, flow)
                + socket.inet_pton(socket.AF_INET6, ip) + struct.pack("=I", scope))
    ip, port = address
    return (struct.pack("=H", socket.AF_INET) + struct.pack("!H", port)
            + socket.inet_aton(ip) + bytes(8))


class Batch:
    """One socket's hellos, `size` bytes each, to fixed addresses, in one call."""

    def __init__(self, sock: socket.socket, addresses: Sequence[tuple], size: int):
        self.size, self.count = size, len(addresses)
        # Only a real socket has a descriptor to give the kernel (tests pass stand-ins);
        # one hello is one call either way, and sendto's is cheaper than ctypes'.
        self.usable = SENDMMSG is not None and self.count > 1 and isinstance(sock, socket.socket)
        self.fd = sock.fileno() if self.usable else -1
        if not self.usable:
            return
        raw = [sockaddr(a) for a in addresses]
        self.names = [ctypes.create_string_buffer(r, len(r)) for r in raw]
        self.data = ctypes.create_string_buffer(size * self.count)   # hello i at i * size
        self.iovs = (_Iovec * self.count)()
        self.msgs = (_Mmsghdr * self.count)()
        base = ctypes.addressof(self.data)
        for i, (name, iov, msg) in enumerate(zip(self.names, self.iovs, self.msgs)):
            iov.base, iov.len = base + i * size, size
            msg.hdr.name, msg.hdr.namelen = ctypes.addressof(name), ctypes.sizeof(name)
            msg.hdr.iov, msg.hdr.iovlen = ctypes.pointer(iov), 1

    def send(self, payloads: List[bytes], fallback: Callable[[int], None]) -> int:
        """Send payloads[i] to address i, every one tried once; a hello sendmmsg did
        not take goes by fallback(i) (sendto, which fails the same way or succeeds), and
        the batch goes on from the next one. Returns the number sendmmsg sent."""
        data = b"".join(payloads) if self.usable and len(payloads) == self.count else b""
        if len(data) != self.size * self.count or not data:
            for i in range(len(payloads)):
                fallback(i)
            return 0
        ctypes.memmove(self.data, data, len(data))
        return self._send(ctypes.addressof(self.msgs), self.count, fallback)

    def _send(self, at: int, count: int, fallback: Callable[[int], None]) -> int:
        """sendmmsg over `count` headers from address `at`, each hello tried once."""
        sent = start = 0
        step = ctypes.sizeof(_Mmsghdr)
        for _ in range(count):              # bounded: each round moves start on
            n = SENDMMSG(self.fd, at + start * step, count - start, 0)
            if n <= 0:      # the hello at start failed (a dead link): sendto tries it once
                self.usable = ctypes.get_errno() not in _UNUSABLE
                fallback(start)
                n = 1
            else:
                sent += n
            start += n
            if start >= count:
                break
            if not self.usable:
                for i in range(start, count):
                    fallback(i)
                break
        return sent


    def send_some(self, indexes: Sequence[int], payloads: List[bytes],
                  fallback: Callable[[int], None]) -> int:
        """send() for some of the addresses only (the peers probed now, monitor/demand.py):
        payloads[j] to address indexes[j]; a hello not taken goes by fallback(j). The
        subset's headers are made once and kept while the subset stays the same."""
        if not self.usable or len(indexes) < 2 or len(indexes) != len(payloads):
            for j in range(len(payloads)):
                fallback(j)
            return 0
        key = tuple(indexes)
        if getattr(self, "_some", (None,))[0] != key:
            msgs = (_Mmsghdr * len(key))()
            for j, i in enumerate(key):
                msgs[j].hdr = self.msgs[i].hdr
            self._some = (key, msgs)
        msgs = self._some[1]
        base = ctypes.addressof(self.data)
        for i, payload in zip(key, payloads):
            ctypes.memmove(base + i * self.size, payload, self.size)
        return self._send(ctypes.addressof(msgs), len(key), fallback)

def batches(groups: Sequence[Tuple[socket.socket, Sequence[tuple]]], size: int
            ) -> Optional[List[Batch]]:
    """A Batch per (socket, its addresses), or None where sendmmsg is not to be had."""
    if SENDMMSG is None:
        return None
    return [Batch(sock, addresses, size) for sock, addresses in groups]
