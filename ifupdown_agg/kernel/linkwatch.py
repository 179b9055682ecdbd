"""Carrier changes as the kernel announces them (rtnetlink RTMGRP_LINK).

Only the fixed ifinfomsg header is read (index and flags), so this needs no
netlink library and reacts the moment a NIC loses its carrier.
"""

from __future__ import annotations

import socket
import struct
from typing import Dict, Iterator, Tuple

from ifupdown_agg.kernel.nlmsg import messages

RTMGRP_LINK = 1
RTM_NEWLINK, RTM_DELLINK = 16, 17
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000
_IFINFOMSG = struct.Struct("=BxHiII")


def carrier_of(dev: str) -> bool:
    """The NIC's carrier now, from sysfs (false if it is down or gone)."""
    try:
        with open(f"/sys/class/net/{dev}/carrier") as fh:
            return fh.read().strip() == "1"
    except OSError:
        return False


class LinkWatch:
    def __init__(self, devs):
        self.names: Dict[int, str] = {}
        for dev in devs:
            try:
                self.names[socket.if_nametoindex(dev)] = dev
            except OSError:
                pass
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.bind((0, RTMGRP_LINK))
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def events(self) -> Iterator[Tuple[str, bool]]:
        """(dev, carrier) for every link message about a watched NIC."""
        for _ in range(64):         # bounded: the rest waits for the next select
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            for mtype, _, payload in messages(data):
                if mtype in (RTM_NEWLINK, RTM_DELLINK):
                    _, _, index, flags, _ = _IFINFOMSG.unpack_from(data, payload)
                    dev = self.names.get(index)
                    if dev:
                        up = mtype == RTM_NEWLINK and flags & IFF_UP and flags & IFF_LOWER_UP
                        yield dev, bool(up)

    def close(self) -> None:
        self.sock.close()
