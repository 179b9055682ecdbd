"""`ifagg networkd post-apply IFACE`: what networkd cannot make, through the usual executor.

Runs after networkd has configured the overlay (the unit orders it so, and
`networkd apply` calls it after the reload). It reads the overlay's extras
file, observes the kernel, takes from plan.desired_state only the objects
networkd does not make (the nft table, rp_filter before 255, the GSO limit,
the fake net's route when it needs a reordering metric) and applies the
difference; of a dual-stack overlay's [IFACE.inet6] section too (its ip6 nft
table), under the same record. A record under /run lets --remove restore what
it replaced.
"""

from __future__ import annotations

import os
import time
from typing import List

from ifupdown_agg.monitor import service as monitor
from ifupdown_agg.overlay import lifecycle as overlay, plan, teardown
from ifupdown_agg.core import record as state
from ifupdown_agg.errors import ConfigError, Location
from ifupdown_agg.core.objects import (KObject, LinkAttrs, NftTable, Route, Spreader, Sysctl,
                                       nft_table_name)
from ifupdown_agg.core.ops import Op

from ifupdown_agg.networkd import PREFIX
from ifupdown_agg.networkd.generate import extras_path
from ifupdown_agg.networkd.native import read as read_native
from ifupdown_agg.networkd.sources import carried
from ifupdown_agg.networkd.versions import BOOKWORM, Features


def record_key(iface: str) -> str:
    # Its own record: an ifupdown overlay of the same name keeps its own.
    return f"networkd-{iface}"


def load_families(root: str, iface: str, prefix: str = PREFIX):
    """([overlay.Loaded of inet, then of inet6 if there], networkd version) from the
    extras file, or None if there is none."""
    path = os.path.join(root, extras_path(iface, prefix))
    if not os.path.exists(path):
        return None
    nf = read_native(path)
    found = {ov.family: ov for ov in nf.overlays if ov.iface == iface}
    if "inet" not in found:
        raise ConfigError(f"has no [{iface}] section", location=Location(path))
    loaded = [carried(iface, found[f].raw, f) for f in ("inet", "inet6") if f in found]
    return loaded, nf.networkd_version or BOOKWORM


def load(root: str, iface: str, prefix: str = PREFIX):
    """(overlay.Loaded, networkd version) of the inet overlay, or None if there is none."""
    found = load_families(root, iface, prefix)
    return None if found is None else (found[0][0], found[1])


def select(desired: List[KObject], cfg, version: int) -> List[KObject]:
    """The objects of desired_state that networkd does not make itself."""
    feats = Features(version)
    out: List[KObject] = []
    for obj in desired:
        if isinstance(obj, (NftTable, Spreader)):
            out.append(obj)
        elif isinstance(obj, Sysctl) and not feats.rp_filter_key:
            out.append(obj)
        elif isinstance(obj, LinkAttrs) and (obj.gso_max_segs is not None or obj.mtu):
            out.append(LinkAttrs(obj.name, up=None, gso_max_segs=obj.gso_max_segs, mtu=obj.mtu))
        elif (isinstance(obj, Route) and obj.table == plan.MAIN_TABLE
              and obj.reordering is not None
              and not feats.route_metrics):
            out.append(obj)     # replaces networkd's route with the same one plus the metric
    return out


def _wait_for_device(kernel, iface: str, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):        # bounded in count and time
        obs = kernel.observe()
        if iface in obs.links or time.monotonic() >= deadline:
            return obs
        time.sleep(interval)
    return kernel.observe()


def post_apply(iface: str, root: str = "/", prefix: str = PREFIX, remove: bool = False,
               wait: float = 30.0, kernel=None, executor=None) -> List[Op]:
    from ifupdown_agg.core.executor import RealExecutor
    from ifupdown_agg.kernel.netlink import Kernel
    own_kernel = kernel is None
    kernel = kernel or Kernel()
    try:
        executor = executor or RealExecutor(kernel)
        found = None if remove else load_families(root, iface, prefix)
        if found is None:
            return _remove(iface, kernel, executor)
        families, version = found
        obs = _wait_for_device(kernel, iface, wait)
        if iface not in obs.links:
            raise ConfigError(f"networkd has not made {iface} after {wait:g}s; see "
                              f"`networkctl status {iface}`", iface=iface)
        extras: List[KObject] = []
        for each in families:       # inet, then the inet6 overlay's ip6 table and metric
            desired = plan.desired_state(each.cfg, obs, each.raw)
            extras += select(desired.objects, each.cfg, version)
        want = {o.key() for o in extras}
        made = state.load(record_key(iface))
        # Undo what an earlier run made that the config no longer wants, then add the rest.
        ops = teardown.plan_down([op for op in made if op.obj.key() not in want], obs)
        ops += plan.diff(extras, obs)
        result = executor.run(ops)
        if result.changed_kernel:
            state.save(record_key(iface), state.merge(made, result.applied))
            for each in families:       # a monitor per family: tun0, tun0.inet6
                overlay.keep_monitor(each, restart=bool(result.applied))
        return ops
    finally:
        if own_kernel:
            kernel.close()


def _remove(iface: str, kernel, executor) -> List[Op]:
    if executor.changes_kernel:
        for name in (iface, overlay.record_key(iface, "inet6")):
            monitor.stop(name)  # before the nft table it rewrites goes away
    obs = kernel.observe()
    made = state.load(record_key(iface))
    ops = teardown.plan_down(made, obs)
    for name in (nft_table_name(iface), nft_table_name(iface).replace("ifagg_", "ifagg6_", 1)):
        table = obs.nft.get(name)
        if table is not None and not any(op.obj.key() == table.key() for op in ops):
            ops.append(Op("del", table))    # no record (lost /run): the name is our mark
    if executor.run(ops).changed_kernel:
        state.remove(record_key(iface))
        for name in (iface, overlay.record_key(iface, "inet6")):
            monitor.forget_options(name)
    return ops
