"""Root qdisc backlogs and byte counts from one RTM_GETQDISC dump, read by hand.

The monitor asks every 100 ms (capacity following, issue #19). Through pyroute2
one dump cost about 2.5 ms of CPU in its message classes; the few fields wanted
(ifindex, parent, the backlog of gnet_stats_queue, the bytes of gnet_stats_basic)
read here in tens of µs.
"""

from __future__ import annotations

import socket
import struct
from typing import Dict, NamedTuple, Optional

from ifupdown_agg.kernel.nlmsg import NLMSGHDR, message, messages

RTM_NEWQDISC, RTM_GETQDISC = 36, 38
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCA_STATS, TCA_STATS2 = 3, 7
TCA_STATS_BASIC, TCA_STATS_QUEUE = 1, 3
TC_H_ROOT = 0xFFFFFFFF
_TCMSG = struct.Struct("=BxxxiIII")     # family, ifindex, handle, parent, info
_RTA = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_U64 = struct.Struct("=Q")
_TC_STATS_BACKLOG = 32                  # struct tc_stats: u64 bytes, then 7 x u32
_QUEUE_BACKLOG = 4                      # struct gnet_stats_queue: qlen, backlog, ...


def _attrs(data: bytes, start: int, end: int):
    """(type, offset of the payload, its length) of each rtattr in data[start:end]."""
    for _ in range(256):                # bounded
        if start + 4 > end:
            return
        length, kind = _RTA.unpack_from(data, start)
        if length < 4:
            return
        yield kind & 0x3FFF, start + 4, length - 4
        start += (length + 3) & ~3


class QdiscStats(NamedTuple):
    backlog: Optional[int]      # bytes queued now
    sent: Optional[int]         # bytes it has sent, cumulative (every sender's)


def _stats(data: bytes, start: int, end: int) -> QdiscStats:
    old = QdiscStats(None, None)
    for kind, at, n in _attrs(data, start, end):
        if kind == TCA_STATS2:
            backlog = sent = None
            for k2, at2, n2 in _attrs(data, at, at + n):
                if k2 == TCA_STATS_QUEUE and n2 >= 8:
                    backlog = _U32.unpack_from(data, at2 + _QUEUE_BACKLOG)[0]
                elif k2 == TCA_STATS_BASIC and n2 >= 8:
                    sent = _U64.unpack_from(data, at2)[0]
            return QdiscStats(backlog, sent)
        if kind == TCA_STATS and n >= _TC_STATS_BACKLOG + 4:     # before 2.6.x's STATS2
            old = QdiscStats(_U32.unpack_from(data, at + _TC_STATS_BACKLOG)[0],
                             _U64.unpack_from(data, at)[0])
    return old


class QdiscDump:
    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def root_stats(self, indexes) -> Dict[int, QdiscStats]:
        """The root qdisc's counts of each ifindex asked for that has one."""
        want = set(indexes)
        self.seq += 1
        self.sock.send(message(RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP, self.seq,
                               _TCMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)))
        out: Dict[int, QdiscStats] = {}
        for _ in range(10000):          # bounded: a dump ends with NLMSG_DONE
            data = self.sock.recv(65536)
            for mtype, seq, at in messages(data):
                if seq != self.seq:
                    continue
                if mtype in (NLMSG_DONE, NLMSG_ERROR):
                    return out
                if mtype != RTM_NEWQDISC:
                    continue
                length = NLMSGHDR.unpack_from(data, at - NLMSGHDR.size)[0]
                _, ifindex, _, parent, _ = _TCMSG.unpack_from(data, at)
                if ifindex in want and parent == TC_H_ROOT:
                    out[ifindex] = _stats(data, at + _TCMSG.size, at - NLMSGHDR.size + length)
        return out

    def close(self) -> None:
        self.sock.close()
