"""Taking an overlay down: undo its record, or sweep what carries our marks.

Pure, as plan.py: an Observed snapshot in, Ops out.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from ifupdown_agg.core.objects import (DEVICE_ALIAS, RTPROT_IFAGG, Address, LinkAttrs,
                                       NftTable, Observed, Route, Rule, Spreader, Sysctl,
                                       TunDevice, nft_family, nft_table_name)
from ifupdown_agg.core.ops import Op
from ifupdown_agg.overlay.plan import MAIN_TABLE, _current


def plan_down(made: Sequence[Op], obs: Observed) -> List[Op]:
    """Undo recorded changes, newest first, skipping what is already gone."""
    ops: List[Op] = []
    for op in reversed(made):
        undo = op.inverse()
        if undo is None:
            continue        # nothing to restore
        if undo.action == "del":
            exists, _ = _current(undo.obj, obs)
            if not exists and not _may_have_meters(undo.obj):
                continue
            if isinstance(undo.obj, TunDevice):
                link = obs.links[undo.obj.name]
                if link.alias != DEVICE_ALIAS:
                    continue    # replaced by someone else's device of the same name
        elif undo.action == "set":
            if isinstance(undo.obj, LinkAttrs) and undo.obj.name not in obs.links:
                continue
            if isinstance(undo.obj, Sysctl) and undo.obj.path not in obs.sysctls:
                continue
        ops.append(undo)
    # A deleted device takes its addresses and routes with it.
    gone = {op.obj.name for op in ops if op.action == "del" and isinstance(op.obj, TunDevice)}
    return [op for op in ops if not _dies_with(op, gone)]


def _may_have_meters(obj) -> bool:
    """A spreader whose filter is gone may have left its queue meters on the member
    NICs (they are held by tcx, not by the filter): its removal detaches them."""
    return isinstance(obj, Spreader) and bool(obj.meters)


def _dies_with(op: Op, gone) -> bool:
    if op.action == "del" and isinstance(op.obj, Address):
        return op.obj.dev in gone
    if op.action == "del" and isinstance(op.obj, Route):
        return op.obj.dev in gone and op.obj.table == MAIN_TABLE
    if op.action == "set" and isinstance(op.obj, LinkAttrs):
        return op.obj.name in gone
    if isinstance(op.obj, Spreader):      # its queue meters stay on the member NICs
        return op.obj.dev in gone and not op.obj.meters
    return False


def plan_sweep(obs: Observed, iface: Optional[str] = None,
               tables: Sequence[int] = (), family: Optional[int] = None) -> List[Op]:
    """Remove everything carrying our marks (for one overlay, or all), without state;
    `family` 4 or 6 keeps to one family's routes, rules and nft table (and the device
    to the inet one)."""
    if family is not None:
        return _of_family(plan_sweep(obs, iface, tables), family)
    ops: List[Op] = []
    for name, table in obs.nft.items():
        # Both families' tables of the device: ifagg_IFACE and ifagg6_IFACE.
        if iface is None or name in (nft_table_name(iface), "ifagg6_" + nft_table_name(iface)[6:]):
            ops.append(Op("del", table))
    for dev, seen in obs.spreaders.items():
        if iface is None or dev == iface:
            ops.append(Op("del", seen))
    mine = set(tables)
    for seen in obs.rules:
        if seen.proto == RTPROT_IFAGG and (iface is None or seen.rule.table in mine):
            ops.append(Op("del", seen.rule))
    for seen in obs.routes:
        r = seen.route
        if seen.proto == RTPROT_IFAGG and (iface is None or r.table in mine or r.dev == iface):
            ops.append(Op("del", r))
    for link in obs.links.values():
        if link.alias == DEVICE_ALIAS and (iface is None or link.name == iface):
            ops.append(Op("del", TunDevice(link.name)))
    return ops


def _of_family(ops: List[Op], family: int) -> List[Op]:
    def keep(obj) -> bool:
        if isinstance(obj, (Route, Rule)):
            return obj.family == family
        if isinstance(obj, NftTable):
            return nft_family(obj.name) == ("ip6" if family == 6 else "ip")
        return family == 4
    return [op for op in ops if keep(op.obj)]
