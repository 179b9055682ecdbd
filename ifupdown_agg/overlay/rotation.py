"""Writing a peer's rotation while the overlay runs: the monitor's one way to steer.

The monitor decides which tables (paths) each peer rotates over and with what
weights; this writes that decision into whatever spreads the packets: the
BPF spreader's map (one update per peer, no fork) or the nft peer chains (one
atomic transaction for all the peers that changed).
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple

from ifupdown_agg.core.spreader import Spreader
from ifupdown_agg.overlay import nft_ruleset, spread
from ifupdown_agg.overlay.model import OverlayConfig

# peer rspec index -> (tables in the rotation, their weights)
Updates = Mapping[int, Tuple[Sequence[int], Sequence[int]]]


class NftRotation:
    def __init__(self, cfg: OverlayConfig, kernel):
        self.cfg, self.kernel = cfg, kernel

    def write(self, updates: Updates) -> None:
        tables = list(self.cfg.tables)
        script = "".join(nft_ruleset.peer_update(self.cfg.nft_table, index, tables,
                                                 list(marks), list(weights))
                         for index, (marks, weights) in sorted(updates.items()))
        if script:
            self.kernel.nft.run(script)

    def close(self) -> None:
        pass


# The pacing tbf's live rate moves only when the wanted one differs by more than this
# share of the planned rate: one tc call per real change, not per controller step.
PACE_STEP = 0.03


def live_pace(planned: int, base_runs: Sequence[int], runs: Mapping[int, Sequence[int]]) -> int:
    """The pacing rate for the paths' live runs: the planned rate times the share of the
    base runs that is in use, per path the most any peer uses (a down path counts 0,
    one at a third of its run a third). Pure."""
    total = sum(base_runs)
    if not planned or not runs or not total:
        return planned
    used = sum(b * min(1.0, max(r[i] for r in runs.values()) / b)
               for i, b in enumerate(base_runs) if b)
    return max(1, round(planned * used / total)) if used else planned


class BpfRotation:
    def __init__(self, cfg: OverlayConfig, spreader: Spreader, top_run: int, kernel):
        self.cfg, self.top = cfg, top_run
        self.peers = {slot: (virt, list(paths)) for virt, slot, paths in spreader.peers}
        self.steering = kernel.steering(spreader.dev)
        self.runs: Dict[int, List[int]] = {}        # the last runs written, per peer slot
        self.base_runs = [r for _, _, r in spreader.peers[0][2]] if spreader.peers else []
        self.planned_pace = getattr(self.steering, "pace", 0)
        self.paced_at = 0       # the first write sets it (a restarted monitor: whatever was left)

    def write(self, updates: Updates) -> None:
        for index, (marks, weights) in sorted(updates.items()):
            if index not in self.peers:
                continue
            virt, paths = self.peers[index]
            by_table = dict(zip(marks, weights))
            path_runs = spread.runs([by_table.get(t, 0) for t in self.cfg.tables], self.top)
            self.steering.write(virt, index, [(d, g, r, base) for (d, g, base), r in zip(paths, path_runs)])
            self.runs[index] = path_runs
        self._repace()

    def _repace(self) -> None:
        """Pace at what the paths in use can carry, so that the one queue stays in the
        hop while a path is down or busy (else it builds in the members that are left)."""
        wanted = live_pace(self.planned_pace, self.base_runs, self.runs)
        if self.planned_pace and abs(wanted - self.paced_at) > PACE_STEP * self.planned_pace:
            if not self.steering.pace_at(wanted):
                self.paced_at = wanted

    def close(self) -> None:
        self.steering.close()


def for_overlay(cfg: OverlayConfig, objects, top_run: int, kernel):
    """The writer for what desired_state chose: a Spreader among `objects` means bpf."""
    found = next((o for o in objects if isinstance(o, Spreader)), None)
    if found is not None:
        return BpfRotation(cfg, found, top_run, kernel)
    return NftRotation(cfg, kernel)
