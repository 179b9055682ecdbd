"""The monitor's hellos: one small UDP datagram per path and interval.

A hello carries the sender's virtual address, its sequence number and the
last sequence number it heard from the receiver on that path. Each socket is
bound to one member NIC (SO_BINDTODEVICE) and its address, so a hello proves
that exact link in both directions.
"""

from __future__ import annotations

import socket
import struct
from typing import Dict, Iterator, Optional, Tuple

MAGIC = b"IFAG"
VERSION = 1
_FORMAT = struct.Struct("!4sB3x4sII")


def encode(virt: str, seq: int, heard: int) -> bytes:
    return _FORMAT.pack(MAGIC, VERSION, socket.inet_aton(virt), seq & 0xFFFFFFFF, heard & 0xFFFFFFFF)


def decode(data: bytes) -> Optional[Tuple[str, int, int]]:
    """(virtual address, seq, heard), or None for anything that is not our hello."""
    if len(data) != _FORMAT.size:
        return None
    magic, version, virt, seq, heard = _FORMAT.unpack(data)
    if magic != MAGIC or version != VERSION:
        return None
    return socket.inet_ntoa(virt), seq, heard


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
        sock.bind((local, self.port))
        sock.setblocking(False)
        self.by_dev[dev] = sock
        self.dev_of[sock.fileno()] = dev

    def send(self, dev: str, gateway: str, payload: bytes) -> None:
        try:
            self.by_dev[dev].sendto(payload, (gateway, self.port))
        except OSError:
            pass    # a dead link refuses or drops; the missing answer says so

    def receive(self, fileno: int) -> Iterator[Tuple[str, str, bytes]]:
        """(dev, source address, payload) for every datagram waiting on a socket."""
        dev = self.dev_of[fileno]
        sock = self.by_dev[dev]
        for _ in range(4096):       # bounded: the rest waits for the next interval
            try:
                data, (source, _) = sock.recvfrom(64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            yield dev, source, data

    def filenos(self):
        return list(self.dev_of)

    def close(self) -> None:
        for sock in self.by_dev.values():
            sock.close()
        self.by_dev.clear()
        self.dev_of.clear()
