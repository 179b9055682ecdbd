"""What one interval tells the capacity controller (monitor/shares.py) about one path,
and the queueing delay read from it (MinWindow: a path's one-way delay floor, from
its hellos in monitor/health.py). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple


@dataclass
class Signal:
    """What one interval tells about one path; None: not known."""
    tx_excess_us: Optional[float] = None    # from the peer's hellos
    backlog_bytes: Optional[int] = None     # the member NIC's root qdisc
    nic_rate_mbps: Optional[float] = None   # the rate that qdisc drains at
    # What this overlay sent through the path's member link this interval, over all the
    # peers' paths on that link (the test "is the queue our own" is per link).
    sent_bytes: Optional[int] = None
    # What the member link's root qdisc took this interval from every sender, ours
    # included (sent plus backlog growth); with sent_bytes, the other traffic's rate.
    link_bytes: Optional[int] = None


def local_delay_us(sig: Signal) -> Optional[float]:
    if sig.backlog_bytes is None or not sig.nic_rate_mbps:
        return None
    return sig.backlog_bytes * 8.0 / sig.nic_rate_mbps


def delay_of(sig: Signal, remote_prev: Optional[float]) -> Tuple[Optional[float], str]:
    """The path's delay and which one it is, the hellos' as the smaller of this
    interval's and `remote_prev`, the one before (shares._delay keeps that memory)."""
    local, remote = local_delay_us(sig), sig.tx_excess_us
    if remote is not None and remote_prev is not None:
        remote = min(remote, remote_prev)
    if local is None and remote is None:
        return None, ""
    if remote is None or (local is not None and local >= remote):
        return local, "local queue"
    return max(0.0, remote), "path delay"


class MinWindow:
    """The minimum of the values added over the last `span` seconds, in `buckets` steps."""

    def __init__(self, span: float = 10.0, buckets: int = 10):
        self.width = span / buckets
        self.buckets = buckets
        self.mins: List[List[int]] = []     # [bucket number, minimum], oldest first
        self.older: Optional[int] = None    # the minimum of every bucket but the newest

    def add(self, now: float, value: int) -> int:
        """Add a value; returns how far it is above the window's minimum."""
        b = int(now / self.width)
        if not self.mins or self.mins[-1][0] != b:
            self.mins.append([b, value])
            while self.mins[0][0] <= b - self.buckets:
                self.mins.pop(0)
            self.older = min((m for _, m in self.mins[:-1]), default=None)
        elif value < self.mins[-1][1]:
            self.mins[-1][1] = value
        newest = self.mins[-1][1]
        return value - (newest if self.older is None or newest < self.older else self.older)
