"""bpf(2) by hand for the spreader's maps: the values' packing and the Maps of one
program, reached by id (pyroute2 has no bpf(2) API; this is ctypes).

The layouts mirror struct peer and struct path in overlay/bpf/spread.bpf.c.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import socket
import struct
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ifupdown_agg.core.spreader import MAX_PATHS, MAX_PEERS
from ifupdown_agg.errors import ApplyError

_SYSCALL = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "armv6l": 386, "i686": 357,
            "riscv64": 280, "ppc64le": 361, "s390x": 351}
_LOOKUP, _UPDATE, _DELETE, _NEXT_KEY = 1, 2, 3, 4
_LOOKUP_BATCH = 24
_BATCH_ATTR = struct.Struct("=QQQQIIQQ")  # in/out batch, keys, values, count, map fd, flags
_PROG_BY_ID, _MAP_BY_ID, _INFO = 13, 14, 15
_PATH = struct.Struct("=I4sIIq")          # struct path: ifindex, gateway, run, base, credit
_PEER_HEAD = struct.Struct("=IIIIQ")      # struct peer: lock, slot, npaths, pad, cycle
PEER_SIZE = _PEER_HEAD.size + MAX_PATHS * _PATH.size
_COUNTER = struct.Struct("=QQ")


def pack_peer(slot: int, paths: Sequence[Tuple[int, str, int, int]]) -> bytes:
    """A peer's value: paths as (ifindex, gateway, live run, base run)."""
    if len(paths) > MAX_PATHS:
        raise ValueError(f"at most {MAX_PATHS} paths per peer")
    cycle = sum(run for _, _, run, _ in paths)
    body = b"".join(_PATH.pack(ifx, socket.inet_aton(gw), run, base, 0)
                    for ifx, gw, run, base in paths)
    body += bytes(_PATH.size * (MAX_PATHS - len(paths)))
    return _PEER_HEAD.pack(0, slot, len(paths), 0, cycle) + body


def unpack_peer(value: bytes) -> Tuple[int, List[Tuple[int, str, int, int]]]:
    _, slot, npaths, _, _ = _PEER_HEAD.unpack_from(value)
    paths = []
    for i in range(min(npaths, MAX_PATHS)):
        ifx, gw, run, base, _ = _PATH.unpack_from(value, _PEER_HEAD.size + i * _PATH.size)
        paths.append((ifx, socket.inet_ntoa(gw), run, base))
    return slot, paths


# ---- bpf(2) ---------------------------------------------------------------------------

_libc = None     # loaded on first use: the hooks import this module at every ifup


def _bpf(cmd: int, attr: bytes) -> Tuple[int, bytes]:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    nr = _SYSCALL.get(platform.machine())
    if nr is None:
        raise OSError(errno.ENOSYS, f"bpf(2) number unknown on {platform.machine()}")
    buf = ctypes.create_string_buffer(attr, max(len(attr), 128))
    rc = _libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), buf, ctypes.c_uint(len(buf)))
    if rc < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return rc, buf.raw


def _info(fd: int, size: int, patch=b"", at: int = 0) -> bytes:
    info = ctypes.create_string_buffer(size)
    if patch:
        ctypes.memmove(ctypes.addressof(info) + at, patch, len(patch))
    _bpf(_INFO, struct.pack("=IIQ", fd, size, ctypes.addressof(info)))
    return info.raw


def _map_ids(prog_id: int) -> List[int]:
    fd, _ = _bpf(_PROG_BY_ID, struct.pack("=III", prog_id, 0, 0))
    try:
        ids = (ctypes.c_uint32 * 8)()
        info = _info(fd, 80, struct.pack("=IQ", 8, ctypes.addressof(ids)), 52)
        count = struct.unpack_from("=I", info, 52)[0]
        return [ids[i] for i in range(min(count, 8))]
    finally:
        os.close(fd)


def _possible_cpus() -> int:
    with open("/sys/devices/system/cpu/possible") as fh:
        spans = fh.read().strip().split(",")
    return sum(int(b) - int(a) + 1 for a, _, b in (s.partition("-") if "-" in s else (s, "", s)
                                                   for s in spans))


