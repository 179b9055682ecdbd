"""The spreader's wake ring (overlay/bpf/spread.bpf.c, "wake"), read by the link monitor.

A BPF ring buffer's fd polls readable while it holds records. The monitor needs to
know only that something woke it (it then reads the counters, which say who), so
it drains the ring by moving the consumer position to the producer's, without
reading the records. Both positions are 64-bit words at the start of their pages:
the consumer page (offset 0, writable) and the producer page (offset one page,
read-only), as the kernel's ringbuf_map_mmap lays them out.
"""

from __future__ import annotations

import mmap
import struct

_POS = struct.Struct("=Q")


class WakeRing:
    def __init__(self, fd: int):
        self.fd = fd
        self.consumer = mmap.mmap(fd, mmap.PAGESIZE, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self.producer = mmap.mmap(fd, mmap.PAGESIZE, mmap.MAP_SHARED, mmap.PROT_READ,
                                  offset=mmap.PAGESIZE)

    def fileno(self) -> int:
        return self.fd

    def drain(self) -> bool:
        """Forget what the ring holds; whether it held anything."""
        head = _POS.unpack_from(self.producer, 0)[0]
        if _POS.unpack_from(self.consumer, 0)[0] == head:
            return False
        _POS.pack_into(self.consumer, 0, head)
        return True

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()
