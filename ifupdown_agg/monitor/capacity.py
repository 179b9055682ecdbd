"""Weights that follow each path's free capacity (issue #19): the monitor's glue
between the kernel's signals and the pure controller in monitor/shares.py.

Once per interval: each member NIC's root qdisc backlog and bytes sent (one netlink
dump) and what this overlay sent through it (the BPF spreader's counters), and per path
the delay growth the peer reports in its hellos (path.tx_excess_us), go into the
controller; its weights, where a peer's changed, come back as the rotation
updates the monitor writes (one map update per peer with bpf).
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ifupdown_agg.core.spreader import MAX_PATHS
from ifupdown_agg.monitor.health import DOWN
from ifupdown_agg.monitor.shares import ShareController, Signal

Key = Tuple[str, int]          # (peer address, table)
# The spreader counts IP bytes on the overlay device (no MAC header yet); the qdisc
# counts frames. One Ethernet header per segment makes the two comparable (within
# ~1%: at the hop's exit the skb has its header already).
ETH_HLEN = 14


def member_rates(members, obs) -> Dict[str, Optional[int]]:
    """Each member NIC's rate in Mbit/s (None: unknown), as the plan read it from `obs`."""
    return {m.dev: obs.links[m.dev].rate if m.dev in obs.links else None for m in members}


def _mbit(rate: Optional[int]) -> str:
    return f"{rate} Mbit/s" if rate else "an unknown rate"


class Counters:
    """The BPF spreader's (packets, bytes) per path of every peer, in one read; which
    peers' counts moved since the last read (their traffic: monitor/demand.py)."""

    def __init__(self, steering, peer_indexes, ntables: int):
        self.steering, self.ntables = steering, ntables
        self.slot = {virt: i for i, virt in peer_indexes}
        self.batch = hasattr(steering, "counters_raw")
        self.last: Dict[str, list] = {}
        self.last_raw = b""
        self.moved: Set[str] = set()

    def read(self) -> Dict[str, list]:
        """peer -> [(packets, bytes) per table]; sets self.moved. Where the kernel's
        bytes are those of the last read, nothing moved and nothing is parsed."""
        raw = self._raw()
        if raw and raw == self.last_raw:
            self.moved = set()
            return self.last
        self.last_raw = raw
        every = self.steering.sum_counters(raw) if raw else None
        n, per_peer = self.ntables, {}
        for peer, slot in self.slot.items():
            per_peer[peer] = (every[slot * MAX_PATHS:slot * MAX_PATHS + n] if every is not None
                              else self.steering.counters(slot, n))
        last = self.last
        self.moved = {peer for peer, counts in per_peer.items() if last.get(peer) != counts}
        self.last = per_peer
        return per_peer

    def _raw(self) -> bytes:
        """Every slot's counters in one batch read, or b"" where the kernel has no
        batch lookup (before 5.6): then one read per peer."""
        if self.batch:
            try:
                return self.steering.counters_raw(max(self.slot.values(), default=-1) + 1)
            except OSError:
                self.batch = False
        return b""


