"""The BPF spreader on the overlay device: attached with tc, steered through its maps.

tc (iproute2, built with libbpf on Debian) loads the object and attaches it to
the device's clsact egress hook at our priority. The maps are reached through
bpf(2) by id (kernel/bpf_maps.py), from the filter's program: nothing is pinned, so two overlay
devices each have their own program and maps, and removing the filter (or
the device) removes everything. pyroute2 has no bpf(2) API; this is ctypes.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from ifupdown_agg.core.spreader import SPREADER_PRIO, Peer, Spreader
from ifupdown_agg.core import record
from ifupdown_agg.kernel import hop, meters
# The maps' bpf(2) calls and value layouts; pack_peer, unpack_peer, PEER_SIZE and Maps
# are used through this module too.
from ifupdown_agg.kernel.bpf_maps import (PEER_SIZE, Maps, _PROG_BY_ID, _bpf,  # noqa: F401
                                          pack_peer, unpack_peer)
from ifupdown_agg.errors import ApplyError, SpreaderError

PROGRAM_NAME = "spread"
OBJECT = "spread.bpf.o"
INSTALLED = "/usr/lib/ifupdown-agg"
_CHECKOUT = os.path.join(os.path.dirname(__file__), "..", "..", "build", "bpf")



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
    """Remove our filter, its queue meters and segmenting hop; the clsact qdisc too when
    nothing else uses it."""
    found = prog_id(dev)
    if found is not None and hop.supported():
        meters.unwire(found)
    hop.remove(dev)
    _tc("filter", "del", "dev", dev, "egress", "prio", str(SPREADER_PRIO), check=False)
    if hop.supported():
        sweep_meters()    # the meters of a program whose filter was removed behind our back
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
        planned = maps.hop_pace()
        now = hop.paced(dev) if planned else 0      # one tc fork, only where we pace
        # The planned rate while the program paces through a tbf of ours; 0 (drift, when
        # one was planned) when either is gone. The tbf's own rate is the live one.
        return Spreader(dev, tuple(sorted(base, key=by_slot)), pace=planned if now else 0,
                        live=tuple(sorted(live, key=by_slot)), live_pace=now,
                        meters=meters.observed(found, maps, names),
                        whole_gso=hop.supported() and not hop.ours(dev))
    finally:
        maps.close()


def observe_into(obs, devs: Sequence[str], names: Dict[int, str]) -> None:
    """Our spreaders into an Observed: only a device with a clsact qdisc can hold one."""
    obs.bpf_program = find_program()
    obs.tcx = hop.supported()
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
    found = None if action == "add" else prog_id(spreader.dev)
    if found is None or _cannot_meter(spreader, found):
        program = spreader.program or find_program()
        if not program:
            raise ApplyError("the BPF spreader (spread.bpf.o) is not installed; "
                             "set agg-spread nft")
        hop.remove(spreader.dev)        # attached to the program being replaced
        found = attach(spreader.dev, program)
    gone = {p[0] for p in old.peers} - {p[0] for p in spreader.peers} if old else set()
    try:
        write(spreader, index_of, sorted(gone))
        why = unwire_hop(spreader.dev, found) if spreader.whole_gso else \
            wire_hop(spreader.dev, found, spreader.pace)
        if hop.supported():
            wire_meters(spreader, found, index_of)
    except (OSError, ApplyError) as err:
        if action == "add":
            detach(spreader.dev)
        raise SpreaderError(f"writing the spreader's map on {spreader.dev}: {err}") from None
    if why and spreader.pace:
        raise SpreaderError(f"{spreader.dev}: pacing at {spreader.pace} Mbit/s needs the "
                            f"segmenting hop: {why}; set agg-pace off")
    if why and hop.supported():        # else the plan's note says it (spread.NO_TCX)
        print(f"ifagg: warning: {spreader.dev}: no segmenting hop ({why}); GSO packets it "
              "forwards or tunnels leave whole on one link", file=sys.stderr)


def wire_hop(dev: str, found: int, pace: int = 0) -> str:
    """Make the segmenting hop of `dev`'s spreader (program id `found`), pace it at
    `pace` Mbit/s (0: not),
    and tell the program about it (its ifindexes; the device's GSO cap, or 0 when
    every packet takes it); why there is none, or "". Without one the program
    spreads foreign GSO packets whole, as before."""
    if not hop.supported():
        return "this kernel has no tcx (Linux 6.6)"     # nothing made, nothing to undo
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
        why = why or hop.pace(dev, pace)
        paced = bool(pace) and not why
        maps.put_hop(entry if not why else 0, exit_ if not why else 0,
                     0 if paced else hop.max_segs(dev), hop.ifindex(dev), pace if paced else 0)
        return why
    finally:
        maps.close()


def unwire_hop(dev: str, found: int) -> str:
    """No segmenting hop: GSO packets built elsewhere leave whole (Spreader.whole_gso)."""
    hop.remove(dev)
    maps = Maps(found)
    try:
        maps.put_hop(0, 0, 0, hop.ifindex(dev), 0)
    finally:
        maps.close()
    return ""


def _cannot_meter(spreader: Spreader, found: int) -> bool:
    """Meters are wanted and the running program `found` predates them (a package
    upgrade): it is replaced by the installed one."""
    if not spreader.meters:
        return False
    maps = Maps(found)
    try:
        return "meters" not in maps.fds
    finally:
        maps.close()


def wire_meters(spreader: Spreader, found: int, index_of) -> None:
    """The spreader's program (id `found`) on each metered member NIC's egress, and no
    other NIC's."""
    maps = Maps(found)
    try:
        if "meters" not in maps.fds:
            if spreader.meters:
                raise ApplyError("the loaded spread.bpf.o predates the queue meters")
            return
        meters.wire(found, maps, [(index_of(d), mbit) for d, mbit in spreader.meters])
    finally:
        maps.close()
    sweep_meters(keep=found)    # those of the program this one replaced


