"""The monitor's health.json: every path's state, written about once a second."""

from __future__ import annotations

import os
from typing import Dict

from ifupdown_agg.monitor.service import _file, _write_json


def write(mon) -> None:
    """The Monitor's state as health.json (and its learned hops, monitor/learn.py)."""
    t = mon.tracker
    shares = mon.capacity.shares() if mon.capacity else {}
    why = mon.capacity.why() if mon.capacity else {}
    _write_json(_file(mon.name, "health.json"), {
        "iface": mon.name, "pid": os.getpid(),
        "interval_ms": int(t.interval * 1000), "loss": t.loss, "rejoin": t.rejoin,
        "idle_interval_ms": int(mon.pacer.idle * 1000) if mon.pacer.on else None,
        "hellos_ms": mon.pacer.state(),
        "idle_wake": ("spreader" if mon.wakeup.on else "poll") if mon.pacer.on else None,
        "idle_wakes": mon.wakeup.wakes,
        "probed_peers": sorted(t.probed_peers),
        "authenticated": mon.signer.keys is not None, "key_file": mon.key_file,
        "key_ids": sorted(mon.signer.keys.keys) if mon.signer.keys else [],
        "rejected_stray": dict(mon.exchange.stray),
        "learned": [{"peer": v, "dev": d, "hop": h}
                    for (v, d), h in sorted(mon.learning.learned.items())],
        "learning_on": mon.learning.devs, "learning_ignored": dict(mon.learning.ignored),
        "cpu_s": {k: round(v, 4) for k, v in mon.cpu.items()},
        "paths": [{"peer": p.peer, "peer_index": p.peer_index, "dev": p.dev,
                   "gateway": p.gateway, "tables": list(p.tables), "state": p.state,
                   "reason": p.reason, "since": round(p.since + mon.wall_offset, 3),
                   "drained": p.drained or None,
                   "rejected": dict(p.rejected), "restarts": p.restarts,
                   "rtt_us": p.rtt_us, "rx_excess_us": p.rx_excess_us,
                   "tx_excess_us": p.tx_excess_us, **_share_of(p, shares, why)}
                  for p in t.paths]}, indent=None)   # compact: 7x cheaper, written every second


def _share_of(path, shares, why) -> Dict:
    """The path's share of its peer's traffic now, and why (capacity following)."""
    key = (path.peer, path.tables[0])
    if key not in shares:
        return {}
    return {"share": round(shares[key], 4), "share_why": why.get(key, "")}