class Capacity:
    def __init__(self, cfg, members, rates: Mapping[str, Optional[int]], paths, kernel,
                 steering=None):
        """`members`: plan.Member per table (its base weight and NIC); `rates`: each
        member NIC's rate in Mbit/s (None: unknown); `paths`: the tracker's;
        `steering`: the BPF spreader's maps (its counters), or None."""
        self.cfg, self.kernel, self.steering = cfg, kernel, steering
        self.tables = list(cfg.tables)
        self.rate = dict(rates)
        base = {(p.peer, t): self._base(members, t) for p in paths for t in p.tables}
        self.controller = ShareController(base, fixed=cfg.weights != "auto")
        self.written: Dict[str, Dict[int, int]] = {}
        self.sent: Dict[str, int] = {}          # bytes per member NIC, cumulative
        self.took: Dict[str, int] = {}          # bytes its root qdisc took in, cumulative
        self.counters = (Counters(steering, cfg.peer_indexes, len(self.tables))
                         if steering is not None else None)

    def rebase(self, members, rates: Mapping[str, Optional[int]], paths) -> List[str]:
        """Member NICs read again (one came back from a carrier loss): where a rate
        changed, the rate its signals are read against and every path's base weight
        (`members`: plan.Member per table, from the new rates) follow. Returns a line
        per NIC whose rate changed."""
        moved = [f"{dev} came back at {_mbit(rate)} (was {_mbit(self.rate.get(dev))})"
                 for dev, rate in sorted(rates.items()) if rate != self.rate.get(dev)]
        if moved:
            self.rate.update(rates)
            self.controller.rebase({(p.peer, t): self._base(members, t)
                                    for p in paths for t in p.tables})
        return moved

    @staticmethod
    def _base(members, table: int) -> int:
        return next(m.weight for m in members if m.table == table)

    def weights_of(self, peer: str) -> Optional[Dict[int, int]]:
        """The table weights last written for a peer, or None before the first."""
        return self.written.get(peer)

    def tick(self, paths: Sequence, dt: float, counts: Optional[Dict[str, list]] = None,
             active: Optional[Set[str]] = None) -> List[str]:
        """Update the controller; returns the peers whose weights changed. `counts`:
        what self.counters.read() just gave, if the caller read them; `active`: the
        peers with traffic (None: every one), the only ones stepped: at 32 peers x 4
        links with 4 busy, stepping all cost the monitor 1.2-2.2% of a core, these 0.7-0.9%."""
        stats = self.kernel.qdisc_stats(sorted({p.dev for p in paths}))
        backlog = {dev: st.backlog if st else None for dev, st in stats.items()}
        sent = self._sent_delta(paths, counts)
        took = self._took_delta(stats) if self.steering is not None else {}
        up = {(p.peer, t): p.state != DOWN for p in paths for t in p.tables}
        stepped = [p for p in paths if active is None or p.peer in active]
        signals = {(p.peer, t): Signal(tx_excess_us=p.tx_excess_us, backlog_bytes=backlog[p.dev],
                                       nic_rate_mbps=self.rate.get(p.dev),
                                       sent_bytes=sent.get(p.dev), link_bytes=took.get(p.dev))
                   for p in stepped for t in p.tables}
        weights = self.controller.update(up, signals, dt, active)
        changed = []
        for peer in {p.peer for p in stepped}:
            mine = {t: weights[(peer, t)] for t in self.tables if (peer, t) in weights}
            if mine != self.written.get(peer):
                self.written[peer] = mine
                changed.append(peer)
        return changed

    def _sent_delta(self, paths, counts: Optional[Dict[str, list]]) -> Dict[str, int]:
        """Bytes sent through each member NIC since the last tick (bpf only)."""
        if self.counters is None:
            return {}
        dev_of = {(p.peer, t): p.dev for p in paths for t in p.tables}
        total: Dict[str, int] = {}
        for peer, per_path in (counts if counts is not None else self.counters.read()).items():
            for t, (npackets, nbytes) in zip(self.tables, per_path):
                dev = dev_of.get((peer, t))
                if dev:
                    total[dev] = total.get(dev, 0) + nbytes + ETH_HLEN * npackets
        # A count that went back (the program was replaced: its counters restart) says
        # nothing for this interval.
        delta = {d: n - self.sent[d] for d, n in total.items() if d in self.sent and n >= self.sent[d]}
        self.sent = total
        return delta

    def _took_delta(self, stats) -> Dict[str, int]:
        """Bytes each member NIC's root qdisc took in since the last tick, from every
        sender: what it sent plus its backlog's growth (drops are not counted)."""
        total = {dev: st.sent + (st.backlog or 0) for dev, st in stats.items()
                 if st is not None and st.sent is not None}
        delta = {d: n - self.took[d] for d, n in total.items() if d in self.took and n >= self.took[d]}
        self.took = total
        return delta

    def why(self) -> Mapping[Key, str]:
        return self.controller.why()

    def shares(self) -> Mapping[Key, float]:
        return self.controller.shares()