def live_programs() -> List[int]:
    """The ids of the spreader programs our tc filters run in this namespace."""
    return [p for p in (prog_id(d) for d in meters.devices()) if p is not None]


def sweep_meters(keep: Optional[int] = None) -> List[Tuple[str, int]]:
    """Detach the queue meters whose program no tc filter of ours runs any more: left
    by a program that was replaced or whose filter was deleted. (NIC, program id) each."""
    found = [(nic, p) for nic, p in meters.strays(()) if p != keep]
    if not found:       # the usual case, without a tc call per device
        return []
    live = set(live_programs())
    gone = [(nic, p) for nic, p in found if p not in live]
    for nic, p in gone:
        meters.detach_from(nic, p)
    return gone


class Steering:
    """The running spreader's maps, held open for the monitor's frequent writes."""

    def __init__(self, dev: str, index_of):
        found = prog_id(dev)
        if found is None:
            raise ApplyError(f"no spreader program on {dev}")
        self.maps = Maps(found)
        self.index_of = index_of
        self.dev = dev
        self.pace = self.maps.hop_pace()      # planned; 0: not paced

    def pace_at(self, mbit: int) -> str:
        """Set the pacing tbf's live rate (the planned one stays in the map); why not, or ""."""
        return hop.pace(self.dev, mbit) if self.pace else "not paced"

    def write(self, virt: str, slot: int, paths: Sequence[Tuple[str, str, int, int]]) -> None:
        """A peer's paths as (NIC, gateway, live run, base run)."""
        self.maps.put_peer(virt, pack_peer(slot, [(self.index_of(d), g, r, b) for d, g, r, b in paths]))

    def counters(self, slot: int, npaths: int) -> List[Tuple[int, int]]:
        return self.maps.counters(slot, npaths)

    def counters_below(self, nslots: int) -> List[Tuple[int, int]]:
        return self.maps.counters_below(nslots)

    def counters_raw(self, nslots: int) -> bytes:
        return self.maps.counters_raw(nslots)

    def sum_counters(self, raw: bytes) -> List[Tuple[int, int]]:
        return self.maps.sum_counters(raw)

    def arm(self, slots: Sequence[int]) -> None:
        self.maps.arm(slots)

    def wake_ring(self):
        """The program's wake ring (kernel/bpf_ring.py), or None: an older object
        has none, and a kernel may refuse its mmap."""
        fd = self.maps.fds.get("wake")
        if fd is None or "armed" not in self.maps.fds:
            return None
        from ifupdown_agg.kernel.bpf_ring import WakeRing
        try:
            return WakeRing(fd)
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        self.maps.close()
