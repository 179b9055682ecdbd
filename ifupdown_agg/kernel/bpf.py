"""The BPF spreader on the overlay device: attached with tc, steered through its maps.

tc (iproute2, built with libbpf on Debian) loads the object and attaches it to
the device's clsact egress hook at our priority. The maps are reached through
bpf(2) by id, from the filter's program: nothing is pinned, so two overlay
devices each have their own program and maps, and removing the filter (or
the device) removes everything. pyroute2 has no bpf(2) API; this is ctypes.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import socket
import struct
import subprocess
import sys
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ifupdown_agg.core.spreader import MAX_PATHS, MAX_PEERS, SPREADER_PRIO, Peer, Spreader
from ifupdown_agg.core import record
from ifupdown_agg.kernel import hop
from ifupdown_agg.errors import ApplyError, SpreaderError

PROGRAM_NAME = "spread"
OBJECT = "spread.bpf.o"
INSTALLED = "/usr/lib/ifupdown-agg"
_CHECKOUT = os.path.join(os.path.dirname(__file__), "..", "..", "build", "bpf")

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


UNUSABLE = "bpf-unusable"     # in the state directory: why the spreader failed since boot


def unusable() -> str:
    """Why the spreader could not be loaded here since boot, or ""."""
    try:
        with open(os.path.join(record.STATE_DIR, UNUSABLE)) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def mark_unusable(reason: str) -> None:
    os.makedirs(record.STATE_DIR, mode=0o755, exist_ok=True)
    with open(os.path.join(record.STATE_DIR, UNUSABLE), "w") as fh:
        fh.write(reason + "\n")


def find_program() -> Optional[str]:
    """The installed object, else one built in a checkout (tools/build-bpf); None
    when there is none, or when loading it failed here since boot (unusable())."""
    if unusable():
        return None
    candidates = [os.environ.get("IFUPDOWN_AGG_BPF", ""), os.path.join(INSTALLED, OBJECT),
                  os.path.join(os.path.normpath(_CHECKOUT), OBJECT)]
    return next((c for c in candidates if c and os.path.isfile(c)), None)


# ---- the map values: pure packing ---------------------------------------------------------

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
        for map_id in _map_ids(prog_id):
            fd, _ = _bpf(_MAP_BY_ID, struct.pack("=III", map_id, 0, 0))
            name = _info(fd, 40)[24:40].split(b"\0")[0].decode()
            if name in ("peers", "stats", "hops") and name not in self.fds:
                self.fds[name] = fd
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
        vbuf = value if value is not None else ctypes.create_string_buffer(0)
        _bpf(cmd, struct.pack("=IIQQQ", self.fds[name], 0, ctypes.addressof(kbuf),
                              ctypes.addressof(vbuf), flags))

    def put_peer(self, virt: str, value: bytes) -> None:
        self._elem(_UPDATE, "peers", socket.inet_aton(virt), ctypes.create_string_buffer(value, len(value)))

    def drop_peer(self, virt: str) -> None:
        try:
            self._elem(_DELETE, "peers", socket.inet_aton(virt))
        except OSError as err:
            if err.errno != errno.ENOENT:
                raise

    def peer_keys(self) -> Iterator[str]:
        key = None
        for _ in range(1024):       # max_entries is 256
            out = ctypes.create_string_buffer(4)
            kbuf = ctypes.create_string_buffer(key or b"\0" * 4, 4)
            try:
                _bpf(_NEXT_KEY, struct.pack("=IIQQQ", self.fds["peers"], 0,
                                            ctypes.addressof(kbuf) if key else 0,
                                            ctypes.addressof(out), 0))
            except OSError as err:
                if err.errno == errno.ENOENT:
                    return
                raise
            key = out.raw
            yield socket.inet_ntoa(key)

    def peer(self, virt: str) -> Optional[bytes]:
        value = ctypes.create_string_buffer(PEER_SIZE)
        try:
            self._elem(_LOOKUP, "peers", socket.inet_aton(virt), value)
        except OSError as err:
            if err.errno == errno.ENOENT:
                return None
            raise
        return value.raw

    def put_hop(self, entry: int, exit_: int, max_segs: int, dev: int) -> None:
        """The segmenting hop's ifindexes (0 0: none), the GSO cap it enforces and
        the overlay device's ifindex."""
        if "hops" in self.fds:
            value = struct.pack("=IIII", entry, exit_, max_segs, dev)
            self._elem(_UPDATE, "hops", struct.pack("=I", 0),
                       ctypes.create_string_buffer(value, len(value)))


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
        n = min(nslots, MAX_PEERS) * MAX_PATHS
        if n <= 0:
            return []
        keys = ctypes.create_string_buffer(4 * n)
        values = ctypes.create_string_buffer(_COUNTER.size * self.cpus * n)
        after = ctypes.create_string_buffer(4)
        try:
            _bpf(_LOOKUP_BATCH, _BATCH_ATTR.pack(0, ctypes.addressof(after), ctypes.addressof(keys),
                                                 ctypes.addressof(values), n, self.fds["stats"], 0, 0))
        except OSError as err:
            if err.errno != errno.ENOENT:   # ENOENT: the batch reached the array's end
                raise
        flat = struct.unpack(f"={2 * self.cpus * n}Q", values.raw)
        step = 2 * self.cpus        # an entry: (packets, bytes) for each CPU
        return [(sum(flat[i:i + step:2]), sum(flat[i + 1:i + step:2])) for i in range(0, n * step, step)]