class Maps:
    """The peers and stats maps of one attached program."""

    def __init__(self, prog_id: int):
        self.fds: Dict[str, int] = {}
        self.value_size: Dict[str, int] = {}
        for map_id in _map_ids(prog_id):
            fd, _ = _bpf(_MAP_BY_ID, struct.pack("=III", map_id, 0, 0))
            name = _info(fd, 40)[24:40].split(b"\0")[0].decode()
            if name in ("peers", "stats", "hops", "meters", "armed", "wake") and name not in self.fds:
                self.fds[name] = fd
                self.value_size[name] = struct.unpack_from("=I", _info(fd, 40), 12)[0]
            else:
                os.close(fd)
        if not {"peers", "stats"} <= set(self.fds):
            self.close()
            raise ApplyError(f"program {prog_id} is not ifupdown-agg's spreader (no peers/stats maps)")
        self.cpus = _possible_cpus()

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}

    def _elem(self, cmd: int, name: str, key: bytes, value=None, flags: int = 0):
        kbuf = ctypes.create_string_buffer(key, len(key))
        # A delete's attr ends at the key: the kernel refuses one with a value (EINVAL).
        vptr = ctypes.addressof(value) if value is not None else 0
        _bpf(cmd, struct.pack("=IIQQQ", self.fds[name], 0, ctypes.addressof(kbuf), vptr, flags))

    def put_peer(self, virt: str, value: bytes) -> None:
        self._elem(_UPDATE, "peers", socket.inet_aton(virt), ctypes.create_string_buffer(value, len(value)))

    def drop_peer(self, virt: str) -> None:
        try:
            self._elem(_DELETE, "peers", socket.inet_aton(virt))
        except OSError as err:
            if err.errno != errno.ENOENT:
                raise

    def _keys(self, name: str) -> Iterator[bytes]:
        key = None
        for _ in range(1024):       # max_entries is 256
            out = ctypes.create_string_buffer(4)
            kbuf = ctypes.create_string_buffer(key or b"\0" * 4, 4)
            try:
                _bpf(_NEXT_KEY, struct.pack("=IIQQQ", self.fds[name], 0,
                                            ctypes.addressof(kbuf) if key else 0,
                                            ctypes.addressof(out), 0))
            except OSError as err:
                if err.errno == errno.ENOENT:
                    return
                raise
            key = out.raw
            yield key

    def peer_keys(self) -> Iterator[str]:
        return (socket.inet_ntoa(k) for k in self._keys("peers"))

    # The queue meters (kernel/meters.py): a program older than them has no such map.
    def meter_keys(self) -> List[int]:
        return [struct.unpack("=I", k)[0] for k in self._keys("meters")] if "meters" in self.fds else []

    def meter(self, ifindex: int) -> Optional[bytes]:
        value = ctypes.create_string_buffer(self.value_size["meters"])
        try:
            self._elem(_LOOKUP, "meters", struct.pack("=I", ifindex), value)
        except OSError as err:
            if err.errno == errno.ENOENT:
                return None
            raise
        return value.raw

    def put_meter(self, ifindex: int, value: bytes, flags: int = 0) -> None:
        """flags BPF_F_LOCK (4): under the entry's spin lock, beside the program."""
        self._elem(_UPDATE, "meters", struct.pack("=I", ifindex),
                   ctypes.create_string_buffer(value, len(value)), flags)

    def drop_meter(self, ifindex: int) -> None:
        try:
            self._elem(_DELETE, "meters", struct.pack("=I", ifindex))
        except OSError as err:
            if err.errno != errno.ENOENT:
                raise

    def peer(self, virt: str) -> Optional[bytes]:
        value = ctypes.create_string_buffer(PEER_SIZE)
        try:
            self._elem(_LOOKUP, "peers", socket.inet_aton(virt), value)
        except OSError as err:
            if err.errno == errno.ENOENT:
                return None
            raise
        return value.raw

    def put_hop(self, entry: int, exit_: int, max_segs: int, dev: int, pace: int = 0) -> None:
        """The segmenting hop's ifindexes (0 0: none), the GSO cap it enforces (0: every
        packet takes it), the overlay device's ifindex and the planned pacing rate."""
        if "hops" in self.fds:
            value = struct.pack("=IIIII", entry, exit_, max_segs, dev, pace)
            value = value[:self.value_size.get("hops", len(value))]     # an older program: 4 fields
            self._elem(_UPDATE, "hops", struct.pack("=I", 0),
                       ctypes.create_string_buffer(value, len(value)))

    def hop_pace(self) -> int:
        """The planned pacing rate in Mbit/s when every packet takes the hop, else 0."""
        if self.value_size.get("hops", 0) < 20:
            return 0
        value = ctypes.create_string_buffer(20)
        try:
            self._elem(_LOOKUP, "hops", struct.pack("=I", 0), value)
        except OSError:
            return 0
        entry, _, max_segs, _, pace = struct.unpack("=IIIII", value.raw)
        return pace if entry and max_segs == 0 else 0

    def arm(self, slots: Sequence[int]) -> None:
        """Ask the program for a wake-up at the next packet to each of these slots (an
        object built before the wake ring has no "armed" map: then nothing)."""
        if "armed" in self.fds:
            one = ctypes.create_string_buffer(struct.pack("=I", 1), 4)
            for slot in slots:
                self._elem(_UPDATE, "armed", struct.pack("=I", slot), one)

    def counters(self, slot: int, npaths: int) -> List[Tuple[int, int]]:
        """(packets, bytes) per path of a peer, summed over the CPUs."""
        out = []
        for i in range(npaths):
            value = ctypes.create_string_buffer(_COUNTER.size * self.cpus)
            self._elem(_LOOKUP, "stats", struct.pack("=I", slot * MAX_PATHS + i), value)
            cells = [_COUNTER.unpack_from(value.raw, c * _COUNTER.size) for c in range(self.cpus)]
            out.append((sum(p for p, _ in cells), sum(b for _, b in cells)))
        return out

    def counters_below(self, nslots: int) -> List[Tuple[int, int]]:
        """(packets, bytes) summed over the CPUs of every path of slots 0..nslots-1
        (entry slot * MAX_PATHS + path), in one bpf(2) call (BPF_MAP_LOOKUP_BATCH,
        Linux 5.6): the monitor reads them every 100 ms, for every peer."""
        return self.sum_counters(self.counters_raw(nslots))

    def sum_counters(self, raw: bytes) -> List[Tuple[int, int]]:
        """counters_raw's bytes as (packets, bytes) per entry, summed over the CPUs."""
        n = len(raw) // (_COUNTER.size * self.cpus)
        flat = struct.unpack(f"={2 * self.cpus * n}Q", raw)
        step = 2 * self.cpus        # an entry: (packets, bytes) for each CPU
        return [(sum(flat[i:i + step:2]), sum(flat[i + 1:i + step:2])) for i in range(0, n * step, step)]

    def counters_raw(self, nslots: int) -> bytes:
        """The per-CPU counters of slots 0..nslots-1 as the kernel gives them, in one
        call: the monitor compares them whole (no traffic: the same bytes)."""
        n = min(nslots, MAX_PEERS) * MAX_PATHS
        if n <= 0:
            return b""
        if getattr(self, "_batch", (0,))[0] != n:      # the buffers, made once per size
            keys = ctypes.create_string_buffer(4 * n)
            values = ctypes.create_string_buffer(_COUNTER.size * self.cpus * n)
            after = ctypes.create_string_buffer(4)
            self._batch = (n, keys, values, after, _BATCH_ATTR.pack(
                0, ctypes.addressof(after), ctypes.addressof(keys), ctypes.addressof(values), n,
                self.fds["stats"], 0, 0))
        values, attr = self._batch[2], self._batch[4]
        try:
            _bpf(_LOOKUP_BATCH, attr)
        except OSError as err:
            if err.errno != errno.ENOENT:   # ENOENT: the batch reached the array's end
                raise
        return values.raw
