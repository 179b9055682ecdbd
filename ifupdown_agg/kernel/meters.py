"""The spreader's queue meters: its program on each member NIC's tcx egress.

There it adds every packet the NIC sends (ours and the user's) to a virtual
queue in the program's "meters" map, drained at the NIC's rate; the rotation
skips a path whose NIC is queued more than one frame's time (and 60 us) above the
least-queued path's (overlay/bpf/spread.bpf.c, struct meter).

tcx (Linux 6.6) runs several programs on one hook, so the user's own
programs there stay; ours returns "next". It is attached by bpf(2) with no
link and nothing pinned: it stays until detached or the NIC goes. Ownership
without a record: a program on a NIC's tcx egress whose name is the
spreader's and whose id is the program of one of our tc filters, or, for
`ifagg cleanup`, of none (its overlay device is gone).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from typing import Dict, Iterable, List, Sequence, Tuple

from ifupdown_agg.errors import ApplyError
from ifupdown_agg.kernel.bpf_maps import _INFO, _PROG_BY_ID, Maps, _bpf

_ATTACH, _DETACH, _QUERY = 8, 9, 16
TCX_EGRESS = 47                 # enum bpf_attach_type, Linux 6.6
BPF_F_BEFORE = 1 << 3           # first on the hook: it sees what the user's programs drop too
PROGRAM_NAME = "spread"
_METER = struct.Struct("=IIQII")  # struct meter: lock, ps_per_byte, finish, slack_ns, pad
# A path may take a packet while its NIC's queue is at most this far above the least:
# one full frame at that NIC's rate (equal rotation keeps queues within one of each other).
SLACK_BYTES = 1514


# And at least 60 us: on a busy 2-core machine the softirqs that feed and drain a NIC run
# that late; at 2x500 Mbit/s, one frame (24 us) skipped paths on jitter alone.
SLACK_NS_MIN = 60_000


def pack(mbit: int) -> bytes:
    """A meter's value for a NIC of `mbit` Mbit/s, its queue empty."""
    ps_per_byte = max(1, round(8e6 / max(1, mbit)))
    slack = max(SLACK_BYTES * ps_per_byte // 1000, SLACK_NS_MIN)
    return _METER.pack(0, ps_per_byte, 0, slack, 0)


def rate_of(value: bytes) -> int:
    """The Mbit/s a meter's value drains at."""
    ps_per_byte = _METER.unpack_from(value)[1]
    return round(8e6 / ps_per_byte) if ps_per_byte else 0


def devices() -> List[str]:
    """The network devices of this namespace."""
    return sorted(_ifindexes())


def _ifindexes() -> Dict[str, int]:
    out = {}
    try:
        names = os.listdir("/sys/class/net")
    except OSError:
        return out
    for name in names:
        try:
            with open(f"/sys/class/net/{name}/ifindex") as fh:
                out[name] = int(fh.read())
        except (OSError, ValueError):
            continue
    return out


def attached(ifindex: int) -> List[int]:
    """The ids of the programs on the NIC's tcx egress, in order."""
    ids = (ctypes.c_uint32 * 64)()
    attr = struct.pack("=IIIIQI", ifindex, TCX_EGRESS, 0, 0, ctypes.addressof(ids), 64)
    try:
        _, out = _bpf(_QUERY, attr)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENODEV, errno.EINVAL, errno.ENOSYS):
            return []
        raise
    count = struct.unpack_from("=I", out, 24)[0]
    return [ids[i] for i in range(min(count, 64))]


def _name(prog_id: int) -> str:
    try:
        fd, _ = _bpf(_PROG_BY_ID, struct.pack("=III", prog_id, 0, 0))
    except OSError:
        return ""
    try:
        info = ctypes.create_string_buffer(80)
        _bpf(_INFO, struct.pack("=IIQ", fd, 80, ctypes.addressof(info)))
        return info.raw[64:80].split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def _detach(ifindex: int, prog_id: int) -> None:
    try:
        fd, _ = _bpf(_PROG_BY_ID, struct.pack("=III", prog_id, 0, 0))
    except OSError:
        return
    try:
        _bpf(_DETACH, struct.pack("=IIIII", ifindex, fd, TCX_EGRESS, 0, 0))
    except OSError as err:
        if err.errno not in (errno.ENOENT, errno.ENODEV):
            raise
    finally:
        os.close(fd)


def wire(prog_id: int, maps, wanted: Sequence[Tuple[int, int]]) -> None:
    """Meter the NICs of `wanted` [(ifindex, Mbit/s)] with program `prog_id`: their map
    entries (queues reset) and their attachments; NICs metered before and not wanted
    any more are detached and dropped."""
    want = dict(wanted)
    for ifindex in sorted(set(maps.meter_keys()) - set(want)):
        _detach(ifindex, prog_id)
        maps.drop_meter(ifindex)
    fd, _ = _bpf(_PROG_BY_ID, struct.pack("=III", prog_id, 0, 0))
    try:
        for ifindex, mbit in sorted(want.items()):
            maps.put_meter(ifindex, pack(mbit))
            if prog_id in attached(ifindex):
                continue
            try:
                _bpf(_ATTACH, struct.pack("=IIIII", ifindex, fd, TCX_EGRESS, BPF_F_BEFORE, 0))
            except OSError as err:
                if err.errno != errno.EEXIST:
                    maps.drop_meter(ifindex)
                    raise OSError(err.errno, f"tcx attach on ifindex {ifindex}: "
                                  f"{os.strerror(err.errno or 0)}") from None
    finally:
        os.close(fd)


def observed(prog_id: int, maps, names: Dict[int, str]) -> Tuple[Tuple[str, int], ...]:
    """(NIC, Mbit/s) of each meter in the map whose NIC runs the program."""
    out = []
    for ifindex in maps.meter_keys():
        value = maps.meter(ifindex)
        if value is not None and prog_id in attached(ifindex):
            out.append((names.get(ifindex, f"#{ifindex}"), rate_of(value)))
    return tuple(sorted(out))


def unwire(prog_id: int) -> None:
    """Detach program `prog_id` from every NIC of this network namespace."""
    for ifindex in sorted(_ifindexes().values()):
        if prog_id in attached(ifindex):
            _detach(ifindex, prog_id)


def strays(live: Iterable[int], every: bool = False) -> List[Tuple[str, int]]:
    """(NIC, program id) of spreader programs on a tcx egress that no tc filter of
    ours runs any more (all of them with `every`): what `ifagg cleanup` detaches."""
    keep = set(live)
    out = []
    for name, ifindex in sorted(_ifindexes().items()):
        for prog_id in attached(ifindex):
            if (every or prog_id not in keep) and _is_spreader(prog_id):
                out.append((name, prog_id))
    return out


def _is_spreader(prog_id: int) -> bool:
    """Named as ours and holding a meters map: a user's program called `spread` is not."""
    if _name(prog_id) != PROGRAM_NAME:
        return False
    try:
        maps = Maps(prog_id)
    except (OSError, ApplyError):    # gone meanwhile, or without our peers/stats maps
        return False
    try:
        return "meters" in maps.fds
    finally:
        maps.close()


def detach_from(name: str, prog_id: int) -> None:
    index = _ifindexes().get(name)
    if index:
        _detach(index, prog_id)
