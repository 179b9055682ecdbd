"""The netlink wire format shared by route_batch.py and linkwatch.py.

Both pack or read a few fixed messages by hand (no netlink library), so only the
message header, attribute packing and the walk over a datagram's messages live here.
"""

from __future__ import annotations

import struct
from typing import Iterator, Tuple

NLMSGHDR = struct.Struct("=IHHII")      # length, type, flags, seq, pid


def attr(kind: int, data: bytes) -> bytes:
    """One rtattr: length, type, data, padded to 4 bytes."""
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * (-length & 3)


def message(mtype: int, flags: int, seq: int, body: bytes) -> bytes:
    """A netlink message: the header (pid 0, the kernel) in front of `body`."""
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), mtype, flags, seq, 0) + body


def messages(data: bytes) -> Iterator[Tuple[int, int, int]]:
    """(type, seq, offset of the payload) for each message in a received datagram."""
    offset = 0
    while offset + NLMSGHDR.size <= len(data):
        length, mtype, _, seq, _ = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size:
            break
        yield mtype, seq, offset + NLMSGHDR.size
        offset += (length + 3) & ~3
