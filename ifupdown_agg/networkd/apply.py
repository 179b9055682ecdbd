"""`ifagg networkd apply`: write the files, reload networkd, add the extras, verify.

Order: files first (atomically), then one Reload over D-Bus and a bounded wait
until the overlay devices and member NICs are configured, then our unit's
part, then a check that the kernel holds exactly what plan.desired_state asks
for. An overlay whose files went away is taken down as far as networkd will
not: the tun device, leftovers in its tables, and our extras.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ifupdown_agg.overlay import plan
from ifupdown_agg.errors import AggError
from ifupdown_agg.core.objects import RTPROT_IFAGG, Bond, TunDevice
from ifupdown_agg.core.ops import Op

from ifupdown_agg.networkd import EXTRAS_DIR, NETWORK_DIR, PREFIX, bus, extras, writer
from ifupdown_agg.networkd.generate import Tree
from ifupdown_agg.networkd.native import read as read_native


class VerifyError(AggError):
    pass


@dataclass
class Report:
    changes: writer.Changes
    states: Dict[str, object] = field(default_factory=dict)
    removed_overlays: List[str] = field(default_factory=list)
    cleanup: List[Op] = field(default_factory=list)     # what we removed for networkd
    extras: Dict[str, List[Op]] = field(default_factory=dict)


def _overlay_of(rel: str, prefix: str) -> Optional[str]:
    name = os.path.basename(rel)
    if rel.startswith(EXTRAS_DIR + "/") and name.startswith(prefix) and name.endswith(".conf"):
        return name[len(prefix):-len(".conf")]
    return None


def managed_links(tree: Tree, prefix: str = PREFIX, optional: bool = False) -> List[str]:
    """Links our .network files and drop-ins configure: the ones to wait for.

    Not USB links (tree.optional) unless asked: they exist, or have carrier, only
    while plugged."""
    names = []
    for rel in tree.files:
        base = os.path.basename(rel)
        if rel.startswith(NETWORK_DIR + "/") and base.startswith(prefix):
            if base.endswith(".network"):
                names.append(base[len(prefix):-len(".network")])
            elif base.endswith(".conf") and rel.count("/") > NETWORK_DIR.count("/") + 1:
                names.append(base[len(prefix):-len(".conf")])
    return sorted(set(names) - (set() if optional else set(tree.optional)))


def _old_tables(text: str, iface: str) -> List[int]:
    try:
        nf = read_native(f"(old extras of {iface})", text)
    except AggError:
        return []
    for ov in nf.overlays:
        if ov.iface == iface and ov.family == "inet" and "table" in ov.raw:
            return [int(t) for t in ov.raw["table"].text.split() if t.isdigit()]
    return []


def _tables_now(root: str, iface: str, prefix: str) -> List[int]:
    found = extras.load(root, iface, prefix)
    return list(found[0].cfg.tables) if found else []


def take_down_leftovers(kernel, executor, ifaces: List[str], tables: List[int]) -> List[Op]:
    """What networkd leaves of an overlay whose files are gone.

    networkd never deletes a netdev whose .netdev file went away, so the tun
    device (and with it its address and the fake net's route), or a bond, is
    ours to delete. Routes and rules are networkd's to drop, and it does for links it
    stops managing; what still carries our protocol in the overlay's tables
    (an earlier ifupdown run, say) is removed as well.
    """
    obs = kernel.observe()
    ops: List[Op] = []
    for seen in obs.rules:
        if seen.proto == RTPROT_IFAGG and (seen.rule.table in tables or seen.rule.fwmark in tables):
            ops.append(Op("del", seen.rule))
    for seen in obs.routes:
        if seen.proto == RTPROT_IFAGG and seen.route.table in tables:
            ops.append(Op("del", seen.route))
    for name in ifaces:
        link = obs.links.get(name)
        if link is not None and link.kind == "tun":
            ops.append(Op("del", TunDevice(name)))
        elif link is not None and link.kind == "bond":
            ops.append(Op("del", Bond(name)))
    executor.run(ops)
    return ops


def verify(root: str, ifaces: List[str], prefix: str, timeout: float,
           interval: float = 0.2) -> None:
    """Bounded: the kernel must hold every object desired_state asks for."""
    from ifupdown_agg.kernel.netlink import Kernel
    deadline = time.monotonic() + timeout
    missing: Dict[str, List[str]] = {}
    for _ in range(int(timeout / interval) + 2):
        kernel = Kernel()
        try:
            obs = kernel.observe()
            missing = {}
            for iface in ifaces:
                found = extras.load_families(root, iface, prefix)
                if found is None:
                    continue
                ops = []
                for loaded in found[0]:         # inet, and a dual-stack overlay's inet6
                    desired = plan.desired_state(loaded.cfg, obs, loaded.raw)
                    ops += plan.diff(desired.objects, obs)
                if ops:
                    missing[iface] = [op.describe() for op in ops]
        finally:
            kernel.close()
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    if missing:
        lines = [f"{iface}: needs {d}" for iface, ds in missing.items() for d in ds]
        raise VerifyError("after the reload the kernel still differs from the config:\n  "
                          + "\n  ".join(lines))


def apply(tree: Tree, root: str = "/", prefix: str = PREFIX, timeout: float = 30.0,
          reload: bool = True) -> Report:
    from ifupdown_agg.core.executor import RealExecutor
    from ifupdown_agg.kernel.netlink import Kernel
    changes = writer.write(root, tree, prefix)
    report = Report(changes)
    gone_devices = [changes.old.devices[rel] for rel in changes.removed
                    if rel in changes.old.devices and rel not in tree.files]
    gone_tables: List[int] = []
    for rel in changes.removed:
        iface = _overlay_of(rel, prefix)
        if iface:
            report.removed_overlays.append(iface)
            gone_tables += _old_tables(changes.old.files[rel], iface)
    current = [iface for iface in tree.devices.values()]
    still_used = {t for iface in current for t in _tables_now(root, iface, prefix)}
    gone_tables = [t for t in gone_tables if t not in still_used]
    kernel = Kernel()
    try:
        executor = RealExecutor(kernel)
        # The extras of a removed overlay go first: the marking before its tables, and
        # rp_filter while the NICs still have the addresses that make them observed.
        for iface in report.removed_overlays:
            extras.post_apply(iface, root, prefix, remove=True, kernel=kernel, executor=executor)
        if reload:
            wanted = managed_links(tree, prefix)
            kept = managed_links(tree, prefix, optional=True)
            released = [n for n in managed_links(changes.old, prefix) if n not in kept]
            report.states = bus.reload_and_wait(wanted, timeout, released=released)
        if report.removed_overlays or gone_devices:
            report.cleanup = take_down_leftovers(kernel, executor, gone_devices, gone_tables)
        for iface in current:
            report.extras[iface] = extras.post_apply(iface, root, prefix, wait=timeout,
                                                     kernel=kernel, executor=executor)
    finally:
        kernel.close()
    verify(root, current, prefix, timeout)
    return report
