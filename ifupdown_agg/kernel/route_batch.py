"""Routes added and deleted in batches over one rtnetlink socket.

An overlay of 64 hosts and 4 tables is 256 routes; one request per route
through pyroute2 costs about 0.6 ms each in encoding and waiting for the ACK.
Here the messages are packed by hand and sent many to a datagram, and the
kernel's ACKs are matched back by sequence number, so every route still gets
its own success or errno.
"""

from __future__ import annotations

import socket
import struct
from typing import Dict, List, Optional, Sequence, Tuple

from ifupdown_agg.kernel.nlmsg import attr as _attr, message, messages

RTM_NEWROUTE, RTM_DELROUTE = 24, 25
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x100, 0x200, 0x400
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC, RTA_METRICS, RTA_TABLE = 1, 4, 5, 7, 8, 15
RTAX_LOCK, RTAX_REORDERING, RTAX_RTO_MIN, RTAX_CC_ALGO = 1, 9, 13, 16
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE = 0, 253, 255
RTN_UNICAST = 1
RT_TABLE_COMPAT = 252
PER_DATAGRAM = 128
_RTMSG = struct.Struct("=BBBBBBBBI")


def encode(seq: int, add: bool, table: int, dst: str, plen: int, proto: int,
           oif: Optional[int] = None, gateway: Optional[str] = None,
           prefsrc: Optional[str] = None, congctl: Optional[str] = None,
           reordering: Optional[int] = None, rto_min: Optional[int] = None,
           replace: bool = False) -> bytes:
    """One RTM_NEWROUTE (exclusive create, or with `replace` one that takes the place
    of the route to the same destination in one step) or RTM_DELROUTE message."""
    if add:
        scope = RT_SCOPE_UNIVERSE if gateway else RT_SCOPE_LINK
        flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
    else:
        scope, flags = RT_SCOPE_NOWHERE, NLM_F_REQUEST | NLM_F_ACK
    # The family follows the destination: an IPv6 overlay's routes are IPv6 throughout.
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET

    def pack(addr: str) -> bytes:
        return socket.inet_pton(family, addr)
    head = _RTMSG.pack(family, plen, 0, 0, table if table < 256 else RT_TABLE_COMPAT,
                       proto, scope, RTN_UNICAST, 0)
    attrs = _attr(RTA_TABLE, struct.pack("=I", table)) + _attr(RTA_DST, pack(dst))
    if add:
        if oif is not None:
            attrs += _attr(RTA_OIF, struct.pack("=I", oif))
        if gateway:
            attrs += _attr(RTA_GATEWAY, pack(gateway))
        if prefsrc:
            attrs += _attr(RTA_PREFSRC, pack(prefsrc))
        metrics = b""
        if reordering is not None:
            metrics += _attr(RTAX_REORDERING, struct.pack("=I", reordering))
        if rto_min is not None:     # in ms; TCP reads it only when locked
            metrics += _attr(RTAX_LOCK, struct.pack("=I", 1 << RTAX_RTO_MIN))
            metrics += _attr(RTAX_RTO_MIN, struct.pack("=I", rto_min))
        if congctl:
            metrics += _attr(RTAX_CC_ALGO, congctl.encode() + b"\0")
        if metrics:
            attrs += _attr(RTA_METRICS, metrics)
    body = head + attrs
    return message(RTM_NEWROUTE if add else RTM_DELROUTE, flags, seq, body)



def route_metrics(metrics) -> dict:
    """Route's metric fields from a dumped route's RTA_METRICS (pyroute2's nla): the
    rto_min only where locked, as TCP reads it."""
    if not metrics:
        return {"congctl": None, "reordering": None, "rto_min": None}
    rto_min, lock = metrics.get_attr("RTAX_RTO_MIN"), metrics.get_attr("RTAX_LOCK") or 0
    return {"congctl": metrics.get_attr("RTAX_CC_ALGO"),
            "reordering": metrics.get_attr("RTAX_REORDERING"),
            "rto_min": rto_min if rto_min is not None and lock & (1 << RTAX_RTO_MIN) else None}

class RouteBatch:
    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, 0))
        self.sock.settimeout(10)
        self.seq = 0

    def run(self, messages: Sequence[Tuple]) -> List[int]:
        """Send `encode` argument tuples (without seq); return one errno per message (0 = done)."""
        results: List[int] = []
        for start in range(0, len(messages), PER_DATAGRAM):
            chunk = messages[start:start + PER_DATAGRAM]
            first = self.seq + 1
            payload = b"".join(encode(first + i, *args) for i, args in enumerate(chunk))
            self.seq += len(chunk)
            self.sock.send(payload)
            results += self._acks(first, len(chunk))
        return results

    def _acks(self, first: int, count: int) -> List[int]:
        found: Dict[int, int] = {}
        for _ in range(count + 16):          # bounded: one ACK per message
            if len(found) == count:
                break
            data = self.sock.recv(1 << 20)
            for mtype, seq, payload in messages(data):
                if mtype == NLMSG_ERROR and first <= seq < first + count:
                    (error,) = struct.unpack_from("=i", data, payload)
                    found[seq] = -error
        return [found.get(first + i, 110) for i in range(count)]   # ETIMEDOUT if lost

    def close(self) -> None:
        self.sock.close()