# ---- tc: attach, find, detach ------------------------------------------------------------

def _tc(*args: str, check: bool = True) -> str:
    try:
        done = subprocess.run(["tc", *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ApplyError(f"tc {' '.join(args)}: {err}") from None
    if check and done.returncode != 0:
        raise SpreaderError(f"tc {' '.join(args)}: {done.stderr.strip() or 'failed'}")
    return done.stdout


def prog_id(dev: str) -> Optional[int]:
    """The id of our spreader program on `dev`'s egress, or None."""
    out = _tc("-j", "filter", "show", "dev", dev, "egress", check=False)
    try:
        filters = json.loads(out or "[]")
    except ValueError:
        return None
    for f in filters:
        prog = f.get("options", {}).get("prog", {})
        if f.get("pref") == SPREADER_PRIO and prog.get("name") == PROGRAM_NAME:
            return int(prog["id"])
    return None


def attach(dev: str, program: str) -> int:
    """Load and attach the spreader; returns its program id."""
    if "clsact" not in _tc("qdisc", "show", "dev", dev):
        _tc("qdisc", "add", "dev", dev, "clsact")
    _tc("filter", "replace", "dev", dev, "egress", "prio", str(SPREADER_PRIO), "handle", "1",
        "bpf", "da", "obj", program, "sec", "tc")
    found = prog_id(dev)
    if found is None:
        raise SpreaderError(f"tc attached {program} to {dev}, but its program is not there")
    return found


def detach(dev: str) -> None:
    """Remove our filter and segmenting hop; the clsact qdisc too when nothing else uses it."""
    hop.remove(dev)
    _tc("filter", "del", "dev", dev, "egress", "prio", str(SPREADER_PRIO), check=False)
    left = _tc("filter", "show", "dev", dev, "egress", check=False).strip()
    left += _tc("filter", "show", "dev", dev, "ingress", check=False).strip()
    if not left:
        _tc("qdisc", "del", "dev", dev, "clsact", check=False)


def observe(dev: str, names: Dict[int, str]) -> Optional[Spreader]:
    """The spreader on `dev` as the kernel holds it; `names` maps ifindex to name."""
    found = prog_id(dev)
    if found is None:
        return None
    maps = Maps(found)
    try:
        base, live = [], []
        for virt in sorted(maps.peer_keys()):
            value = maps.peer(virt)
            if value is None:
                continue
            slot, paths = unpack_peer(value)
            nic = [names.get(ifx, f"#{ifx}") for ifx, _, _, _ in paths]
            base.append((virt, slot, tuple((d, gw, b) for d, (_, gw, _, b) in zip(nic, paths))))
            live.append((virt, slot, tuple((d, gw, r) for d, (_, gw, r, _) in zip(nic, paths))))
        by_slot = lambda p: p[1]        # noqa: E731
        return Spreader(dev, tuple(sorted(base, key=by_slot)), live=tuple(sorted(live, key=by_slot)))
    finally:
        maps.close()


def observe_into(obs, devs: Sequence[str], names: Dict[int, str]) -> None:
    """Our spreaders into an Observed: only a device with a clsact qdisc can hold one."""
    obs.bpf_program = find_program()
    for dev in devs:
        try:
            found = observe(dev, names)
        except (OSError, ApplyError):
            found = None     # not ours, or unreadable: nothing to diff against
        if found is not None:
            obs.spreaders[dev] = found


def write(spreader: Spreader, index_of, drop: Sequence[str] = ()) -> None:
    """Write every peer of `spreader` into its program's map (one update each),
    and remove the peers in `drop`; `index_of` maps a NIC name to its ifindex."""
    steering = Steering(spreader.dev, index_of)
    try:
        for virt, slot, paths in spreader.peers:
            steering.write(virt, slot, [(d, g, r, r) for d, g, r in paths])   # live = base
        for virt in drop:
            steering.maps.drop_peer(virt)
    finally:
        steering.close()


def apply(action: str, spreader: Spreader, old: Optional[Spreader], index_of) -> None:
    """add: attach and fill; set: rewrite the peers; del: detach."""
    if action == "del":
        detach(spreader.dev)
        return
    if action == "add" or prog_id(spreader.dev) is None:
        program = spreader.program or find_program()
        if not program:
            raise ApplyError("the BPF spreader (spread.bpf.o) is not installed; "
                             "set agg-spread nft")
        hop.remove(spreader.dev)        # attached to the program being replaced
        attach(spreader.dev, program)
    gone = {p[0] for p in old.peers} - {p[0] for p in spreader.peers} if old else set()
    try:
        write(spreader, index_of, sorted(gone))
        why = wire_hop(spreader.dev)
    except (OSError, ApplyError) as err:
        if action == "add":
            detach(spreader.dev)
        raise SpreaderError(f"writing the spreader's map on {spreader.dev}: {err}") from None
    if why:
        print(f"ifagg: warning: {spreader.dev}: no segmenting hop ({why}); GSO packets it "
              "forwards or tunnels leave whole on one link", file=sys.stderr)


def wire_hop(dev: str) -> str:
    """Make the segmenting hop of `dev`'s spreader and tell the program about it (its
    ifindexes, the device's GSO cap); why there is none, or "". Without one the
    program spreads foreign GSO packets whole, as before."""
    found = prog_id(dev)
    if found is None:
        return f"no spreader program on {dev}"
    maps = Maps(found)
    try:
        if "hops" not in maps.fds:
            return "the installed spread.bpf.o predates the segmenting hop"
        fd, _ = _bpf(_PROG_BY_ID, struct.pack("=III", found, 0, 0))
        try:
            made, why = hop.make(dev, fd, _bpf)
        finally:
            os.close(fd)
        entry, exit_ = made or (0, 0)
        maps.put_hop(entry, exit_, hop.max_segs(dev), hop.ifindex(dev))
        return why
    finally:
        maps.close()


class Steering:
    """The running spreader's maps, held open for the monitor's frequent writes."""

    def __init__(self, dev: str, index_of):
        found = prog_id(dev)
        if found is None:
            raise ApplyError(f"no spreader program on {dev}")
        self.maps = Maps(found)
        self.index_of = index_of

    def write(self, virt: str, slot: int, paths: Sequence[Tuple[str, str, int, int]]) -> None:
        """A peer's paths as (NIC, gateway, live run, base run)."""
        self.maps.put_peer(virt, pack_peer(slot, [(self.index_of(d), g, r, b) for d, g, r, b in paths]))

    def counters(self, slot: int, npaths: int) -> List[Tuple[int, int]]:
        return self.maps.counters(slot, npaths)

    def counters_below(self, nslots: int) -> List[Tuple[int, int]]:
        return self.maps.counters_below(nslots)

    def close(self) -> None:
        self.maps.close()
